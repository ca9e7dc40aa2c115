"""The price table: USD per 1M tokens by model and token kind, with its source and date.

The default table (``pricing/prices.json``) ships with the package; a user file
(IMAGE_PIPELINE_PRICES_FILE) replaces it per model and per token kind. ``same_as`` prices
a model as another one, and the Batch API's column is ``batch_share`` of each price unless
a model has its own ``batch`` object; both are looked up when a price is asked for, after
the files are merged, so overriding gpt-image-2 reprices the models priced as it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from prefect_image_pipeline.errors import ConfigurationError

KINDS = (
    "text_input",
    "cached_text_input",
    "text_output",
    "image_input",
    "cached_image_input",
    "image_output",
)
PRICES_VARIABLE = "IMAGE_PIPELINE_PRICES_FILE"
_Prices = Mapping[str, Mapping[str, float]]  # model -> token kind -> USD per 1M tokens
# An entry's keys that are not prices; image_output_tokens: the tokens one 1024x1024 image
# is billed by quality (the forecast's figures, pricing.forecast).
_NOTES = ("source", "batch", "same_as", "image_output_tokens")
_Tokens = Mapping[str, Mapping[str, int]]  # model -> quality -> tokens


@dataclass(frozen=True)
class PriceTable:
    """USD per 1M tokens by model and token kind, with where the figures come from."""

    prices: _Prices  # each model's own prices
    source: str
    as_of: str
    # The Batch API's column where a model states it (a kind missing there is unknown).
    batch: _Prices = dataclasses.field(default_factory=dict)
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)  # same_as
    batch_share: float | None = None  # else the batch price of each interactive one
    output_tokens: _Tokens = dataclasses.field(default_factory=dict)

    def image_output_tokens(self, model: str, quality: str) -> int | None:
        """Tokens one 1024x1024 image of ``model`` at ``quality`` is billed, if known."""
        for name in (model, self.aliases.get(model)):
            found = self.output_tokens.get(name or "", {}).get(quality)
            if found is not None:
                return found
        return None

    def price(self, model: str, kind: str, batch: bool = False) -> float | None:
        """The price of one kind of token for ``model``, or None when the table lacks it."""
        for name in (model, self.aliases.get(model)):
            found = None if name is None else self._own(name, kind, batch)
            if found is not None:
                return found
        return None

    def _own(self, model: str, kind: str, batch: bool) -> float | None:
        interactive = self.prices.get(model, {}).get(kind)
        if not batch:
            return interactive
        if model in self.batch:
            return self.batch[model].get(kind)
        if interactive is None or self.batch_share is None:
            return None
        return interactive * self.batch_share


def load_price_table(override: Path | None) -> PriceTable:
    """The packaged table, with ``override``'s models and kinds replacing its own."""
    packaged = resources.files("prefect_image_pipeline.pricing").joinpath("prices.json")
    table = _parse(
        packaged.read_text(encoding="utf-8"),
        "the packaged prefect_image_pipeline/pricing/prices.json",
    )
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
    # The override's figures may be of another date and origin: keep both on record.
    source = f"{table.source}; overridden by {override}" + (
        f": {user.source}" if user.source else ""
    )
    return PriceTable(
        prices=_merged(table.prices, user.prices),
        source=source,
        as_of=user.as_of or table.as_of,
        batch=_merged(table.batch, user.batch),
        aliases={**table.aliases, **user.aliases},
        batch_share=user.batch_share if user.batch_share is not None else table.batch_share,
        output_tokens={**table.output_tokens, **user.output_tokens},
    )


def _merged(base: _Prices, top: _Prices) -> dict[str, dict[str, float]]:
    merged = {model: dict(kinds) for model, kinds in base.items()}
    for model, kinds in top.items():
        merged[model] = merged.get(model, {}) | dict(kinds)
    return merged


def _parse(text: str, label: str) -> PriceTable:
    """A table from JSON text; ConfigurationError naming ``label`` if it does not fit."""
    fix = f"see pricing/prices.json for the shape, fix it or unset {PRICES_VARIABLE}"
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{label} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ConfigurationError(f'{label} needs an object with a "models" object; {fix}')
    prices: dict[str, dict[str, float]] = {}
    batch: dict[str, dict[str, float]] = {}
    aliases: dict[str, str] = {}
    tokens: dict[str, dict[str, int]] = {}
    for model, entry in data["models"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("batch", {}), dict):
            raise ConfigurationError(f"{label}: models.{model} must be an object; {fix}")
        prices[model] = {k: _price(label, model, k, v) for k, v in entry.items() if k not in _NOTES}
        if "batch" in entry:
            batch[model] = {
                k: _price(label, f"{model}.batch", k, v) for k, v in entry["batch"].items()
            }
        if "same_as" in entry:
            aliases[model] = _twin(entry["same_as"], data["models"], f"{label}: models.{model}")
        if "image_output_tokens" in entry:
            tokens[model] = _tokens(entry["image_output_tokens"], f"{label}: models.{model}", fix)
    notes = {key: data.get(key, "") for key in ("source", "as_of")}
    if not all(isinstance(note, str) for note in notes.values()):
        raise ConfigurationError(f'{label}: "source" and "as_of" must be strings; {fix}')
    share = _batch_share(data.get("batch_share"), label, fix)
    return PriceTable(prices, notes["source"], notes["as_of"], batch, aliases, share, tokens)


def _tokens(value: Any, where: str, fix: str) -> dict[str, int]:
    """An image_output_tokens object: quality -> a whole number of tokens."""
    valid = isinstance(value, dict) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()
    )
    if not valid:
        raise ConfigurationError(
            f"{where}.image_output_tokens must map qualities to token counts; {fix}"
        )
    return dict(value)


def _twin(value: Any, models: Mapping[str, Any], where: str) -> str:
    """A ``same_as`` target: a model of the same file that is not itself an alias."""
    if not isinstance(value, str) or "same_as" in models.get(value, {"same_as": None}):
        raise ConfigurationError(
            f"{where}.same_as must name a model priced in the same file, not {value!r}; "
            f"fix it or unset {PRICES_VARIABLE}"
        )
    return value


def _batch_share(value: Any, label: str, fix: str) -> float | None:
    """The file's Batch API share of each price (None: only explicit batch objects)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigurationError(f"{label}: batch_share must be a number in (0, 1]; {fix}")
    return float(value)


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
