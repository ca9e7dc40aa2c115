"""Once-per-process costs, paid while a batch's first OpenAI requests are in flight.

A process's first OpenAI answer costs ~0.4 s of CPU in the SDK (a lazy import, pydantic
models completed on first use) and its first upload ~0.2-0.6 s building the boto3 client.
In a batch every thread of the first wave meets them at the same moment, and all request
slots sat idle for about a second while they were paid (docs/benchmarks.md). Started on a
side thread when the batch starts, they overlap the first wave's wait for OpenAI instead.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from prefect_image_pipeline.pipeline.targets import GeneratorTarget, StoreTarget

logger = logging.getLogger(__name__)

# Warm-up builds clients only; if it has not finished by the batch's end it no longer matters.
JOIN_TIMEOUT_SECONDS = 5.0


def warm_up(generator: GeneratorTarget, store: StoreTarget) -> list[str]:
    """Build the run's OpenAI and S3 clients and load what their first answers need.

    Sends no request; returns the parts that are ready. A failure here (a missing key, an
    unreadable block) is left for the real call to raise with its full explanation, so it
    is only noted at debug level.
    """
    ready: list[str] = []
    steps: tuple[tuple[str, Callable[[], object]], ...] = (
        ("generator", lambda: generator.open().warm_up()),
        ("object store", store.open),
    )
    for name, step in steps:
        try:
            step()
            ready.append(name)
        except Exception as exc:  # noqa: BLE001 - the real call reports it properly
            logger.debug("Warm-up of the %s skipped: %s", name, type(exc).__name__)
    return ready


def start_warm_up(generator: GeneratorTarget, store: StoreTarget) -> threading.Thread:
    """Run ``warm_up`` on a daemon thread in a copy of the caller's context (the flow run's)."""
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(warm_up, generator, store), name="warm-up", daemon=True
    )
    thread.start()
    return thread
