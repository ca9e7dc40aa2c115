"""What OpenAI reports it used for one image: the main model's tokens and the image tool's.

The Responses API bills the main model (``-m``, e.g. gpt-5) for reading the prompt and
images and for its reasoning, and the image tool separately (``tool_usage.image_gen``),
with image and text tokens priced apart. prefect_image_pipeline.pricing turns this into dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


# Every field has a default: records written before a field existed still load.
@dataclass(frozen=True)
class TokenUsage:
    """Tokens OpenAI billed for one generation (0 where it reported nothing)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    image_tool_reported: bool = False
    image_input_text_tokens: int = 0
    image_input_image_tokens: int = 0
    image_output_text_tokens: int = 0
    image_output_image_tokens: int = 0
    image_total_tokens: int = 0
    # The share of the image tool's input read from OpenAI's cache (billed at the cached
    # rate); part of the input counts above, not in addition to them.
    image_cached_text_tokens: int = 0
    image_cached_image_tokens: int = 0


def usage_from_response(response: Any) -> TokenUsage | None:
    """The usage a Responses API answer reports, or None when it reports none."""
    usage = getattr(response, "usage", None)
    tool = getattr(getattr(response, "tool_usage", None), "image_gen", None)
    if usage is None and tool is None:
        return None
    fields: dict[str, Any] = {}
    if usage is not None:
        fields |= {
            "input_tokens": usage.input_tokens or 0,
            "output_tokens": usage.output_tokens or 0,
            "total_tokens": usage.total_tokens or 0,
            "cached_input_tokens": _count(usage, "input_tokens_details", "cached_tokens"),
            "reasoning_tokens": _count(usage, "output_tokens_details", "reasoning_tokens"),
        }
    if tool is not None:
        fields |= {
            "image_tool_reported": True,
            "image_input_text_tokens": _count(tool, "input_tokens_details", "text_tokens"),
            "image_input_image_tokens": _count(tool, "input_tokens_details", "image_tokens"),
            "image_output_text_tokens": _count(tool, "output_tokens_details", "text_tokens"),
            "image_output_image_tokens": _image_output_tokens(tool),
            "image_total_tokens": tool.total_tokens or 0,
            **_cached_tool_tokens(tool),
        }
    return TokenUsage(**fields)


def _cached_tool_tokens(tool: Any) -> dict[str, int]:
    """The image tool's cached input tokens; an omitted count means none known."""
    details = getattr(tool, "cached_tokens_details", None)
    if details is None:
        # Only a total: OpenAI caches the prompt's text first, so count it as text.
        return {"image_cached_text_tokens": int(getattr(tool, "cached_tokens", 0) or 0)}
    return {
        "image_cached_text_tokens": int(getattr(details, "cached_text_tokens", 0) or 0),
        "image_cached_image_tokens": int(getattr(details, "cached_image_tokens", 0) or 0),
    }


def _count(usage: Any, details: str, field: str) -> int:
    return int(getattr(getattr(usage, details, None), field, 0) or 0)


def _image_output_tokens(tool: Any) -> int:
    # Output details may be omitted; then every output token is an image token.
    if getattr(tool, "output_tokens_details", None) is None:
        return int(tool.output_tokens or 0)
    return _count(tool, "output_tokens_details", "image_tokens")
