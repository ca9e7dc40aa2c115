"""How OpenAI requests are paced: one rule for every limit, held for one HTTP exchange.

Two limits can apply to a request, and both are held the same way, by the OpenAI
transport (flows.clients.cooldown.GatedTransport) from sending the request to reading the
whole answer, never across the openai client's retry sleeps or a Prefect task retry:

- a batch's own ``concurrency``: a semaphore set for the image's thread (``capped_by``);
- the shared budget of every run and worker: the Prefect global concurrency limit named by
  IMAGE_PIPELINE_OPENAI_LIMIT, when it exists.

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

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound

from flows.config import settings

# How long a "limit exists / does not exist" answer is trusted: Prefect's
# ``concurrency(..., strict=False)`` spends about 2 s discovering that a limit is missing.
RECHECK_SECONDS = 30.0

# Set in each image's thread by flows.batch.runner; unset means no cap of our own.
_slots: ContextVar[threading.Semaphore | None] = ContextVar("openai_request_slots", default=None)
# Process-wide on purpose: the answer is about the Prefect server, shared by every thread.
_known_limits: dict[str, tuple[float, bool]] = {}
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
def request_slot() -> Iterator[None]:
    """What to hold around one OpenAI HTTP exchange: the batch cap, then the shared limit."""
    with _slots.get() or nullcontext():
        name = settings().openai_limit_name
        if FlowRunContext.get() is None or not limit_exists(name):
            yield
            return
        with concurrency(name, occupy=1, strict=True):
            yield


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit ``name`` exists (cached for RECHECK_SECONDS)."""
    now = time.monotonic()
    with _known_lock:
        cached = _known_limits.get(name)
        if cached and now - cached[0] < RECHECK_SECONDS:
            return cached[1]
    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
        exists = True
    except ObjectNotFound:
        exists = False
    with _known_lock:
        _known_limits[name] = (now, exists)
    return exists
