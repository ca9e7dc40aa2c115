"""Leaves: the image formats OpenAI accepts as input, told apart by their leading bytes."""

from __future__ import annotations

SUPPORTED_FORMATS = "PNG, JPEG, WEBP or GIF"
# The names such images go by: what a listing or a watched prefix counts as an image.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


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
