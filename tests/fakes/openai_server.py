"""Fake OpenAI Responses API (``POST /v1/responses``) with the image_generation tool.

It speaks the wire format the real ``openai`` client parses (see
/work/shared/NOTES.md), "generates" an image by re-encoding the first input
image as an RGBA PNG, and can inject the faults the pipeline must survive.

Example::

    with FakeOpenAIServer(api_key="sk-test") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test")
        fake.enqueue(Fault.rate_limit(), Fault.server_error())
        client.responses.create(...)  # retried by the client, then succeeds

The pieces live beside it: ``openai_requests`` (``RecordedRequest``), ``openai_faults``
(the ``Fault`` catalogue), ``openai_spec`` (every body checked against the openai SDK's
request types; a body that breaks them gets OpenAI's 400 and lands in ``spec_errors``),
``openai_bodies`` (response bodies), ``openai_images`` (the generated image, in the
tool's format and size), ``openai_usage`` (token counts) and ``openai_handler`` (the
HTTP handler). ``Fault``, ``RecordedRequest`` and ``SpecError`` are re-exported here.
"""

from __future__ import annotations

import collections
import threading
import time

from .loopback import LoopbackServer
from .openai_faults import Fault
from .openai_handler import _OpenAIHandler
from .openai_images_api import IMAGES_EDITS_PATH
from .openai_requests import RESPONSES_PATH, RecordedRequest
from .openai_spec import SpecError

__all__ = ["FakeOpenAIServer", "Fault", "RecordedRequest", "SpecError"]


class FakeOpenAIServer(LoopbackServer):
    """Loopback fake of the OpenAI Responses API for the image_generation tool.

    ``api_key``: if given, requests must send exactly this bearer token.
    ``latency``: seconds each ``/v1/responses`` request stays in flight.
    ``default_fault``: outcome used when the fault queue is empty (None = success).
    ``images_per_minute``: enforce OpenAI's image rate limit as a token bucket (burst
    ``RATE_BURST``); a request finding it empty gets a 429 with Retry-After.
    """

    RATE_BURST = 2

    handler_class = _OpenAIHandler

    def __init__(
        self,
        *,
        api_key: str | None = None,
        latency: float = 0.0,
        default_fault: Fault | None = None,
        images_per_minute: float | None = None,
    ) -> None:
        super().__init__()
        self.images_per_minute = images_per_minute
        self._tokens = float(self.RATE_BURST)
        self._refilled = time.monotonic()
        self._rate_limited = 0
        self.api_key = api_key
        self.latency = latency
        self.default_fault = default_fault
        self._lock = threading.Lock()
        self._history: list[RecordedRequest] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._in_flight = 0
        self._max_in_flight = 0
        self._handled_seconds: list[float] = []
        self._spec_errors: list[SpecError] = []

    @property
    def base_url(self) -> str:
        """Pass to ``openai.OpenAI(base_url=...)``."""
        return f"{self.origin}/v1"

    # -- faults --------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        """Queue faults; each ``/v1/responses`` request consumes one, FIFO."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        """Faults queued but not yet consumed."""
        with self._lock:
            return len(self._faults)

    # -- inspection ----------------------------------------------------------

    @property
    def history(self) -> list[RecordedRequest]:
        """Snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._history)

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        """Snapshot of the ``POST /v1/responses`` requests only."""
        return [r for r in self.history if r.method == "POST" and r.path == RESPONSES_PATH]

    @property
    def images_requests(self) -> list[RecordedRequest]:
        """Snapshot of the ``POST /v1/images/edits`` requests (their form, files as
        ``_images``/``_mask``: name, type, size)."""
        return [r for r in self.history if r.method == "POST" and r.path == IMAGES_EDITS_PATH]

    @property
    def in_flight(self) -> int:
        """``/v1/responses`` requests being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak of ``in_flight`` since start or the last reset()."""
        with self._lock:
            return self._max_in_flight

    @property
    def handled_seconds(self) -> list[float]:
        """How long each ``/v1/responses`` request was in flight here, arrival to answer."""
        with self._lock:
            return list(self._handled_seconds)

    @property
    def spec_errors(self) -> list[SpecError]:
        """Every body refused (400) for breaking the openai SDK's request types, in order."""
        with self._lock:
            return list(self._spec_errors)

    def reset(self) -> None:
        """Clear history, timings, spec errors, queued faults, default_fault, the
        in-flight peak and the rate limit's count (its bucket refilled)."""
        with self._lock:
            self._history.clear()
            self._spec_errors.clear()
            self._handled_seconds.clear()
            self._faults.clear()
            self._max_in_flight = self._in_flight
            self._rate_limited = 0
            self._tokens = float(self.RATE_BURST)
            self._refilled = time.monotonic()
        self.default_fault = None

    # -- used by the handler -------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._history.append(request)
        self._notify()

    def _refused(self, error: SpecError) -> None:
        with self._lock:
            self._spec_errors.append(error)
        self._notify()

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        self._notify()

    def _leave(self, handled_seconds: float) -> None:
        with self._lock:
            self._in_flight -= 1
            self._handled_seconds.append(handled_seconds)
        self._notify()

    @property
    def rate_limited(self) -> int:
        """Requests answered 429 by the ``images_per_minute`` bucket."""
        with self._lock:
            return self._rate_limited

    def _take_rate_token(self) -> float | None:
        """None if the request may go on; else seconds until the bucket has a token."""
        if self.images_per_minute is None:
            return None
        per_second = self.images_per_minute / 60.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(
                float(self.RATE_BURST), self._tokens + (now - self._refilled) * per_second
            )
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            self._rate_limited += 1
            return (1.0 - self._tokens) / per_second

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        return self.default_fault
