"""Step 2, encode: check the bytes are an image we accept, then build the data URL OpenAI reads.

Checked by signature (the bytes decide, not a file name or Content-Type), by size and
pixel count before decoding, and by a full decode with the one Pillow decoder the
signature named.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from prefect_image_pipeline.errors import InvalidImageError
from prefect_image_pipeline.formats import SUPPORTED_FORMATS, sniff_mime_type
from prefect_image_pipeline.settings.config import settings


class Loaded(Protocol):
    """What encode reads of a loaded input (steps.load.LoadedImage): where, and from what."""

    @property
    def path(self) -> str: ...

    @property
    def input(self) -> str: ...


# Pillow may only use the decoder the signature named, never one of its many others.
_PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}


def detect_mime_type(image_bytes: bytes, source: str = "image") -> str:
    """The MIME type of ``image_bytes``; raises InvalidImageError naming ``source`` if unusable.

    Usable means: not empty, within IMAGE_PIPELINE_MAX_IMAGE_BYTES, a PNG, JPEG, WEBP or
    still GIF by signature, within IMAGE_PIPELINE_MAX_IMAGE_PIXELS, and fully decodable.
    """
    if not image_bytes:
        raise InvalidImageError(f"Image is empty: {source} has 0 bytes; supply a non-empty image")
    limit = settings().max_image_bytes
    if len(image_bytes) > limit:
        raise InvalidImageError(
            f"Image too large: {source} is {len(image_bytes)} bytes, over {limit}; "
            "shrink it or raise IMAGE_PIPELINE_MAX_IMAGE_BYTES"
        )
    mime_type = sniff_mime_type(image_bytes)
    if mime_type is None:
        raise InvalidImageError(
            f"Not a supported image: {source} is not {SUPPORTED_FORMATS}; "
            "convert it to PNG or JPEG and try again"
        )
    try:
        _check_decodes(image_bytes, mime_type, source)
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(_too_many_pixels(source, "beyond Pillow's own limit")) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageError(
            f"Corrupt image: {source} looks like {mime_type} but cannot be decoded ({exc}); "
            "re-export the file and try again"
        ) from exc
    return mime_type


def _check_decodes(image_bytes: bytes, mime_type: str, source: str) -> None:
    formats = [_PILLOW_FORMATS[mime_type]]
    with Image.open(io.BytesIO(image_bytes), formats=formats) as image:
        # The header gives the size: refuse before a single pixel is decompressed.
        width, height = image.size
        if width * height > settings().max_image_pixels:
            raise InvalidImageError(_too_many_pixels(source, f"{width}x{height}"))
        frames = getattr(image, "n_frames", 1)
        if mime_type == "image/gif" and frames > 1:
            raise InvalidImageError(
                f"Animated GIF: {source} has {frames} frames and OpenAI takes still images only; "
                "export one frame as PNG"
            )
        image.verify()  # structure and checksums
    with Image.open(io.BytesIO(image_bytes), formats=formats) as image:
        image.load()  # every pixel decodes: damaged data fails here, not at OpenAI


def _too_many_pixels(source: str, size: str) -> str:
    return (
        f"Image has too many pixels: {source} is {size}, over the limit of "
        f"{settings().max_image_pixels} pixels (a possible decompression bomb); "
        "downscale it or raise IMAGE_PIPELINE_MAX_IMAGE_PIXELS"
    )


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


def encode_loaded(loaded: Loaded) -> EncodedImage:
    """Validate and encode the loaded bytes (errors name the original input)."""
    return encode_image(Path(loaded.path).read_bytes(), loaded.input)
