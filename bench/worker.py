"""One measurement in a fresh process: ``python -m bench.worker MODE --images FILE --out FILE``.

A fresh process per measurement gives each run its own peak RSS and a cold in-memory
state; the parent (bench.run) sets the environment (fake OpenAI, moto, Prefect server,
result storage). Modes:

- ``flow``: the ``process-images`` flow over the batch with ``--concurrency`` threads.
- ``sequential``: the reference's "Processing Multiple Images" loop of library calls.

Writes a JSON object with wall time, CPU time and peak RSS to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class WorkerResult:
    """What one measurement produced; every field is a plain number for JSON."""

    mode: str
    images: int
    uploaded: int
    failed: int
    cached: int
    wall_s: float
    # Start to the flow run's final state (what Prefect records as the run's end); wall_s
    # also has the engine's teardown, whose heartbeat-thread join rounds the return up to
    # the thread's next 1 s tick (docs/benchmarks.md).
    completed_s: float
    cpu_s: float
    rss_before_kb: int
    peak_rss_kb: int
    flows_path: str  # which copy of the code ran (the parent checks it is its snapshot)
    first_error: str  # the first failed image's reason, "" when none failed


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (VmRSS now, VmHWM = peak RSS so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


# uploaded, failed, generation cache hits, first error, when the run reached its final state
Outcome = tuple[int, int, int, str, datetime | None]


def run_flow(paths: list[str], concurrency: int) -> Outcome:
    """One ``process-images`` run."""
    from prefect_image_pipeline.batch.outcomes import BatchFailedError, BatchReport
    from prefect_image_pipeline.process_images import process_images

    state = process_images(images=paths, concurrency=concurrency, return_state=True)
    result = state.result(raise_on_failure=False)
    # A failed batch is still a measurement; the parent reports its failures.
    if isinstance(result, BatchFailedError):
        report = result.report
    elif isinstance(result, BatchReport):
        report = result
    else:  # a crash of the flow itself, not of an image
        raise RuntimeError(f"process-images ended {state.name}: {result!r}")
    cached = sum(1 for outcome in report.outcomes if outcome.generation_cached)
    first_error = next((o.error or "" for o in report.failed), "")
    return len(report.uploaded), len(report.failed), cached, first_error, state.timestamp


def run_sequential(paths: list[str], concurrency: int) -> Outcome:
    """The reference's loop: one image after another; any error ends it."""
    del concurrency  # the baseline has none: that is the point of it
    from prefect_image_pipeline.image_processing_utils import (
        load_image_from_path,
        process_image_with_openai,
        upload_image_to_s3,
    )

    for path in paths:
        image_bytes = load_image_from_path(path)
        processed = process_image_with_openai(image_bytes)
        upload_image_to_s3(processed, filename=f"processed_{Path(path).name}")
    return len(paths), 0, 0, "", None


MODES: dict[str, Callable[[list[str], int], Outcome]] = {
    "flow": run_flow,
    "sequential": run_sequential,
}


def _warm_imports(mode: str) -> None:
    # Import before the clock starts: the benchmark times the batch, not interpreter startup.
    module = (
        "prefect_image_pipeline.process_images"
        if mode == "flow"
        else "prefect_image_pipeline.image_processing_utils"
    )
    importlib.import_module(module)


def measure(mode: str, paths: list[str], concurrency: int) -> WorkerResult:
    """Run one batch and time it (imports excluded, flow-run creation included)."""
    _warm_imports(mode)
    rss_before = _proc_status_kb("VmRSS")
    started_at = datetime.now(UTC)
    cpu_start, start = _cpu_seconds(), time.perf_counter()
    uploaded, failed, cached, first_error, completed_at = MODES[mode](paths, concurrency)
    wall = time.perf_counter() - start
    return WorkerResult(
        mode=mode,
        images=len(paths),
        uploaded=uploaded,
        failed=failed,
        cached=cached,
        wall_s=wall,
        completed_s=(completed_at - started_at).total_seconds() if completed_at else wall,
        cpu_s=_cpu_seconds() - cpu_start,
        rss_before_kb=rss_before,
        peak_rss_kb=_proc_status_kb("VmHWM"),
        flows_path=str(
            Path(importlib.import_module("prefect_image_pipeline").__file__ or "").parent
        ),
        first_error=first_error,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--images", type=Path, required=True, help="file of paths, one a line")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    paths = args.images.read_text().split()
    result = measure(args.mode, paths, args.concurrency)
    args.out.write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
