"""What a user needs to run the pipeline beyond prefect.yaml (see deployments/README.md)."""
