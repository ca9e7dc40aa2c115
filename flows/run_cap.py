"""A batch run's own cap on OpenAI requests in flight: its ``concurrency``.

The OpenAI HTTP transport (flows.backoff.GatedTransport) holds a slot for exactly one HTTP
exchange, from sending the request to reading the whole answer. Building the request,
parsing the answer and the Prefect task engine's own work happen outside it, so with a cap
of C there are C requests at OpenAI nearly all the time (docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

# Set in each image's thread by flows.process_images; unset means no cap of our own.
_slots: ContextVar[threading.Semaphore | None] = ContextVar("openai_request_slots", default=None)


@contextmanager
def capped_by(slots: threading.Semaphore) -> Iterator[None]:
    """Within this block, each OpenAI request this thread sends takes one of ``slots``."""
    token = _slots.set(slots)
    try:
        yield
    finally:
        _slots.reset(token)


def request_slot() -> AbstractContextManager[object]:
    """What to hold around one OpenAI request: a slot of the current cap, if any."""
    return _slots.get() or nullcontext()
