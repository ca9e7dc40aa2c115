"""Tell the platform about each image as it ends, and about the run when it does.

One ``Announcer`` per run: each outcome becomes an ``ImageNotice`` (announce.notice),
emitted as Prefect events and, with ``callback_url``, POSTed signed in the background
(announce.callbacks: never holding the pipeline up). The run's end waits a bounded time
for the callbacks still queued, so a run that ends does not drop them.
"""

from __future__ import annotations

import logging
import threading
from typing import Self

from prefect_image_pipeline.announce.callbacks import sender_for
from prefect_image_pipeline.announce.events import emit_image_events, emit_run_finished
from prefect_image_pipeline.announce.notice import CheckNotice, ImageNotice, RunNotice
from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.edges.prefect_server.context import current_flow_run_id
from prefect_image_pipeline.options.jobs import job_key

_LOG = logging.getLogger(__name__)
# How long a run's end waits for callbacks still being delivered (retries included).
CALLBACK_DRAIN_SECONDS = 60.0


def notice_of(outcome: ImageOutcome, flow_run_id: str | None) -> ImageNotice:
    """The outcome as the platform hears it (no bytes, no secrets)."""
    checks = outcome.review.checks.results if outcome.review else []
    return ImageNotice(
        input=outcome.input,
        status="published" if outcome.status == "uploaded" else "failed",
        s3_url=outcome.s3_url,
        public_url=outcome.public_url,
        cost_usd=outcome.cost.usd if outcome.cost else None,
        cached=outcome.generation_cached,
        checks=tuple(CheckNotice(c.name, c.passed, c.detail) for c in checks),
        error=outcome.error,
        options=dict(outcome.options),
        flow_run_id=flow_run_id,
    )


def run_notice_of(report: BatchReport, flow_run_id: str | None) -> RunNotice:
    """The run's end: its counts, its cost, its summary line (a repeated row once)."""
    unique = {job_key(o.input, o.options): o for o in report.outcomes}
    report = BatchReport(outcomes=list(unique.values()))
    return RunNotice(
        flow_run_id=flow_run_id,
        published=len(report.uploaded),
        failed=len(report.failed),
        flagged=len(report.flagged),
        cost_usd=report.cost.usd,
        summary=report.summary(),
    )


class Announcer:
    """Announces each outcome once, then the run's end."""

    def __init__(self, callback_url: str | None, flow_run_id: str | None = None) -> None:
        self._sender = sender_for(callback_url)  # refuses an internal URL now, not later
        self._flow_run_id = flow_run_id or current_flow_run_id()
        self._said: set[tuple[str, str]] = set()
        self._guard = threading.Lock()

    def image(self, outcome: ImageOutcome) -> None:
        """Announce one outcome: not a submitted one (its batch answers later) nor a
        skipped one (unchanged since it was published: no news)."""
        if outcome.status in ("submitted", "skipped"):
            return
        with self._guard:  # keyed by input and options: a duplicate row is said once
            said = job_key(outcome.input, outcome.options)
            if said in self._said:
                return
            self._said.add(said)
        notice = notice_of(outcome, self._flow_run_id)
        try:
            emit_image_events(notice)
        except Exception:  # noqa: BLE001 - an event is news, never a reason to fail an image
            _LOG.warning("Could not emit the events of %s", outcome.input, exc_info=True)
        if self._sender is not None:
            self._sender.send("image", notice.payload())

    def finished(self, report: BatchReport, images_too: bool = True) -> None:
        """Announce the outcomes not yet announced (published after the fact; not those
        of chunks, whose runs announce them), then the run's end."""
        for outcome in report.outcomes if images_too else []:
            self.image(outcome)
        notice = run_notice_of(report, self._flow_run_id)
        try:
            emit_run_finished(notice)
        except Exception:  # noqa: BLE001
            _LOG.warning("Could not emit the run's finished event", exc_info=True)
        if self._sender is not None:
            self._sender.send("run", notice.payload())
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait (bounded) for the callbacks still queued; say how many were lost."""
        if self._sender is None:
            return
        undelivered = self._sender.close(timeout=CALLBACK_DRAIN_SECONDS)
        if undelivered:
            _LOG.warning("%d callback(s) could not be delivered", undelivered)
