"""Step 2, encode: turn image bytes into the base64 data URL the Responses API accepts."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from flows.imaging import detect_mime_type


def encode_image_for_openai(image_bytes: bytes, mime_type: str = "image/png") -> str:
    """Base64-encode ``image_bytes`` (``mime_type`` is kept for API compatibility)."""
    del mime_type  # the reference accepted it; the data URL built below carries it
    return base64.b64encode(image_bytes).decode("ascii")


def to_data_url(image_bytes: bytes, mime_type: str) -> str:
    """``data:<mime>;base64,...`` for an ``input_image`` item."""
    return f"data:{mime_type};base64,{encode_image_for_openai(image_bytes, mime_type)}"


def sha256_hex(data: bytes) -> str:
    """Content hash used in cache keys and output names."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class EncodedImage:
    """A validated image ready for OpenAI; the payload is kept out of reprs and logs."""

    sha256: str
    mime_type: str
    size: int
    data_url: str = field(repr=False)


def encode_image(image_bytes: bytes, source: str = "image") -> EncodedImage:
    """Validate ``image_bytes`` by signature and decoding, then build its data URL."""
    mime_type = detect_mime_type(image_bytes, source)
    return EncodedImage(
        sha256=sha256_hex(image_bytes),
        mime_type=mime_type,
        size=len(image_bytes),
        data_url=to_data_url(image_bytes, mime_type),
    )
