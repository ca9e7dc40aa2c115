"""The HTTP client under the openai SDK, taught which 429s are not worth retrying.

The SDK retries every 429, but ``insufficient_quota`` means the account is out of credit:
retrying only delays the failure and spends requests. The SDK obeys a server's
``x-should-retry: false``, so a response hook adds that header to such replies before
the SDK decides. Use it as ``openai.OpenAI(..., http_client=openai_http_client())``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

if TYPE_CHECKING:
    import httpx2

# 429 codes that mean "not until a person acts"; plain rate limits stay retryable.
PERMANENT_RATE_LIMIT_CODES = frozenset({"insufficient_quota"})


def veto_hopeless_retries(response: httpx2.Response) -> None:
    """Response hook: mark a permanent 429 with ``x-should-retry: false``."""
    if response.status_code != 429:
        return
    response.read()  # error bodies are small; the SDK reuses the bytes read here
    try:
        body = response.json()
    except ValueError:
        return
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code") in PERMANENT_RATE_LIMIT_CODES:
        response.headers["x-should-retry"] = "false"


def openai_http_client(**options: Any) -> openai.DefaultHttpxClient:
    """The SDK's default HTTP client (its timeouts and limits) with the hook installed."""
    return openai.DefaultHttpxClient(event_hooks={"response": [veto_hopeless_retries]}, **options)
