"""Step 4, upload: write the generated image to the work dir, publish it to S3 (or a local
directory for --offline) under a stable key, and name its URLs.

The key's extension and the object's ContentType follow the bytes actually returned
(``…_generated_logo.webp``, ``image/webp``), whatever was asked for.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from prefect_image_pipeline.edges.s3.objects import copy_object, head_metadata, put_bytes
from prefect_image_pipeline.errors import InvalidImageSourceError
from prefect_image_pipeline.formats import IMAGE_SUFFIXES, sniff_mime_type
from prefect_image_pipeline.steps.encode import sha256_hex
from prefect_image_pipeline.steps.generate import GeneratedImage

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client

CONTENT_TYPE = "image/png"  # when the bytes name no format we know
CACHE_CONTROL = "public, max-age=31536000, immutable"
EXTENSIONS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpeg", "image/gif": "gif"}
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# A stem this long keeps a key far under S3's 1,024 bytes and a file name under 255.
MAX_STEM = 100


@dataclass(frozen=True)
class PublishedImage:
    """Where the image now lives."""

    s3_url: str
    public_url: str
    key: str


@dataclass(frozen=True)
class SavedImage:
    """A generated image written to the working directory."""

    path: str
    size: int
    sha256: str
    created_at: int
    mime_type: str = CONTENT_TYPE

    @property
    def extension(self) -> str:
        """``png``, ``webp``, ``jpeg``: what the key ends with."""
        return EXTENSIONS.get(self.mime_type, "png")


def save_generated(generated: GeneratedImage, work_dir: str) -> SavedImage:
    """Write ``processed_image_{timestamp}.{ext}`` (suffixed with the hash if that is taken)."""
    mime_type = content_type(generated.png)
    ext = EXTENSIONS.get(mime_type, "png")
    directory = Path(work_dir)
    stamp = int(time.time())
    path = directory / f"processed_image_{stamp}.{ext}"
    if path.exists() and sha256_hex(path.read_bytes()) != generated.sha256:
        path = directory / f"processed_image_{stamp}_{generated.sha256[:8]}.{ext}"
    path.write_bytes(generated.png)
    return SavedImage(str(path), generated.size, generated.sha256, generated.created_at, mime_type)


def content_type(data: bytes) -> str:
    """The MIME type the bytes announce (the format OpenAI actually returned)."""
    return sniff_mime_type(data) or CONTENT_TYPE


class ObjectStore(Protocol):
    """A place to publish images: S3 in production, a directory for --offline."""

    def put_image(self, key: str, data: bytes) -> PublishedImage:
        """Store ``data`` under ``key`` and return its URLs."""
        ...

    def put_document(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        """Store a report (HTML, JSON lines) that a later run may replace."""
        ...

    def put_copy(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        """Store a web copy (immutable, as the image it was made from)."""
        ...

    def point(
        self, source_key: str, key: str, sha256: str, content_type: str, max_age: int
    ) -> bool:
        """Make ``key`` hold ``source_key``'s bytes unless it already does; True if written."""
        ...

    def public_url(self, key: str) -> str:
        """The public URL of ``key``."""
        ...


def output_filename(name: str, extension: str = "png") -> str:
    """``photo.jpg`` -> ``photo.png``: one suffix, safe characters, at most MAX_STEM long.

    A name that had to be cut or lost characters (non-ASCII) gets a short hash of the
    original, so two such names never share a key.
    """
    stem = PurePosixPath(name.replace("\\", "/")).name
    for suffix in IMAGE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    clean = _UNSAFE_KEY_CHARS.sub("-", stem).strip("-.") or "image"
    if len(clean) > MAX_STEM or not stem.isascii():
        clean = f"{clean[: MAX_STEM - 9].rstrip('-.')}-{sha256_hex(stem.encode())[:8]}"
    return f"{clean}.{extension}"


# What build_object_key names an output: ``{prefix}/{unix_ts}_generated_{stem}.{ext}``
# (web copies add ``-320w`` and the like to the stem).
_OUTPUT_NAME = re.compile(r"(?:^|/)[0-9]+_generated_[^/]+$")


def is_output_key(key: str) -> bool:
    """Whether ``key`` names one of our outputs (or its web copies), not a source."""
    return _OUTPUT_NAME.search(key) is not None


def output_stem(name: str) -> str:
    """``photo.jpg`` -> ``photo``: the output's name without its extension."""
    return output_filename(name).rsplit(".", 1)[0]


def build_object_key(
    prefix: str, filename: str, timestamp: int | None = None, extension: str = "png"
) -> str:
    """``{prefix}/{unix_ts}_{stem}.{extension}``: exactly one timestamp and one suffix."""
    ts = int(time.time()) if timestamp is None else timestamp
    # "." and ".." segments are dropped: a key never climbs out of its prefix or store.
    clean_prefix = "/".join(part for part in prefix.split("/") if part not in ("", ".", ".."))
    name = f"{ts}_{output_filename(filename, extension)}"
    return f"{clean_prefix}/{name}" if clean_prefix else name


def s3_public_url(
    bucket: str,
    region: str,
    key: str,
    cloudfront_domain: str | None,
    public_base_url: str | None = None,
) -> str:
    """``{public_base_url}/{key}`` when set (MinIO, R2, Ceph), else CloudFront when a
    domain is configured, else the bucket's virtual-host URL on AWS."""
    if public_base_url:
        return f"{public_base_url.rstrip('/')}/{key}"
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
        public_base_url: str | None = None,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.region = region
        self.cloudfront_domain = cloudfront_domain
        self.public_base_url = public_base_url

    def put_image(self, key: str, data: bytes) -> PublishedImage:
        return self._put(key, data, content_type(data), CACHE_CONTROL)

    def put_document(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        # Rewritten by a redo: never cached by browsers or a CDN.
        return self._put(key, data, content_type, "no-cache")

    def put_copy(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        return self._put(key, data, content_type, CACHE_CONTROL)

    def point(
        self, source_key: str, key: str, sha256: str, content_type: str, max_age: int
    ) -> bool:
        # The alias's SHA-256 rides in its metadata: the same bytes are never rewritten.
        if (head_metadata(self._client, self.bucket, key) or {}).get("sha256") == sha256:
            return False
        cache_control = f"public, max-age={max_age}"
        metadata = {"sha256": sha256}
        copy_object(
            self._client, self.bucket, source_key, key, content_type, cache_control, metadata
        )
        return True

    def public_url(self, key: str) -> str:
        return s3_public_url(
            self.bucket, self.region, key, self.cloudfront_domain, self.public_base_url
        )

    def _put(self, key: str, data: bytes, mime: str, cache_control: str) -> PublishedImage:
        put_bytes(self._client, self.bucket, key, data, mime, cache_control)
        return PublishedImage(
            s3_url=f"s3://{self.bucket}/{key}", public_url=self.public_url(key), key=key
        )


class LocalObjectStore:
    """Publishes into a directory, for offline dry runs; URLs are ``file://``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_image(self, key: str, data: bytes) -> PublishedImage:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a file
        url = path.as_uri()
        return PublishedImage(s3_url=url, public_url=url, key=key)

    def put_document(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        del content_type  # a file on disk has none
        return self.put_image(key, data)

    def put_copy(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        del content_type
        return self.put_image(key, data)

    def point(
        self, source_key: str, key: str, sha256: str, content_type: str, max_age: int
    ) -> bool:
        del content_type, max_age  # a file on disk has no headers
        target = self._path(key)
        if target.exists() and sha256_hex(target.read_bytes()) == sha256:
            return False
        self.put_image(key, self._path(source_key).read_bytes())
        return True

    def public_url(self, key: str) -> str:
        return self._path(key).as_uri()

    def _path(self, key: str) -> Path:
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root):
            raise InvalidImageSourceError(f"Refused key {key!r}: it leads outside {root}")
        return path
