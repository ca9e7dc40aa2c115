"""The OpenAI budget: a batch run's own cap, and a Prefect global concurrency limit shared
by every run and worker when one is configured.

Both are held around the OpenAI call only, not the whole generate task: the task engine's
own work (states, cache lookup, persisting the result) then overlaps other images' calls,
so ``concurrency`` requests stay in flight (docs/benchmarks.md).

Prefect's ``concurrency(..., strict=False)`` spends about 2 s per call discovering that a
limit does not exist, so we look the limit up once and remember the answer for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

from flows.settings import openai_limit_name

# How long a "limit exists / does not exist" answer is trusted.
RECHECK_SECONDS = 30.0

_lock = threading.Lock()
_known: dict[str, tuple[float, bool]] = {}
# The running batch's cap, set in each image's thread by flows.process_images.
_run_slots: ContextVar[threading.Semaphore | None] = ContextVar("openai_run_slots", default=None)


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit ``name`` exists (cached for RECHECK_SECONDS)."""
    now = time.monotonic()
    with _lock:
        cached = _known.get(name)
        if cached and now - cached[0] < RECHECK_SECONDS:
            return cached[1]
    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
        exists = True
    except ObjectNotFound:
        exists = False
    with _lock:
        _known[name] = (now, exists)
    return exists


@contextmanager
def run_slots(slots: threading.Semaphore) -> Iterator[None]:
    """Within this block, this thread's OpenAI calls each take one of ``slots``."""
    token = _run_slots.set(slots)
    try:
        yield
    finally:
        _run_slots.reset(token)


@contextmanager
def openai_slot() -> Iterator[None]:
    """Hold a slot of the run's cap, then of the shared limit, around one OpenAI call.

    The shared limit is IMAGE_PIPELINE_OPENAI_LIMIT; it is taken second so that waiting
    for this run's own cap never holds a slot other runs could use.
    """
    run_cap: AbstractContextManager[object] = _run_slots.get() or nullcontext()
    with run_cap:
        name = openai_limit_name()
        if not limit_exists(name):
            yield
            return
        with concurrency(name, occupy=1, strict=True):
            yield
