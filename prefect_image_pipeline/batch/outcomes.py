"""Per-image outcomes and the batch report: every input ends uploaded or failed with a reason."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from prefect_image_pipeline.checks.review import FlaggedOutputError, Review
from prefect_image_pipeline.errors import explain
from prefect_image_pipeline.pipeline.run import ProcessedImage
from prefect_image_pipeline.pricing import CostEstimate, total
from prefect_image_pipeline.steps.alias import AliasResult
from prefect_image_pipeline.steps.web_copies import WebCopies


class ImageOutcome(BaseModel):
    """One input's fate in a batch (no bytes, no secrets)."""

    input: str
    status: Literal["uploaded", "failed", "skipped", "submitted"]
    s3_url: str | None = None
    public_url: str | None = None
    key: str | None = None
    error: str | None = None
    total_tokens: int = 0
    generation_cached: bool = False
    cost: CostEstimate | None = None
    batch_id: str | None = None  # submitted: the OpenAI batch that will answer it
    review: Review | None = None  # checks and thumbnails, when an output was made
    background_cut_out: str | None = None  # the key colour cut out here, if one was
    copies: WebCopies | None = None  # the web copies published beside it
    alias: AliasResult | None = None  # the stable address, and what this run rewrote
    options: dict[str, Any] = {}  # what its jobs row set over the run's options

    @property
    def flagged(self) -> bool:
        """Whether a check flagged this output (uploaded anyway unless --strict-checks)."""
        return self.review is not None and self.review.flagged

    @classmethod
    def uploaded(cls, result: ProcessedImage) -> ImageOutcome:
        """An image that made it to storage."""
        return cls(
            input=result.input,
            status="uploaded",
            s3_url=result.s3_url,
            public_url=result.public_url,
            key=result.key,
            total_tokens=result.usage.total_tokens if result.usage else 0,
            generation_cached=result.generation_cached,
            cost=result.cost,
            review=result.review,
            background_cut_out=result.background_cut_out,
            copies=result.copies,
            alias=result.alias,
        )

    @classmethod
    def failed(
        cls,
        image: str,
        error: str,
        review: Review | None = None,
        cost: CostEstimate | None = None,
    ) -> ImageOutcome:
        """An image that did not, and why (with its checks and cost if it was generated)."""
        return cls(input=image, status="failed", error=error, review=review, cost=cost)

    @classmethod
    def submitted(cls, image: str, batch_id: str | None) -> ImageOutcome:
        """An image in a batch of OpenAI's Batch API, published when a later round collects."""
        return cls(input=image, status="submitted", batch_id=batch_id)


def failed_outcome(image: str, exc: BaseException) -> ImageOutcome:
    """An image whose pipeline raised ``exc``: flagged with its review and cost
    (--strict-checks), or failed with the readable reason."""
    if isinstance(exc, FlaggedOutputError):
        return ImageOutcome.failed(image, str(exc), exc.review, exc.cost)
    return ImageOutcome.failed(image, explain(exc))


class BatchReport(BaseModel):
    """All outcomes of a batch, in input order."""

    outcomes: list[ImageOutcome]

    @property
    def failed(self) -> list[ImageOutcome]:
        """The outcomes that failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def uploaded(self) -> list[ImageOutcome]:
        """The outcomes that were published."""
        return [o for o in self.outcomes if o.status == "uploaded"]

    @property
    def flagged(self) -> list[ImageOutcome]:
        """The outcomes whose output some check flagged."""
        return [o for o in self.outcomes if o.flagged]

    @property
    def submitted(self) -> list[ImageOutcome]:
        """The outcomes waiting in a Batch API batch."""
        return [o for o in self.outcomes if o.status == "submitted"]

    @property
    def total_tokens(self) -> int:
        """Tokens OpenAI reported across the batch."""
        return sum(o.total_tokens for o in self.outcomes)

    @property
    def cost(self) -> CostEstimate:
        """What the batch's generations cost (cache hits are free)."""
        return total(o.cost for o in self.outcomes if o.cost is not None)

    def summary(self) -> str:
        """One line: counts, then the failed inputs."""
        text = f"{len(self.uploaded)} uploaded, {len(self.failed)} failed"
        if self.flagged:
            text += f", {len(self.flagged)} flagged by the checks"
        if self.submitted:
            batches = sorted({o.batch_id or "being created" for o in self.submitted})
            text += f", {len(self.submitted)} submitted (batch {', '.join(batches)})"
        skipped = len(self.outcomes) - len(self.uploaded) - len(self.failed) - len(self.submitted)
        if skipped:
            text += f", {skipped} skipped"
        if self.failed:
            names = ", ".join(o.input for o in self.failed[:5])
            more = f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
            text += f" (failed: {names}{more})"
        return text


class BatchFailedError(Exception):
    """Raised at the end of a batch in which some image failed; carries the full report."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__(f"Some images failed: {report.summary()}")
        self.report = report

    def __reduce__(self) -> tuple[type[BatchFailedError], tuple[BatchReport]]:
        # Prefect pickles a failed run's exception; rebuild it from the report.
        return (type(self), (self.report,))
