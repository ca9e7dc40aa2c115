"""Nothing lost: SIGKILL a batch midway, run it again, and every image is in S3 exactly once."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from prefect_image_pipeline.steps.cleanup import work_dir_prefix
from tests.cli_runner import run_cli_process, session_env
from tests.conftest import S3Env
from tests.crash import kill_cli_when
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo

# End to end through subprocesses or a real Prefect server: not in scripts/check --fast.
pytestmark = pytest.mark.slow


def _batch_args(paths: list[str]) -> list[str]:
    args = ["--concurrency", "2"]
    for path in paths:
        args += ["-i", path]
    return args


def _image_hash(data_url: str) -> str:
    return hashlib.sha256(data_url.encode()).hexdigest()


def test_sigkill_midway_then_rerun_loses_and_duplicates_nothing(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    prefect_api_url: str,
    isolated_results: Path,
) -> None:
    paths = []
    for n in range(6):
        path = tmp_path / f"asset-{n}.png"
        path.write_bytes(logo(seed=n))
        paths.append(str(path))
    temp_root = tmp_path / "tmp"  # the runs' temp work dirs, to see what the kill leaves
    temp_root.mkdir()
    env = session_env(prefect_api_url, isolated_results, TMPDIR=str(temp_root))
    openai_fake.latency = 1.0
    proc = kill_cli_when(
        lambda: len(s3.keys()) >= 2,
        *_batch_args(paths),
        env=env,
        timeout=180,
        poll=0.1,
        message="timed out waiting for the batch to progress",
    )
    published_before = set(s3.keys())
    requests_before = len(openai_fake.responses_requests)
    assert 2 <= len(published_before) < 6, "the kill should land midway"
    left_by_kill = list(temp_root.glob(f"{work_dir_prefix(proc.pid)}*"))
    assert len(left_by_kill) == 1, list(temp_root.iterdir())

    openai_fake.latency = 0.0
    rerun = run_cli_process(*_batch_args(paths), env=env, timeout=240)
    assert rerun.returncode == 0, rerun.stderr

    keys = s3.keys()
    stems = Counter(key.rsplit("_", 1)[-1] for key in keys)
    assert stems == Counter({f"asset-{n}.png": 1 for n in range(6)}), keys  # no gaps, no twins
    assert published_before <= set(keys)
    # The rerun swept the killed run's work dir and removed its own.
    assert list(temp_root.glob("process-image-*")) == []
    # Images generated before the kill are not paid for again.
    asked = Counter(_image_hash(r.input_images[0]) for r in openai_fake.responses_requests)
    assert max(asked.values()) <= 2  # at most the ones in flight at the kill were asked twice
    repeated = len(openai_fake.responses_requests) - len(asked)
    assert repeated <= 2, f"{repeated} images paid twice; {requests_before} before the kill"
