"""The fake's Batch API: ``/v1/batches`` create, retrieve, list and cancel.

A real batch takes minutes to hours and a client polls it; tests can afford neither, so
time here is simulated. ``BatchClock`` starts at the real time and only moves when told:
every ``GET /v1/batches/{id}`` first advances it by ``seconds_per_poll`` (a poller's
sleep, spent on the fake's clock instead of the test's), and tests may ``advance()`` it.

The status machine moves one step per retrieve of that batch, so a poller sees every
status in turn whatever else is being polled: ``validating`` -> ``in_progress`` (or
``failed`` when a line is bad) -> ``finalizing`` once ``duration`` simulated seconds have
passed in progress (the output and error files are written here) -> ``completed``. A
cancel makes it ``cancelling``, then ``cancelled`` on the next retrieve, with the lines
done by the time of the cancel. A batch still validating or in progress when the clock
passes its ``expires_at`` is ``expired`` with the lines done by then; one marked with
``expire_next`` expires instead of finalizing, with only its first ``done`` lines. Lists
show the current state (expiries applied) without moving the clock or the machine.

Lines "done" before the end are the first ones in file order, in proportion to the time
spent in progress. Output files are written in reverse order, so clients match answers by
``custom_id`` as they must with the real API. Answering a line never touches the
synchronous routes' rate limit or fault queue.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .openai_batch_lines import (
    SUPPORTED_ENDPOINTS,
    LineFailure,
    batch_usage,
    jsonl,
    process_lines,
    validate_lines,
)
from .openai_bodies import _hex_id
from .openai_files import FileStore, Reply, error_reply, json_reply, not_found
from .openai_spec import SpecError

__all__ = ["BATCHES_PATH", "BatchClock", "BatchStore"]

BATCHES_PATH = "/v1/batches"
COMPLETION_WINDOW = 24 * 3600  # "24h", the only window the API offers
_OPEN = ("validating", "in_progress")
# Set as the batch moves on; null until then.
_LATER_TIMES = ["in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at"]
_LATER_TIMES += ["cancelling_at", "cancelled_at"]


class BatchClock:
    """Simulated seconds for the Batch API: starts at ``time.time()``, moves on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = time.time()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (never back); returns the new time."""
        if seconds < 0:
            raise ValueError("the batch clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now


@dataclass
class _Record:
    batch: dict[str, Any]
    content: bytes  # the input file as it was when the batch was created
    expire_done: int | None = None
    output_expiry: int | None = None
    started: float | None = None  # simulated time it went in_progress
    lines: list[dict[str, Any]] = field(default_factory=list)
    done_at_cancel: int = 0


@dataclass(frozen=True)
class _FailRule:
    match: Callable[[dict[str, Any]], bool]
    failure: LineFailure


class BatchStore:
    """Every batch, in creation order, with its status machine. Thread-safe."""

    def __init__(
        self, files: FileStore, clock: BatchClock, duration: float, seconds_per_poll: float
    ) -> None:
        self.duration = duration
        self.seconds_per_poll = seconds_per_poll
        self._files = files
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._expire_next: int | None = None
        self._rules: list[_FailRule] = []
        self._answered = 0
        # Set by a test: each create answers only once this is set (the batch exists meanwhile).
        self.create_gate: threading.Event | None = None

    # -- test controls and inspection ------------------------------------------

    def expire_next(self, done: int) -> None:
        with self._lock:
            self._expire_next = max(0, done)

    def fail_lines(self, match: Callable[[dict[str, Any]], bool], failure: LineFailure) -> None:
        with self._lock:
            self._rules.append(_FailRule(match, failure))

    def batches(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire_due(self._clock.now())
            return [copy.deepcopy(r.batch) for r in self._records.values()]

    def batch(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire_due(self._clock.now())
            return copy.deepcopy(self._records[batch_id].batch)

    def input_content(self, batch_id: str) -> bytes:
        with self._lock:
            return self._records[batch_id].content

    @property
    def answered(self) -> int:
        with self._lock:
            return self._answered

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._rules.clear()
            self._expire_next = None
            self._answered = 0

    # -- the API ---------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> Reply:
        endpoint, file_id = body["endpoint"], body["input_file_id"]
        if endpoint not in SUPPORTED_ENDPOINTS:
            message = f"endpoint {endpoint!r} not supported by this fake"
            return error_reply(400, message, code="invalid_value", param="endpoint")
        found = self._files.get(file_id)
        if found is None:
            message = f"Invalid 'input_file_id': no such File object: {file_id}"
            return error_reply(400, message, code="invalid_value", param="input_file_id")
        if found[0]["purpose"] != "batch":
            message = f"File {file_id} has purpose {found[0]['purpose']!r}; a batch needs 'batch'"
            return error_reply(400, message, code="invalid_value", param="input_file_id")
        content = found[1]
        with self._lock:
            created = int(self._clock.now())
            batch: dict[str, Any] = {
                "id": _hex_id("batch"),
                "object": "batch",
                "endpoint": endpoint,
                "model": None,
                "errors": None,
                "input_file_id": file_id,
                "completion_window": body["completion_window"],
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": created,
                "expires_at": created + COMPLETION_WINDOW,
                **dict.fromkeys(_LATER_TIMES),
                "request_counts": {
                    "total": sum(1 for text in content.splitlines() if text.strip()),
                    "completed": 0,
                    "failed": 0,
                },
                "usage": batch_usage([]),
                "metadata": body.get("metadata"),
            }
            record = _Record(batch, content, expire_done=self._expire_next)
            record.output_expiry = (body.get("output_expires_after") or {}).get("seconds")
            self._expire_next = None
            self._records[batch["id"]] = record
            return json_reply(200, batch)

    def retrieve(self, batch_id: str) -> Reply:
        with self._lock:
            record = self._records.get(batch_id)
            if record is None:
                return not_found("Batch", batch_id)
            now = self._clock.advance(self.seconds_per_poll)
            self._expire_due(now)
            refused = self._step(record, now)
            return Reply(200, json_reply(200, record.batch).body, refused=tuple(refused))

    def list_page(self, limit: int, after: str | None) -> Reply:
        with self._lock:
            self._expire_due(self._clock.now())
            ids = list(reversed(self._records))  # newest first
            if after is not None and after not in ids:
                message = f"Invalid 'after': no such Batch object: {after}"
                return error_reply(400, message, code="invalid_value", param="after")
            start = 0 if after is None else ids.index(after) + 1
            data = [copy.deepcopy(self._records[i].batch) for i in ids[start : start + limit]]
        page = {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": start + limit < len(ids),
        }
        return json_reply(200, page)

    def cancel(self, batch_id: str) -> Reply:
        with self._lock:
            record = self._records.get(batch_id)
            if record is None:
                return not_found("Batch", batch_id)
            now = self._clock.now()
            self._expire_due(now)
            batch = record.batch
            if batch["status"] in _OPEN:
                record.done_at_cancel = self._done_by(record, now)
                batch.update(status="cancelling", cancelling_at=int(now))
            elif batch["status"] != "cancelling":
                message = f"Cannot cancel a batch with status '{batch['status']}'."
                return error_reply(400, message, code="invalid_state")
            return json_reply(200, batch)

    # -- the status machine (called with the lock held) -----------------------

    def _step(self, record: _Record, now: float) -> list[SpecError]:
        batch = record.batch
        status = batch["status"]
        if status == "validating":
            lines, errors = validate_lines(record.content, batch["endpoint"])
            if errors:
                data = [error.batch_error() for error in errors]
                batch.update(status="failed", failed_at=int(now))
                batch["errors"] = {"object": "list", "data": data}
                return [error.error for error in errors]
            record.lines, record.started = lines, now
            batch.update(status="in_progress", in_progress_at=int(now))
            batch["model"] = lines[0]["body"].get("model")
            batch["request_counts"]["total"] = len(lines)
        elif status == "in_progress" and now >= (record.started or now) + self.duration:
            if record.expire_done is not None:
                self._process(record, record.lines[: record.expire_done])
                batch.update(status="expired", expired_at=int(now))
            else:
                self._process(record, record.lines)
                batch.update(status="finalizing", finalizing_at=int(now))
        elif status == "finalizing":
            batch.update(status="completed", completed_at=int(now))
        elif status == "cancelling":
            self._process(record, record.lines[: record.done_at_cancel])
            batch.update(status="cancelled", cancelled_at=int(now))
        return []

    def _expire_due(self, now: float) -> None:
        for record in self._records.values():
            batch = record.batch
            if batch["status"] in _OPEN and now >= batch["expires_at"]:
                self._process(record, record.lines[: self._done_by(record, now)])
                batch.update(status="expired", expired_at=int(now))

    def _done_by(self, record: _Record, now: float) -> int:
        """How many lines (from the top) a batch in progress has answered by ``now``."""
        if record.started is None:
            return 0
        total = len(record.lines)
        done = total if self.duration <= 0 else int(total * (now - record.started) / self.duration)
        done = min(total, done)
        return done if record.expire_done is None else min(done, record.expire_done)

    def _process(self, record: _Record, lines: list[dict[str, Any]]) -> None:
        """Answer ``lines``: the output and error files, request counts and usage."""

        def forced(line: dict[str, Any]) -> LineFailure | None:
            return next((rule.failure for rule in self._rules if rule.match(line)), None)

        results, errors, usage = process_lines(lines, self._files, forced)
        batch = record.batch
        batch["output_file_id"] = self._write(record, "output", results)
        batch["error_file_id"] = self._write(record, "error", errors)
        batch["request_counts"].update(completed=len(results), failed=len(errors))
        batch["usage"] = usage
        self._answered += len(results)

    def _write(self, record: _Record, kind: str, results: list[dict[str, Any]]) -> str | None:
        """The file of ``results`` (reversed: clients must match by custom_id), or None."""
        if not results:
            return None
        name = f"{record.batch['id']}_{kind}.jsonl"
        content = jsonl(reversed(results))
        return str(self._files.add(name, "batch_output", content, record.output_expiry)["id"])
