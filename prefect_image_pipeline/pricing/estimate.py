"""What one generation (or a batch) cost in US dollars, from the tokens OpenAI reported.

A price the table lacks is never guessed: the estimate is then unknown and names it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from prefect_image_pipeline.options.capabilities import default_image_model
from prefect_image_pipeline.pricing.table import PRICES_VARIABLE, PriceTable
from prefect_image_pipeline.steps.usage import TokenUsage

_PER_TOKEN = 1_000_000  # the table is in USD per 1M tokens


@dataclass(frozen=True)
class CostEstimate:
    """The dollars one generation (or a batch) cost, or why that is unknown."""

    usd: float | None
    missing: tuple[str, ...] = ()
    assumed_image_model: str | None = None
    cached: bool = False
    usage_reported: bool = True
    free_because: str = "cached"
    saved_usd: float | None = None  # what a cache hit would have cost, when known
    batch: bool = False  # priced at the Batch API's rate
    interactive_usd: float | None = None  # the same usage at the interactive rate

    @classmethod
    def free(cls, because: str = "cached", saved_usd: float | None = None) -> CostEstimate:
        """No API call (a cache hit, an offline run), so nothing billed."""
        return cls(usd=0.0, cached=True, free_because=because, saved_usd=saved_usd)

    def describe(self) -> str:
        """The one line the CLI prints."""
        if self.usd is None:
            reasons = [] if self.usage_reported else ["OpenAI reported no token usage"]
            if self.missing:
                reasons.append(
                    f"no price for {', '.join(self.missing)}; "
                    f"add {'it' if len(self.missing) == 1 else 'them'} with {PRICES_VARIABLE}"
                )
            return f"Estimated cost: unknown ({'; '.join(reasons)})"
        line = f"Estimated cost: ${self.usd:.4f}"
        if self.cached and self.saved_usd:
            return f"{line} ({self.free_because}, no API call; saved ${self.saved_usd:.4f})"
        if self.cached:
            return f"{line} ({self.free_because}, no API call)"
        notes = []
        if self.batch:
            interactive = (
                "unknown" if self.interactive_usd is None else f"${self.interactive_usd:.4f}"
            )
            notes.append(f"at the Batch API price; interactive: {interactive}")
        if self.assumed_image_model:
            notes.append(f"image model {self.assumed_image_model} assumed")
        return f"{line} ({'; '.join(notes)})" if notes else line


def estimate_cost(
    usage: TokenUsage | None,
    main_model: str,
    image_model: str | None,
    table: PriceTable,
    batch: bool = False,
) -> CostEstimate:
    """What ``usage`` cost: the main model's tokens plus the image tool's, if reported.

    ``batch``: at the Batch API's prices, with the interactive figure beside it.
    """
    if batch:
        paid = estimate_cost(usage, main_model, image_model, table, batch=False)
        at_batch = _estimate(usage, main_model, image_model, table, batch=True)
        return replace(at_batch, batch=True, interactive_usd=paid.usd)
    return _estimate(usage, main_model, image_model, table, batch=False)


def _estimate(
    usage: TokenUsage | None,
    main_model: str,
    image_model: str | None,
    table: PriceTable,
    batch: bool,
) -> CostEstimate:
    if usage is None:
        return CostEstimate(usd=None, usage_reported=False)
    # The cached share of the input is billed at its own rate, the rest at the full rate.
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    cached_kind = "cached_text_input"
    if table.price(main_model, cached_kind, batch) is None:
        cached_kind = "text_input"  # no discount known: price cached tokens as ordinary
    items = [
        (main_model, "text_input", usage.input_tokens - cached),
        (main_model, cached_kind, cached),
        (main_model, "text_output", usage.output_tokens),
    ]
    assumed = None
    if usage.image_tool_reported:
        if image_model is None:
            image_model = assumed = default_image_model()  # the tool's default, as the SDK says
        items += _image_tool_items(usage, image_model, table, batch)
    usd, missing = 0.0, []
    for model, kind, tokens in items:
        if tokens <= 0:
            continue  # no tokens of this kind, so its price is not needed
        price = table.price(model, kind, batch)
        if price is None:
            missing.append(f"{model} {'batch ' if batch else ''}{kind}")
        else:
            usd += tokens * price / _PER_TOKEN
    missing_once = tuple(dict.fromkeys(missing))
    return CostEstimate(None if missing else usd, missing_once, assumed)


def _image_tool_items(
    usage: TokenUsage, model: str, table: PriceTable, batch: bool
) -> list[tuple[str, str, int]]:
    """The image tool's tokens by price kind, cached input apart from the rest."""
    text_cached = min(usage.image_cached_text_tokens, usage.image_input_text_tokens)
    image_cached = min(usage.image_cached_image_tokens, usage.image_input_image_tokens)
    cached_text, cached_image = "cached_text_input", "cached_image_input"
    if table.price(model, cached_text, batch) is None:
        cached_text = "text_input"  # no discount known: price cached tokens as ordinary
    if table.price(model, cached_image, batch) is None:
        cached_image = "image_input"
    return [
        (model, "text_input", usage.image_input_text_tokens - text_cached),
        (model, cached_text, text_cached),
        (model, "image_input", usage.image_input_image_tokens - image_cached),
        (model, cached_image, image_cached),
        (model, "image_output", usage.image_output_image_tokens),
        (model, "text_output", usage.image_output_text_tokens),
    ]


def total(estimates: Iterable[CostEstimate]) -> CostEstimate:
    """A batch's cost: the sum, or unknown if any part is, with what is missing listed once."""
    parts = list(estimates)
    known = [part.usd for part in parts if part.usd is not None]
    missing = tuple(dict.fromkeys(name for part in parts for name in part.missing))
    assumed = ", ".join(
        dict.fromkeys(p.assumed_image_model for p in parts if p.assumed_image_model)
    )
    interactive = [part.interactive_usd for part in parts if part.batch]
    return CostEstimate(
        batch=bool(interactive),
        interactive_usd=(
            sum(x for x in interactive if x is not None)
            if interactive and None not in interactive
            else None
        ),
        usd=sum(known) if len(known) == len(parts) else None,
        missing=missing,
        assumed_image_model=assumed or None,
        cached=bool(parts) and all(part.cached for part in parts),
        # "offline" when every part was, else "cached"
        free_because=parts[0].free_because
        if parts and len({part.free_because for part in parts}) == 1
        else "cached",
        usage_reported=all(part.usage_reported for part in parts),
    )
