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

from flows.batch.outcomes import BatchReport

MAX_PREVIEWS = 50
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


def publish_report(report: BatchReport, key: str) -> None:
    """The table (input, status, public URL, error, tokens) and markdown previews."""
    rows = [
        {
            "input": o.input,
            "status": o.status,
            "public_url": o.public_url or "",
            "error": o.error or "",
            "tokens": o.total_tokens,
            "cost_usd": "" if o.cost is None or o.cost.usd is None else round(o.cost.usd, 4),
        }
        for o in report.outcomes
    ]
    description = f"{report.summary()}. {report.cost.describe()}"
    create_table_artifact(table=rows, key=f"{key}-results", description=description)
    previews = [o for o in report.uploaded if o.public_url][:MAX_PREVIEWS]
    lines = [f"# {report.summary()}", ""]
    lines += [f"### {o.input}\n\n![{o.key}]({o.public_url})\n" for o in previews]
    if len(report.uploaded) > len(previews):
        lines.append(f"... and {len(report.uploaded) - len(previews)} more in the results table.")
    create_markdown_artifact("\n".join(lines), key=f"{key}-previews")
