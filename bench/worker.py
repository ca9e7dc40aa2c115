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


Outcome = tuple[int, int, int, str]  # uploaded, failed, generation cache hits, first error


def run_flow(paths: list[str], concurrency: int) -> Outcome:
    """One ``process-images`` run."""
    from flows.outcomes import BatchFailedError, BatchReport
    from flows.process_images import process_images

    try:
        report: BatchReport = process_images(images=paths, concurrency=concurrency)
    except BatchFailedError as exc:  # still a measurement; the parent reports the failures
        report = exc.report
    cached = sum(1 for outcome in report.outcomes if outcome.generation_cached)
    first_error = next((o.error or "" for o in report.failed), "")
    return len(report.uploaded), len(report.failed), cached, first_error


def run_sequential(paths: list[str], concurrency: int) -> Outcome:
    """The reference's loop: one image after another; any error ends it."""
    del concurrency  # the baseline has none: that is the point of it
    from flows.image_processing_utils import (
        load_image_from_path,
        process_image_with_openai,
        upload_image_to_s3,
    )

    for path in paths:
        image_bytes = load_image_from_path(path)
        processed = process_image_with_openai(image_bytes)
        upload_image_to_s3(processed, filename=f"processed_{Path(path).name}")
    return len(paths), 0, 0, ""


MODES: dict[str, Callable[[list[str], int], Outcome]] = {
    "flow": run_flow,
    "sequential": run_sequential,
}


def _warm_imports(mode: str) -> None:
    # Import before the clock starts: the benchmark times the batch, not interpreter startup.
    module = "flows.process_images" if mode == "flow" else "flows.image_processing_utils"
    importlib.import_module(module)


def measure(mode: str, paths: list[str], concurrency: int) -> WorkerResult:
    """Run one batch and time it (imports excluded, flow-run creation included)."""
    _warm_imports(mode)
    rss_before = _proc_status_kb("VmRSS")
    cpu_start, start = _cpu_seconds(), time.perf_counter()
    uploaded, failed, cached, first_error = MODES[mode](paths, concurrency)
    wall = time.perf_counter() - start
    return WorkerResult(
        mode=mode,
        images=len(paths),
        uploaded=uploaded,
        failed=failed,
        cached=cached,
        wall_s=wall,
        cpu_s=_cpu_seconds() - cpu_start,
        rss_before_kb=rss_before,
        peak_rss_kb=_proc_status_kb("VmHWM"),
        flows_path=str(Path(importlib.import_module("flows").__file__ or "").parent),
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
