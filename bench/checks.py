"""What the output checks and thumbnails cost per image (review), on this machine.

Each repeat reviews one output as the pipeline does right after generation: the input a
photo-like 512 px PNG, the output 1024x1024 (and 1536x1024) RGBA PNGs. Reported: median
milliseconds of the checks alone, the two thumbnails alone, and both (review_output), side
by side in one run, plus the first call's import of imagehash (numpy, scipy), paid once
per process. Run: ``uv run python -m bench.checks`` (about 20 s).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageFilter

from bench.images import noise_png
from bench.machine import describe
from prefect_image_pipeline.checks.output_checks import Thresholds, run_checks
from prefect_image_pipeline.checks.review import review_output
from prefect_image_pipeline.checks.thumbnails import thumbnail
from prefect_image_pipeline.options.generation import GenerationOptions


def _output(size: tuple[int, int], seed: int) -> bytes:
    """A smooth RGBA output of ``size`` (noise blurred: neither blank nor trivial)."""
    base = Image.open(io.BytesIO(noise_png(64, seed))).resize(size).filter(ImageFilter.BLUR)
    out = io.BytesIO()
    base.convert("RGBA").save(out, "PNG")
    return out.getvalue()


def _median_ms(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def _first_import_ms() -> float:
    """A fresh interpreter's import of imagehash (what the first check of a process pays)."""
    code = "import time; t=time.perf_counter(); import imagehash; print(time.perf_counter()-t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(done.stdout) * 1000, 1)


def _measure(source: bytes, source_path: Path, output: bytes, repeats: int) -> dict[str, float]:
    options, limits = GenerationOptions(), Thresholds()
    return {
        "checks_ms": _median_ms(lambda: run_checks(source, output, options, limits), repeats),
        "thumbnails_ms": _median_ms(lambda: (thumbnail(source), thumbnail(output)), repeats),
        "review_output_ms": _median_ms(
            lambda: review_output(str(source_path), output, options), repeats
        ),
        "output_bytes": len(output),
    }


def main() -> None:
    """Measure and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.checks")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    source = _output((512, 512), seed=1)
    options, limits = GenerationOptions(), Thresholds()
    results: dict[str, object] = {"machine": describe(), "imagehash_import_ms": _first_import_ms()}
    with tempfile.TemporaryDirectory() as work:
        source_path = Path(work) / "input.png"
        source_path.write_bytes(source)
        for size in ((1024, 1024), (1536, 1024)):
            output = _output(size, seed=2)
            run_checks(source, output, options, limits)  # imports done before timing
            results[f"{size[0]}x{size[1]}"] = _measure(source, source_path, output, args.repeats)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
