"""Web copies of a published image: the widths a page needs, in the formats it prefers.

A copy is the output resized with Pillow (Lanczos, never wider than the output: a wider
width is skipped and said) and encoded at the quality chosen in docs/benchmarks.md. The
original's bytes are published untouched: OpenAI embeds C2PA provenance in its images and
a re-encoded copy cannot carry it. Keys follow the output's: ``…_generated_logo.png`` has
``…_generated_logo-640w.webp`` and, asked for a format without widths, ``…_generated_logo.avif``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from PIL import Image
from pydantic import BaseModel

from prefect_image_pipeline.steps.encode import sha256_hex
from prefect_image_pipeline.steps.upload import PublishedImage
from prefect_image_pipeline.steps.upload import content_type as content_type_of

WebFormat = Literal["webp", "avif", "png", "jpeg"]


@dataclass(frozen=True)
class Encoding:
    """How one format is written: its MIME type, Pillow's name and the chosen settings."""

    content_type: str
    pillow_format: str
    params: dict[str, Any]
    alpha: bool  # whether the format keeps transparency


ENCODINGS: dict[str, Encoding] = {
    "webp": Encoding("image/webp", "WEBP", {"quality": 80, "method": 4}, alpha=True),
    "avif": Encoding("image/avif", "AVIF", {"quality": 60, "speed": 6}, alpha=True),
    "png": Encoding("image/png", "PNG", {"optimize": True}, alpha=True),
    "jpeg": Encoding("image/jpeg", "JPEG", {"quality": 85, "progressive": True}, alpha=False),
}
# What an output's own MIME type is called here (the original is never re-encoded).
FORMAT_OF = {e.content_type: name for name, e in ENCODINGS.items()}


class WebCopy(BaseModel):
    """One published copy."""

    key: str
    s3_url: str
    public_url: str
    format: str
    content_type: str
    width: int
    height: int
    bytes: int
    sha256: str


class WebCopies(BaseModel):
    """Every copy of one output, and the widths left out because they would upscale it."""

    width: int  # the output's own size and type, for the page's <img>
    height: int
    content_type: str
    copies: list[WebCopy] = []
    skipped: list[str] = []


class CopyStore(Protocol):
    """What publishing copies needs of a store (steps.upload's stores)."""

    def put_copy(self, key: str, data: bytes, content_type: str) -> PublishedImage:
        """Store a web copy."""
        ...


def publish_copies(
    image: bytes,
    output_key: str,
    widths: list[int] | None,
    formats: list[str] | None,
    store: CopyStore,
) -> WebCopies:
    """Make and store the copies of the output ``image`` published under ``output_key``."""
    content_type = content_type_of(image)
    with Image.open(io.BytesIO(image)) as opened:
        opened.load()  # decoded once for every copy (~34 ms for a photo-like 1024²)
        width, height = opened.size
        plans, skipped = plan_copies(width, FORMAT_OF.get(content_type, "png"), widths, formats)
        rendered = [(plan, *_render(opened, plan)) for plan in plans]
    copies = []
    for plan, data, copy_width, copy_height in rendered:
        mime = ENCODINGS[plan.format].content_type
        published = store.put_copy(plan.key(output_key), data, mime)
        copies.append(
            WebCopy(
                key=published.key,
                s3_url=published.s3_url,
                public_url=published.public_url,
                format=plan.format,
                content_type=mime,
                width=copy_width,
                height=copy_height,
                bytes=len(data),
                sha256=sha256_hex(data),
            )
        )
    return WebCopies(
        width=width, height=height, content_type=content_type, copies=copies, skipped=skipped
    )


@dataclass(frozen=True)
class CopyPlan:
    """One copy to make: a width (None: the output's own) in a format."""

    width: int | None
    format: str

    def key(self, output_key: str) -> str:
        """The copy's key, beside the output's."""
        stem = output_key.rsplit(".", 1)[0] if "." in output_key.rsplit("/", 1)[-1] else output_key
        suffix = f"-{self.width}w" if self.width is not None else ""
        return f"{stem}{suffix}.{self.format}"


def plan_copies(
    width: int, own_format: str, widths: list[int] | None, formats: list[str] | None
) -> tuple[list[CopyPlan], list[str]]:
    """The copies to make of an output ``width`` px wide in ``own_format``, and why some
    widths are left out. Formats alone: one full-size copy each; widths alone: copies in
    the output's own format."""
    chosen_formats = list(dict.fromkeys(formats or [own_format]))
    skipped = [
        f"{w}w skipped: wider than the {width} px output (never upscaled)"
        for w in sorted(set(widths or []))
        if w > width
    ]
    sizes: list[int | None] = [w for w in sorted(set(widths or [])) if w <= width] or (
        [] if widths else [None]
    )
    plans = [
        CopyPlan(size, fmt)
        for fmt in chosen_formats
        for size in sizes
        if not (fmt == own_format and size in (None, width))  # that is the original itself
    ]
    return plans, skipped


def render_copy(image: bytes, plan: CopyPlan) -> tuple[bytes, int, int]:
    """The copy's bytes, width and height."""
    with Image.open(io.BytesIO(image)) as opened:
        opened.load()
        return _render(opened, plan)


def _render(picture: Image.Image, plan: CopyPlan) -> tuple[bytes, int, int]:
    encoding = ENCODINGS[plan.format]
    if plan.width is not None and plan.width < picture.width:
        height = max(1, round(picture.height * plan.width / picture.width))
        # Pillow resizes RGBA premultiplied: no dark fringes around transparent edges.
        picture = picture.resize((plan.width, height), Image.Resampling.LANCZOS)
    picture = _for_format(picture, encoding)
    out = io.BytesIO()
    picture.save(out, encoding.pillow_format, **encoding.params)
    return out.getvalue(), picture.width, picture.height


def _for_format(picture: Image.Image, encoding: Encoding) -> Image.Image:
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    if has_alpha and encoding.alpha:
        return picture if picture.mode == "RGBA" else picture.convert("RGBA")
    if has_alpha:  # JPEG: on white, as a browser shows a transparent PNG on a white page
        rgba = picture.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return picture if picture.mode == "RGB" else picture.convert("RGB")
