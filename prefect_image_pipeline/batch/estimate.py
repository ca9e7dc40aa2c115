"""``--estimate``: what a run would cost, learned without paying (no OpenAI call, no upload).

Each input is read once (its size sets the input tokens and, with ``size: auto``, the
output's shape) and looked up in the generation cache exactly as the generate task would
(cache.storage.is_cached): a cached image is free. The rest are forecast
(pricing.forecast) at the interactive and at the Batch API price.
"""

from __future__ import annotations

import contextvars
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger
from pydantic import BaseModel

from prefect_image_pipeline.cache.storage import is_cached, with_cache
from prefect_image_pipeline.errors import explain
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.pipeline.jobs import Job
from prefect_image_pipeline.pipeline.reporter import report
from prefect_image_pipeline.pipeline.request import PipelineRequest
from prefect_image_pipeline.pipeline.tasks import generate_task
from prefect_image_pipeline.pricing import load_price_table
from prefect_image_pipeline.pricing.forecast import forecast
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.spending.limits import data_url_size, reference_size
from prefect_image_pipeline.steps.encode import encode_loaded
from prefect_image_pipeline.steps.load import load_image


class ImageEstimate(BaseModel):
    """One input's expected cost (0 when cached), or why it could not be read."""

    input: str
    cached: bool = False
    usd: float | None = None
    batch_usd: float | None = None
    size: tuple[int, int] | None = None
    output: str | None = None  # the image expected back: "1536x1024 high"
    error: str | None = None


class RunEstimate(BaseModel):
    """Every input's estimate, the totals, and what they assume."""

    images: list[ImageEstimate]
    assumptions: list[str]
    missing_prices: list[str] = []

    @property
    def usd(self) -> float | None:
        """The interactive total, or None when a price is missing."""
        return _sum([i.usd for i in self.images if i.error is None])

    @property
    def batch_usd(self) -> float | None:
        """The Batch API total, or None when a price is missing."""
        return _sum([i.batch_usd for i in self.images if i.error is None])

    def lines(self) -> list[str]:
        """What the terminal and the run's log show."""
        shown = [f"  {_money(i.usd)}  {_image_note(i)}  {i.input}" for i in self.images]
        to_pay = [i for i in self.images if not i.cached and i.error is None]
        shown += [
            "",
            f"Estimated cost of {len(to_pay)} image(s) to generate "
            f"({len(self.images) - len(to_pay)} cached or unreadable): "
            f"{_money(self.usd)} interactive, {_money(self.batch_usd)} with --batch-api",
            *(f"  assumes: {note}" for note in self.assumptions),
        ]
        if self.missing_prices:
            shown.append(f"  no price for {', '.join(self.missing_prices)}")
        return shown


def _sum(values: list[float | None]) -> float | None:
    return None if None in values else sum(v for v in values if v is not None)


def _money(usd: float | None) -> str:
    return "unknown" if usd is None else f"${usd:.4f}"


def _image_note(image: ImageEstimate) -> str:
    if image.error:
        return f"unreadable ({image.error})"
    if image.cached:
        return "cached, free"
    width, height = image.size or (0, 0)
    return f"{width}x{height} in, {image.output} out"


def estimate_run(jobs: list[Job], work_dir: Path) -> RunEstimate:
    """Read every input (two at a time) and estimate it with its own request; nothing is
    sent or uploaded."""
    table = load_price_table(settings().prices_file)
    assumptions: dict[str, None] = {}
    missing: dict[str, None] = {}

    def one(n: int, job: Job) -> ImageEstimate:
        raw, request = job.input, job.request
        try:
            source = parse_input(raw)
            directory = work_dir / f"estimate-{n:06d}"
            directory.mkdir(parents=True, exist_ok=True)
            client = request.store.s3_client() if source.kind == "s3" else None
            try:
                encoded = encode_loaded(load_image(source, str(directory), s3_client=client))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        except Exception as exc:  # noqa: BLE001 - an unreadable input is shown, not fatal
            return ImageEstimate(input=raw, error=explain(exc))
        references = request.references.for_input(source.raw)
        parameters = {
            "image": encoded,
            "options": request.options,
            "generator": request.generator,
            "references": references,
            "mask": request.mask,
        }
        size = data_url_size(encoded.data_url)
        if is_cached(with_cache(generate_task, request.cache_block), parameters):
            return ImageEstimate(input=raw, cached=True, usd=0.0, batch_usd=0.0, size=size)
        others = [
            reference_size(r) for r in (*references, *([request.mask] if request.mask else []))
        ]
        expected = forecast(request.options, size, others, table=table)
        assumptions.update(dict.fromkeys(expected.assumptions))
        missing.update(dict.fromkeys(expected.missing))
        return ImageEstimate(
            input=raw,
            usd=expected.usd,
            batch_usd=expected.batch_usd,
            size=size,
            output=expected.output,
        )

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="estimate") as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, one, n, job) for n, job in enumerate(jobs)
        ]
        images = [future.result() for future in futures]
    return RunEstimate(images=images, assumptions=list(assumptions), missing_prices=list(missing))


def estimate_and_report(jobs: list[Job]) -> RunEstimate:
    """``estimate_only``: estimate the inputs, say each line, keep the table as an artifact."""
    work_dir = Path(tempfile.mkdtemp(prefix="image-pipeline-estimate-"))
    try:
        estimate = estimate_run(jobs, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    report("Estimate only: nothing is sent to OpenAI or uploaded.")
    for line in estimate.lines():
        report(line)
    rows = "\n".join(
        f"| {i.input} | {_image_note(i)} | {_money(i.usd)} | {_money(i.batch_usd)} |"
        for i in estimate.images
    )
    create_markdown_artifact(
        key="cost-estimate",
        markdown="| input | | interactive | Batch API |\n|---|---|---|---|\n" + rows,
        description=(
            f"Estimated cost: {_money(estimate.usd)} interactive, "
            f"{_money(estimate.batch_usd)} at the Batch API price"
        ),
    )
    return estimate


def log_forecast(requests: list[PipelineRequest], batch: bool = False) -> None:
    """Before a real batch (one request per image, a jobs row's own): the most it is
    expected to cost if nothing is cached (``batch``: at the Batch API's price)."""
    if not requests or requests[0].generator.offline:
        return
    table = load_price_table(settings().prices_file)
    by_options = {r.options: forecast(r.options, None, table=table) for r in requests}
    prices = [by_options[r.options] for r in requests]
    each = [p.batch_usd if batch else p.usd for p in prices]
    if any(usd is None for usd in each):
        return
    known = [usd for usd in each if usd is not None]
    low, high = min(known), max(known)
    get_run_logger().info(
        "Expected cost: up to $%.4f for %s image(s) at %s each%s (%s; cached images are "
        "free; --estimate reads each input for a closer figure)",
        sum(known),
        len(known),
        f"${low:.4f}" if low == high else f"${low:.4f} to ${high:.4f}",
        " at the Batch API price" if batch else "",
        "; ".join(dict.fromkeys(a for p in prices for a in p.assumptions)),
    )
