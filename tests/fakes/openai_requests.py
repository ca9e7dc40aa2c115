"""What the fake OpenAI server received: ``RecordedRequest`` and readers of a request body.

The readers pull the parts of a Responses API request the fake acts on (the
image_generation tool, ``input_text`` and ``input_image`` content) out of its JSON,
tolerating any shape a client may send.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .openai_spec import SpecError

__all__ = ["RESPONSES_PATH", "RecordedRequest"]

RESPONSES_PATH = "/v1/responses"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (headers lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    # Kept out of repr: bodies carry megabytes of base64 and would flood failures.
    json: Any = field(default=None, repr=False)
    """Parsed JSON body, or None when absent or not JSON."""
    at: float = field(default_factory=time.monotonic)
    """When the request arrived (time.monotonic), to check pacing."""
    spec_error: SpecError | None = None
    """Why a ``POST /v1/responses`` body breaks the SDK's request types (then refused
    with 400), or None."""

    @property
    def input_images(self) -> list[str]:
        """``image_url`` values of every ``input_image`` part, in order."""
        return _input_image_urls(self.json)

    @property
    def prompt(self) -> str:
        """All ``input_text`` parts joined by newlines."""
        return _prompt_of(self.json)


def _image_tool(request: Mapping[str, Any]) -> dict[str, Any] | None:
    for tool in request.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == "image_generation":
            return tool
    return None


def _remote_image_url(request: Any) -> str | None:
    """The first ``input_image`` URL OpenAI would have to download (http or https)."""
    for url in _input_image_urls(request):
        if url.lower().startswith(("http://", "https://")):
            return url
    return None


def _content_parts(request: Any) -> Iterator[dict[str, Any]]:
    """Content parts of ``input`` (a string, or a list of messages/parts)."""
    if not isinstance(request, Mapping):
        return
    value = request.get("input")
    if isinstance(value, str):
        yield {"type": "input_text", "text": value}
        return
    if not isinstance(value, list):
        return
    for item in value:
        if not isinstance(item, dict):
            continue
        if item.get("type") in ("input_text", "input_image"):
            yield item
        content = item.get("content")
        if isinstance(content, str):
            yield {"type": "input_text", "text": content}
        elif isinstance(content, list):
            yield from (part for part in content if isinstance(part, dict))


def _input_image_urls(request: Any) -> list[str]:
    return [
        str(part["image_url"])
        for part in _content_parts(request)
        if part.get("type") == "input_image" and "image_url" in part
    ]


def _prompt_of(request: Any) -> str:
    return "\n".join(
        str(p.get("text", "")) for p in _content_parts(request) if p.get("type") == "input_text"
    )
