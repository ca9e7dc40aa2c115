"""Default names of the saved blocks; deployments and README refer to these."""

DEFAULT_OPENAI_BLOCK = "openai"
DEFAULT_AWS_CREDENTIALS_BLOCK = "aws"
DEFAULT_S3_BUCKET_BLOCK = "images"
# Saved only when IMAGE_PIPELINE_CACHE_BUCKET is set; runs use it with
# IMAGE_PIPELINE_CACHE_BLOCK=image-cache (prefect_image_pipeline.cache.shared).
DEFAULT_CACHE_BLOCK = "image-cache"
