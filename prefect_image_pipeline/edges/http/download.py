"""Download an image URL: checked, pinned addresses (edges.http.safe_http), a size cap, a deadline.

The body streams under the size cap and a whole-download deadline; its first bytes must
look like an image, so a web page or an endless stream is dropped at once.
"""

from __future__ import annotations

import requests

from prefect_image_pipeline.edges.http.safe_http import (
    Deadline,
    DeadlineExceeded,
    iter_body,
    open_checked,
    transport_error,
)
from prefect_image_pipeline.errors import InvalidImageError, InvalidImageSourceError
from prefect_image_pipeline.formats import SUPPORTED_FORMATS, sniff_mime_type
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.settings.config import DEFAULT_DOWNLOAD_TIMEOUT, settings
from prefect_image_pipeline.urls import redact_url

_CHUNK_BYTES = 64 * 1024
# Enough leading bytes to recognise every supported signature (WEBP needs 12).
_SNIFF_BYTES = 16
# The whole download (all redirects and the body) may take this many times the timeout:
# the timeout bounds each read, this bounds a server that sends one byte per read.
DEADLINE_FACTOR = 4


def download_image_from_url(url: str, timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT) -> bytes:
    """Download ``url`` and return its bytes.

    Raises ValueError for a URL we cannot or may not fetch (UnsafeURLError for internal
    addresses), requests.HTTPError for an error status, requests.Timeout /
    requests.ConnectionError when the server is slow, unreachable or cuts the body short,
    and InvalidImageError when the body is empty, over the size cap or not an image.
    """
    if parse_input(url).kind != "url":
        raise InvalidImageSourceError(
            f"Invalid image URL: {redact_url(url)}; expected http:// or https://"
        )
    shown = redact_url(url)
    deadline = Deadline(timeout * DEADLINE_FACTOR)
    with open_checked(url, timeout) as response:
        _raise_for_status(response, shown)
        try:
            body = _read_image_body(response, shown, settings().max_image_bytes, deadline)
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
        raise InvalidImageError(too_large(shown, int(declared), limit))
    chunks: list[bytes] = []
    received = 0
    sniffed = False
    for chunk in iter_body(response, _CHUNK_BYTES):
        received += len(chunk)
        if received > limit:
            raise InvalidImageError(too_large(shown, received, limit))
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


def too_large(source: str, size: int, limit: int) -> str:
    """The refusal of an input over IMAGE_PIPELINE_MAX_IMAGE_BYTES."""
    return (
        f"Image too large: {source} is over {limit} bytes (got at least {size}); "
        "shrink it or raise IMAGE_PIPELINE_MAX_IMAGE_BYTES"
    )
