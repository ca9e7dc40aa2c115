"""The reference toolkit's library API, same names, parameters, defaults and exception types.

Usable without a Prefect server; the Prefect tasks in ``pipeline.tasks`` wrap the
same step functions (``prefect_image_pipeline.steps``).
"""

from __future__ import annotations

import openai

from prefect_image_pipeline.edges.http.download import download_image_from_url
from prefect_image_pipeline.edges.openai.client import openai_client_from_env
from prefect_image_pipeline.edges.s3.client import resolve_bucket_name, s3_client_from_env
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.settings.config import (
    DEFAULT_BACKGROUND,
    DEFAULT_MODEL,
    DEFAULT_QUALITY,
    DEFAULT_S3_PREFIX,
    settings,
)
from prefect_image_pipeline.steps.cleanup import cleanup_temp_files
from prefect_image_pipeline.steps.encode import encode_image, encode_image_for_openai, sha256_hex
from prefect_image_pipeline.steps.generate import OpenAIImageGenerator
from prefect_image_pipeline.steps.load import load_image_from_path
from prefect_image_pipeline.steps.transparency import TransparentOutput
from prefect_image_pipeline.steps.upload import (
    EXTENSIONS,
    S3ObjectStore,
    build_object_key,
    content_type,
)

__all__ = [
    "cleanup_temp_files",
    "download_image_from_url",
    "encode_image_for_openai",
    "load_image_from_path",
    "process_image_with_openai",
    "upload_image_to_s3",
]


def process_image_with_openai(
    image_bytes: bytes,
    prompt: str | None = None,
    model: str = DEFAULT_MODEL,
    background: str = DEFAULT_BACKGROUND,
    quality: str = DEFAULT_QUALITY,
    *,
    client: openai.OpenAI | None = None,
) -> bytes:
    """Recreate ``image_bytes`` with OpenAI and return the generated PNG bytes.

    Raises ValueError when ``image_bytes`` is empty or not an image, and
    ImageGenerationError (an Exception) when the API fails or returns no image.
    """
    if not image_bytes:
        raise ValueError("Image bytes cannot be empty")
    # A model that cannot make transparency gets a key colour, cut out here.
    generator = TransparentOutput(OpenAIImageGenerator(client or openai_client_from_env()))
    options = GenerationOptions(prompt=prompt, model=model, background=background, quality=quality)
    return generator.generate(encode_image(image_bytes), options).png


def upload_image_to_s3(
    image_bytes: bytes,
    filename: str | None = None,
    s3_key_prefix: str = DEFAULT_S3_PREFIX,
) -> tuple[str, str]:
    """Upload a PNG and return ``(s3_url, public_url)``.

    The key is ``{prefix}/{unix_ts}_{stem}.png``; without a filename the stem is
    ``generated_{sha256[:12]}``. Raises ValueError for empty bytes, botocore's
    ClientError when S3 refuses, RuntimeError when the bucket cannot be determined.
    """
    if not image_bytes:
        raise ValueError("Image bytes cannot be empty")
    name = filename or f"generated_{sha256_hex(image_bytes)[:12]}.png"
    config = settings()
    store = S3ObjectStore(
        s3_client_from_env(config.aws_region),
        bucket=resolve_bucket_name(),
        region=config.aws_region,
        cloudfront_domain=config.cloudfront_domain,
        public_base_url=config.public_base_url,
    )
    extension = EXTENSIONS.get(content_type(image_bytes), "png")
    key = build_object_key(s3_key_prefix, name, extension=extension)
    published = store.put_image(key, image_bytes)
    return published.s3_url, published.public_url
