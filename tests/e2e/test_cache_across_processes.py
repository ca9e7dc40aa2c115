"""Never pay twice across processes and hosts: process-image runs at the same moment.

"Hosts" are processes with their own PREFECT_HOME and local result storage; they share
only what real hosts would: one Prefect server, the cache bucket (moto), Redis.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from prefect_image_pipeline.cli.blocks import main as blocks_main
from tests.cli_runner import start_cli
from tests.conftest import S3Env
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo

pytestmark = pytest.mark.slow

WAITING = "Waiting for another run that is producing the same result"
LEASE_SECONDS = 2.0


class Run:
    """One ``process-image`` subprocess whose output lines are read as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = start_cli(*args, env=env, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if WAITING in line:
                self.waiting.set()

    def finish(self, timeout: float = 180) -> str:
        """Wait for the exit; the whole output (exit status checked by the caller)."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL, as a crashed host or an OOM kill would end it."""
        self.process.send_signal(signal.SIGKILL)
        self.finish()


@pytest.fixture
def start(prefect_api_url: str, tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Start ``process-image`` as host ``home`` (its own PREFECT_HOME and storage)."""
    runs: list[Run] = []

    def run(*args: str, home: str = "host-a", **extra: str) -> Run:
        root = tmp_path / home
        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_api_url,
            "PREFECT_HOME": str(root / "prefect"),
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(root / "storage"),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        runs.append(Run(list(args), env))
        return runs[-1]

    yield run
    for leftover in runs:
        if leftover.process.poll() is None:
            leftover.kill()


def _one_waits(first: Run, second: Run, fake: FakeOpenAIServer) -> tuple[Run, Run]:
    """(holder, waiter) once one generation is in flight and the other run says it waits."""
    assert fake.wait_until(lambda: fake.in_flight == 1, timeout=120)
    either = queue.Queue[Run]()

    def report_when_waiting(run: Run) -> None:
        if run.waiting.wait(120):
            either.put(run)

    for run in (first, second):
        threading.Thread(target=report_when_waiting, args=(run,), daemon=True).start()
    waiter = either.get(timeout=125)
    return (second if waiter is first else first), waiter


def _urls(output: str) -> tuple[str, str]:
    s3_url = re.search(r"^S3 URL:\s+(\S+)$", output, re.MULTILINE)
    public = re.search(r"^Public URL:\s+(\S+)$", output, re.MULTILINE)
    assert s3_url and public, output
    return s3_url.group(1), public.group(1)


def _image(tmp_path: Path, seed: int) -> str:
    path = tmp_path / f"logo-{seed}.png"
    path.write_bytes(logo(seed=seed))
    return str(path)


def test_two_runs_on_one_host_at_the_same_moment_generate_once(
    openai_fake: FakeOpenAIServer, s3: S3Env, start: Callable[..., Run], tmp_path: Path
) -> None:
    gate = threading.Event()
    openai_fake.enqueue(Fault.held(gate))
    image = _image(tmp_path, 1)
    first, second = start("-i", image), start("-i", image)
    holder, waiter = _one_waits(first, second, openai_fake)
    gate.set()
    outputs = [run.finish() for run in (holder, waiter)]
    assert [run.process.returncode for run in (holder, waiter)] == [0, 0], outputs
    assert len(openai_fake.responses_requests) == 1
    assert _urls(outputs[0]) == _urls(outputs[1])


def test_a_killed_holder_on_one_host_leaves_no_stale_lock(
    openai_fake: FakeOpenAIServer, s3: S3Env, start: Callable[..., Run], tmp_path: Path
) -> None:
    openai_fake.enqueue(Fault.held(threading.Event()))  # never answered
    image = _image(tmp_path, 2)
    holder, waiter = _one_waits(start("-i", image), start("-i", image), openai_fake)
    holder.kill()
    output = waiter.finish()
    assert waiter.process.returncode == 0, output
    assert len(openai_fake.responses_requests) == 2  # the killed call, then the waiter's own
    assert _urls(output)[0].startswith(f"s3://{s3.bucket}/")


@pytest.fixture
def shared(s3: S3Env, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A saved cache block on a bucket of its own and Redis locks: what every host sets."""
    bucket, block = f"cache-{uuid.uuid4().hex[:12]}", f"image-cache-{uuid.uuid4().hex[:8]}"
    s3.client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    monkeypatch.setenv("IMAGE_PIPELINE_CACHE_BUCKET", bucket)
    assert blocks_main(["--skip-openai", "--s3-block", f"out-{block}", "--cache-block", block]) == 0
    return {
        "IMAGE_PIPELINE_CACHE_BLOCK": block,
        "IMAGE_PIPELINE_LOCK_URL": redis_url,
        "IMAGE_PIPELINE_LOCK_LEASE_SECONDS": str(LEASE_SECONDS),
    }


def _lease_left_ms(redis_url: str) -> list[int]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [int(client.pttl(key)) for key in client.scan_iter("image-pipeline:lock:*")]
    finally:
        client.close()


def test_hosts_sharing_the_bucket_and_redis_never_pay_twice(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    shared: dict[str, str],
    start: Callable[..., Run],
    tmp_path: Path,
    redis_url: str,
) -> None:
    # Two hosts, the same image, the same moment: one generation.
    gate = threading.Event()
    openai_fake.enqueue(Fault.held(gate))
    image = _image(tmp_path, 3)
    holder, waiter = _one_waits(
        start("-i", image, home="host-a", **shared),
        start("-i", image, home="host-b", **shared),
        openai_fake,
    )
    gate.set()
    outputs = [run.finish() for run in (holder, waiter)]
    assert [run.process.returncode for run in (holder, waiter)] == [0, 0], outputs
    assert len(openai_fake.responses_requests) == 1
    urls = _urls(outputs[0])
    assert _urls(outputs[1]) == urls

    # A holder killed mid-generation frees the key within one lease; the rerun completes.
    openai_fake.enqueue(Fault.held(threading.Event()))
    other = _image(tmp_path, 4)
    killed = start("-i", other, home="host-a", **shared)
    assert openai_fake.wait_until(lambda: openai_fake.in_flight == 1, timeout=120)
    killed.kill()
    assert all(0 < left <= LEASE_SECONDS * 1000 for left in _lease_left_ms(redis_url))
    rerun = start("-i", other, home="host-b", **shared)
    assert rerun.finish().count("S3 URL:") == 1 and rerun.process.returncode == 0
    assert len(openai_fake.responses_requests) == 3

    # A fresh host (empty PREFECT_HOME and storage): zero calls, the same URLs.
    fresh = start("-i", image, home="host-c", **shared)
    output = fresh.finish()
    assert fresh.process.returncode == 0, output
    assert len(openai_fake.responses_requests) == 3
    assert _urls(output) == urls
