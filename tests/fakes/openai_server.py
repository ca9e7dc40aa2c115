"""Fake OpenAI Responses API (``POST /v1/responses``) with the image_generation tool.

It speaks the wire format the real ``openai`` client parses (see
/work/shared/NOTES.md), "generates" an image by re-encoding the first input
image as an RGBA PNG, and can inject the faults the pipeline must survive.

Example::

    with FakeOpenAIServer(api_key="sk-test") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test")
        fake.enqueue(Fault.rate_limit(), Fault.server_error())
        client.responses.create(...)  # retried by the client, then succeeds
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from .http_server import LoopbackHandler, LoopbackServer

__all__ = ["FakeOpenAIServer", "Fault", "RecordedRequest"]

RESPONSES_PATH = "/v1/responses"
FALLBACK_SIZE = (64, 64)

# Placeholders a Fault's error message may contain, filled per request.
_REQUEST_ID = "{request_id}"
_MODEL = "{model}"

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?:;[^;,]*)*;base64,(?P<data>.*)$", re.DOTALL)

# Output tokens the image tool reports for a 1024x1024 image, by quality.
_IMAGE_TOKENS = {"low": 272, "medium": 1056, "high": 4160}


def _hex_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


# ---------------------------------------------------------------------------
# Recorded requests
# ---------------------------------------------------------------------------


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

    @property
    def input_images(self) -> list[str]:
        """``image_url`` values of every ``input_image`` part, in order."""
        return _input_image_urls(self.json)

    @property
    def prompt(self) -> str:
        """All ``input_text`` parts joined by newlines."""
        return _prompt_of(self.json)


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

FaultKind = Literal["error", "delay", "reset", "raw", "no_image", "failed_call"]


@dataclass(frozen=True)
class Fault:
    """One injected outcome for a ``/v1/responses`` request.

    Build them with the class methods (``Fault.rate_limit()`` ...), not directly.
    """

    kind: FaultKind
    status: int = 200
    error: Mapping[str, str | None] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    body: bytes = b""
    content_type: str = "application/json"
    text: str = ""

    @classmethod
    def api_error(
        cls,
        status: int,
        message: str,
        type: str,  # mirrors the wire field name
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Any OpenAI-shaped error; ``{request_id}``/``{model}`` in message are filled."""
        error = {"message": message, "type": type, "param": param, "code": code}
        return cls("error", status=status, error=error, headers=tuple((headers or {}).items()))

    @classmethod
    def rate_limit(
        cls, retry_after: float | None = 0.01, code: str = "rate_limit_exceeded"
    ) -> Fault:
        """429 rate limit; with ``retry_after`` sends retry-after-ms and retry-after."""
        headers = {
            "x-ratelimit-limit-requests": "5",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": _duration(
                retry_after if retry_after is not None else 12.0
            ),
            "x-ratelimit-limit-tokens": "100000",
            "x-ratelimit-remaining-tokens": "99000",
            "x-ratelimit-reset-tokens": "6m0s",
        }
        wait = "12s"
        if retry_after is not None:
            # The client prefers retry-after-ms; retry-after carries the same
            # delay as a (nonstandard but accepted) decimal so it stays short too.
            headers["retry-after-ms"] = str(max(1, round(retry_after * 1000)))
            headers["retry-after"] = f"{retry_after:g}"
            wait = _duration(retry_after)
        message = (
            f"Rate limit reached for {_MODEL} in organization org-fake on requests per min (RPM): "
            f"Limit 5, Used 5, Requested 1. Please try again in {wait}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        return cls.api_error(429, message, "requests", code=code, headers=headers)

    @classmethod
    def insufficient_quota(cls) -> Fault:
        """429 that is not transient: the account is out of credit."""
        message = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        return cls.api_error(429, message, "insufficient_quota", code="insufficient_quota")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """5xx (the client retries these by itself)."""
        messages = {
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The server is overloaded or not ready yet.",
            504: "Gateway timeout.",
        }
        message = messages.get(status, "The server had an error while processing your request.")
        return cls.api_error(status, message, "server_error")

    @classmethod
    def timeout(cls, delay: float) -> Fault:
        """Sleep ``delay`` seconds, then answer normally (exercise client timeouts)."""
        return cls("delay", delay=delay)

    @classmethod
    def connection_reset(cls) -> Fault:
        """Drop the connection with a TCP reset and no response."""
        return cls("reset")

    @classmethod
    def moderation_blocked(cls) -> Fault:
        """400 from the image safety system."""
        message = (
            "Your request was rejected by the safety system. If you believe this is an error, "
            f"contact us at help.openai.com and include the request ID {_REQUEST_ID}."
        )
        return cls.api_error(400, message, "image_generation_user_error", code="moderation_blocked")

    @classmethod
    def transparent_unsupported(cls) -> Fault:
        """400 some image models return for ``background: transparent``."""
        return cls.api_error(
            400,
            "Transparent background is not supported for this model.",
            "invalid_request_error",
            code="invalid_value",
            param="tools[0].background",
        )

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 invalid API key."""
        return cls.api_error(
            401,
            _incorrect_key_message(None),
            "invalid_request_error",
            code="invalid_api_key",
        )

    @classmethod
    def forbidden(cls) -> Fault:
        """403: the organization may not use the image model."""
        message = (
            f"Your organization must be verified to use the model `{_MODEL}`. Please go to: "
            "https://platform.openai.com/settings/organization/general and click on Verify Organization."
        )
        return cls.api_error(403, message, "invalid_request_error")

    @classmethod
    def not_found(cls) -> Fault:
        """404: the requested model does not exist."""
        message = f"The model `{_MODEL}` does not exist or you do not have access to it."
        return cls.api_error(404, message, "invalid_request_error", code="model_not_found")

    @classmethod
    def malformed(cls, content_type: str = "application/json") -> Fault:
        """200 whose body is not JSON (a truncated object).

        With the default JSON content type the client raises ``json.JSONDecodeError``
        (not an OpenAIError); with e.g. ``text/html`` it returns the raw text
        (strict clients raise APIResponseValidationError instead).
        """
        return cls("raw", body=b'{"id": "resp_trunc', content_type=content_type)

    @classmethod
    def no_image(cls, text: str = "I can't help with generating that image.") -> Fault:
        """200 whose output is only an assistant message: no image call."""
        return cls("no_image", text=text)

    @classmethod
    def failed_call(cls) -> Fault:
        """200 with an image_generation_call of status "failed" and no result."""
        return cls("failed_call")


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


class _OpenAIHandler(LoopbackHandler):
    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.owner
        assert isinstance(fake, FakeOpenAIServer)
        arrived = time.monotonic()
        request_id = _hex_id("req")
        raw = self.read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        path = self.path.split("?", 1)[0]
        fake._record(
            RecordedRequest(
                self.command,
                path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
        )

        if self.command != "POST" or path != RESPONSES_PATH:
            self._error(
                404,
                request_id,
                f"Invalid URL ({self.command} {path})",
                "invalid_request_error",
            )
            return
        fake._enter()
        try:
            self._responses(fake, body, request_id, arrived)
        finally:
            fake._leave(time.monotonic() - arrived)

    def _responses(
        self, fake: FakeOpenAIServer, body: Any, request_id: str, arrived: float
    ) -> None:
        if not self._authorised(fake, request_id):
            return
        if not isinstance(body, dict):
            message = (
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                "sent was not valid JSON.)"
            )
            self._error(400, request_id, message, "invalid_request_error")
            return
        if not body.get("model"):
            self._error(
                400,
                request_id,
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                code="missing_required_parameter",
                param="model",
            )
            return
        choice = body.get("tool_choice")
        if (
            isinstance(choice, dict)
            and choice.get("type") == "image_generation"
            and _image_tool(body) is None
        ):
            self._error(
                400,
                request_id,
                "Tool choice 'image_generation' not found in 'tools' parameter.",
                "invalid_request_error",
                param="tool_choice",
            )
            return

        # Like the real API, ``latency`` includes the server's own work: the answer is
        # prepared first and the request is held until ``latency`` after it arrived, so
        # this fake's decoding and re-encoding (on its process's one GIL) never adds to it.
        prepared = _success(body)
        if fake.wait(max(0.0, fake.latency - (time.monotonic() - arrived))):
            self.abort_connection()
            return
        fault = fake._next_fault()
        model = str(body["model"])
        if fault is None:
            self._json(200, request_id, prepared)
        elif fault.kind == "error":
            error = dict(fault.error or {})
            message = str(error.get("message") or "")
            error["message"] = message.replace(_REQUEST_ID, request_id).replace(_MODEL, model)
            self._send(fault.status, request_id, _dumps({"error": error}), dict(fault.headers))
        elif fault.kind == "delay":
            if fake.wait(fault.delay):
                self.abort_connection()
                return
            self._json(200, request_id, prepared)
        elif fault.kind == "reset":
            self.abort_connection()
        elif fault.kind == "raw":
            self._send(200, request_id, fault.body, content_type=fault.content_type)
        elif fault.kind == "no_image":
            self._json(200, request_id, _response_object(body, [_message_item(fault.text)]))
        elif fault.kind == "failed_call":
            self._json(200, request_id, _response_object(body, [_failed_call_item(body)]))

    def _authorised(self, fake: FakeOpenAIServer, request_id: str) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            self._error(401, request_id, message, "invalid_request_error")
            return False
        if fake.api_key is not None and key.strip() != fake.api_key:
            self._error(
                401,
                request_id,
                _incorrect_key_message(key.strip()),
                "invalid_request_error",
                code="invalid_api_key",
            )
            return False
        return True

    def _error(
        self,
        status: int,
        request_id: str,
        message: str,
        type_: str,
        *,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        error = {"message": message, "type": type_, "param": param, "code": code}
        self._send(status, request_id, _dumps({"error": error}))

    def _json(self, status: int, request_id: str, payload: Mapping[str, Any]) -> None:
        self._send(status, request_id, _dumps(payload))

    def _send(
        self,
        status: int,
        request_id: str,
        body: bytes,
        extra: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        headers = {
            "x-request-id": request_id,
            "openai-version": "2020-10-01",
            "openai-processing-ms": "1",
            "openai-organization": "org-fake",
        }
        headers.update(extra or {})
        self.send_bytes(status, body, content_type, headers)


class FakeOpenAIServer(LoopbackServer):
    """Loopback fake of the OpenAI Responses API for the image_generation tool.

    ``api_key``: if given, requests must send exactly this bearer token.
    ``latency``: seconds each ``/v1/responses`` request stays in flight.
    ``default_fault``: outcome used when the fault queue is empty (None = success).
    """

    handler_class = _OpenAIHandler

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency: float = 0.0,
        default_fault: Fault | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.latency = latency
        self.default_fault = default_fault
        self._lock = threading.Lock()
        self._history: list[RecordedRequest] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._in_flight = 0
        self._max_in_flight = 0
        self._handled_seconds: list[float] = []

    @property
    def base_url(self) -> str:
        """Pass to ``openai.OpenAI(base_url=...)``."""
        return f"{self.origin}/v1"

    # -- faults --------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        """Queue faults; each ``/v1/responses`` request consumes one, FIFO."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        """Faults queued but not yet consumed."""
        with self._lock:
            return len(self._faults)

    # -- inspection ----------------------------------------------------------

    @property
    def history(self) -> list[RecordedRequest]:
        """Snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._history)

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        """Snapshot of the ``POST /v1/responses`` requests only."""
        return [r for r in self.history if r.method == "POST" and r.path == RESPONSES_PATH]

    @property
    def in_flight(self) -> int:
        """``/v1/responses`` requests being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak of ``in_flight`` since start or the last reset()."""
        with self._lock:
            return self._max_in_flight

    @property
    def handled_seconds(self) -> list[float]:
        """How long each ``/v1/responses`` request was in flight here, arrival to answer."""
        with self._lock:
            return list(self._handled_seconds)

    def reset(self) -> None:
        """Clear history, timings, queued faults, default_fault and the in-flight peak."""
        with self._lock:
            self._history.clear()
            self._handled_seconds.clear()
            self._faults.clear()
            self._max_in_flight = self._in_flight
        self.default_fault = None

    # -- used by the handler -------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._history.append(request)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self, handled_seconds: float) -> None:
        with self._lock:
            self._in_flight -= 1
            self._handled_seconds.append(handled_seconds)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        return self.default_fault


# ---------------------------------------------------------------------------
# Response bodies
# ---------------------------------------------------------------------------


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
    prompt = _prompt_of(request)
    has_image = any(p.get("type") == "input_image" for p in _content_parts(request))
    input_tokens = 12 + len(prompt) // 4 + (765 if has_image else 0)
    output_tokens = 64
    image_calls = [item for item in output if item.get("type") == "image_generation_call"]
    image_out = sum(_IMAGE_TOKENS.get(str(item.get("quality")), 1056) for item in image_calls)
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
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
        "tool_usage": {
            "image_gen": {
                "input_tokens": 323 if image_calls else 0,
                "input_tokens_details": {
                    "image_tokens": 258 if image_calls else 0,
                    "text_tokens": 65 if image_calls else 0,
                },
                "output_tokens": image_out,
                "total_tokens": (323 if image_calls else 0) + image_out,
            },
            "web_search": {"num_requests": 0},
        },
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
    png = _generated_png(request)
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
        "output_format": "png",
        "quality": quality if quality in ("low", "medium", "high") else "medium",
        "size": size if isinstance(size, str) and size != "auto" else "1024x1024",
        "revised_prompt": _prompt_of(request) or "A faithful recreation of the provided image.",
        "result": base64.b64encode(png).decode("ascii"),
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
        "output_format": "png",
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


def _generated_png(request: Mapping[str, Any]) -> bytes:
    """The first decodable input image as an RGBA PNG, else a solid 64x64 PNG.

    Rebuilding from raw pixels drops metadata, so identical inputs always give
    identical bytes; the fallback colour comes from the prompt for the same reason.
    """
    image = None
    for url in _input_image_urls(request):
        image = _decode_data_url(url)
        if image is not None:
            break
    if image is None:
        digest = hashlib.sha256(_prompt_of(request).encode()).digest()
        image = Image.new("RGBA", FALLBACK_SIZE, (digest[0], digest[1], digest[2], 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _decode_data_url(url: str) -> Image.Image | None:
    match = _DATA_URL.match(url)
    if match is None:
        return None
    try:
        data = base64.b64decode("".join(match["data"].split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            rgba = opened.convert("RGBA")
    # Any decoder failure (truncated, unknown format, bomb) means "no usable image".
    except Exception:
        return None
    return Image.frombytes("RGBA", rgba.size, rgba.tobytes())


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _image_tool(request: Mapping[str, Any]) -> dict[str, Any] | None:
    for tool in request.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == "image_generation":
            return tool
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


def _incorrect_key_message(key: str | None) -> str:
    # The real API never echoes a full key; it masks all but the ends.
    shown = f"{key[:3]}***{key[-4:]}" if key and len(key) > 8 else "***"
    return (
        f"Incorrect API key provided: {shown}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )


def _duration(seconds: float) -> str:
    """Format like OpenAI's x-ratelimit-reset-* headers: "20ms", "1s", "6m0s"."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
