"""Pacing by images per minute: each OpenAI request waits for its turn on a schedule.

OpenAI limits image models by images per minute (5 to 250 by usage tier) and answers the
excess with 429s that still count against the account. A concurrency cap cannot match a
rate when one call takes 10 s and the next 2 min, so requests are spaced instead: a
generic cell rate schedule (GCRA) that lets one request start every ``60 / N`` seconds
(``BURST`` at once after an idle spell). Each caller *reserves* its start time
atomically and sleeps until it, so waiters queue in arrival order and never poll.

- ``LocalSchedule``: one process (threads), an injected clock and sleep for tests;
- ``RedisSchedule``: every process and host that shares the Redis of
  IMAGE_PIPELINE_LOCK_URL; the reservation is one Lua script timed by Redis's own clock,
  so hosts' clocks do not matter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Starts allowed at once after an idle spell. OpenAI's own bucket allows a burst of 2;
# spending it would leave no slack for requests that reach OpenAI a few ms early or late
# (measured: one 429 per batch), while keeping one token spare costs one image's time.
BURST = 1


class Schedule(Protocol):
    """Something that tells a request when it may start."""

    def reserve(self) -> float:
        """Reserve the next start; seconds to wait until it (0 when it is now)."""
        ...


@dataclass
class LocalSchedule:
    """The schedule of one process: ``images_per_minute`` starts a minute, burst BURST."""

    images_per_minute: float
    clock: Callable[[], float] = time.monotonic
    _next: float | None = field(default=None, init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)

    def reserve(self) -> float:
        """As Schedule.reserve."""
        interval = 60.0 / self.images_per_minute
        tolerance = (BURST - 1) * interval
        with self._guard:
            now = self.clock()
            start = now - tolerance if self._next is None else max(self._next, now - tolerance)
            self._next = start + interval
        return max(0.0, start - now)


# KEYS[1]: the schedule; ARGV[1]: interval, ARGV[2]: tolerance (both microseconds).
# Returns microseconds to wait. Redis's clock, so every host reads the same time.
_RESERVE = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(stored, now - tolerance)
local following = start + interval
local keep_ms = math.floor((following - now) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', following), 'PX', keep_ms)
return math.floor(start - now)
"""


class RedisSchedule:
    """The schedule every host shares, named ``name`` in the Redis at ``url``."""

    def __init__(self, url: str, name: str, images_per_minute: float) -> None:
        from redis import Redis

        self.key = f"image-pipeline:rate:{name}"
        self.images_per_minute = images_per_minute
        self._client: Any = Redis.from_url(url)
        self._script = self._client.register_script(_RESERVE)

    def reserve(self) -> float:
        """As Schedule.reserve."""
        interval = 60_000_000 / self.images_per_minute
        waited = self._script(keys=[self.key], args=[int(interval), int((BURST - 1) * interval)])
        return max(0.0, int(waited) / 1_000_000)


def wait_turn(schedule: Schedule, sleep: Callable[[float], None] = time.sleep) -> float:
    """Sleep until this request's reserved start; the seconds slept."""
    delay = schedule.reserve()
    if delay > 0:
        sleep(delay)
    return delay
