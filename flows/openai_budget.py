"""The shared OpenAI budget: a Prefect global concurrency limit, when one is configured.

Prefect's ``concurrency(..., strict=False)`` spends about 2 s per call discovering that a
limit does not exist, so we look the limit up once and remember the answer for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

from flows.settings import openai_limit_name

# How long a "limit exists / does not exist" answer is trusted.
RECHECK_SECONDS = 30.0

_lock = threading.Lock()
_known: dict[str, tuple[float, bool]] = {}


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
def openai_slot() -> Iterator[None]:
    """Hold one slot of the shared limit (IMAGE_PIPELINE_OPENAI_LIMIT) around an OpenAI call."""
    name = openai_limit_name()
    if not limit_exists(name):
        yield
        return
    with concurrency(name, occupy=1, strict=True):
        yield
