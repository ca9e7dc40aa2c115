"""The ``Fault`` catalogue: injected outcomes for a fake ``/v1/responses`` request.

Each class method builds one failure the pipeline must survive (rate limits, quota,
5xx, moderation, auth, reference URLs OpenAI cannot download, delays, resets, malformed
or image-less answers), with the
status, headers and error body the real API sends.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "FaultKind"]

# Placeholders a Fault's error message may contain, filled per request.
_REQUEST_ID = "{request_id}"
_MODEL = "{model}"
_IMAGE_URL = "{image_url}"


FaultKind = Literal[
    "error", "delay", "held", "reset", "raw", "no_image", "failed_call", "image_url_unreachable"
]


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
    gate: threading.Event | None = None

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
    def server_error(cls, status: int = 500, retry_after_ms: int | None = 10) -> Fault:
        """5xx (the client retries these by itself).

        ``retry-after-ms`` (which the openai client honours) keeps its own backoff of
        0.5-8 s out of the tests' time; pass None for a 5xx without it.
        """
        messages = {
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The server is overloaded or not ready yet.",
            504: "Gateway timeout.",
        }
        message = messages.get(status, "The server had an error while processing your request.")
        headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else None
        return cls.api_error(status, message, "server_error", headers=headers)

    @classmethod
    def timeout(cls, delay: float) -> Fault:
        """Sleep ``delay`` seconds, then answer normally (exercise client timeouts)."""
        return cls("delay", delay=delay)

    @classmethod
    def held(cls, gate: threading.Event) -> Fault:
        """Keep the request in flight until ``gate`` is set, then answer normally (a
        generation that is still running while the test does something else)."""
        return cls("held", gate=gate)

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
    def image_url_unreachable(cls) -> Fault:
        """400 OpenAI sends when it cannot download a reference image's URL.

        Names the request's first ``input_image`` whose ``image_url`` is http(s) (data
        URLs need no download); a request without one is answered normally.
        """
        error = {
            "message": f"Error while downloading {_IMAGE_URL}.",
            "type": "invalid_request_error",
            "param": "url",
            "code": "invalid_image_url",
        }
        return cls("image_url_unreachable", status=400, error=error)

    @classmethod
    def failed_call(cls) -> Fault:
        """200 with an image_generation_call of status "failed" and no result."""
        return cls("failed_call")


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
