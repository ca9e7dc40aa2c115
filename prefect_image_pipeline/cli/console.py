"""Terminal output of the CLI: the reference's RESULTS block, batch progress and summary."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from prefect_image_pipeline.batch.outcomes import BatchReport
    from prefect_image_pipeline.pipeline.run import ProcessedImage

RULE = "=" * 80
_STATUS_MARKS = {"uploaded": "✓", "failed": "✗", "skipped": "-"}


def say(line: str = "") -> None:
    """Print one line to stdout at once (output is read live by people and pipes)."""
    print(line, flush=True)


def banner(offline: bool) -> None:
    """The reference's opening banner."""
    say(RULE)
    say("Image Processing with OpenAI and S3 Upload" + (" (offline dry run)" if offline else ""))
    say(RULE)
    say()


def print_results(result: ProcessedImage) -> None:
    """The reference's RESULTS block for one image."""
    say()
    say(RULE)
    say("RESULTS")
    say(RULE)
    say(f"S3 URL:        {result.s3_url}")
    say(f"Public URL:    {result.public_url}")
    _say_web(result)
    if result.cost is not None:
        say(result.cost.describe())
    say(RULE)
    say()
    say("✓ Processing complete!")


def _say_web(result: ProcessedImage) -> None:
    """The web copies, the stable alias and the <picture> a page pastes, when asked for."""
    from prefect_image_pipeline.steps.srcset import picture_html

    if result.copies is not None:
        made = result.copies
        say(f"Web copies:    {len(made.copies)}")
        for copy in made.copies:
            say(f"  {copy.format:<5} {copy.width:>5}w  {copy.bytes:>9,} bytes  {copy.public_url}")
        for reason in made.skipped:
            say(f"  {reason}")
    if result.alias is not None:
        alias = result.alias
        state = f"{len(alias.written)} rewritten, {len(alias.unchanged)} unchanged"
        say(f"Stable URL:    {alias.public_url} ({state})")
    if result.copies is not None and result.copies.copies:
        made = result.copies
        say("HTML:")
        for line in picture_html(
            result.public_url, made.content_type, made.width, made.height, made.copies
        ).splitlines():
            say(f"  {line}")


def print_summary(report: BatchReport) -> None:
    """A table of every input: status and public URL or error (and a jobs row's options)."""
    from prefect_image_pipeline.pipeline.jobs import options_label

    width = min(max((len(o.input) for o in report.outcomes), default=5), 100)
    say()
    say(RULE)
    say("RESULTS")
    say(RULE)
    say(f"{'INPUT':<{width}}  STATUS    PUBLIC URL / ERROR")
    for outcome in report.outcomes:
        name = outcome.input if len(outcome.input) <= width else "…" + outcome.input[-width + 1 :]
        detail = outcome.public_url or outcome.error or ""
        if outcome.status == "submitted":
            detail = f"in batch {outcome.batch_id or '(being created)'}"
        say(f"{name:<{width}}  {outcome.status:<9} {detail}")
        if outcome.options:  # a --jobs row: what it set of its own
            say(f"{'':<{width}}  {'':<9} options: {options_label(outcome.options)}")
    say(RULE)
    say(report.summary())
    if report.uploaded:
        say(report.cost.describe())
    if report.submitted:
        say(
            "Submitted images are published by the next run in batch mode, by --wait, or by "
            "the collect-batches deployment (docs/batch.md)"
        )


class BatchProgress:
    """A live progress bar on a terminal; one line per finished image otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stdout) -> None:
        self.total = total
        self._stream = stream
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BatchProgress:
        if self._stream.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self._bar.start()
            self._task = self._bar.add_task("Processing images", total=self.total)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, total: int, image: str, status: str, detail: str) -> None:
        """One more image finished."""
        line = f"[{done}/{total}] {_STATUS_MARKS.get(status, '?')} {image}  {detail}"
        if self._bar is not None and self._task is not None:
            self._bar.console.print(line, highlight=False, markup=False)
            # ``total`` counts unique inputs, which may be fewer than the CLI was given.
            self._bar.update(self._task, completed=done, total=total)
        else:
            say(line)
