"""The one place an OpenAI client is built, for flows, the CLI and the library API alike.

Every client gets the same HTTP layer: the shared cooldown transport (every request and
the client's own retries wait out a 429's Retry-After, edges.openai.transport) and a
response hook that stops the client retrying 429s that never clear by themselves.
Clients are shared within a process per configuration (prefect_image_pipeline.edges.reuse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import openai

from prefect_image_pipeline.blocks.openai_credentials import OpenAICredentials
from prefect_image_pipeline.edges.openai.transport import GatedTransport
from prefect_image_pipeline.edges.reuse import ClientCache, env_snapshot, flow_run_scope
from prefect_image_pipeline.errors import MissingCredentialsError
from prefect_image_pipeline.settings.config import Settings, settings

if TYPE_CHECKING:
    import httpx2

MISSING_KEY_MESSAGE = (
    "OPENAI_API_KEY is not set: export OPENAI_API_KEY=sk-..., save an OpenAI credentials "
    "block (python -m blocks) and pass its name, or use --offline for a local dry run"
)
# 429 codes that mean "not until a person acts"; plain rate limits stay retryable.
PERMANENT_RATE_LIMIT_CODES = frozenset({"insufficient_quota"})
# What the openai client reads from the environment itself: a change to any of them must
# give a new client, not a cached one built with the old value.
_OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
# Process-wide on purpose: a client's HTTP pool is worth sharing by every image of a run.
_CLIENTS: ClientCache[openai.OpenAI] = ClientCache()


def veto_hopeless_retries(response: httpx2.Response) -> None:
    """Response hook: mark a permanent 429 with ``x-should-retry: false``.

    The SDK retries every 429, but ``insufficient_quota`` means the account is out of
    credit: retrying only delays the failure. The SDK obeys a server's
    ``x-should-retry: false``, so the hook adds it before the SDK decides.
    """
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


def openai_http_client(transport: httpx2.BaseTransport | None = None) -> openai.DefaultHttpxClient:
    """The SDK's default HTTP client over the cooldown transport, with the retry veto."""
    return openai.DefaultHttpxClient(
        transport=transport or GatedTransport(),
        event_hooks={"response": [veto_hopeless_retries]},
    )


def client_options(config: Settings) -> dict[str, Any]:
    """Retries, timeout and HTTP layer of every client (IMAGE_PIPELINE_OPENAI_*)."""
    return {
        "max_retries": config.openai_max_retries,
        "timeout": config.openai_timeout_seconds,
        "http_client": openai_http_client(),
    }


def openai_client_from_env() -> openai.OpenAI:
    """A client from OPENAI_API_KEY (OPENAI_BASE_URL is honoured by the client itself)."""
    config = settings()
    if config.openai_api_key is None:
        raise MissingCredentialsError(MISSING_KEY_MESSAGE)
    return openai.OpenAI(api_key=config.openai_api_key.get_secret_value(), **client_options(config))


def _openai_client_from_block(credentials_block: str) -> openai.OpenAI:
    block = cast(OpenAICredentials, OpenAICredentials.load(credentials_block, _sync=True))  # type: ignore[call-arg]
    return block.get_client(**client_options(settings()))


def openai_client(credentials_block: str | None = None) -> openai.OpenAI:
    """A shared client from the named OpenAICredentials block, else from the environment."""
    config = settings()
    key = (
        credentials_block,
        env_snapshot(_OPENAI_ENV),
        config.openai_max_retries,
        config.openai_timeout_seconds,
    )
    if credentials_block:
        return _CLIENTS.get(
            (*key, flow_run_scope()), lambda: _openai_client_from_block(credentials_block)
        )
    return _CLIENTS.get(key, openai_client_from_env)


def check_openai_key(credentials_block: str | None) -> None:
    """Fail before any work when no key is configured (a block is checked when loaded)."""
    if not credentials_block and settings().openai_api_key is None:
        raise MissingCredentialsError(MISSING_KEY_MESSAGE)
