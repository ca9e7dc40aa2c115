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

The Batch API (``/v1/batches``) and the Files API it reads and writes (``/v1/files``) live
in ``openai_batch`` (batches on a simulated clock), ``openai_batch_lines`` (the input
lines, checked and answered), ``openai_files`` (the file store) and ``openai_batch_routes``
(their HTTP routes); the server only holds the stores and the simulated ``batch_clock``
they run on, and exposes them to tests.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from .loopback import LoopbackServer
from .openai_batch import BatchClock, BatchStore
from .openai_batch_lines import LineFailure, parse_lines
from .openai_faults import Fault
from .openai_files import FileStore
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
    ``batch_duration``: simulated seconds a batch spends in_progress.
    ``model_rules``: refuse what each image model cannot take (``openai_models``: the
    default model refuses a transparent background); off only to test other faults.
    ``batch_seconds_per_poll``: how far each ``GET /v1/batches/{id}`` moves ``batch_clock``
    (before the batch's status is updated).
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
        batch_duration: float = 0.0,
        batch_seconds_per_poll: float = 60.0,
        model_rules: bool = True,
    ) -> None:
        super().__init__()
        self.model_rules = model_rules
        """Refuse what each image model refuses (``openai_models``), as OpenAI does."""
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
        self.batch_clock = BatchClock()
        """The Batch API's simulated time: ``now()``, ``advance(seconds)``."""
        self._file_store = FileStore(self.batch_clock.now)
        self._batch_store = BatchStore(
            self._file_store, self.batch_clock, batch_duration, batch_seconds_per_poll
        )

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

    # -- the Batch and Files APIs --------------------------------------------

    def hold_batch_creates(self, gate: threading.Event | None) -> None:
        """Each ``POST /v1/batches`` creates its batch at once but answers only when
        ``gate`` is set: a client killed meanwhile never learns the batch id."""
        self._batch_store.create_gate = gate

    def expire_next_batch(self, done: int) -> None:
        """The next batch created expires instead of finalizing, with only its first
        ``done`` lines (in file order) answered; the rest appear in no file."""
        self._batch_store.expire_next(done)

    def fail_batch_lines(
        self,
        match: Callable[[dict[str, Any]], bool],
        status: int = 400,
        code: str = "moderation_blocked",
        message: str = "Your request was rejected by the safety system.",
    ) -> None:
        """Batch lines (the parsed line dict) that ``match`` go to the error file with
        this status and error, in every batch processed from now until reset()."""
        self._batch_store.fail_lines(match, LineFailure(status, code, message))

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Every batch as a ``Batch`` dict in its current state, in creation order."""
        return self._batch_store.batches()

    def batch(self, batch_id: str) -> dict[str, Any]:
        """One batch's current ``Batch`` dict (KeyError when unknown)."""
        return self._batch_store.batch(batch_id)

    def batch_input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        """The parsed JSON lines of the file the batch was created from, in file order."""
        return parse_lines(self._batch_store.input_content(batch_id))

    @property
    def batch_lines_answered(self) -> int:
        """Batch lines answered 200 across all batches: the images "paid for"."""
        return self._batch_store.answered

    @property
    def files(self) -> dict[str, tuple[dict[str, Any], bytes]]:
        """Every stored file, uploaded or written by a batch: id -> (FileObject, bytes)."""
        return self._file_store.snapshot()

    def reset(self) -> None:
        """Clear history, timings, spec errors, queued faults, default_fault, the
        in-flight peak, the rate limit's count (its bucket refilled), and every batch,
        file, batch-line failure and pending expiry (``batch_clock`` keeps its time)."""
        self._batch_store.clear()
        self._file_store.clear()
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
