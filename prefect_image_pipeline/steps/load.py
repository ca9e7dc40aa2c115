"""Step 1, load: bring an input's bytes to local disk.

A local file is read in place; a URL (through edges.http.download) or an S3 object is
fetched into the run's working directory. Tasks hand each other paths and hashes rather
than image bytes, so futures stay small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_image_pipeline.edges.http.download import download_image_from_url, too_large
from prefect_image_pipeline.edges.s3.objects import (
    ObjectTooLargeError,
    S3Error,
    get_bytes,
    is_missing,
)
from prefect_image_pipeline.errors import (
    ImageNotFoundError,
    InvalidImageError,
    InvalidImageSourceError,
)
from prefect_image_pipeline.inputs import ImageInput
from prefect_image_pipeline.settings.config import DEFAULT_DOWNLOAD_TIMEOUT, settings
from prefect_image_pipeline.steps.encode import sha256_hex

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client


@dataclass(frozen=True)
class LoadedImage:
    """An input image on local disk; ``temporary`` when we fetched it into the work dir."""

    input: str
    name: str
    path: str
    size: int
    sha256: str
    temporary: bool


def load_image_from_path(file_path: str) -> bytes:
    """Read a local image (``~`` expanded). Raises FileNotFoundError, PermissionError, IOError."""
    path = Path(os.path.expanduser(file_path))
    if not path.exists():
        raise ImageNotFoundError(
            f"Image file not found: {file_path}; check the path "
            f"(relative paths are resolved from {Path.cwd()})"
        )
    if path.is_dir():
        raise InvalidImageSourceError(f"Not a file: {file_path} is a directory; pass an image file")
    limit = settings().max_image_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise InvalidImageError(too_large(file_path, size, limit))
        data = path.read_bytes()
    except PermissionError as exc:
        raise PermissionError(
            f"Permission denied reading image file: {file_path}; check its permissions"
        ) from exc
    except InvalidImageError:
        raise
    except OSError as exc:
        raise OSError(f"Error reading image file {file_path}: {exc.strerror or exc}") from exc
    if not data:
        raise InvalidImageError(f"Image file is empty: {file_path} has 0 bytes")
    return data


def read_s3_object(source: ImageInput, client: S3Client, max_bytes: int) -> bytes:
    """The object's bytes; a missing object is FileNotFoundError, an oversize one refused."""
    bucket, key = source.bucket_and_key
    uri = source.location
    try:
        data = get_bytes(client, bucket, key, max_bytes=max_bytes)
    except S3Error as exc:
        if is_missing(exc):
            raise ImageNotFoundError(f"Image object not found: {uri}; check the key") from exc
        raise
    except ObjectTooLargeError as exc:
        raise InvalidImageError(
            f"Image too large: {uri} is {exc.size} bytes (limit {max_bytes}); "
            "shrink it or raise IMAGE_PIPELINE_MAX_IMAGE_BYTES"
        ) from None
    if not data:
        raise InvalidImageError(f"Image is empty: {uri} has 0 bytes")
    return data


def load_image(
    source: ImageInput,
    work_dir: str,
    s3_client: S3Client | None = None,
    timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT,
) -> LoadedImage:
    """Read a local file in place; download a URL or S3 object into ``work_dir``."""
    if source.kind == "file":
        data = load_image_from_path(source.location)
        return LoadedImage(
            source.raw, source.name, source.location, len(data), sha256_hex(data), False
        )
    if source.kind == "s3":
        if s3_client is None:
            raise ValueError(f"No S3 client to read {source.location}")
        data = read_s3_object(source, s3_client, settings().max_image_bytes)
    else:
        data = download_image_from_url(source.location, timeout=timeout)
    digest = sha256_hex(data)
    path = Path(work_dir) / f"input_{digest[:12]}_{_safe_name(source.name)}"
    path.write_bytes(data)
    return LoadedImage(source.raw, source.name, str(path), len(data), digest, temporary=True)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
    return cleaned[-80:] or "image"
