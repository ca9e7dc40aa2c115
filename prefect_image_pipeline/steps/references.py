"""Reference images (and an inpainting mask): extra ``input_image`` items after the main one.

Built as the reference's request builder did (``_build_multimodal_input``): duplicates
dropped, cdn.openai.com skipped, "problematic" URLs fetched here and inlined as data URLs.
A public https URL goes as a URL (OpenAI fetches it); a local file or an ``s3://`` object
is read with the main image's checks and inlined; a ``file-…`` id goes as a file id. A
reference that cannot be used is skipped with its reason; the run goes on.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from PIL import Image

from prefect_image_pipeline.edges.http.download import download_image_from_url
from prefect_image_pipeline.edges.http.url_policy import allowed_hosts
from prefect_image_pipeline.errors import (
    ImageGenerationError,
    InvalidImageError,
    InvalidOptionsError,
    explain,
)
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.steps.encode import detect_mime_type, sha256_hex, to_data_url
from prefect_image_pipeline.steps.load import load_image_from_path, read_s3_object
from prefect_image_pipeline.urls import redact_url

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client

logger = logging.getLogger(__name__)

# OpenAI takes at most this many images in one request: the input plus its references.
MAX_IMAGES = 16
SKIPPED_HOSTS = ("cdn.openai.com",)
# An inlined reference larger than this on its long side is downscaled before encoding.
MAX_INLINE_SIDE = 2048

S3ClientFactory = Callable[[], "S3Client"]


@dataclass(frozen=True)
class ReferenceImage:
    """One extra image as it is sent: a URL, a data URL (inlined) or an OpenAI file id."""

    source: str  # as given; ``shown`` is what messages print
    kind: Literal["url", "data", "file_id"]
    value: str = field(repr=False)
    cache_key: str = ""  # the bytes' hash when inlined, else the URL or file id

    @property
    def shown(self) -> str:
        """The source fit for logs (a URL's secrets redacted)."""
        return redact_url(self.source) if "://" in self.source else self.source

    @property
    def inlined_bytes(self) -> int:
        """Size of the data URL, for the total cap."""
        return len(self.value) if self.kind == "data" else 0

    def item(self, detail: str) -> dict[str, Any]:
        """The ``input_image`` content item."""
        if self.kind == "file_id":
            return {"type": "input_image", "file_id": self.value, "detail": detail}
        return {"type": "input_image", "image_url": self.value, "detail": detail}

    def mask(self) -> dict[str, str]:
        """The tool's ``input_image_mask`` for this image."""
        return {"file_id": self.value} if self.kind == "file_id" else {"image_url": self.value}


@dataclass(frozen=True)
class PreparedReferences:
    """What a run sends besides its input, and what it had to leave out (with why)."""

    images: tuple[ReferenceImage, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    def for_input(self, image: str) -> tuple[ReferenceImage, ...]:
        """The references to send with ``image``: a reference equal to it is dropped."""
        return tuple(ref for ref in self.images if ref.source != image.strip())


def is_problematic(url: str) -> bool:
    """Whether OpenAI may fail to fetch ``url`` itself, so we download and inline it."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return True  # unparsable: our downloader will say why
    if parts.scheme.lower() != "https" or not host or host in allowed_hosts():
        return True  # plain http, or a host only we can reach
    lowered = url.lower()
    return any(marker in lowered for marker in settings().inline_url_markers)


def prepare_references(
    references: Sequence[str], main_input: str, s3_client: S3ClientFactory | None = None
) -> PreparedReferences:
    """Deduplicate, classify and (where needed) fetch every reference, in the order given.

    Refuses, before any call, more than MAX_IMAGES images in all and inlined references
    over IMAGE_PIPELINE_MAX_REFERENCE_BYTES together.
    """
    unique = [r for r in dict.fromkeys(r.strip() for r in references) if r]
    unique = [r for r in unique if r != main_input.strip()]
    if 1 + len(unique) > MAX_IMAGES:
        raise InvalidOptionsError(
            f"Too many images: 1 input and {len(unique)} references, over OpenAI's limit of "
            f"{MAX_IMAGES} in one request; drop some --reference"
        )
    images: list[ReferenceImage] = []
    skipped: list[tuple[str, str]] = []
    for source in unique:
        try:
            images.append(prepare_reference(source, s3_client))
        except UnusableReferenceError as skip:
            skipped.append((redact_url(source), str(skip)))
        except Exception as exc:  # noqa: BLE001 - a bad reference is skipped, not fatal
            skipped.append((redact_url(source), explain(exc)))
    _check_total(images)
    return PreparedReferences(tuple(images), tuple(skipped))


class UnusableReferenceError(Exception):
    """A reference left out on purpose (its message says why)."""


def prepare_reference(source: str, s3_client: S3ClientFactory | None = None) -> ReferenceImage:
    """One reference as it will be sent; raises (with the reason) if it cannot be used."""
    if source.startswith("file-") and not os.path.exists(source):
        return ReferenceImage(source, "file_id", source, cache_key=source)
    if "://" in source and not source.lower().startswith(("s3://", "file://")):
        host = (urlsplit(source).hostname or "").lower() if _parsable(source) else ""
        if any(host == skipped or host.endswith("." + skipped) for skipped in SKIPPED_HOSTS):
            raise UnusableReferenceError(
                "cdn.openai.com URLs are skipped, as the reference toolkit did"
            )
        if not is_problematic(source):
            return ReferenceImage(source, "url", source, cache_key=source)
        return inline(source, download_image_from_url(source))
    parsed = parse_input(source)
    if parsed.kind == "s3":
        if s3_client is None:
            raise UnusableReferenceError("no S3 client to read it")
        return inline(source, read_s3_object(parsed, s3_client(), settings().max_image_bytes))
    return inline(source, load_image_from_path(parsed.location))


def inline(source: str, data: bytes) -> ReferenceImage:
    """``data`` checked like a main input, downscaled if large, as a data URL."""
    mime_type = detect_mime_type(data, redact_url(source))
    data, mime_type = _downscaled(data, mime_type)
    return ReferenceImage(source, "data", to_data_url(data, mime_type), cache_key=sha256_hex(data))


def _downscaled(data: bytes, mime_type: str) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= MAX_INLINE_SIDE:
            return data, mime_type
        image.thumbnail((MAX_INLINE_SIDE, MAX_INLINE_SIDE))
        out = io.BytesIO()
        image.save(out, format="PNG")
    return out.getvalue(), "image/png"


def _check_total(images: list[ReferenceImage]) -> None:
    limit = settings().max_reference_bytes
    total = sum(image.inlined_bytes for image in images)
    if total > limit:
        raise InvalidImageError(
            f"References too large: the inlined references come to {total} bytes, over "
            f"{limit}; pass fewer or smaller ones, or raise IMAGE_PIPELINE_MAX_REFERENCE_BYTES"
        )


def _parsable(url: str) -> bool:
    try:
        urlsplit(url).hostname  # noqa: B018 - raises on a malformed netloc
    except ValueError:
        return False
    return True


def prepare_mask(source: str, s3_client: S3ClientFactory | None = None) -> ReferenceImage:
    """The inpainting mask: a PNG with an alpha channel (its transparent areas are redone)."""
    try:
        mask = prepare_reference(source.strip(), s3_client)
    except Exception as exc:
        raise InvalidOptionsError(
            f"Mask {redact_url(source)} cannot be used: {explain(exc)}"
        ) from exc
    if mask.kind == "data" and not mask.value.startswith("data:image/png;"):
        raise InvalidOptionsError(
            f"Mask {redact_url(source)} must be a PNG with transparent areas; export it as PNG"
        )
    return mask


def unreachable_references(
    error: ImageGenerationError, references: Sequence[ReferenceImage]
) -> tuple[str, ...]:
    """The URL references a 400 says OpenAI could not download (named, or all of them)."""
    if error.status_code != 400 or error.code != "invalid_image_url":
        return ()
    urls = [ref.source for ref in references if ref.kind == "url"]
    named = tuple(url for url in urls if url in str(error))
    return named or tuple(urls)


def inline_urls(
    references: Sequence[ReferenceImage], urls: Sequence[str]
) -> tuple[ReferenceImage, ...]:
    """``references`` with those URLs fetched by our downloader; one that fails is dropped."""
    result = []
    for ref in references:
        if ref.source not in urls:
            result.append(ref)
            continue
        try:
            result.append(inline(ref.source, download_image_from_url(ref.source)))
        except Exception as exc:  # noqa: BLE001 - the run goes on without it
            logger.warning("Skipped reference %s: %s", ref.shown, explain(exc))
    return tuple(result)
