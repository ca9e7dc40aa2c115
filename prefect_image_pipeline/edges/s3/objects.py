"""Every S3 object call the pipeline makes: get, put, list and delete, on a client handed in.

The client is a parameter, never built here, so a caller keeps its own (a run's shared
client, a block's, a test's moto client). Errors are botocore's ``ClientError``, re-exported
as ``S3Error`` so callers catch them without importing botocore.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ListedObject",
    "ObjectTooLargeError",
    "S3Client",
    "S3Error",
    "copy_object",
    "delete_object",
    "get_bytes",
    "get_bytes_if_present",
    "head_metadata",
    "is_missing",
    "list_objects",
    "put_bytes",
]

S3Error = ClientError
# The error codes S3 (and MinIO, moto) answer for a key that holds no object.
_MISSING_CODES = ("NoSuchKey", "404")


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing: its key, ETag (without quotes) and size in bytes."""

    key: str
    etag: str
    size: int


class ObjectTooLargeError(ValueError):
    """The object is larger than the caller accepts; its body was not read."""

    def __init__(self, bucket: str, key: str, size: int, limit: int) -> None:
        super().__init__(f"s3://{bucket}/{key} is {size} bytes (limit {limit})")
        self.size = size
        self.limit = limit


def is_missing(error: ClientError) -> bool:
    """Whether ``error`` says there is no object under the key."""
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES


def get_bytes(client: S3Client, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
    """The object's bytes in one GET; raises S3Error, or ObjectTooLargeError over ``max_bytes``.

    The size is checked from the answer's ContentLength before the body is read, so an
    oversize object is never downloaded.
    """
    response = client.get_object(Bucket=bucket, Key=key)
    size = response.get("ContentLength", 0)
    if max_bytes is not None and size > max_bytes:
        response["Body"].close()
        raise ObjectTooLargeError(bucket, key, size, max_bytes)
    return bytes(response["Body"].read())


def get_bytes_if_present(client: S3Client, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no object under ``key``."""
    try:
        return get_bytes(client, bucket, key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def put_bytes(
    client: S3Client,
    bucket: str,
    key: str,
    data: bytes,
    content_type: str,
    cache_control: str | None = None,
) -> None:
    """One PUT; ``cache_control`` is sent only when given (S3 then stores none)."""
    if cache_control is None:
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return
    client.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType=content_type, CacheControl=cache_control
    )


def delete_object(client: S3Client, bucket: str, key: str) -> None:
    """Delete the object under ``key`` (S3 answers the same whether or not it existed)."""
    client.delete_object(Bucket=bucket, Key=key)


def list_objects(client: S3Client, bucket: str, prefix: str) -> Iterator[ListedObject]:
    """Every object whose key starts with ``prefix``, page by page as S3 returns them."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield ListedObject(item["Key"], item["ETag"].strip('"'), item["Size"])


def head_metadata(client: S3Client, bucket: str, key: str) -> dict[str, str] | None:
    """The object's user metadata (``x-amz-meta-*``), or None when there is no object."""
    try:
        return dict(client.head_object(Bucket=bucket, Key=key).get("Metadata", {}))
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def copy_object(
    client: S3Client,
    bucket: str,
    source_key: str,
    key: str,
    content_type: str,
    cache_control: str,
    metadata: dict[str, str],
) -> None:
    """Copy ``source_key`` to ``key`` in the bucket, S3-side (no bytes pass through here),
    with the headers and metadata given instead of the source's."""
    client.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": source_key},
        MetadataDirective="REPLACE",
        ContentType=content_type,
        CacheControl=cache_control,
        Metadata=metadata,
    )
