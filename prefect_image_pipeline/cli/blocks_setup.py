"""Create or update the pipeline's blocks from the environment (``python -m blocks``)."""

from __future__ import annotations

from dataclasses import dataclass

from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

from prefect_image_pipeline.blocks.names import (
    DEFAULT_AWS_CREDENTIALS_BLOCK,
    DEFAULT_CACHE_BLOCK,
    DEFAULT_OPENAI_BLOCK,
    DEFAULT_S3_BUCKET_BLOCK,
)
from prefect_image_pipeline.blocks.openai_credentials import OpenAICredentials
from prefect_image_pipeline.edges.s3.client import resolve_bucket_name
from prefect_image_pipeline.errors import MissingCredentialsError
from prefect_image_pipeline.settings.config import settings


@dataclass(frozen=True)
class SavedBlock:
    """One block written: its type slug, name and a secret-free summary."""

    slug: str
    name: str
    summary: str


def openai_block_from_env() -> OpenAICredentials:
    """OPENAI_API_KEY (required), OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID."""
    config = settings()
    if config.openai_api_key is None:
        raise MissingCredentialsError(
            "OPENAI_API_KEY is not set; export it before running python -m blocks "
            "(or pass --skip-openai to save only the AWS blocks)"
        )
    return OpenAICredentials(
        api_key=config.openai_api_key,
        base_url=config.openai_base_url,
        organization=config.openai_organization,
        project=config.openai_project,
    )


def aws_credentials_from_env() -> AwsCredentials:
    """Keys if set (else the default chain at run time), AWS_REGION, AWS_ENDPOINT_URL."""
    config = settings()
    token = config.aws_session_token
    return AwsCredentials(
        aws_access_key_id=config.aws_access_key_id,
        aws_secret_access_key=config.aws_secret_access_key,
        aws_session_token=token.get_secret_value() if token else None,
        region_name=config.aws_region,
        aws_client_parameters=AwsClientParameters(endpoint_url=config.s3_endpoint_url),
    )


def save_blocks_from_env(
    openai_name: str = DEFAULT_OPENAI_BLOCK,
    aws_name: str = DEFAULT_AWS_CREDENTIALS_BLOCK,
    bucket_name: str = DEFAULT_S3_BUCKET_BLOCK,
    include_openai: bool = True,
    cache_name: str = DEFAULT_CACHE_BLOCK,
) -> list[SavedBlock]:
    """Save (overwriting) the OpenAI, AWS credentials and S3 bucket blocks, and the shared
    cache's bucket block when IMAGE_PIPELINE_CACHE_BUCKET is set."""
    saved: list[SavedBlock] = []
    if include_openai:
        openai_block = openai_block_from_env()
        openai_block.save(openai_name, overwrite=True, _sync=True)  # type: ignore[call-arg]
        where = openai_block.base_url or "api.openai.com"
        saved.append(
            SavedBlock(
                openai_block.get_block_type_slug(), openai_name, f"key set, endpoint {where}"
            )
        )
    credentials = aws_credentials_from_env()
    credentials.save(aws_name, overwrite=True, _sync=True)  # type: ignore[call-arg]
    endpoint = credentials.aws_client_parameters.endpoint_url or "AWS"
    saved.append(
        SavedBlock("aws-credentials", aws_name, f"region {credentials.region_name}, {endpoint}")
    )
    bucket = S3Bucket(bucket_name=resolve_bucket_name(), credentials=credentials)
    bucket.save(bucket_name, overwrite=True, _sync=True)  # type: ignore[call-arg]
    saved.append(SavedBlock("s3-bucket", bucket_name, f"bucket {bucket.bucket_name}"))
    cache = cache_block_from_env(credentials)
    if cache is not None:
        cache.save(cache_name, overwrite=True, _sync=True)  # type: ignore[call-arg]
        where = f"bucket {cache.bucket_name}, folder {cache.bucket_folder}"
        saved.append(SavedBlock("s3-bucket", cache_name, f"shared cache: {where}"))
    return saved


def cache_block_from_env(credentials: AwsCredentials) -> S3Bucket | None:
    """IMAGE_PIPELINE_CACHE_BUCKET and _FOLDER as an S3Bucket block; None when unset."""
    config = settings()
    if not config.cache_bucket:
        return None
    return S3Bucket(
        bucket_name=config.cache_bucket,
        bucket_folder=config.cache_folder.strip("/"),
        credentials=credentials,
    )
