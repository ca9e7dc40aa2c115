"""Clients reused within a process, refreshed after a while.

Building an OpenAI client (new HTTP pool and TLS context) costs ~40 ms of CPU and a boto3
S3 client ~26 ms; at L/C = 62 ms per image that alone would cap a batch. Clients are
thread-safe, so every image of a run shares one per configuration. Entries expire so a
long-lived worker picks up a rotated key from a block within ``ttl_seconds``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from prefect.context import FlowRunContext

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 300.0


def aws_environment(service: str) -> tuple[str, ...]:
    """What boto3 reads from the environment itself for ``service`` ("S3", "SQS"): a
    change must give a new client."""
    return (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        f"AWS_ENDPOINT_URL_{service}",
    )


# Held process-wide (edges.s3.client, edges.openai.client): a client costs tens of ms of CPU
# to build, which a batch would otherwise pay once per image.
class ClientCache(Generic[T]):
    """``get(config, build)`` returns the client built for an equal ``config``, if still fresh."""

    def __init__(
        self, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, T]] = {}

    def get(self, config: Hashable, build: Callable[[], T]) -> T:
        """The cached client for ``config``; ``build`` runs at most once per fresh entry.

        The config may hold secrets; only its digest is kept.
        """
        digest = hashlib.sha256(repr(config).encode()).hexdigest()
        # Built under the lock: boto3's default session is not safe to build clients from
        # several threads at once, and a batch's first wave asks for the client together.
        with self._lock:
            entry = self._entries.get(digest)
            now = self._clock()
            if entry is not None and now - entry[0] < self.ttl_seconds:
                return entry[1]
            # Drop expired clients too: a long-lived worker sees a new config per flow run
            # (block-based clients are per run) and must not keep them all.
            for stale in [
                k for k, (built, _) in self._entries.items() if now - built >= self.ttl_seconds
            ]:
                del self._entries[stale]
            client = build()
            self._entries[digest] = (now, client)
            return client

    def __len__(self) -> int:
        """How many clients are kept."""
        return len(self._entries)


def env_snapshot(names: tuple[str, ...]) -> tuple[str | None, ...]:
    """The variables a client library reads by itself, as part of a cache key (blank is unset)."""
    return tuple(os.environ.get(name, "").strip() or None for name in names)


def flow_run_scope() -> str:
    """The current flow run's id, or "" outside a flow run.

    Clients built from a block are reused within one run only: an edited block takes
    effect on the next run, without reading the block again for every image.
    """
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else ""
