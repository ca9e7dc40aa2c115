"""S3 clients and the bucket: from an S3Bucket block, or from the environment's credential chain.

Clients are shared within a process per configuration (edges.reuse); building a
boto3 client costs ~26 ms of CPU, which would cap a fast batch.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, cast

import boto3

from prefect_image_pipeline.edges.reuse import (
    ClientCache,
    aws_environment,
    env_snapshot,
    flow_run_scope,
)
from prefect_image_pipeline.settings.config import BUCKET_NAME_TEMPLATE, settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from prefect_aws import S3Bucket

_AWS_ENV = aws_environment("S3")
# Process-wide on purpose: every image of a run uploads through one client.
_CLIENTS: ClientCache[S3Client] = ClientCache()


def endpoint_url() -> str | None:
    """The S3 endpoint override boto3 honours natively (MinIO, moto), if any."""
    return settings().s3_endpoint_url


def s3_client_from_env(region: str | None = None) -> S3Client:
    """An S3 client on the standard credential chain, in AWS_REGION (default us-east-1)."""
    return boto3.client("s3", region_name=region or settings().aws_region)


def load_bucket_block(name: str) -> S3Bucket:
    """The saved prefect-aws S3Bucket block ``name``."""
    # Imported on use: prefect_aws pulls in its ECS worker and costs ~1.5 s at startup.
    from prefect_aws import S3Bucket

    return cast(S3Bucket, S3Bucket.load(name, _sync=True))  # type: ignore[call-arg]


def s3_client(destination: Hashable, region: str, bucket_block: str | None = None) -> S3Client:
    """A client shared per ``destination``: the block's credentials, else the default chain."""
    if bucket_block:
        key = (destination, env_snapshot(_AWS_ENV), flow_run_scope())
        return _CLIENTS.get(key, lambda: _block_s3_client(bucket_block))
    return _CLIENTS.get((destination, env_snapshot(_AWS_ENV)), lambda: s3_client_from_env(region))


def _block_s3_client(bucket_block: str) -> S3Client:
    return load_bucket_block(bucket_block).credentials.get_s3_client()


def resolve_bucket_name(sts_client: Any | None = None) -> str:
    """ARTIFACTS_BUCKET, else ``leadmagnet-artifacts-{account_id}`` from STS.

    Raises RuntimeError("Failed to get AWS account ID: ...") when STS cannot answer.
    """
    config = settings()
    if config.artifacts_bucket:
        return config.artifacts_bucket
    try:
        sts = sts_client or boto3.client("sts", region_name=config.aws_region)
        account_id = sts.get_caller_identity()["Account"]
    except Exception as exc:
        raise RuntimeError(
            f"Failed to get AWS account ID: {exc}. Set ARTIFACTS_BUCKET to your bucket name, "
            "or configure AWS credentials and AWS_REGION"
        ) from exc
    return BUCKET_NAME_TEMPLATE.format(account_id=account_id)
