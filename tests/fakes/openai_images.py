"""The images the fake OpenAI server "generates", shaped by the request's image tool.

The picture is the first decodable input image (or, without one, a solid 64x64 square
coloured by the prompt). The tool decides the rest, as it does for the real API:
``size`` ``WIDTHxHEIGHT`` gives exactly that many pixels (the picture scaled to fit,
centred, the margin transparent), ``output_format`` the encoding (png and webp keep
alpha; jpeg is flattened onto white; gif is palette; svg wraps a PNG), and
``output_compression`` the webp/jpeg quality. ``background`` acts on the picture's flat
background (its commonest border colour), as the real models do with a recreation:
``transparent`` clears it, ``opaque`` paints it the first ``#RRGGBB`` the prompt names
(else keeps it) and flattens the rest; ``auto`` and absent leave it as it is. Rebuilding from raw pixels drops metadata,
so identical requests give identical bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage  # type: ignore[import-untyped]  # (imagehash depends on it)

from .openai_requests import _image_tool, _input_image_urls, _prompt_of

__all__ = ["FALLBACK_SIZE", "requested_size"]

FALLBACK_SIZE = (64, 64)

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?:;[^;,]*)*;base64,(?P<data>.*)$", re.DOTALL)
_HEX_COLOUR = re.compile(r"#([0-9A-Fa-f]{6})\b")
_SIZE = re.compile(r"^(?P<width>[1-9][0-9]{0,4})x(?P<height>[1-9][0-9]{0,4})$")
# Beyond the API's largest size (3840x2160): refuse to allocate what a typo asks for.
_MAX_PIXELS = 4096 * 4096


def requested_size(tool: Mapping[str, Any]) -> tuple[int, int] | None:
    """The tool's ``size`` as (width, height), or None for auto/absent/unparsable."""
    match = _SIZE.match(str(tool.get("size", "")))
    if match is None:
        return None
    width, height = int(match["width"]), int(match["height"])
    return (width, height) if width * height <= _MAX_PIXELS else None


def output_format(tool: Mapping[str, Any]) -> str:
    """The format the image is encoded in (the API's default is png)."""
    value = tool.get("output_format")
    return value if value in ("png", "webp", "jpeg", "gif", "svg") else "png"


def generated_image(request: Mapping[str, Any]) -> bytes:
    """The generated image's bytes, in the tool's format and size."""
    tool = _image_tool(request) or {}
    image = _source_image(request)
    size = requested_size(tool)
    if size is not None and image.size != size:
        image = _fit(image, size)
    background = tool.get("background")
    if background == "transparent":
        image = _on_background(image, None)
    elif background == "opaque":
        colour = _prompt_colour(_prompt_of(request))
        image = _flattened(_on_background(image, colour), colour or (255, 255, 255))
    return _encode(image, output_format(tool), tool.get("output_compression"))


def _on_background(image: Image.Image, colour: tuple[int, int, int] | None) -> Image.Image:
    """``image`` with its flat background (the commonest border colour) replaced by
    ``colour``, or cleared when ``colour`` is None: the subject recreated on what was asked."""
    pixels = np.asarray(image.convert("RGBA"))
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    values, counts = np.unique(border, axis=0, return_counts=True)
    ground = values[counts.argmax()]
    if ground[3] == 0:
        return image  # already transparent around the subject
    near = np.abs(pixels[..., :3].astype(int) - ground[:3].astype(int)).max(axis=-1) <= 8
    near = _touching_the_border(near)
    if near.all():
        return image  # one flat colour: that is the subject, not a background
    out = pixels.copy()
    out[near] = (0, 0, 0, 0) if colour is None else (*colour, 255)
    return Image.fromarray(out, "RGBA")


def _touching_the_border(mask: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` connected to the image's edge: regions of the background's
    colour inside the subject (the white in a logo) stay the subject's."""
    # 4-connected regions, as a flood fill from each edge pixel finds them, labelled in C:
    # Pillow's floodfill is pure Python, seconds for a 1536x1024 background.
    labels, _ = ndimage.label(mask)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching: np.ndarray = np.isin(labels, np.unique(edge[edge > 0]))
    return touching


def _prompt_colour(prompt: str) -> tuple[int, int, int] | None:
    """The first ``#RRGGBB`` the prompt names (a model paints what it is told), or None."""
    match = _HEX_COLOUR.search(prompt)
    if match is None:
        return None
    value = int(match[1], 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def _flattened(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """``image`` on a flat ``colour``: what an opaque background means."""
    canvas = Image.new("RGBA", image.size, (*colour, 255))
    canvas.alpha_composite(image)
    return canvas


def _source_image(request: Mapping[str, Any]) -> Image.Image:
    for url in _input_image_urls(request):
        image = _decode_data_url(url)
        if image is not None:
            return image
    digest = hashlib.sha256(_prompt_of(request).encode()).digest()
    return Image.new("RGBA", FALLBACK_SIZE, (digest[0], digest[1], digest[2], 255))


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled to fit inside ``size`` (aspect kept), centred on transparency."""
    scale = min(size[0] / image.width, size[1] / image.height)
    scaled = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(scaled, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(resized, ((size[0] - scaled[0]) // 2, (size[1] - scaled[1]) // 2))
    return canvas


def _encode(image: Image.Image, fmt: str, compression: Any) -> bytes:
    quality = compression if type(compression) is int and 0 <= compression <= 100 else 100
    out = io.BytesIO()
    if fmt == "jpeg":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        flat.save(out, format="JPEG", quality=quality)
    elif fmt == "webp":
        image.save(out, format="WEBP", quality=quality, lossless=quality == 100)
    elif fmt == "gif":
        image.save(out, format="GIF")
    elif fmt == "svg":
        return _svg(image)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def _svg(image: Image.Image) -> bytes:
    png = io.BytesIO()
    image.save(png, format="PNG")
    href = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    width, height = image.size
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><image width="{width}" height="{height}" '
        f'href="{href}"/></svg>'
    ).encode()


def _decode_data_url(url: str) -> Image.Image | None:
    match = _DATA_URL.match(url)
    if match is None:
        return None
    try:
        data = base64.b64decode("".join(match["data"].split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            rgba = opened.convert("RGBA")
    # Any decoder failure (truncated, unknown format, bomb) means "no usable image".
    except Exception:
        return None
    return Image.frombytes("RGBA", rgba.size, rgba.tobytes())
