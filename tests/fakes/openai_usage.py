"""Token counts the fake OpenAI server reports: the main model's ``usage`` and the image
tool's ``tool_usage.image_gen``, deterministic functions of the request.

The image tool is billed apart from the main model, as the real API reports it:
input text tokens from the prompt's length, 258 input image tokens per ``input_image``,
and per completed image the output image tokens of its model at 1024x1024, scaled by the
pixel area of the size (1536x1024 is 1.5x): gpt-image-1.5's from OpenAI's guide (low 272,
medium 1056, high 4160), the others' from their published per-image prices divided by the
image-output rate (gpt-image-1-mini $0.005 / $0.011 / $0.036 at $8/M; gpt-image-2, whose
rates the 2.5 and 2.6 models are reported at, $0.006 / $0.053 / $0.211 at $30/M).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .openai_images import requested_size
from .openai_models import DEFAULT_IMAGE_MODEL
from .openai_requests import _content_parts, _image_tool, _prompt_of

__all__ = ["IMAGE_OUTPUT_TOKENS", "INPUT_IMAGE_TOKENS"]

# Output tokens per 1024x1024 image, by model family and the quality the call resolved to.
IMAGE_OUTPUT_TOKENS = {
    "gpt-image-1.5": {"low": 272, "medium": 1056, "high": 4160},
    "gpt-image-1-mini": {"low": 625, "medium": 1375, "high": 4500},
    "gpt-image-2": {"low": 200, "medium": 1767, "high": 7033},
}
INPUT_IMAGE_TOKENS = 258


def _usage(request: Mapping[str, Any]) -> dict[str, Any]:
    """The main model's usage: reading the prompt and images, and its own short answer."""
    prompt = _prompt_of(request)
    has_image = any(p.get("type") == "input_image" for p in _content_parts(request))
    input_tokens = 12 + len(prompt) // 4 + (765 if has_image else 0)
    output_tokens = 64
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _tool_usage(request: Mapping[str, Any], output: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``tool_usage`` for a response with ``output``: zero when no image call was made."""
    calls = [item for item in output if item.get("type") == "image_generation_call"]
    text_tokens = image_tokens = output_image_tokens = 0
    if calls:
        text_tokens = (len(_prompt_of(request)) + 3) // 4
        images = sum(p.get("type") == "input_image" for p in _content_parts(request))
        image_tokens = INPUT_IMAGE_TOKENS * images
        tool = _image_tool(request) or {}
        size = requested_size(tool) or (1024, 1024)
        model = str(tool.get("model") or DEFAULT_IMAGE_MODEL)
        output_image_tokens = sum(
            _output_tokens(model, str(call.get("quality")), size)
            for call in calls
            if call.get("status") == "completed"
        )
    input_tokens = text_tokens + image_tokens
    return {
        "image_gen": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
            "output_tokens": output_image_tokens,
            "output_tokens_details": {"image_tokens": output_image_tokens, "text_tokens": 0},
            "total_tokens": input_tokens + output_image_tokens,
        },
        "web_search": {"num_requests": 0},
    }


def _output_tokens(model: str, quality: str, size: tuple[int, int]) -> int:
    family = "gpt-image-2" if model.startswith("gpt-image-2") else model
    by_quality = IMAGE_OUTPUT_TOKENS.get(family, IMAGE_OUTPUT_TOKENS["gpt-image-1.5"])
    per_square = by_quality.get(quality, by_quality["medium"])
    return round(per_square * size[0] * size[1] / (1024 * 1024))
