"""Response bodies the fake OpenAI server sends.

The image itself comes from ``openai_images`` (in the tool's format and size), the token
counts from ``openai_usage``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .openai_images import FALLBACK_SIZE, generated_image, output_format
from .openai_requests import _image_tool, _input_image_urls, _prompt_of
from .openai_usage import _tool_usage, _usage

__all__ = ["FALLBACK_SIZE"]


def _hex_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _success(request: Mapping[str, Any]) -> dict[str, Any]:
    """The Response for a valid request: an image call, or text if no image tool."""
    choice = request.get("tool_choice", "auto")
    if _image_tool(request) is None or choice == "none":
        # The real model just answers in text when it cannot call the tool.
        return _response_object(
            request, [_message_item("I can only describe images in text here.")]
        )
    return _response_object(request, [_image_call_item(request)])


def _response_object(
    request: Mapping[str, Any], output: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A complete Response object, echoing request fields the way the API does."""
    now = int(time.time())
    tools = [_echo_tool(tool) for tool in request.get("tools") or [] if isinstance(tool, Mapping)]
    return {
        "id": _hex_id("resp"),
        "object": "response",
        "created_at": now,
        "status": "completed",
        "background": False,
        "completed_at": now,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": request.get("model"),
        "output": list(output),
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": {"effort": "medium", "summary": None},
        "safety_identifier": request.get("safety_identifier"),
        "service_tier": "default",
        "store": request.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": tools,
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _usage(request),
        "tool_usage": _tool_usage(request, output),
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def _echo_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """Echo a tool as the API does: image_generation gets its defaults filled in."""
    echoed = dict(tool)
    if echoed.get("type") == "image_generation":
        for key, value in (
            ("background", "auto"),
            ("moderation", "auto"),
            ("output_compression", 100),
            ("output_format", "png"),
            ("quality", "auto"),
            ("size", "auto"),
        ):
            echoed.setdefault(key, value)
    return echoed


def _image_call_item(request: Mapping[str, Any]) -> dict[str, Any]:
    tool = _image_tool(request) or {}
    image = generated_image(request)
    background = tool.get("background")
    quality = tool.get("quality")
    size = tool.get("size")
    action = tool.get("action")
    has_image = bool(_input_image_urls(request))
    return {
        "id": _hex_id("ig"),
        "type": "image_generation_call",
        "status": "completed",
        # The API reports the settings it resolved, never "auto".
        "action": action
        if action in ("generate", "edit")
        else ("edit" if has_image else "generate"),
        "background": background if background in ("transparent", "opaque") else "opaque",
        "output_format": output_format(tool),
        "quality": quality if quality in ("low", "medium", "high") else "medium",
        "size": size if isinstance(size, str) and size != "auto" else "1024x1024",
        "revised_prompt": _prompt_of(request) or "A faithful recreation of the provided image.",
        "result": base64.b64encode(image).decode("ascii"),
    }


def _failed_call_item(request: Mapping[str, Any]) -> dict[str, Any]:
    tool = _image_tool(request) or {}
    background = tool.get("background")
    return {
        "id": _hex_id("ig"),
        "type": "image_generation_call",
        "status": "failed",
        "result": None,
        "background": background if background in ("transparent", "opaque", "auto") else None,
        "output_format": output_format(tool),
        "error": {
            "type": "image_generation_user_error",
            "code": "moderation_blocked",
            "message": "Your request was rejected by the safety system.",
            "param": None,
        },
    }


def _message_item(text: str) -> dict[str, Any]:
    return {
        "id": _hex_id("msg"),
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
