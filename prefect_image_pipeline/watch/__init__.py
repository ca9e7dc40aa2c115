"""The ways in: new source images under a watched prefix, turned into Prefect events."""
