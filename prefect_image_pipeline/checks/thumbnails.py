"""Small previews embedded in the artifacts and the HTML page, as data URLs.

Chosen over presigned or public URLs on purpose: an embedded thumbnail shows offline, for
a private bucket and years later, needs no credentials in the page and never expires.
WebP at 128 px is about 2-6 KB, so a 500-image report stays a few megabytes.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

THUMBNAIL_EDGE = 128


def thumbnail(data: bytes, edge: int = THUMBNAIL_EDGE) -> str | None:
    """A WebP data URL no bigger than ``edge`` on its long side, or None if undecodable."""
    try:
        return thumbnail_of(Image.open(io.BytesIO(data)), edge)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def thumbnail_of(original: Image.Image, edge: int = THUMBNAIL_EDGE) -> str | None:
    """``thumbnail`` of an image already decoded (left as it was)."""
    try:
        image = original.copy()
        image.thumbnail((edge, edge))
        out = io.BytesIO()
        keep_alpha = "A" in image.getbands() or "transparency" in image.info
        image.convert("RGBA" if keep_alpha else "RGB").save(out, "WEBP", quality=70)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode()
