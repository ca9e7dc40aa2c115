"""How much of an images-per-minute allowance a batch uses, and how many 429s it costs.

The fake OpenAI enforces N images per minute as OpenAI does (a token bucket, burst 2, a
429 with Retry-After when empty) and holds each call ``--latency`` seconds. Cases, each
over the same number of new images, side by side in one invocation:

- ``unpaced``: one process, ``--concurrency 8``, no rate (today's default);
- ``paced``: one process, ``--images-per-minute N``;
- ``fleet``: two processes at once (two workers), each with half the images, paced by
  the fleet's rate only (a Prefect global concurrency limit of N, schedule in Redis).

Share of the allowance = images accepted / (BURST + N x the minutes from the first to the
last accepted request). Run: ``uv run python -m bench.pacing`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3

from bench.images import noise_png
from bench.machine import describe
from bench.services import FAKE_OPENAI_KEY, moto_server, openai_server, prefect_server
from bench.single import BUCKET
from tests.fakes.openai_server import FakeOpenAIServer
from tests.redis_server import RedisServer

FLEET_LIMIT = "bench-openai-images-per-minute"


def _env(moto: str, fake: FakeOpenAIServer, api_url: str, work: Path) -> dict[str, str]:
    scrubbed = ("OPENAI_", "AWS_", "ARTIFACTS_", "CLOUDFRONT_", "IMAGE_PIPELINE_", "PREFECT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    env.update(
        {
            "OPENAI_API_KEY": FAKE_OPENAI_KEY,
            "OPENAI_BASE_URL": fake.base_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto,
            "ARTIFACTS_BUCKET": BUCKET,
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    return env


def _images(directory: Path, prefix: str, count: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = directory / f"{prefix}-{n}.png"
        path.write_bytes(noise_png(64, seed=hash((prefix, n)) & 0xFFFF))
        paths.append(str(path))
    return paths


def _run(groups: list[list[str]], env: dict[str, str], extra: list[str], work: Path) -> None:
    processes = []
    for index, group in enumerate(groups):
        home = work / f"home-{index}"
        inputs = [arg for path in group for arg in ("-i", path)]
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect_image_pipeline.cli",
                    *inputs,
                    "--concurrency",
                    "8",
                    *extra,
                ],
                env={**env, "PREFECT_HOME": str(home)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for process in processes:
        if process.wait(timeout=900) != 0:
            raise RuntimeError(f"a batch failed (exit {process.returncode})")


def _figures(fake: FakeOpenAIServer, rate: float, burst: int) -> dict[str, Any]:
    requests = sorted(fake.responses_requests, key=lambda r: r.at)
    rejected = fake.rate_limited
    accepted_at = [r.at for r in requests]  # arrivals; rejected ones are counted apart
    accepted = len(requests) - rejected
    span_minutes = (accepted_at[-1] - accepted_at[0]) / 60 if len(accepted_at) > 1 else 0
    return {
        "requests": len(requests),
        "rejected_429": rejected,
        "rejected_share": round(rejected / len(requests), 3),
        "share_of_allowance": round(accepted / (burst + rate * span_minutes), 3),
    }


def measure(images: int, rate: float, latency: float, work: Path) -> dict[str, Any]:
    """The three cases' figures."""
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        moto = stack.enter_context(moto_server())
        boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=moto,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=BUCKET)
        fake = stack.enter_context(openai_server(latency))
        fake.images_per_minute = rate
        redis = stack.enter_context(RedisServer(work / "redis"))
        server_env = {**os.environ, "PREFECT_HOME": str(work / "server-home")}
        api_url, _ = stack.enter_context(prefect_server(server_env, work / "server.log"))
        env = _env(moto, fake, api_url, work)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "prefect",
                "gcl",
                "create",
                FLEET_LIMIT,
                "--limit",
                str(int(rate)),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        cases = {
            "unpaced": ([_images(work / "in", "unpaced", images)], [], {}),
            "paced": (
                [_images(work / "in", "paced", images)],
                ["--images-per-minute", str(int(rate))],
                {},
            ),
            "fleet": (
                [_images(work / "in", f"fleet{i}", images // 2) for i in range(2)],
                [],
                {"IMAGE_PIPELINE_RATE_LIMIT": FLEET_LIMIT, "IMAGE_PIPELINE_LOCK_URL": redis.url},
            ),
        }
        for name, (groups, extra, case_env) in cases.items():
            fake.reset()
            fake.images_per_minute = rate
            time.sleep(120 / rate)  # let the fake's bucket refill to its burst between cases
            started = time.monotonic()
            _run(groups, {**env, **case_env}, extra, work / name)
            results[name] = {
                **_figures(fake, rate, FakeOpenAIServer.RATE_BURST),
                "wall_s": round(time.monotonic() - started, 1),
            }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--rate", type=float, default=60.0, help="images per minute")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per call")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        results = measure(args.images, args.rate, args.latency, Path(tmp))
    report = {"machine": describe(), "args": vars(args), "results": results}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
