"""Step 4, upload: write the generated PNG to the work dir, publish it to S3 (or a local
directory for --offline) under a stable key, and name its URLs."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from flows.steps.encode import sha256_hex
from flows.steps.generate import GeneratedImage

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONTENT_TYPE = "image/png"
CACHE_CONTROL = "public, max-age=31536000, immutable"
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PublishedImage:
    """Where the image now lives."""

    s3_url: str
    public_url: str
    key: str


@dataclass(frozen=True)
class SavedImage:
    """A generated PNG written to the working directory."""

    path: str
    size: int
    sha256: str
    created_at: int


def save_generated(generated: GeneratedImage, work_dir: str) -> SavedImage:
    """Write ``processed_image_{timestamp}.png`` (suffixed with the hash if that name is taken)."""
    directory = Path(work_dir)
    stamp = int(time.time())
    path = directory / f"processed_image_{stamp}.png"
    if path.exists() and sha256_hex(path.read_bytes()) != generated.sha256:
        path = directory / f"processed_image_{stamp}_{generated.sha256[:8]}.png"
    path.write_bytes(generated.png)
    return SavedImage(str(path), generated.size, generated.sha256, generated.created_at)


class ObjectStore(Protocol):
    """A place to publish PNGs: S3 in production, a directory for --offline."""

    def put_png(self, key: str, data: bytes) -> PublishedImage:
        """Store ``data`` under ``key`` and return its URLs."""
        ...


def output_filename(name: str) -> str:
    """``photo.jpg`` -> ``photo.png``: one ``.png`` suffix, safe characters only."""
    stem = PurePosixPath(name.replace("\\", "/")).name
    for suffix in (".png", ".jpg", ".jpeg", ".webp", ".gif"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = _UNSAFE_KEY_CHARS.sub("-", stem).strip("-.") or "image"
    return f"{stem}.png"


def build_object_key(prefix: str, filename: str, timestamp: int | None = None) -> str:
    """``{prefix}/{unix_ts}_{stem}.png`` with exactly one timestamp and one ``.png``."""
    ts = int(time.time()) if timestamp is None else timestamp
    clean_prefix = "/".join(part for part in prefix.split("/") if part)
    name = f"{ts}_{output_filename(filename)}"
    return f"{clean_prefix}/{name}" if clean_prefix else name


def s3_public_url(bucket: str, region: str, key: str, cloudfront_domain: str | None) -> str:
    """CloudFront URL when a domain is configured, else the bucket's virtual-host URL."""
    if cloudfront_domain:
        return f"https://{cloudfront_domain}/{key}"
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


class S3ObjectStore:
    """Publishes to an S3 bucket with long-lived, immutable cache headers."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        region: str,
        cloudfront_domain: str | None = None,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.region = region
        self.cloudfront_domain = cloudfront_domain

    def put_png(self, key: str, data: bytes) -> PublishedImage:
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=CONTENT_TYPE,
            CacheControl=CACHE_CONTROL,
        )
        return PublishedImage(
            s3_url=f"s3://{self.bucket}/{key}",
            public_url=s3_public_url(self.bucket, self.region, key, self.cloudfront_domain),
            key=key,
        )


class LocalObjectStore:
    """Publishes into a directory, for offline dry runs; URLs are ``file://``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_png(self, key: str, data: bytes) -> PublishedImage:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file
        url = path.as_uri()
        return PublishedImage(s3_url=url, public_url=url, key=key)
