"""A fleet: a chunked batch spread over two workers, as docs/scaling.md says to run it.

One real `prefect server`, a process work pool with two `prefect worker start` processes
(each its own PREFECT_HOME and storage, `--limit 1`), the batch deployment from
prefect.yaml, moto with the shared cache bucket, a real Redis and the fake OpenAI. The
parent runs in `process-image --chunk-size` (the CLI), so it never holds a worker slot.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from prefect.states import Crashed

from tests.cli_runner import cli_argv
from tests.conftest import S3Env
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo
from tests.paths import REPO
from tests.prefect_server import PREFECT, PYTHON, Managed, PrefectStack

pytestmark = pytest.mark.slow

# The commands of docs/scaling.md, as this test runs them (after `uv run`).
CREATE_POOL = "prefect work-pool create images --type process"
DEPLOY = "prefect --no-prompt deploy --name batch --name nightly"
NIGHTLY = "prefect deployment run reprocess-images/nightly -p chunk_size=3 --watch"
WORKER = "prefect worker start --pool images --limit 1"
PARENT = "process-image --input-list images.txt --chunk-size 5 --concurrency 4"


def _argv(command: str) -> list[str]:
    program, *rest = command.split()
    if program == "prefect":
        return [PREFECT, *rest]
    assert program == "process-image"
    return cli_argv(*rest)


def _urls(output: str) -> list[str]:
    return sorted(re.findall(r"https://\S+_generated_\S+\.png", output))


def _submitted(worker: Managed) -> list[str]:
    """Ids of the flow runs ``worker`` started, oldest first (from its log)."""
    return re.findall(r"submitting flow run '([0-9a-f-]{36})'", worker.output())


def _wait(condition: Callable[[], bool], worker: Managed, timeout: float = 120) -> bool:
    """Poll ``worker``'s log (a file: no event to wait on) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline or not worker.running():
            return False
        time.sleep(0.2)
    return True


def _finished_ok(run: Managed, timeout: float) -> str:
    done = run.finish(timeout)
    assert done.returncode == 0, done.output[-4000:]
    return done.output


@pytest.mark.timeout(900)
def test_a_chunked_batch_runs_on_two_workers_and_never_pays_twice(
    s3: S3Env, openai_fake: FakeOpenAIServer, redis_url: str, tmp_path: Path
) -> None:
    cache_bucket = f"cache-{uuid.uuid4().hex[:12]}"
    s3.client.create_bucket(Bucket=cache_bucket)  # type: ignore[attr-defined]
    listing = tmp_path / "images.txt"
    images = []
    for n in range(10):  # two chunks of five: one per worker
        path = tmp_path / f"fleet-{n:02d}.png"
        path.write_bytes(logo(seed=200 + n))
        images.append(str(path))
    listing.write_text("\n".join(images) + "\n")
    shared = {
        "IMAGE_PIPELINE_CACHE_BLOCK": "image-cache",
        "IMAGE_PIPELINE_LOCK_URL": redis_url,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
    }

    with PrefectStack(root=tmp_path / "fleet", cwd=REPO) as stack:
        stack.start_server()
        _finished_ok(stack.start("pool", *_argv(CREATE_POOL)), 180)
        blocks = stack.start(
            "blocks",
            PYTHON,
            *("-m", "blocks"),
            env=stack.env({"IMAGE_PIPELINE_CACHE_BUCKET": cache_bucket}),
        )
        deploy = stack.start("deploy", *_argv(DEPLOY))
        workers = [
            stack.start(
                f"worker-{name}",
                *_argv(WORKER),
                env=stack.env(
                    {
                        **shared,
                        "PREFECT_HOME": str(tmp_path / f"worker-{name}"),
                        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / f"storage-{name}"),
                    }
                ),
            )
            for name in ("a", "b")
        ]
        assert f"shared cache: bucket {cache_bucket}" in _finished_ok(blocks, 180)
        assert "process-images/batch" in _finished_ok(deploy, 300)

        def parent(name: str) -> Managed:
            argv = [str(listing) if arg == "images.txt" else arg for arg in _argv(PARENT)]
            return stack.start(name, *argv, env=stack.env(shared))

        first = _finished_ok(parent("parent"), 480)
        assert len(openai_fake.responses_requests) == 10
        urls = _urls(first)
        assert len(urls) == 10 and len(set(urls)) == 10, first[-3000:]
        assert len(s3.keys("generated-images/")) == 10  # each uploaded exactly once
        for worker in workers:  # both workers took chunks
            assert "submitting flow run" in worker.output(), worker.tail()

        # A rerun pays nothing and reports the same URLs.
        again = _finished_ok(parent("rerun"), 480)
        assert len(openai_fake.responses_requests) == 10
        assert _urls(again) == urls

        # The nightly reprocessing of a large prefix uses the same chunks. Started on the
        # pool, its parent holds one worker's slot; the other worker runs the children.
        for n in range(6):
            s3.client.put_object(  # type: ignore[attr-defined]
                Bucket=s3.bucket, Key=f"incoming/nightly-{n}.png", Body=logo(seed=400 + n)
            )
        _finished_ok(stack.start("nightly", *_argv(NIGHTLY), env=stack.env(shared)), 480)
        assert len(openai_fake.responses_requests) == 16
        reprocessed = s3.keys("reprocessed/")
        assert len([k for k in reprocessed if k.endswith(".png")]) == 6, reprocessed
        assert "reprocessed/manifest.json" in reprocessed

        # A worker killed mid-chunk. Its child run stays Running (nothing is left to say
        # otherwise); the user marks it Crashed, as docs/scaling.md says, and the parent
        # reports that chunk's images failed with why. A rerun finishes the rest.
        more = [str(tmp_path / f"more-{n:02d}.png") for n in range(10)]
        for n, extra in enumerate(more):
            Path(extra).write_bytes(logo(seed=300 + n))
        listing.write_text("\n".join(more) + "\n")
        victim, survivor = workers
        submitted = _submitted(victim)
        gate = threading.Event()
        openai_fake.enqueue(Fault.held(gate))
        interrupted = parent("interrupted")
        assert _wait(lambda: len(_submitted(victim)) > len(submitted), victim)
        assert openai_fake.wait_until(lambda: openai_fake.in_flight >= 1, timeout=300)
        victim.process.send_signal(signal.SIGKILL)
        victim.stop(grace=5)  # and the flow-run process it started
        with stack.client() as client:
            client.set_flow_run_state(
                UUID(_submitted(victim)[-1]), Crashed(message="worker lost"), force=True
            )
        gate.set()
        reported = interrupted.finish(480)
        assert reported.returncode != 0, reported.output[-3000:]
        assert reported.output.count("ended Crashed without a report: worker lost") == 5
        assert survivor.running()
        finished = _finished_ok(parent("after-kill"), 480)
        assert len(_urls(finished)) == 10
        # Ten new images: at most the killed worker's chunk (5) is paid for twice.
        assert 10 <= len(openai_fake.responses_requests) - 16 <= 15
        assert len(s3.keys("generated-images/")) == 20  # one object per image
