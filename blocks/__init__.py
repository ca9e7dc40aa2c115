"""Prefect blocks of the image pipeline, and the names the flows look them up by.

``python -m blocks`` saves them from the environment (see blocks/setup.py).
"""

from blocks.names import (
    DEFAULT_AWS_CREDENTIALS_BLOCK,
    DEFAULT_OPENAI_BLOCK,
    DEFAULT_S3_BUCKET_BLOCK,
)
from blocks.openai_credentials import OpenAICredentials

__all__ = [
    "DEFAULT_AWS_CREDENTIALS_BLOCK",
    "DEFAULT_OPENAI_BLOCK",
    "DEFAULT_S3_BUCKET_BLOCK",
    "OpenAICredentials",
]
