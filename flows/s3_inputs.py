"""Reading inputs given as ``s3://bucket/key`` (batch sources, nightly reprocessing)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from flows.errors import ImageNotFoundError, InvalidImageError, InvalidImageSourceError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_SCHEME = "s3://"


def is_s3_uri(image: str) -> bool:
    """Whether ``image`` names an S3 object."""
    return image.strip().lower().startswith(S3_SCHEME)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key.png`` -> ``("bucket", "some/key.png")``."""
    parts = urlsplit(uri.strip())
    bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
    if not bucket or not key:
        raise InvalidImageSourceError(f"Invalid S3 URI: {uri}; expected s3://bucket/key")
    return bucket, key


def read_s3_object(uri: str, client: S3Client, max_bytes: int) -> bytes:
    """The object's bytes; a missing object is FileNotFoundError, an oversize one refused."""
    bucket, key = parse_s3_uri(uri)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise ImageNotFoundError(f"Image object not found: {uri}; check the key") from exc
        raise
    size = response.get("ContentLength", 0)
    if size > max_bytes:
        response["Body"].close()
        raise InvalidImageError(
            f"Image too large: {uri} is {size} bytes (limit {max_bytes}); "
            "shrink it or raise IMAGE_PIPELINE_MAX_IMAGE_BYTES"
        )
    data = response["Body"].read()
    if not data:
        raise InvalidImageError(f"Image is empty: {uri} has 0 bytes")
    return data
