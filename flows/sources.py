"""Step 1, load: read an image from an http(s) URL or a local path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import requests
import urllib3

from flows.errors import ImageNotFoundError, InvalidImageError, InvalidImageSourceError
from flows.settings import DEFAULT_DOWNLOAD_TIMEOUT, env

DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_USER_AGENT = "prefect-image-pipeline/0.1 (+image download)"


def max_image_bytes() -> int:
    """Largest accepted input: IMAGE_PIPELINE_MAX_IMAGE_BYTES, else 50 MB."""
    return int(env("IMAGE_PIPELINE_MAX_IMAGE_BYTES") or DEFAULT_MAX_IMAGE_BYTES)


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
                f"Unsupported URL scheme '{scheme}' in {text}; "
                "use an http(s) URL or a local file path"
            )
        if not parts.hostname:
            raise InvalidImageSourceError(f"Invalid image URL: {text} has no host")
        return ImageSource(text, "url", text)
    return ImageSource(text, "path", _expand(text))


def _expand(path: str) -> str:
    return str(Path(os.path.expanduser(path)).absolute())


def download_image_from_url(url: str, timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT) -> bytes:
    """Download ``url`` and return its bytes.

    Raises ValueError for a URL we cannot fetch, requests.HTTPError for an error
    status, requests.Timeout / requests.ConnectionError when the server is slow or
    unreachable, and InvalidImageError when the body is empty or over the size cap.
    """
    source = classify_source(url)
    if source.kind != "url":
        raise InvalidImageSourceError(f"Invalid image URL: {url}; expected http:// or https://")
    limit = max_image_bytes()
    try:
        with requests.get(
            url, timeout=timeout, stream=True, headers={"User-Agent": _USER_AGENT}
        ) as response:
            _raise_for_status(response, url)
            body = _read_capped(response, url, limit)
    except (requests.Timeout, requests.ConnectionError) as exc:
        if not _is_timeout(exc):
            raise requests.ConnectionError(
                f"Could not connect to download {url}; check the URL and your network"
            ) from exc
        raise requests.Timeout(
            f"Timeout downloading image from {url} after {timeout}s; "
            "check the URL is reachable or raise the timeout"
        ) from exc
    if not body:
        raise InvalidImageError(f"Image is empty: {url} returned 0 bytes")
    return body


def _is_timeout(exc: requests.RequestException) -> bool:
    # A read timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError).
    inner = exc.args[0] if exc.args else None
    return isinstance(exc, requests.Timeout) or isinstance(
        inner, urllib3.exceptions.ReadTimeoutError
    )


def _raise_for_status(response: requests.Response, url: str) -> None:
    if response.status_code < 400:
        return
    raise requests.HTTPError(
        f"HTTP {response.status_code} {response.reason or ''}".rstrip()
        + f" downloading image from {url}; check that the URL is correct and publicly readable",
        response=response,
    )


def _read_capped(response: requests.Response, url: str, limit: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidImageError(_too_large(url, int(declared), limit))
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        received += len(chunk)
        if received > limit:
            raise InvalidImageError(_too_large(url, received, limit))
        chunks.append(chunk)
    return b"".join(chunks)


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
