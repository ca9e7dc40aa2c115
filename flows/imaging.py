"""Recognising image bytes: the MIME type by signature, and a check that Pillow can open them."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from flows.errors import InvalidImageError

SUPPORTED_FORMATS = "PNG, JPEG, WEBP or GIF"


def sniff_mime_type(image_bytes: bytes) -> str | None:
    """The MIME type the leading bytes announce, or None if not a format OpenAI accepts."""
    if image_bytes.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if image_bytes.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if image_bytes[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if image_bytes[:4] == b"RIFF" and image_bytes[8:12] == b"WEBP":
        return "image/webp"
    return None


def detect_mime_type(image_bytes: bytes, source: str = "image") -> str:
    """The MIME type of ``image_bytes``; raises InvalidImageError naming ``source`` if unusable."""
    if not image_bytes:
        raise InvalidImageError(f"Image is empty: {source} has 0 bytes; supply a non-empty image")
    mime_type = sniff_mime_type(image_bytes)
    if mime_type is None:
        raise InvalidImageError(
            f"Not a supported image: {source} is not {SUPPORTED_FORMATS}; "
            "convert it to PNG or JPEG and try again"
        )
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(
            f"Corrupt image: {source} looks like {mime_type} but cannot be decoded ({exc}); "
            "re-export the file and try again"
        ) from exc
    return mime_type


def image_size(image_bytes: bytes) -> tuple[int, int]:
    """Width and height in pixels."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        return image.size
