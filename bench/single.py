"""Benchmark: one image from a terminal, ``process-image`` beside a plain no-Prefect script.

Usage (from the project root)::

    uv run python -m bench.single --repeats 5 --out bench/results/single.json

moto and the fake OpenAI (zero latency) run in this process; every timed command is a fresh
process, as a user's terminal starts it. Each timed run gets its own image, so every run
pays for a generation (no cache hit flatters the pipeline). Three cases (issue 13):

- warm: the background Prefect server and the warm process (cli.warm) are up; plain
  script and CLI alternate, pair by pair;
- first run, database present: the server was stopped (``--stop-server``), PREFECT_HOME kept;
- first run, empty home: a new PREFECT_HOME, so the server also creates its database.

The first-run cases turn the warm process off (IMAGE_PIPELINE_WARM=0): none exists at a
first run, and one importing in the background would load the next sample's CPU.

Every command runs in ``--from-dir``: this repository's root (the default), or a new folder
with a ``flows/`` of its own, where the warm process once imported that folder's ``flows``
instead of the installed one (issue 23): ``flows-project`` (a Prefect project's layout,
unrelated code) or ``checkout-copy`` (a copy of this repository's packages, as a checkout
beside an installed package). The warm log tells how many warm runs the warm process served.

Prints a markdown table (medians, ratio) and writes every raw figure to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import boto3

from bench.images import noise_png
from bench.machine import describe
from bench.services import FAKE_OPENAI_KEY, free_port, moto_server, openai_server
from prefect_image_pipeline.cli.warm.client import LOG_NAME, SOCKET_NAME

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLAIN_SCRIPT = PROJECT_ROOT / "bench" / "plain_script.py"
_SCRUBBED_PREFIXES = ("OPENAI_", "AWS_", "ARTIFACTS_", "CLOUDFRONT_", "IMAGE_PIPELINE_", "PREFECT_")
BUCKET = "bench-single"
RUN_TIMEOUT_S = 300
FROM_DIRS = ("project-root", "flows-project", "checkout-copy")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("process-image")
    return (
        [str(script)] if script.exists() else [sys.executable, "-m", "prefect_image_pipeline.cli"]
    )


def working_dir(kind: str, work: Path) -> Path:
    """Where every timed command runs (see FROM_DIRS and the module's docstring)."""
    if kind == "project-root":
        return PROJECT_ROOT
    folder = work / kind
    if kind == "flows-project":
        (folder / "flows").mkdir(parents=True)
        (folder / "flows" / "__init__.py").write_text('"""A Prefect project\'s own flows."""\n')
        (folder / "flows" / "process_image.py").write_text("raise SystemExit('not ours')\n")
    else:
        skip = shutil.ignore_patterns("__pycache__")
        for package in ("prefect_image_pipeline", "flows", "blocks"):
            shutil.copytree(PROJECT_ROOT / package, folder / package, ignore=skip)
    return folder


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[-1]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def _images(directory: Path) -> Iterator[str]:
    seed = 0
    while True:
        seed += 1
        path = directory / f"single-{seed:04d}.png"
        path.write_bytes(noise_png(100, seed))  # ~30 KB, distinct bytes: never a cache hit
        yield str(path)


def _base_env(moto: str, openai_url: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    # As on a user's machine, Python caches the project's own bytecode (this sandbox sets
    # PYTHONDONTWRITEBYTECODE=1, which would recompile every module on every run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        {
            "OPENAI_API_KEY": FAKE_OPENAI_KEY,
            "OPENAI_BASE_URL": openai_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto,
            "ARTIFACTS_BUCKET": BUCKET,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "IMAGE_PIPELINE_LOCAL_STORE": str(work / "local-bucket"),
        }
    )
    return env


def _home_env(base: dict[str, str], home: Path) -> dict[str, str]:
    return {**base, "PREFECT_HOME": str(home), "IMAGE_PIPELINE_SERVER_PORT": str(free_port())}


def _stop(env: dict[str, str]) -> None:
    subprocess.run(
        [*_cli(), "--stop-server"], env=env, capture_output=True, timeout=60, check=False
    )


def _wait_for_warm_process(home: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not (home / SOCKET_NAME).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no warm process under {home} after {timeout:.0f} s")
        time.sleep(0.1)


def _served(home: Path) -> int:
    """Runs the warm process of ``home`` has taken (its log says so for each)."""
    log = home / LOG_NAME
    return log.read_text().count("run started in child") if log.exists() else 0


def measure(
    repeats: int, work: Path, base: dict[str, str], cwd: Path
) -> tuple[dict[str, list[float]], int]:
    """Raw wall times in seconds, per case; and how many warm runs the warm process took."""
    images = _images(work / "inputs")
    (work / "inputs").mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[float]] = {"plain": [], "warm": [], "first_db": [], "first_empty": []}
    env = _home_env(base, work / "home")
    home = Path(env["PREFECT_HOME"])
    try:
        _timed([*_cli(), "-i", next(images)], env, cwd)  # starts the server: not a warm sample
        _wait_for_warm_process(home)
        for _ in range(repeats):
            plain = [sys.executable, str(PLAIN_SCRIPT), next(images)]
            figures["plain"].append(_timed(plain, env, cwd))
            figures["warm"].append(_timed([*_cli(), "-i", next(images)], env, cwd))
        served = _served(home)
        cold = {**env, "IMAGE_PIPELINE_WARM": "0"}
        for _ in range(repeats):
            _stop(cold)
            figures["first_db"].append(_timed([*_cli(), "-i", next(images)], cold, cwd))
    finally:
        _stop(env)
    for index in range(repeats):
        fresh = {**_home_env(base, work / f"empty-home-{index}"), "IMAGE_PIPELINE_WARM": "0"}
        try:
            figures["first_empty"].append(_timed([*_cli(), "-i", next(images)], fresh, cwd))
        finally:
            _stop(fresh)
    return figures, served


def summarise(figures: dict[str, list[float]]) -> dict[str, float]:
    """Medians, and the warm CLI's median over the plain script's."""
    medians = {case: statistics.median(values) for case, values in figures.items()}
    medians["warm_over_plain"] = medians["warm"] / medians["plain"]
    return medians


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench/results/single.json")
    parser.add_argument(
        "--from-dir",
        choices=FROM_DIRS,
        default="project-root",
        help="where the commands run: this repository's root, or a new folder with a flows/ "
        "of its own (a Prefect project's, or a copy of ours) (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-single-")))
        moto = stack.enter_context(moto_server())
        fake = stack.enter_context(openai_server(latency=0.0))
        boto3.client(
            "s3",
            endpoint_url=moto,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=BUCKET)
        machine = describe()
        cwd = working_dir(args.from_dir, work)
        base = _base_env(moto, fake.base_url, work)
        figures, served = measure(args.repeats, work, base, cwd)
    medians = summarise(figures)
    print("| case | median wall (s) | runs |")
    print("|---|---|---|")
    labels = {
        "plain": "plain script (no Prefect)",
        "warm": "process-image, server running",
        "first_db": "process-image, first run, database present",
        "first_empty": "process-image, first run, empty PREFECT_HOME",
    }
    for case, label in labels.items():
        runs = ", ".join(f"{value:.2f}" for value in figures[case])
        print(f"| {label} | {medians[case]:.2f} | {runs} |")
    print(f"\nwarm / plain = {medians['warm_over_plain']:.2f}x (target <= 2x)")
    print(f"from {args.from_dir}: {served} of {args.repeats} warm runs served by the warm process")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine,
        "from_dir": args.from_dir,
        "warm_runs_served": served,
        "figures": figures,
        "medians": medians,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
