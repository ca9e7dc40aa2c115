"""A transparent background whatever the image model can do.

The reference promises "a high-resolution transparent PNG", and today's default image
model refuses ``background: transparent``. When transparency is asked of a model that
cannot give it (options.capabilities says so up front, or OpenAI answers the 400),
the image is asked for on a flat key colour absent from the input and the key is cut out
here (prefect_image_pipeline.steps.cutout), so what is published is still a transparent PNG.
``--fallback-background`` keeps its meaning: an opaque image, on request.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from PIL import Image

from prefect_image_pipeline.edges.openai.errors import is_transparency_refusal
from prefect_image_pipeline.errors import ImageGenerationError
from prefect_image_pipeline.options.capabilities import capabilities_of
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.settings.config import DEFAULT_PROMPT
from prefect_image_pipeline.steps.cutout import cut_out
from prefect_image_pipeline.steps.encode import EncodedImage, sha256_hex
from prefect_image_pipeline.steps.generate import GeneratedImage, ImageGenerator
from prefect_image_pipeline.steps.key_colour import choose_key_colour, key_clearance, key_colour_hex
from prefect_image_pipeline.steps.references import ReferenceImage

logger = logging.getLogger(__name__)
# Below this CIE Lab distance between the key and the input's colours, keying may take
# parts of the subject (docs/cutout.md: a rainbow logo at 21 lost a stripe).
_RISKY_CLEARANCE = 40.0


@dataclass(frozen=True)
class BackgroundPlan:
    """What to send for one image, and what to do with the answer."""

    sent: GenerationOptions
    native: bool  # send as asked; on a transparency refusal, plan again without trying
    key: tuple[int, int, int] | None = None  # cut this colour out of the answer


def plan_background(
    image: EncodedImage,
    options: GenerationOptions,
    *,
    try_native: bool = True,
    refused: bool = False,
) -> BackgroundPlan:
    """How ``options`` get their background from the image model.

    ``try_native``: a model whose transparency is in preview (or unknown) is asked for it
    first; batch mode plans without trying, since a refused line comes back a day later.
    ``refused``: OpenAI has just refused this model's transparency, whatever the table says.
    """
    if options.background != "transparent":
        return BackgroundPlan(options, native=True)
    row = capabilities_of(options.resolved_image_model)
    support = row.transparency if row else "preview"
    if not refused and (support == "yes" or (support == "preview" and try_native)):
        return BackgroundPlan(options, native=True)
    if options.fallback_background:
        opaque = replace(options, background="opaque", fallback_background=False)
        return BackgroundPlan(opaque, native=False)
    source = _image_bytes(image)
    key = choose_key_colour(source)
    if key_clearance(source, key) < _RISKY_CLEARANCE:
        logger.warning(
            "The input uses colours close to every key colour (%s is nearest to free): the "
            "cut-out may take parts of the subject; an image model that makes transparency "
            "itself (--image-model gpt-image-1.5) avoids it",
            key_colour_hex(key),
        )
    keyed = replace(
        options,
        background="opaque",
        fallback_background=False,
        prompt=keyed_prompt(options.effective_prompt, key_colour_hex(key)),
        # Lossless: compression artefacts smear the key into the subject's edges
        # (docs/cutout.md); the cut-out is converted to the format asked for afterwards.
        output_format="png",
        output_compression=None,
    )
    return BackgroundPlan(keyed, native=False, key=key)


def keyed_prompt(prompt: str, key_hex: str) -> str:
    """``prompt`` asking for a flat ``key_hex`` background that is removed afterwards."""
    # The default prompt asks for a "transparent PNG": the model cannot, so drop the word.
    base = prompt.replace("transparent PNG", "PNG") if prompt == DEFAULT_PROMPT else prompt
    base = base.strip()
    if not base.endswith((".", "!", "?")):
        base += "."
    return (
        f"{base} Place the subject on a solid, perfectly flat, uniform {key_hex} background "
        "that fills the whole canvas to every edge, with no shadow, gradient, texture or "
        f"border, and use {key_hex} nowhere in the subject: the background is removed "
        "afterwards to make it transparent."
    )


class TransparentOutput:
    """An ImageGenerator that delivers a transparent background whatever the model does."""

    def __init__(self, inner: ImageGenerator, *, try_native: bool = True) -> None:
        self._inner = inner
        self._try_native = try_native

    @property
    def name(self) -> str:
        return self._inner.name

    def warm_up(self) -> None:
        self._inner.warm_up()

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        plan = plan_background(image, options, try_native=self._try_native)
        if plan.native:
            try:
                return self._inner.generate(image, options, references, mask)
            except ImageGenerationError as error:
                if not is_transparency_refusal(error):
                    raise
            logger.warning(
                "%s refused a transparent background; %s",
                options.resolved_image_model,
                "retrying opaque" if options.fallback_background else "cutting it out here",
            )
            plan = plan_background(image, options, try_native=False, refused=True)
        generated = self._inner.generate(image, plan.sent, references, mask)
        if plan.key is None:
            return replace(generated, background_fallback=True)
        return cut_out_background(generated, plan.key, options)


def cut_out_background(
    generated: GeneratedImage, key: tuple[int, int, int], options: GenerationOptions
) -> GeneratedImage:
    """``generated`` with its ``key`` background made transparent, in the format asked."""
    cut = cut_out(generated.png, key)
    if not cut.background_found:
        logger.warning(
            "The model did not paint the %s background asked for: nothing was cut out",
            key_colour_hex(key),
        )
    image = cut.png if options.output_format == "png" else _as_webp(cut.png, options)
    return replace(
        generated,
        png=image,
        sha256=sha256_hex(image),
        cut_out_key=key_colour_hex(key),
        cut_out_share=round(cut.transparent_share, 4),
    )


def _as_webp(png: bytes, options: GenerationOptions) -> bytes:
    """The cut-out PNG as WebP (the only other format that keeps transparency), lossless
    unless a compression was asked for, as OpenAI's own WebP default (100) is."""
    out = io.BytesIO()
    quality = options.output_compression
    with Image.open(io.BytesIO(png)) as image:
        if quality is None or quality == 100:
            image.save(out, format="WEBP", lossless=True)
        else:
            image.save(out, format="WEBP", quality=quality)
    return out.getvalue()


def _image_bytes(image: EncodedImage) -> bytes:
    return base64.b64decode(image.data_url.partition(",")[2])
