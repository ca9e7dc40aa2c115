"""AWS plumbing from the environment: region, bucket auto-detection, and boto3 clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from flows.settings import BUCKET_NAME_TEMPLATE, aws_region, env

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def endpoint_url() -> str | None:
    """The S3 endpoint override boto3 honours natively (MinIO, moto), if any."""
    return env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL")


def s3_client_from_env(region: str | None = None) -> S3Client:
    """An S3 client on the standard credential chain, in AWS_REGION (default us-east-1)."""
    return boto3.client("s3", region_name=region or aws_region())


def resolve_bucket_name(sts_client: Any | None = None) -> str:
    """ARTIFACTS_BUCKET, else ``leadmagnet-artifacts-{account_id}`` from STS.

    Raises RuntimeError("Failed to get AWS account ID: ...") when STS cannot answer.
    """
    configured = env("ARTIFACTS_BUCKET")
    if configured:
        return configured
    try:
        sts = sts_client or boto3.client("sts", region_name=aws_region())
        account_id = sts.get_caller_identity()["Account"]
    except Exception as exc:
        raise RuntimeError(
            f"Failed to get AWS account ID: {exc}. Set ARTIFACTS_BUCKET to your bucket name, "
            "or configure AWS credentials and AWS_REGION"
        ) from exc
    return BUCKET_NAME_TEMPLATE.format(account_id=account_id)
