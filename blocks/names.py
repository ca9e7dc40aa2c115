"""Default names of the saved blocks; deployments and README refer to these."""

DEFAULT_OPENAI_BLOCK = "openai"
DEFAULT_AWS_CREDENTIALS_BLOCK = "aws"
DEFAULT_S3_BUCKET_BLOCK = "images"
