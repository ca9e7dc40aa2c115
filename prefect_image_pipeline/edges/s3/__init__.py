"""S3: the bucket a run publishes to and every boto3 call."""
