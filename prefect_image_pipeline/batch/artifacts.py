"""Prefect artifacts for batch runs: a results table, output previews and a progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.pipeline.artifact import (
    PREVIEW_HEADER,
    checks_cell,
    preview_row,
    web_markdown,
)
from prefect_image_pipeline.pipeline.jobs import options_label

MAX_PREVIEWS = 100  # embedded thumbnails: about 10 KB an image
# Each update is a blocking API call from the flow's thread (0.15-0.25 s measured on a
# busy local server); once a second is live enough for the UI and never slows a batch.
PROGRESS_UPDATE_INTERVAL_SECONDS = 1.0


class ProgressArtifact:
    """A progress artifact that tracks finished images out of a total.

    Updates are throttled to one per ``interval`` seconds; the last image always updates.
    """

    def __init__(
        self,
        total: int,
        key: str,
        interval: float = PROGRESS_UPDATE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self._interval = interval
        self._clock = clock
        self._last_update = clock()
        self._id = cast(
            UUID,
            create_progress_artifact(
                progress=0.0, key=key, description=f"Images finished out of {total}"
            ),
        )

    def advance(self) -> None:
        """One more image finished."""
        self.done += 1
        now = self._clock()
        if self.done >= self.total or now - self._last_update >= self._interval:
            update_progress_artifact(self._id, progress=100.0 * self.done / self.total)
            self._last_update = now


def results_rows(report: BatchReport) -> list[dict[str, object]]:
    """The results table: what a person reads first (status, error, checks) on the left,
    long URLs last, so the error is never pushed off-screen."""
    with_options = any(o.options for o in report.outcomes)  # a jobs run: each row's own
    return [
        {
            "status": o.status,
            "error": o.error or "",
            "checks": checks_cell(o.review),
            "cost_usd": "" if o.cost is None or o.cost.usd is None else round(o.cost.usd, 4),
            "input": o.input,
            **({"options": options_label(o.options)} if with_options else {}),
            "public_url": o.public_url or "",
            "tokens": o.total_tokens,
        }
        for o in report.outcomes
    ]


def previews_markdown(report: BatchReport) -> str:
    """Source beside result for each image, error first, with checks and cost: embedded
    thumbnails (checks.thumbnails), so they show offline and for private buckets."""
    shown = report.outcomes[:MAX_PREVIEWS]
    lines = [f"# {report.summary()}", "", *PREVIEW_HEADER]
    lines += [
        preview_row(o.status, o.error, o.review, o.cost, _labelled(o), o.public_url) for o in shown
    ]
    for outcome in shown:
        web = web_markdown(outcome.public_url, outcome.copies, outcome.alias)
        if web:
            lines += ["", f"## {outcome.input}", *web]
    if len(report.outcomes) > len(shown):
        lines.append("")
        lines.append(
            f"... and {len(report.outcomes) - len(shown)} more in the results table "
            "(every one is in the HTML review page: --report / report_key)."
        )
    return "\n".join(lines)


def _labelled(outcome: ImageOutcome) -> str:
    """The input, and the options its jobs row set (if any)."""
    own = outcome.options
    return f"{outcome.input} ({options_label(own)})" if own else outcome.input


def publish_report(report: BatchReport, key: str) -> None:
    """The results table and the before/after previews, as the run's artifacts."""
    description = f"{report.summary()}. {report.cost.describe()}"
    create_table_artifact(table=results_rows(report), key=f"{key}-results", description=description)
    create_markdown_artifact(previews_markdown(report), key=f"{key}-previews")
