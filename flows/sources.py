"""Step 1, load: read an image from an http(s) URL or a local path.

URL downloads go through flows.safe_http (checked, pinned addresses; bounded redirects)
and stream under a size cap and a deadline; the first bytes must look like an image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import requests

from flows.errors import ImageNotFoundError, InvalidImageError, InvalidImageSourceError
from flows.imaging import SUPPORTED_FORMATS, sniff_mime_type
from flows.limits import DEFAULT_MAX_IMAGE_BYTES, max_image_bytes
from flows.safe_http import (
    Deadline,
    DeadlineExceeded,
    iter_body,
    open_checked,
    transport_error,
)
from flows.settings import DEFAULT_DOWNLOAD_TIMEOUT
from flows.url_policy import redact_url

__all__ = [  # the limits moved to flows.limits; importers of flows.sources keep working
    "DEFAULT_MAX_IMAGE_BYTES",
    "ImageSource",
    "classify_source",
    "download_image_from_url",
    "load_image_from_path",
    "max_image_bytes",
    "read_source",
]

_CHUNK_BYTES = 64 * 1024
# Enough leading bytes to recognise every supported signature (WEBP needs 12).
_SNIFF_BYTES = 16
# The whole download (all redirects and the body) may take this many times the timeout:
# the timeout bounds each read, this bounds a server that sends one byte per read.
DEADLINE_FACTOR = 4


@dataclass(frozen=True)
class ImageSource:
    """What the user asked for, classified: a URL to download or a file to read."""

    raw: str
    kind: str  # "url" or "path"
    location: str  # the URL, or the expanded absolute path

    @property
    def name(self) -> str:
        """The file name the source carries, used to name the output."""
        if self.kind == "url":
            name = PurePosixPath(unquote(urlsplit(self.location).path)).name
        else:
            name = Path(self.location).name
        return name or "image"


def classify_source(image: str) -> ImageSource:
    """Decide whether ``image`` is a URL or a path; refuse schemes we cannot load."""
    text = image.strip()
    if not text:
        raise InvalidImageSourceError("No image given; pass an http(s) URL or a local file path")
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return ImageSource(text, "path", _expand(unquote(parts.path)))
        if scheme not in ("http", "https"):
            raise InvalidImageSourceError(
                f"Unsupported URL scheme '{scheme}' in {redact_url(text)}; "
                "use an http(s) URL or a local file path"
            )
        if not parts.hostname:
            raise InvalidImageSourceError(f"Invalid image URL: {redact_url(text)} has no host")
        return ImageSource(text, "url", text)
    return ImageSource(text, "path", _expand(text))


def _expand(path: str) -> str:
    return str(Path(os.path.expanduser(path)).absolute())


def download_image_from_url(url: str, timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT) -> bytes:
    """Download ``url`` and return its bytes.

    Raises ValueError for a URL we cannot or may not fetch (UnsafeURLError for internal
    addresses), requests.HTTPError for an error status, requests.Timeout /
    requests.ConnectionError when the server is slow, unreachable or cuts the body short,
    and InvalidImageError when the body is empty, over the size cap or not an image.
    """
    source = classify_source(url)
    if source.kind != "url":
        raise InvalidImageSourceError(
            f"Invalid image URL: {redact_url(url)}; expected http:// or https://"
        )
    shown = redact_url(url)
    deadline = Deadline(timeout * DEADLINE_FACTOR)
    with open_checked(url, timeout) as response:
        _raise_for_status(response, shown)
        try:
            body = _read_image_body(response, shown, max_image_bytes(), deadline)
        except DeadlineExceeded:
            raise
        except requests.RequestException as exc:
            raise transport_error(exc, url, timeout) from exc
    if not body:
        raise InvalidImageError(f"Image is empty: {shown} returned 0 bytes")
    return body


def _raise_for_status(response: requests.Response, shown: str) -> None:
    if response.status_code < 400:
        return
    raise requests.HTTPError(
        f"HTTP {response.status_code} {response.reason or ''}".rstrip()
        + f" downloading image from {shown}; check that the URL is correct and publicly readable",
        response=response,
    )


def _read_image_body(
    response: requests.Response, shown: str, limit: int, deadline: Deadline
) -> bytes:
    """The body, refused as soon as it is over ``limit``, past the deadline or not an image."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidImageError(_too_large(shown, int(declared), limit))
    chunks: list[bytes] = []
    received = 0
    sniffed = False
    for chunk in iter_body(response, _CHUNK_BYTES):
        received += len(chunk)
        if received > limit:
            raise InvalidImageError(_too_large(shown, received, limit))
        chunks.append(chunk)
        if not sniffed and received >= _SNIFF_BYTES:
            # Checked early so a web page or an endless stream of junk is dropped at once.
            _require_image_signature(b"".join(chunks), response, shown)
            sniffed = True
        if deadline.expired():
            raise DeadlineExceeded(
                f"Timeout downloading image from {shown}: still arriving after "
                f"{deadline.seconds:g}s; the server is too slow, try again later"
            )
    body = b"".join(chunks)
    if body and not sniffed:
        _require_image_signature(body, response, shown)
    return body


def _require_image_signature(head: bytes, response: requests.Response, shown: str) -> None:
    # The bytes decide: a mislabelled image is fine, a labelled non-image is not.
    if sniff_mime_type(head) is not None:
        return
    declared = response.headers.get("Content-Type", "").split(";")[0].strip() or "no Content-Type"
    raise InvalidImageError(
        f"Not a supported image: {shown} sent {declared} whose bytes are not "
        f"{SUPPORTED_FORMATS}; check the URL points at the image itself, not a web page"
    )


def _too_large(source: str, size: int, limit: int) -> str:
    return (
        f"Image too large: {source} is over {limit} bytes (got at least {size}); "
        "shrink it or raise IMAGE_PIPELINE_MAX_IMAGE_BYTES"
    )


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
    limit = max_image_bytes()
    try:
        size = path.stat().st_size
        if size > limit:
            raise InvalidImageError(_too_large(file_path, size, limit))
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


def read_source(source: ImageSource, timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT) -> bytes:
    """The bytes behind a classified source."""
    if source.kind == "url":
        return download_image_from_url(source.location, timeout=timeout)
    return load_image_from_path(source.location)
