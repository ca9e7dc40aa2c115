"""The pipeline's Prefect blocks, for this project folder (the library: blocks).

``prefect block register -m blocks`` registers them; ``python -m blocks`` saves them.
"""

from prefect_image_pipeline.blocks import (
    DEFAULT_AWS_CREDENTIALS_BLOCK,
    DEFAULT_OPENAI_BLOCK,
    DEFAULT_S3_BUCKET_BLOCK,
    OpenAICredentials,
)

__all__ = [
    "DEFAULT_AWS_CREDENTIALS_BLOCK",
    "DEFAULT_OPENAI_BLOCK",
    "DEFAULT_S3_BUCKET_BLOCK",
    "OpenAICredentials",
]
