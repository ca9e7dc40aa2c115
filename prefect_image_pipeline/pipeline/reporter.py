"""The words of a run: the step-by-step lines of one image and the progress of a batch.

A ``Reporter`` says where they go: the run log by default (visible in the UI), the
terminal under the CLI. The run that owns one makes it current for its duration
(``Reporter.active``); ``report`` and ``report_progress`` speak through the current one.
``StepReporter`` owns every line of one image, so the pipeline itself reads as its steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

if TYPE_CHECKING:
    from pathlib import Path

    from prefect_image_pipeline.checks.output_checks import OutputChecks
    from prefect_image_pipeline.inputs import ImageInput
    from prefect_image_pipeline.options.generation import GenerationOptions
    from prefect_image_pipeline.steps.generate import GeneratedImage
    from prefect_image_pipeline.steps.load import LoadedImage
    from prefect_image_pipeline.steps.references import PreparedReferences

# One line of a run's output.
Say = Callable[[str], None]
# (finished so far, total, input, status, public URL or error)
ProgressReporter = Callable[[int, int, str, str, str], None]


def _image_model_line(options: GenerationOptions) -> str:
    default = "" if options.image_model else " (OpenAI's default)"
    return f"{options.resolved_image_model}{default}"


def log_to_run_logger(line: str) -> None:
    """Default ``say``: the line becomes an INFO log of the current run (visible in the UI)."""
    try:
        get_run_logger().info(line.strip())
    except MissingContextError:
        logging.getLogger("prefect_image_pipeline").info(line.strip())


def log_progress(done: int, total: int, image: str, status: str, detail: str) -> None:
    """Default progress: one log line per finished image."""
    log_to_run_logger(f"[{done}/{total}] {status}: {image} {detail}")


@dataclass(frozen=True)
class Reporter:
    """Where one run's words go: its lines (``say``) and its per-image ``progress``."""

    say: Say = log_to_run_logger
    progress: ProgressReporter = log_progress

    @contextmanager
    def active(self) -> Iterator[Reporter]:
        """This reporter is the current one for the block (this thread and what it starts)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


_RUN_LOG = Reporter()  # frozen: one default shared by every context
# A ContextVar, not a flow parameter (those are stored); Prefect copies it into task threads.
_current: ContextVar[Reporter] = ContextVar("image_pipeline_reporter", default=_RUN_LOG)


def current_reporter() -> Reporter:
    """The reporter of the run this code belongs to (the run log when none was set)."""
    return _current.get()


def report(line: str) -> None:
    """Send one line to the current reporter."""
    current_reporter().say(line)


def report_progress(done: int, total: int, image: str, status: str, detail: str) -> None:
    """Tell the current reporter that one more image finished."""
    current_reporter().progress(done, total, image, status, detail)


@contextmanager
def reporting_to(say: Say) -> Iterator[None]:
    """The current reporter, its lines going to ``say``, for the duration of the block."""
    with replace(current_reporter(), say=say).active():
        yield


@contextmanager
def progress_to(progress: ProgressReporter) -> Iterator[None]:
    """The current reporter, its per-image progress going to ``progress``, for the block."""
    with replace(current_reporter(), progress=progress).active():
        yield


_REFERENCE_KINDS = {"url": "URL, fetched by OpenAI", "data": "inlined", "file_id": "file id"}


@dataclass(frozen=True)
class StepReporter:
    """The reference's step-by-step lines for one image (offline runs say so)."""

    say: Say
    offline: bool

    def loading(self, source: ImageInput) -> None:
        """Step 1 begins."""
        self.say("Step 1: Loading image...")
        self.say(f"  Detected {source.description}: {source.shown[:80]}...")

    def loaded(self, loaded: LoadedImage) -> None:
        """The input is on disk."""
        self.say(f"  ✓ Loaded {loaded.size} bytes")

    def generating(self, options: GenerationOptions) -> None:
        """Step 2 begins."""
        self.say("")
        if self.offline:
            self.say("Step 2: Processing offline (local generator)...")
            self.say(f"  Model: {options.model} (ignored offline)")
        else:
            self.say("Step 2: Processing with OpenAI...")
            self.say(f"  Model: {options.model}")
            self.say(f"  Image model: {_image_model_line(options)}")
            for note in options.model_notes():
                self.say(f"  ⚠ Note: {note}")
        if options.prompt:
            self.say(f"  Prompt: {options.prompt}")
            if self.offline:
                self.say("  Note: the offline generator ignores the prompt")
        else:
            self.say("  Prompt: (using default recreation prompt)")

    def references(self, prepared: PreparedReferences, source: ImageInput) -> None:
        """The reference images sent with this input, and those left out with why."""
        for ref in prepared.for_input(source.raw):
            self.say(f"  Reference: {ref.shown[:80]} ({_REFERENCE_KINDS[ref.kind]})")
        for shown, reason in prepared.skipped:
            self.say(f"  ⚠ Skipped reference {shown[:80]}: {reason}")
        if self.offline and prepared.images:
            self.say("  Note: the offline generator ignores reference images")

    def generated(self, generated: GeneratedImage, cached: bool) -> None:
        """The new image exists."""
        note = " (cached, no API call)" if cached else ""
        self.say(f"  ✓ Generated {generated.size} bytes{note}")
        if generated.background_fallback:
            self.say("  Note: the model refused a transparent background; made it opaque")
        if generated.cut_out_key and generated.cut_out_share:
            self.say(
                "  Note: the image model cannot make a transparent background; it painted "
                f"a flat {generated.cut_out_key} one, cut out here "
                f"({generated.cut_out_share:.0%} of the image made transparent)"
            )
        elif generated.cut_out_key:
            self.say(
                "  ⚠ The image model cannot make a transparent background and did not paint the "
                f"flat {generated.cut_out_key} one asked for: nothing was cut out (the "
                "transparency check flags it; --image-model gpt-image-1.5 draws transparency "
                "itself)"
            )

    def checked(self, checks: OutputChecks) -> None:
        """What the output checks flagged (nothing when every check passed)."""
        for result in checks.results:
            if not result.passed:
                self.say(f"  ⚠ Check {result.name}: {result.detail}")

    def uploading(self) -> None:
        """Step 3 begins."""
        self.say("")
        self.say(
            "Step 3: Uploading to local storage..."
            if self.offline
            else "Step 3: Uploading to S3..."
        )

    def uploaded(self) -> None:
        """The image is published."""
        self.say("  ✓ Uploaded to local storage" if self.offline else "  ✓ Uploaded to S3")

    def kept(self, work_dir: Path) -> None:
        """--keep-temp: where the files are."""
        self.say(f"  Kept temporary files in {work_dir}")
