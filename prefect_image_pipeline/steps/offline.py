"""The offline generator: does the default prompt's job with Pillow, for dry runs without a key.

It upscales so the long side is at least 1024 px and makes a uniform background that
touches the border transparent; with a size it fits the image into that canvas, and it
writes the requested format. It ignores the prompt, and says so.
"""

from __future__ import annotations

import base64
import io
import logging
from collections import Counter
from collections.abc import Sequence

from PIL import Image, ImageChops, ImageDraw, ImageOps

from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.steps.encode import EncodedImage, sha256_hex
from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.references import ReferenceImage

MIN_LONG_SIDE = 1024
# Per-channel distance at which a pixel still counts as the background colour.
BACKGROUND_TOLERANCE = 24
# The most common border colour must cover this share of the border to be a background.
MIN_BORDER_SHARE = 0.6
_FILLED = 128

logger = logging.getLogger(__name__)


class OfflineImageGenerator:
    """A local stand-in for OpenAI with the same interface and cache behaviour."""

    @property
    def name(self) -> str:
        return "offline-pillow-v1"

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        if options.prompt:
            logger.warning("Offline generator ignores the prompt; it only recreates the image")
        if references or mask:
            logger.warning("Offline generator ignores reference images and masks")
        recreated = recreate(_decode(image), options.size)
        data = encode_as(recreated, options.output_format, options.output_compression)
        return GeneratedImage(png=data, sha256=sha256_hex(data), generator=self.name)

    def warm_up(self) -> None:
        """Nothing to prepare: Pillow is imported with this module."""


def _decode(image: EncodedImage) -> bytes:
    return base64.b64decode(image.data_url.split(",", 1)[1])


def recreate(image_bytes: bytes, size: str | None = None) -> Image.Image:
    """The input as RGBA, background cleared, upscaled (or fitted into ``WIDTHxHEIGHT``)."""
    with Image.open(io.BytesIO(image_bytes)) as opened:
        opened.seek(0)
        rgba = opened.convert("RGBA")
    rgba = clear_border_background(rgba)
    if size and size != "auto":
        width, height = (int(part) for part in size.split("x"))
        return ImageOps.pad(rgba, (width, height), color=(0, 0, 0, 0))
    return upscale(rgba, MIN_LONG_SIDE)


def encode_as(image: Image.Image, output_format: str, compression: int | None = None) -> bytes:
    """``image`` as png, webp or jpeg (jpeg has no alpha: flattened onto white)."""
    out = io.BytesIO()
    if output_format == "jpeg":
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        flat.save(out, format="JPEG", quality=compression or 90)
    elif output_format == "webp":
        image.save(out, format="WEBP", quality=compression or 90)
    else:
        image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def upscale(image: Image.Image, min_long_side: int) -> Image.Image:
    """Enlarge (never shrink) so the longer side reaches ``min_long_side``."""
    long_side = max(image.size)
    if long_side >= min_long_side:
        return image
    scale = min_long_side / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def clear_border_background(image: Image.Image) -> Image.Image:
    """Make the background transparent if one colour dominates the border."""
    background = _dominant_border_colour(image)
    if background is None:
        return image
    # Mask of "close to the background colour", then flood it from the border so
    # background-coloured pixels inside the subject keep their colour.
    solid = Image.new("RGB", image.size, background)
    distance = ImageChops.difference(image.convert("RGB"), solid).convert("L")
    mask = distance.point(lambda value: 255 if value <= BACKGROUND_TOLERANCE else 0)
    for xy in _border_pixels(image.width, image.height):
        if mask.getpixel(xy) == 255:
            ImageDraw.floodfill(mask, xy, _FILLED)
    keep = mask.point(lambda value: 0 if value == _FILLED else 255)
    alpha = ImageChops.multiply(image.getchannel("A"), keep)
    result = image.copy()
    result.putalpha(alpha)
    return result


def _dominant_border_colour(image: Image.Image) -> tuple[int, int, int] | None:
    rgb = image.convert("RGB")
    counts: Counter[tuple[int, int, int]] = Counter()
    for xy in _border_pixels(image.width, image.height):
        pixel = rgb.getpixel(xy)
        assert isinstance(pixel, tuple)
        counts[(pixel[0], pixel[1], pixel[2])] += 1
    if not counts:
        return None
    colour, count = counts.most_common(1)[0]
    return colour if count / sum(counts.values()) >= MIN_BORDER_SHARE else None


def _border_pixels(width: int, height: int) -> list[tuple[int, int]]:
    top_bottom = [(x, y) for x in range(width) for y in {0, height - 1}]
    sides = [(x, y) for y in range(1, height - 1) for x in {0, width - 1}]
    return top_bottom + sides
