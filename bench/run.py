"""Benchmark of ``process-images`` against the fake OpenAI server and moto (issue 3).

Usage (from the project root)::

    uv run python -m bench.run --latency 0.5 --concurrency 8 --sizes 16,128 \
        --rss-sizes 50,500 --image-bytes 1000000 --out bench/results/latest.json

Starts moto's S3 server and the fake OpenAI server (latency L) in this process, a
``prefect server start`` on a random loopback port with a temporary PREFECT_HOME, and
runs every measurement in a fresh ``python -m bench.worker`` process. Prints markdown
tables and writes every raw figure to ``--out``. docs/benchmarks.md explains the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from bench import snapshot
from bench.images import write_batch
from bench.machine import describe, self_cpu_seconds, tree_cpu_seconds
from bench.services import (
    FAKE_OPENAI_KEY,
    CountingOpenAIServer,
    moto_server,
    openai_server,
    prefect_server,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT_S = 1800
# The server records a run's events after the worker has gone; it counts as idle again
# once it uses under 10 % of a core over half a second (or after the timeout).
QUIET_WINDOW_S = 0.5
QUIET_CPU_S = 0.05
QUIET_TIMEOUT_S = 120.0
REGION = "us-east-1"
# Prefect server configurations timed side by side (each its own server and database).
# "stock" is Prefect's defaults. "batched" writes task-run records and events 200 at a
# time: the task-run recorder's default batch size is 1, one SQLite transaction per state
# change, and on this 2-core machine the server then competes with the worker for CPU.
SERVER_PROFILES: dict[str, dict[str, str]] = {
    "stock": {},
    "batched": {
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    },
}
# Variables that would point a child at a real account or a developer's own settings.
_SCRUBBED_PREFIXES = ("OPENAI_", "AWS_", "ARTIFACTS_", "CLOUDFRONT_", "IMAGE_PIPELINE_", "PREFECT_")


# ---------------------------------------------------------------------------
# Configuration and environment
# ---------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    values = sorted({int(part) for part in text.split(",") if part.strip()})
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 16,64, got {text!r}")
    return values


def _profiles(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(names) - set(SERVER_PROFILES))
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected names from {', '.join(SERVER_PROFILES)}, got {text!r}"
        )
    return list(dict.fromkeys(names))


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("PREFECT_SERVER_"):
        raise argparse.ArgumentTypeError(f"expected PREFECT_SERVER_NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark process-images: wall vs N*L/C, sequential baseline, rerun, RSS."
    )
    parser.add_argument("--latency", type=float, default=0.5, help="L: fake OpenAI seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="C: the flow's concurrency")
    parser.add_argument("--sizes", type=_int_list, default=[16, 128], help="N for timing")
    parser.add_argument("--repeats", type=int, default=3, help="flow runs per timing N")
    parser.add_argument("--sequential-repeats", type=int, default=1, help="baseline runs per N")
    # Small by default: with 1 MB inputs the fake OpenAI server alone spends ~0.14 CPU-s per
    # image re-encoding PNGs, more than L/C = 0.0625 s, so it, not the pipeline, would be timed.
    parser.add_argument(
        "--timing-image-bytes", type=int, default=30_000, help="input size for timing runs"
    )
    parser.add_argument("--rss-sizes", type=_int_list, default=[50, 500], help="N for peak RSS")
    parser.add_argument("--image-bytes", type=int, default=1_000_000, help="input size, RSS runs")
    parser.add_argument("--rss-rerun", action="store_true", help="also rerun the RSS batches")
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="run the Prefect server at this nice value (default 0: same priority as the rest)",
    )
    parser.add_argument(
        "--server-profiles",
        type=_profiles,
        default=["stock"],
        help="Prefect server configurations to time side by side, e.g. stock,batched (the "
        "first also runs the sequential and RSS measurements)",
    )
    parser.add_argument(
        "--server-setting",
        type=_setting,
        action="append",
        default=[],
        metavar="PREFECT_SERVER_X=VALUE",
        help="a setting for the Prefect server only (repeatable), e.g. its services' batch sizes",
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench/results/latest.json")
    parser.add_argument("--keep-work", action="store_true", help="keep images, logs, storage")
    return parser.parse_args(argv)


def child_env(prefect_home: Path) -> dict[str, str]:
    """The environment of the Prefect server and the workers (not yet the API URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            "PREFECT_HOME": str(prefect_home),
            # No network here: the server's telemetry would only wait on timeouts.
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_REGION": REGION,
            # The loopback fakes are trusted inputs for the URL policy.
            "IMAGE_URL_ALLOWED_HOSTS": "127.0.0.1",
            # A benchmark should never sit in a 2 s retry delay; retries would show as calls.
            "IMAGE_PIPELINE_RETRY_DELAY_SECONDS": "0.05",
            "OPENAI_API_KEY": FAKE_OPENAI_KEY,
        }
    )
    return env


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


@dataclass
class Bench:
    """Running services and where this benchmark keeps its files."""

    profile: str  # which SERVER_PROFILES entry its Prefect server runs with
    env: dict[str, str]
    fake: CountingOpenAIServer
    s3: S3Client
    server_pid: int
    work: Path
    source: Path  # the snapshot of the code under test; workers run from here
    concurrency: int
    latency: float
    batches: int = 0


@dataclass(frozen=True)
class Measurement:
    """One worker run and what the services saw while it ran."""

    group: str  # "timing:<server profile>" or "rss": which table the run belongs to
    server: str  # the server profile it ran against
    kind: str  # "flow", "rerun" or "sequential"
    n: int
    image_bytes: int
    repeat: int
    wall_s: float  # the batch inside the worker (imports excluded)
    completed_s: float  # the same start to the flow run's final state (no engine teardown)
    process_s: float  # the whole worker process, interpreter start to exit
    worker_cpu_s: float
    services_cpu_s: float  # fake OpenAI + moto (threads of this process)
    server_cpu_s: float  # the Prefect server's process tree, including its backlog after exit
    server_drain_s: float  # how long the server stayed busy after the worker exited
    openai_calls: int
    openai_median_s: float  # median arrival-to-answer time at the fake (L when it keeps up)
    max_in_flight: int
    new_s3_objects: int
    uploaded: int
    failed: int
    cached: int
    rss_before_mb: float
    peak_rss_mb: float
    loadavg_1m: float  # machine load when the run ended: other users skew wall, not CPU-s


@dataclass
class Batch:
    """One set of inputs with its own result storage and bucket (so it starts cold)."""

    group: str
    paths: list[str]
    image_bytes: int
    results_dir: Path
    bucket: str
    list_file: Path
    runs: list[Measurement] = field(default_factory=list)


def new_batch(bench: Bench, group: str, paths: list[str], image_bytes: int) -> Batch:
    """A cold batch: fresh PREFECT_RESULTS_LOCAL_STORAGE_PATH and a new, empty bucket."""
    bench.batches += 1
    name = f"batch-{bench.profile}-{bench.batches:03d}"
    bucket = f"bench-{bench.profile}-{bench.batches:03d}"
    bench.s3.create_bucket(Bucket=bucket)
    list_file = bench.work / f"{name}.txt"
    list_file.write_text("\n".join(paths) + "\n")
    return Batch(group, paths, image_bytes, bench.work / name / "results", bucket, list_file)


def count_objects(s3: S3Client, bucket: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(page.get("KeyCount", 0) for page in pages)


def empty_bucket(s3: S3Client, bucket: str) -> None:
    """Delete the batch's objects: moto keeps them in this process's memory."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"]} for item in page.get("Contents", [])
        ]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def _run_worker(bench: Bench, mode: str, batch: Batch, log: Path) -> tuple[dict[str, Any], float]:
    out = log.with_suffix(".json")
    env = dict(bench.env)
    env["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(batch.results_dir)
    env["ARTIFACTS_BUCKET"] = batch.bucket
    command = [sys.executable, "-m", "bench.worker", mode, "--images", str(batch.list_file)]
    command += ["--concurrency", str(bench.concurrency), "--out", str(out)]
    start = time.perf_counter()
    with log.open("wb") as sink:
        done = subprocess.run(
            command,
            cwd=bench.source,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    process_s = time.perf_counter() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"worker {mode} failed ({done.returncode}); log {log}:\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    if not Path(result["flows_path"]).is_relative_to(bench.source):
        raise RuntimeError(f"worker imported {result['flows_path']}, not the snapshot")
    if result["failed"]:
        # A benchmark of failures measures nothing; usually flows/ was mid-edit at snapshot.
        raise RuntimeError(f"{result['failed']} image(s) failed, e.g. {result['first_error']}")
    return result, process_s


def wait_until_quiet(server_pid: int) -> float:
    """Block until the Prefect server is idle; returns the seconds waited."""
    start = time.perf_counter()
    previous = tree_cpu_seconds(server_pid)
    while time.perf_counter() - start < QUIET_TIMEOUT_S:
        time.sleep(QUIET_WINDOW_S)
        current = tree_cpu_seconds(server_pid)
        if current - previous < QUIET_CPU_S:
            break
        previous = current
    return time.perf_counter() - start


def measure(bench: Bench, kind: str, batch: Batch, repeat: int) -> Measurement:
    """Run the batch once in a fresh worker and record what every party spent."""
    mode = "sequential" if kind == "sequential" else "flow"
    log = bench.work / f"{batch.list_file.stem}-{kind}-{repeat}.log"
    bench.fake.reset()
    objects_before = count_objects(bench.s3, batch.bucket)
    # Start from an idle server so this run is not charged for the previous one's events.
    wait_until_quiet(bench.server_pid)
    services_before, server_before = self_cpu_seconds(), tree_cpu_seconds(bench.server_pid)
    result, process_s = _run_worker(bench, mode, batch, log)
    drain_s = wait_until_quiet(bench.server_pid)
    measurement = Measurement(
        group=batch.group,
        server=bench.profile,
        kind=kind,
        n=len(batch.paths),
        image_bytes=batch.image_bytes,
        repeat=repeat,
        wall_s=result["wall_s"],
        completed_s=result["completed_s"],
        process_s=process_s,
        worker_cpu_s=result["cpu_s"],
        services_cpu_s=self_cpu_seconds() - services_before,
        server_cpu_s=tree_cpu_seconds(bench.server_pid) - server_before,
        server_drain_s=drain_s,
        openai_calls=bench.fake.responses_count,
        openai_median_s=statistics.median(bench.fake.handled_seconds or [math.nan]),
        max_in_flight=bench.fake.max_in_flight,
        new_s3_objects=count_objects(bench.s3, batch.bucket) - objects_before,
        uploaded=result["uploaded"],
        failed=result["failed"],
        cached=result["cached"],
        rss_before_mb=result["rss_before_kb"] / 1024,
        peak_rss_mb=result["peak_rss_kb"] / 1024,
        loadavg_1m=os.getloadavg()[0],
    )
    batch.runs.append(measurement)
    print(_progress_line(measurement), flush=True)
    return measurement


def _progress_line(m: Measurement) -> str:
    return (
        f"  {m.server:<7} {m.kind:<10} N={m.n:<4} rep={m.repeat} wall={m.wall_s:7.2f}s "
        f"process={m.process_s:6.2f}s calls={m.openai_calls:<4} in_flight<={m.max_in_flight:<2} "
        f"fake_median={m.openai_median_s:.3f}s "
        f"new_objects={m.new_s3_objects:<4} failed={m.failed} cached={m.cached} "
        f"peak_rss={m.peak_rss_mb:6.0f}MB cpu(worker/fakes/server)={m.worker_cpu_s:.1f}/"
        f"{m.services_cpu_s:.1f}/{m.server_cpu_s:.1f}s drain={m.server_drain_s:.1f}s "
        f"load={m.loadavg_1m:.1f}"
    )


def run_batch(
    bench: Bench, group: str, paths: list[str], image_bytes: int, repeat: int, rerun: bool
) -> Batch:
    """A cold flow run, then (optionally) the same batch again on the same result storage."""
    batch = new_batch(bench, group, paths, image_bytes)
    measure(bench, "flow", batch, repeat)
    if rerun:
        measure(bench, "rerun", batch, repeat)
    empty_bucket(bench.s3, batch.bucket)
    if batch.results_dir.exists():
        shutil.rmtree(batch.results_dir)
    return batch


def run_sequential(bench: Bench, paths: list[str], image_bytes: int, repeat: int) -> Batch:
    """The baseline loop over the same inputs, into its own bucket."""
    batch = new_batch(bench, timing_group(bench.profile), paths, image_bytes)
    measure(bench, "sequential", batch, repeat)
    empty_bucket(bench.s3, batch.bucket)
    return batch


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


@contextmanager
def services(args: argparse.Namespace, work: Path) -> Iterator[dict[str, Bench]]:
    """moto + fake OpenAI + one Prefect server per profile; a Bench for each profile."""
    with ExitStack() as stack:
        endpoint = stack.enter_context(moto_server())
        fake = stack.enter_context(openai_server(args.latency))
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        source = snapshot.take(PROJECT_ROOT, work / "src")
        benches: dict[str, Bench] = {}
        for profile in args.server_profiles:
            env = child_env(work / f"prefect-home-{profile}")
            server_env = env | SERVER_PROFILES[profile] | dict(args.server_setting)
            log = work / f"prefect-server-{profile}.log"
            api_url, server_pid = stack.enter_context(
                prefect_server(server_env, log, args.server_nice)
            )
            env.update(
                {
                    "PREFECT_API_URL": api_url,
                    "AWS_ENDPOINT_URL": endpoint,
                    "OPENAI_BASE_URL": fake.base_url,
                }
            )
            benches[profile] = Bench(
                profile, env, fake, s3, server_pid, work, source, args.concurrency, args.latency
            )
        yield benches


def timing_group(profile: str) -> str:
    """The measurements group of the timing runs against one server profile."""
    return f"timing:{profile}"


def collect(args: argparse.Namespace, benches: dict[str, Bench]) -> list[Measurement]:
    """Every measurement, in an order that spreads machine noise over all sizes and servers."""
    first = benches[args.server_profiles[0]]
    timing = write_batch(first.work / "timing", max(args.sizes), args.timing_image_bytes, 0)
    rss = write_batch(first.work / "rss", max(args.rss_sizes), args.image_bytes, 10_000)
    print(f"Inputs written: {len(timing)} timing, {len(rss)} RSS images", flush=True)
    for bench in benches.values():
        # One throwaway run each: the first flow run against a new server migrates/warms it.
        run_batch(bench, "warm-up", timing[:2], args.timing_image_bytes, repeat=0, rerun=False)
    batches: list[Batch] = []
    for repeat in range(1, args.repeats + 1):
        for bench in benches.values():
            group = timing_group(bench.profile)
            for n in args.sizes:
                batches.append(
                    run_batch(bench, group, timing[:n], args.timing_image_bytes, repeat, True)
                )
    for repeat in range(1, args.sequential_repeats + 1):
        for n in args.sizes:
            batches.append(run_sequential(first, timing[:n], args.timing_image_bytes, repeat))
    for n in args.rss_sizes:
        batches.append(run_batch(first, "rss", rss[:n], args.image_bytes, 1, args.rss_rerun))
    return [m for batch in batches for m in batch.runs]


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------


def _select(runs: list[Measurement], group: str, kind: str, n: int) -> list[Measurement]:
    return [m for m in runs if (m.group, m.kind, m.n) == (group, kind, n)]


def _median(runs: list[Measurement], group: str, kind: str, n: int, attr: str) -> float:
    values = [float(getattr(m, attr)) for m in _select(runs, group, kind, n)]
    return statistics.median(values) if values else float("nan")


def _max(runs: list[Measurement], group: str, kind: str, n: int, attr: str) -> int:
    return max((int(getattr(m, attr)) for m in _select(runs, group, kind, n)), default=-1)


def summarise(args: argparse.Namespace, runs: list[Measurement]) -> dict[str, Any]:
    """Per server profile: medians per (kind, N) and the marginal cost per image; RSS; targets."""
    per_image: float = args.latency / args.concurrency
    baseline = timing_group(args.server_profiles[0])  # where the sequential loop ran
    timing = {
        profile: _timing_summary(args, runs, timing_group(profile), baseline)
        for profile in args.server_profiles
    }
    rss = [
        {
            "n": n,
            "flow_wall_s": _median(runs, "rss", "flow", n, "wall_s"),
            "ceiling_s": n * per_image,
            "ratio": _median(runs, "rss", "flow", n, "wall_s") / (n * per_image),
            "rss_before_mb": _median(runs, "rss", "flow", n, "rss_before_mb"),
            "peak_rss_mb": _median(runs, "rss", "flow", n, "peak_rss_mb"),
            "worker_cpu_s_per_image": _median(runs, "rss", "flow", n, "worker_cpu_s") / n,
            "openai_calls": _max(runs, "rss", "flow", n, "openai_calls"),
        }
        for n in args.rss_sizes
    ]
    rss_ratio = rss[-1]["peak_rss_mb"] / rss[0]["peak_rss_mb"]
    rerun_calls = max((m.openai_calls for m in runs if m.kind == "rerun"), default=-1)
    return {
        "l_over_c_s": per_image,
        "timing": timing,
        "rss": rss,
        "targets": {
            "marginal_ratio_by_server": {
                profile: summary["marginal"]["flow_ratio_to_l_over_c"]
                for profile, summary in timing.items()
            },
            "completed_marginal_ratio_by_server": {
                profile: summary["marginal"]["completed_ratio_to_l_over_c"]
                for profile, summary in timing.items()
            },
            "rerun_zero_calls": rerun_calls == 0,
            "rerun_openai_calls_max": rerun_calls,
            "rss_500_within_1.2x_of_50": rss_ratio <= 1.2,
            "rss_ratio": rss_ratio,
        },
    }


def _timing_summary(
    args: argparse.Namespace, runs: list[Measurement], group: str, baseline: str
) -> dict[str, Any]:
    """The timing table and marginal costs of one server profile."""
    per_image: float = args.latency / args.concurrency
    n1: int = args.sizes[0]
    n2: int = args.sizes[-1]

    def marginal(kind: str, attr: str) -> float:
        if n2 == n1:
            return float("nan")
        source = baseline if kind == "sequential" else group
        high, low = (_median(runs, source, kind, n, attr) for n in (n2, n1))
        return (high - low) / (n2 - n1)

    rows = [
        {
            "n": n,
            "flow_wall_s": _median(runs, group, "flow", n, "wall_s"),
            "flow_completed_s": _median(runs, group, "flow", n, "completed_s"),
            "ceiling_s": n * per_image,
            "ratio": _median(runs, group, "flow", n, "wall_s") / (n * per_image),
            "sequential_wall_s": _median(runs, baseline, "sequential", n, "wall_s"),
            "rerun_wall_s": _median(runs, group, "rerun", n, "wall_s"),
            "rerun_openai_calls_max": _max(runs, group, "rerun", n, "openai_calls"),
            "rerun_new_s3_objects_max": _max(runs, group, "rerun", n, "new_s3_objects"),
            "flow_max_in_flight": _max(runs, group, "flow", n, "max_in_flight"),
            "flow_fake_median_s": _median(runs, group, "flow", n, "openai_median_s"),
            "flow_peak_rss_mb": _median(runs, group, "flow", n, "peak_rss_mb"),
        }
        for n in args.sizes
    ]
    cpu = {
        party: {kind: marginal(kind, attr) for kind in ("flow", "rerun", "sequential")}
        for party, attr in (
            ("worker", "worker_cpu_s"),
            ("fake_openai_and_moto", "services_cpu_s"),
            ("prefect_server", "server_cpu_s"),
        )
    }
    flow = marginal("flow", "wall_s")
    completed = marginal("flow", "completed_s")
    return {
        "rows": rows,
        "marginal": {
            "n1": n1,
            "n2": n2,
            "flow_s_per_image": flow,
            "flow_ratio_to_l_over_c": flow / per_image,
            "flow_ratio_per_repeat": _pair_ratios(runs, group, n1, n2, per_image, "wall_s"),
            "completed_s_per_image": completed,
            "completed_ratio_to_l_over_c": completed / per_image,
            "completed_ratio_per_repeat": _pair_ratios(
                runs, group, n1, n2, per_image, "completed_s"
            ),
            "rerun_s_per_image": marginal("rerun", "wall_s"),
            "sequential_s_per_image": marginal("sequential", "wall_s"),
            "cpu_s_per_image": cpu,
        },
    }


def _pair_ratios(
    runs: list[Measurement], group: str, n1: int, n2: int, per_image: float, attr: str
) -> list[float]:
    """Each repeat's own (T(n2) - T(n1)) / (n2 - n1) / (L/C): the spread behind the median."""
    if n2 == n1:
        return []
    walls = {
        (m.repeat, m.n): float(getattr(m, attr))
        for m in runs
        if (m.group, m.kind) == (group, "flow")
    }
    repeats = sorted({r for r, _ in walls})
    return [
        round((walls[(r, n2)] - walls[(r, n1)]) / (n2 - n1) / per_image, 3)
        for r in repeats
        if (r, n1) in walls and (r, n2) in walls
    ]


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def markdown(args: argparse.Namespace, summary: dict[str, Any]) -> str:
    """The tables docs/benchmarks.md shows."""
    lc = summary["l_over_c_s"]
    lines = [
        f"L = {args.latency} s, C = {args.concurrency}, L/C = {lc:.4f} s; timing inputs "
        f"{args.timing_image_bytes:,} B, medians of {args.repeats} (flow, rerun) and "
        f"{args.sequential_repeats} (sequential, against the {args.server_profiles[0]} server)",
    ]
    for profile, timing in summary["timing"].items():
        lines += ["", f"Prefect server: **{profile}** {_profile_note(profile)}", ""]
        lines += _timing_lines(timing, lc)
    lines += [
        "",
        f"Peak RSS, {args.image_bytes:,} B inputs (one run each, "
        f"{args.server_profiles[0]} server):",
        "",
        "| N | flow wall (s) | ceiling (s) | wall / ceiling | RSS after imports (MB) | "
        "peak RSS (MB) | worker CPU s/image | OpenAI calls |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rss"]:
        lines.append(
            f"| {row['n']} | {_fmt(row['flow_wall_s'])} | {_fmt(row['ceiling_s'])} | "
            f"{_fmt(row['ratio'])} | {_fmt(row['rss_before_mb'], 0)} | "
            f"{_fmt(row['peak_rss_mb'], 0)} | {_fmt(row['worker_cpu_s_per_image'], 3)} | "
            f"{row['openai_calls']} |"
        )
    t = summary["targets"]
    lines += ["", "| target | result | met |", "|---|---|---|"]
    for profile, ratio in t["marginal_ratio_by_server"].items():
        completed = t["completed_marginal_ratio_by_server"][profile]
        lines += [
            f"| marginal wall per image ≤ 1.1 × L/C ({profile} server) | {_fmt(ratio)} × | "
            f"{_yes(ratio <= 1.1)} |",
            f"| the same, to the run's Completed state ({profile} server) | "
            f"{_fmt(completed)} × | {_yes(completed <= 1.1)} |",
        ]
    lines += [
        f"| rerun makes 0 OpenAI calls | max {t['rerun_openai_calls_max']} | "
        f"{_yes(t['rerun_zero_calls'])} |",
        f"| peak RSS N={args.rss_sizes[-1]} ≤ 1.2 × N={args.rss_sizes[0]} | "
        f"{_fmt(t['rss_ratio'])} × | {_yes(t['rss_500_within_1.2x_of_50'])} |",
    ]
    return "\n".join(lines)


def _profile_note(profile: str) -> str:
    settings = SERVER_PROFILES[profile]
    if not settings:
        return "(Prefect's defaults)"
    return "(" + ", ".join(f"`{k}={v}`" for k, v in settings.items()) + ")"


def _timing_lines(timing: dict[str, Any], lc: float) -> list[str]:
    lines = [
        "| N | flow wall (s) | to Completed (s) | ceiling N·L/C (s) | wall / ceiling | "
        "sequential wall (s) | "
        "speed-up | rerun wall (s) | rerun OpenAI calls | rerun new S3 objects | "
        "max in flight | fake's median answer (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in timing["rows"]:
        speedup = row["sequential_wall_s"] / row["flow_wall_s"]
        lines.append(
            f"| {row['n']} | {_fmt(row['flow_wall_s'])} | {_fmt(row['flow_completed_s'])} | "
            f"{_fmt(row['ceiling_s'])} | {_fmt(row['ratio'])} | "
            f"{_fmt(row['sequential_wall_s'])} | {_fmt(speedup, 1)}x | "
            f"{_fmt(row['rerun_wall_s'])} | {row['rerun_openai_calls_max']} | "
            f"{row['rerun_new_s3_objects_max']} | {row['flow_max_in_flight']} | "
            f"{_fmt(row['flow_fake_median_s'], 3)} |"
        )
    m = timing["marginal"]
    cpu = m["cpu_s_per_image"]
    pairs = ", ".join(f"{ratio:.2f}" for ratio in m["flow_ratio_per_repeat"]) or "n/a"
    to_completed = ", ".join(f"{r:.2f}" for r in m["completed_ratio_per_repeat"]) or "n/a"
    lines += [
        "",
        f"Marginal per image, (T({m['n2']}) - T({m['n1']})) / {m['n2'] - m['n1']} "
        f"(repeat by repeat: {pairs} × L/C; to the Completed state {to_completed}):",
        "",
        "| run | wall s/image | × L/C | worker CPU s/image | fake+moto CPU s/image | "
        "Prefect server CPU s/image |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, key in (
        ("flow", "flow_s_per_image"),
        ("rerun", "rerun_s_per_image"),
        ("sequential", "sequential_s_per_image"),
    ):
        lines.append(_marginal_row(kind, m[key], lc, cpu))
        if kind == "flow":
            lines.append(
                f"| flow, to Completed | {_fmt(m['completed_s_per_image'], 4)} | "
                f"{_fmt(m['completed_ratio_to_l_over_c'])} | | | |"
            )
    return lines


def _marginal_row(kind: str, wall: float, lc: float, cpu: dict[str, dict[str, float]]) -> str:
    return (
        f"| {kind} | {_fmt(wall, 4)} | {_fmt(wall / lc)} | {_fmt(cpu['worker'][kind], 4)} | "
        f"{_fmt(cpu['fake_openai_and_moto'][kind], 4)} | {_fmt(cpu['prefect_server'][kind], 4)} |"
    )


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    del frame
    # SystemExit unwinds the with-blocks, so the Prefect server and fakes are stopped.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.perf_counter()
    machine = describe()
    print(f"Machine: {machine}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        with services(args, work) as benches:
            source = next(iter(benches.values())).source
            code = snapshot.fingerprint(source, PROJECT_ROOT)
            print(f"Code under test: {code}", flush=True)
            runs = collect(args, benches)
    finally:
        if args.keep_work:
            print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarise(args, runs)
    table = markdown(args, summary)
    total = time.perf_counter() - started
    print(f"\n{table}\n\nTotal benchmark time: {total:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": " ".join(["python", "-m", "bench.run", *(argv or sys.argv[1:])]),
        "machine": machine,
        "code": code,
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "total_runtime_s": total,
        "summary": summary,
        "markdown": table,
        "measurements": [asdict(m) for m in runs],
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
