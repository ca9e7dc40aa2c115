"""Objects in a prefect-aws S3Bucket block's bucket, under its folder, with its credentials.

Keys are resolved from the block's public ``bucket_folder`` exactly as the block's own
methods resolve them (``S3Bucket._resolve_path``, which is private), so an object written
here and one Prefect wrote through the block share one key, and records written by
earlier releases are found again.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, cast

from prefect_image_pipeline.edges.s3.objects import get_bytes, put_bytes

if TYPE_CHECKING:
    from prefect_aws import S3Bucket

    from prefect_image_pipeline.edges.s3.objects import S3Client


def block_key(block: S3Bucket, path: str) -> str:
    """``path`` under the block's folder, as the block itself would write it."""
    folder = block.bucket_folder
    if not folder:
        return path
    # A path already under the folder is left alone, as prefect-aws does (its issue #141).
    if path == folder or path.startswith(folder.rstrip("/") + "/"):
        return path
    return (PurePosixPath(folder) / path).as_posix()


def block_client(block: S3Bucket) -> S3Client:
    """The S3 client of the block's credentials (prefect-aws caches it per credentials)."""
    return cast("S3Client", block.credentials.get_client("s3"))


def get_block_bytes(block: S3Bucket, path: str) -> bytes:
    """One GET of ``path`` under the block's folder (S3Bucket.read_path adds a HEAD)."""
    return get_bytes(block_client(block), block.bucket_name, block_key(block, path))


def put_block_bytes(block: S3Bucket, path: str, data: bytes, content_type: str) -> None:
    """One PUT of ``path`` under the block's folder."""
    put_bytes(block_client(block), block.bucket_name, block_key(block, path), data, content_type)
