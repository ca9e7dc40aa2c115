"""What one generation cost, in US dollars, from the tokens OpenAI reported and a price table.

The default table (``flows/prices.json``) ships with the package and names its source and
date; a user file (IMAGE_PIPELINE_PRICES_FILE) replaces it per model and per token kind.
A price we do not have is never guessed: the estimate is then unknown and names it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from flows.errors import ConfigurationError
from flows.steps.capabilities import DEFAULT_IMAGE_MODEL
from flows.steps.usage import TokenUsage

KINDS = (
    "text_input",
    "cached_text_input",
    "text_output",
    "image_input",
    "cached_image_input",
    "image_output",
)
PRICES_VARIABLE = "IMAGE_PIPELINE_PRICES_FILE"
_PER_TOKEN = 1_000_000  # the table is in USD per 1M tokens


@dataclass(frozen=True)
class PriceTable:
    """USD per 1M tokens by model and token kind, with where the figures come from."""

    prices: Mapping[str, Mapping[str, float]]
    source: str
    as_of: str
    # The Batch API's column: a model's "batch" object in the table (half price as
    # OpenAI publishes it; a kind missing there is unknown, never guessed).
    batch: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)

    def price(self, model: str, kind: str, batch: bool = False) -> float | None:
        """The price of one kind of token for ``model``, or None when the table lacks it."""
        return (self.batch if batch else self.prices).get(model, {}).get(kind)


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


def load_price_table(override: Path | None) -> PriceTable:
    """The packaged table, with ``override``'s models and kinds replacing its own."""
    packaged = resources.files("flows").joinpath("prices.json")
    table = _parse(packaged.read_text(encoding="utf-8"), "the packaged flows/prices.json")
    if override is None:
        return table
    label = f"price file {override} ({PRICES_VARIABLE})"
    try:
        text = override.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(
            f"{label} cannot be read ({reason}); fix the path or unset {PRICES_VARIABLE}"
        ) from None
    user = _parse(text, label)
    prices = {model: dict(kinds) for model, kinds in table.prices.items()}
    for model, kinds in user.prices.items():
        prices[model] = prices.get(model, {}) | dict(kinds)
    batch = {model: dict(kinds) for model, kinds in table.batch.items()}
    for model, kinds in user.batch.items():
        batch[model] = batch.get(model, {}) | dict(kinds)
    # The override's figures may be of another date and origin: keep both on record.
    source = f"{table.source}; overridden by {override}" + (
        f": {user.source}" if user.source else ""
    )
    return PriceTable(prices, source, user.as_of or table.as_of, batch)


def _parse(text: str, label: str) -> PriceTable:
    """A table from JSON text; ConfigurationError naming ``label`` if it does not fit."""
    fix = f"see flows/prices.json for the shape, fix it or unset {PRICES_VARIABLE}"
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{label} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigurationError(f'{label} needs an object with a "models" object; {fix}')
    share = _batch_share(data.get("batch_share"), label, fix)
    prices: dict[str, dict[str, float]] = {}
    batch: dict[str, dict[str, float]] = {}
    for model, entry in data["models"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("batch", {}), dict):
            raise ConfigurationError(f"{label}: models.{model} must be an object; {fix}")
        # A model's own "source" is a note for people, not a price.
        prices[model] = {
            k: _price(label, model, k, v)
            for k, v in entry.items()
            if k not in ("source", "batch", "same_as")
        }
        if "batch" in entry:
            batch[model] = {
                k: _price(label, f"{model}.batch", k, v) for k, v in entry["batch"].items()
            }
        elif share is not None:
            batch[model] = {kind: price * share for kind, price in prices[model].items()}
    _resolve_same_as(data["models"], prices, batch, label, fix)
    notes = {key: data.get(key, "") for key in ("source", "as_of")}
    if not all(isinstance(note, str) for note in notes.values()):
        raise ConfigurationError(f'{label}: "source" and "as_of" must be strings; {fix}')
    return PriceTable(prices, notes["source"], notes["as_of"], batch)


def _batch_share(value: Any, label: str, fix: str) -> float | None:
    """The file's Batch API share of each price (None: only explicit batch objects)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigurationError(f"{label}: batch_share must be a number in (0, 1]; {fix}")
    return float(value)


def _resolve_same_as(
    models: dict[str, Any],
    prices: dict[str, dict[str, float]],
    batch: dict[str, dict[str, float]],
    label: str,
    fix: str,
) -> None:
    """Give each ``same_as`` model the prices of the model it names (one level deep)."""
    for model, entry in models.items():
        twin = entry.get("same_as")
        if twin is None:
            continue
        if not isinstance(twin, str) or twin not in prices or models[twin].get("same_as"):
            raise ConfigurationError(
                f"{label}: models.{model}.same_as must name a priced model of the same file; {fix}"
            )
        prices[model] = dict(prices[twin]) | prices[model]
        if twin in batch:
            batch[model] = dict(batch[twin]) | batch.get(model, {})


def _price(label: str, model: str, kind: str, value: Any) -> float:
    """One price, checked: a known kind and a finite number of dollars, 0 or more."""
    where = f"{label}: models.{model}.{kind}"
    if kind not in KINDS:
        # A misspelt kind would otherwise leave the real price silently unknown.
        raise ConfigurationError(f"{where} is not a token kind; use one of {', '.join(KINDS)}")
    # bool is an int in Python, and json accepts NaN and Infinity; none of them is a price.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise ConfigurationError(
            f"{where} must be a number of USD per 1M tokens, 0 or more, got {value!r}; "
            f"fix it or unset {PRICES_VARIABLE}"
        )
    return float(value)


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
            image_model = assumed = DEFAULT_IMAGE_MODEL  # the tool's default, as the SDK says
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
