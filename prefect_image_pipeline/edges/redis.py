"""The Redis every host shares (IMAGE_PIPELINE_LOCK_URL): a client that fails in seconds.

Locks (cache.redis_locks), the rate schedule (pacing.rate) and the spending ledger
(spending.redis_ledger) keep their state there. When it is set but unreachable, a run is
refused before any paid call (``check_reachable``): without the shared state, hosts would
pay twice and overrun the fleet's rate and budget.
"""

from __future__ import annotations

from typing import Any

from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.urls import redact_url

LOCK_URL_VARIABLE = "IMAGE_PIPELINE_LOCK_URL"
CONNECT_TIMEOUT_S = 3.0
# A Lua script over a few keys answers in milliseconds; past this, the server is not well.
COMMAND_TIMEOUT_S = 10.0


def redis_client(url: str) -> Any:
    """A client for ``url`` whose connects and commands give up within seconds."""
    from redis import Redis

    return Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S
    )


def check_reachable(url: str) -> None:
    """Refuse the run, naming the variable and the fix, when the Redis at ``url`` is away."""
    from redis.exceptions import RedisError

    try:
        redis_client(url).ping()
    except RedisError as exc:
        raise ConfigurationError(
            f"{LOCK_URL_VARIABLE} points at {redact_url(url)}, which does not answer "
            f"({exc}). Every host keeps its locks, rate and spending there, so nothing was "
            f"sent to OpenAI. Start that Redis, or unset {LOCK_URL_VARIABLE} to run with "
            "this host's own locks and budget."
        ) from None
