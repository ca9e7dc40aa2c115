"""How OpenAI requests are paced: one rule for every limit, held for one HTTP exchange.

Two limits can apply to a request, and both are held the same way, by the OpenAI
transport (edges.openai.transport.GatedTransport) from sending the request to reading the
whole answer, never across the openai client's retry sleeps or a Prefect task retry:

- a batch's own ``concurrency``: a semaphore set for the image's thread (``capped_by``);
- the shared budget of every run and worker: the Prefect global concurrency limit named by
  IMAGE_PIPELINE_OPENAI_LIMIT, when it exists.

Before either, a request waits for its turn on the images-per-minute schedules
(pacing.rate): the run's own (``images_per_minute``) and the fleet's, whose N is
the limit of the Prefect global concurrency limit named by IMAGE_PIPELINE_RATE_LIMIT
(created and changed with ``prefect gcl``, read every RECHECK_SECONDS, never decided per
run). The schedules live in Redis when IMAGE_PIPELINE_LOCK_URL is set (every host shares
them), else in this process.

Building the request, parsing the answer and the task engine's own work happen outside,
so with a cap of C there are C requests at OpenAI nearly all the time (docs/benchmarks.md).
The offline generator sends no request, so nothing here applies to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from functools import lru_cache

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound

from prefect_image_pipeline.pacing.rate import LocalSchedule, RedisSchedule, Schedule, wait_turn
from prefect_image_pipeline.settings.config import settings

# How long a "limit exists / does not exist" answer is trusted: Prefect's
# ``concurrency(..., strict=False)`` spends about 2 s discovering that a limit is missing.
RECHECK_SECONDS = 30.0

# Set in each image's thread by prefect_image_pipeline.batch.runner; unset means no cap of our own.
_slots: ContextVar[threading.Semaphore | None] = ContextVar("openai_request_slots", default=None)
# Process-wide on purpose: the answer is about the Prefect server, shared by every thread.
_known_limits: dict[str, tuple[float, int | None]] = {}
# Set around each image's pipeline (paced_at); unset means no rate of the run's own.
_run_schedule: ContextVar[Schedule | None] = ContextVar("openai_run_schedule", default=None)
_known_lock = threading.Lock()


@contextmanager
def capped_by(slots: threading.Semaphore) -> Iterator[None]:
    """Within this block, each OpenAI request this thread sends takes one of ``slots``."""
    token = _slots.set(slots)
    try:
        yield
    finally:
        _slots.reset(token)


@contextmanager
def paced_at(images_per_minute: int | None, key: str | None = None) -> Iterator[None]:
    """Within this block, each OpenAI request waits for its turn at this run's rate
    (``key``: the run whose rate it shares, e.g. a chunk's parent; default this run)."""
    schedule = run_schedule(images_per_minute, key) if images_per_minute else None
    token = _run_schedule.set(schedule)
    try:
        yield
    finally:
        _run_schedule.reset(token)


def run_schedule(images_per_minute: int, key: str | None = None) -> Schedule:
    """The schedule of run ``key`` (default the current flow run), shared by its threads."""
    if key is None:
        context = FlowRunContext.get()
        key = str(context.flow_run.id) if context and context.flow_run else "no-run"
    return _schedule(f"run-{key}", float(images_per_minute))


def fleet_schedule() -> Schedule | None:
    """The fleet's schedule, if its global concurrency limit exists (N = its limit)."""
    name = settings().rate_limit_name
    if FlowRunContext.get() is None:
        return None
    limit = limit_value(name)
    return _schedule(f"fleet-{name}", float(limit)) if limit else None


def _schedule(name: str, images_per_minute: float) -> Schedule:
    lock_url = settings().lock_url
    url = lock_url.get_secret_value() if lock_url else None
    return _schedule_for(name, images_per_minute, url)


# Process-wide on purpose: every thread of a run must reserve on the same schedule.
@lru_cache(maxsize=64)
def _schedule_for(name: str, images_per_minute: float, redis_url: str | None) -> Schedule:
    if redis_url:
        return RedisSchedule(redis_url, name, images_per_minute)
    return LocalSchedule(images_per_minute)


@contextmanager
def request_slot() -> Iterator[None]:
    """What to hold around one OpenAI HTTP exchange: the batch cap, the limit, its turns.

    The turns come last, once nothing else can hold the request up: reserved earlier, a
    request that then waited for a slot or a Prefect API answer (the limits are looked up
    on first use) left late and reached OpenAI bunched with the next ones, drawing 429s.
    """
    name = settings().openai_limit_name
    limited = FlowRunContext.get() is not None and limit_exists(name)
    schedules = [s for s in (_run_schedule.get(), fleet_schedule()) if s is not None]
    with (
        _slots.get() or nullcontext(),
        concurrency(name, occupy=1, strict=True) if limited else nullcontext(),
    ):
        for schedule in schedules:
            wait_turn(schedule)
        yield


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit ``name`` exists (cached for RECHECK_SECONDS)."""
    return limit_value(name) is not None


def limit_value(name: str) -> int | None:
    """The limit of the global concurrency limit ``name``; None if there is none (or it is
    inactive). Cached for RECHECK_SECONDS."""
    now = time.monotonic()
    with _known_lock:
        cached = _known_limits.get(name)
        if cached and now - cached[0] < RECHECK_SECONDS:
            return cached[1]
    try:
        with get_client(sync_client=True) as client:
            found = client.read_global_concurrency_limit_by_name(name)
        value: int | None = int(found.limit) if found.active else None
    except ObjectNotFound:
        value = None
    with _known_lock:
        _known_limits[name] = (now, value)
    return value
