"""The shared 429 cool-down: one gate per process, so a rate-limit storm slows every caller,
not just the one that met it.

The OpenAI transport (edges.openai.transport) waits at the gate before each request and
closes it for a 429's Retry-After; edges.openai.errors reads the same Retry-After.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

# Retry-After beyond this is a quota problem, not a blip: the openai client also stops at 120 s.
MAX_COOLDOWN_SECONDS = 120.0
# A 429 that names no wait still means "slow down" for everyone.
DEFAULT_COOLDOWN_SECONDS = 1.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks us to wait (``retry-after-ms``, then ``retry-after``)."""
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None  # an HTTP date; rare for OpenAI, and the default cooldown applies
    return None


class CooldownGate:
    """Callers wait at the gate until the latest Retry-After has passed."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._not_before = 0.0

    def defer(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (longest request wins)."""
        seconds = min(max(seconds, 0.0), MAX_COOLDOWN_SECONDS)
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def rate_limited(self, retry_after: float | None) -> None:
        """Close the gate for a 429 that asked for ``retry_after`` seconds (None: the default)."""
        self.defer(DEFAULT_COOLDOWN_SECONDS if retry_after is None else retry_after)

    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        with self._lock:
            return max(0.0, self._not_before - self._clock())

    def wait(self) -> float:
        """Block until the gate is open; returns the seconds waited."""
        waited = 0.0
        while (pause := self.remaining()) > 0:
            self._sleep(pause)
            waited += pause
        return waited


# Process-wide on purpose: every client and thread of a process shares one OpenAI account,
# so one 429 must hold back all of them.
openai_gate = CooldownGate()
