"""Prefect blocks of the image pipeline, and the names the flows look them up by.

``python -m blocks`` (prefect_image_pipeline.cli.blocks) saves them from the environment.
"""

from prefect_image_pipeline.blocks.names import (
    DEFAULT_AWS_CREDENTIALS_BLOCK,
    DEFAULT_OPENAI_BLOCK,
    DEFAULT_S3_BUCKET_BLOCK,
)
from prefect_image_pipeline.blocks.openai_credentials import OpenAICredentials

__all__ = [
    "DEFAULT_AWS_CREDENTIALS_BLOCK",
    "DEFAULT_OPENAI_BLOCK",
    "DEFAULT_S3_BUCKET_BLOCK",
    "OpenAICredentials",
]
