"""What one request to OpenAI is expected to cost, before it is sent.

The expected tokens are built as a TokenUsage and priced by the same table and code as an
answer's real usage (pricing.estimate), so an estimate and a bill differ only by tokens:

- the image's output tokens: the image model's tokens for a 1024x1024 image at the
  quality (``image_output_tokens`` in the price table, from OpenAI's published figures),
  scaled by the pixel area of the size; ``auto`` quality is priced as high (the upper
  bound), and the qualities OpenAI publishes no figure for (xhigh, max) as high, said in
  the assumptions; 100 tokens per partial image. A model without figures is unknown;
- each input image (the input, references, a mask): OpenAI's vision rule, 85 tokens plus
  170 per 512-pixel tile once the image is scaled to fit 2048x2048 and its short side to
  768 (85 alone at ``detail: low``);
- text: one token per four characters of the prompt;
- the main model (Responses API): the prompt and the images read, plus an assumed
  MAIN_MODEL_OUTPUT_TOKENS of its own output. Its reasoning and its rewrite of the
  prompt are not knowable in advance: the largest source of error (docs/spending.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prefect_image_pipeline.options.capabilities import default_image_model
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pricing.estimate import estimate_cost
from prefect_image_pipeline.pricing.table import PriceTable
from prefect_image_pipeline.steps.usage import TokenUsage

PUBLISHED_QUALITIES = ("low", "medium", "high")
PARTIAL_IMAGE_TOKENS = 100
MAIN_MODEL_OUTPUT_TOKENS = 200
_SQUARE = 1024 * 1024
_LOW_DETAIL_TOKENS = 85

Dimensions = tuple[int, int]


@dataclass(frozen=True)
class Forecast:
    """One request's expected tokens and dollars, at the interactive and the batch price."""

    usage: TokenUsage
    usd: float | None
    batch_usd: float | None
    missing: tuple[str, ...]  # prices the table lacks (the estimate is then unknown)
    assumptions: tuple[str, ...]
    output: str  # the image it expects back: "1536x1024 high"


def image_input_tokens(size: Dimensions | None, detail: str = "high") -> int:
    """Tokens to read one image (OpenAI's vision rule); an unknown size counts as 1024x1024."""
    if detail == "low":
        return _LOW_DETAIL_TOKENS
    pixels = size or (1024, 1024)
    fit = min(1.0, 2048 / max(pixels))
    width, height = pixels[0] * fit, pixels[1] * fit
    short = min(width, height)
    if short > 768:
        width, height = width * 768 / short, height * 768 / short
    tiles = math.ceil(width / 512) * math.ceil(height / 512)
    return _LOW_DETAIL_TOKENS + 170 * tiles


def output_size(options: GenerationOptions, input_size: Dimensions | None) -> Dimensions:
    """The size the image will come back at: the one asked for, else (``auto``) the standard
    size nearest the input's shape, which is what OpenAI picks."""
    if options.size and options.size != "auto":
        asked_width, _, asked_height = options.size.lower().partition("x")
        return int(asked_width), int(asked_height)
    width, height = input_size or (1024, 1024)
    if width > height * 1.2:
        return 1536, 1024
    if height > width * 1.2:
        return 1024, 1536
    return 1024, 1024


def forecast(
    options: GenerationOptions,
    input_size: Dimensions | None,
    other_images: Sequence[Dimensions | None] = (),
    *,
    table: PriceTable,
    partial_images: int = 0,
) -> Forecast:
    """What one request for ``options`` on an input of ``input_size`` is expected to cost;
    ``other_images``: the references and mask sent with it (None: size unknown)."""
    assumptions = []
    quality = options.quality
    if quality not in PUBLISHED_QUALITIES:
        quality = "high"
        assumptions.append(
            f"quality {options.quality} priced as high"
            + ("" if options.quality == "auto" else " (OpenAI publishes no token count for it)")
        )
    image_model = options.image_model or default_image_model()
    width, height = output_size(options, input_size)
    if not options.size or options.size == "auto":
        assumptions.append("size auto: the standard size nearest the input's shape")
    per_square = table.image_output_tokens(image_model, quality)
    output = round((per_square or 0) * width * height / _SQUARE)
    output += PARTIAL_IMAGE_TOKENS * partial_images
    images = sum(image_input_tokens(size, options.detail) for size in (input_size, *other_images))
    text = (len(options.effective_prompt) + 3) // 4
    usage = TokenUsage(
        image_tool_reported=True,
        image_input_text_tokens=text,
        image_input_image_tokens=images,
        image_output_image_tokens=output,
    )
    main_model = options.model
    if options.api == "responses":
        assumptions.append(
            f"{options.model} writes {MAIN_MODEL_OUTPUT_TOKENS} tokens of its own "
            "(its reasoning can take more)"
        )
        usage = _with_main_model(usage, text + images)
    interactive = estimate_cost(usage, main_model, image_model, table)
    at_batch = estimate_cost(usage, main_model, image_model, table, batch=True)
    missing = [*interactive.missing, *at_batch.missing]
    if per_square is None:
        missing.append(f"{image_model} image_output_tokens {quality}")
    return Forecast(
        usage=usage,
        usd=None if per_square is None else interactive.usd,
        batch_usd=None if per_square is None else at_batch.usd,
        missing=tuple(dict.fromkeys(missing)),
        assumptions=(f"image model {image_model}", *assumptions),
        output=f"{width}x{height} {quality}",
    )


def _with_main_model(usage: TokenUsage, read_tokens: int) -> TokenUsage:
    return TokenUsage(
        input_tokens=read_tokens,
        output_tokens=MAIN_MODEL_OUTPUT_TOKENS,
        total_tokens=read_tokens + MAIN_MODEL_OUTPUT_TOKENS,
        image_tool_reported=usage.image_tool_reported,
        image_input_text_tokens=usage.image_input_text_tokens,
        image_input_image_tokens=usage.image_input_image_tokens,
        image_output_image_tokens=usage.image_output_image_tokens,
    )
