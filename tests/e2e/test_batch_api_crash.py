"""Batch mode survives SIGKILL: one batch in OpenAI, every image published exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

from prefect_image_pipeline.batch_api.ledger import LEDGER_FOLDER
from tests.cli_runner import run_cli_process, session_env
from tests.conftest import TEST_OPENAI_KEY, S3Env
from tests.crash import kill_cli_when
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo

# End to end through subprocesses: not in scripts/check --fast.
pytestmark = pytest.mark.slow

COUNT = 5


def _args(paths: list[str]) -> list[str]:
    args = ["--batch-api", "--wait"]
    for path in paths:
        args += ["-i", path]
    return args


def _open_entries(s3: S3Env) -> list[dict[str, object]]:
    return [json.loads(s3.read(key)) for key in s3.keys(f"{LEDGER_FOLDER}/open/")]


@pytest.mark.parametrize("moment", ["before its id is recorded", "while waiting for it"])
def test_a_run_killed_after_creating_its_batch_is_finished_by_the_rerun(
    moment: str,
    s3: S3Env,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    prefect_api_url: str,
    isolated_results: Path,
) -> None:
    # An hour in progress: about 60 looks at 60 simulated seconds each, so the kill lands
    # while the first run is still waiting and the rerun sees it finish.
    openai_fake = FakeOpenAIServer(api_key=TEST_OPENAI_KEY, batch_duration=3600)
    with openai_fake:
        monkeypatch.setenv("OPENAI_API_KEY", TEST_OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.base_url)
        _kill_then_rerun(moment, openai_fake, s3, tmp_path, prefect_api_url, isolated_results)


def _kill_then_rerun(
    moment: str,
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    prefect_api_url: str,
    isolated_results: Path,
) -> None:
    paths = []
    for n in range(COUNT):
        path = tmp_path / f"asset-{n}.png"
        path.write_bytes(logo(seed=n))
        paths.append(str(path))
    env = session_env(prefect_api_url, isolated_results, IMAGE_PIPELINE_BATCH_POLL_SECONDS="0.05")
    gate = threading.Event()
    if moment == "before its id is recorded":
        openai_fake.hold_batch_creates(gate)
        killed_when = lambda: len(openai_fake.batches) == 1  # noqa: E731
    else:
        killed_when = lambda: any(e.get("batch_id") for e in _open_entries(s3))  # noqa: E731
    try:
        kill_cli_when(
            killed_when,
            *_args(paths),
            env=env,
            timeout=180,
            poll=0.05,
            message="timed out waiting for the batch",
        )
    finally:
        gate.set()
    openai_fake.hold_batch_creates(None)
    (entry,) = _open_entries(s3)
    assert (entry["batch_id"] is None) == (moment == "before its id is recorded")
    assert s3.keys("generated-images/") == []

    rerun = run_cli_process(*_args(paths), env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Processing complete" in rerun.stdout

    (batch,) = openai_fake.batches  # adopted or collected, never submitted again
    assert openai_fake.batch_lines_answered == COUNT
    keys = s3.keys("generated-images/")
    assert Counter(key.rsplit("_", 1)[-1] for key in keys) == Counter(
        {f"asset-{n}.png": 1 for n in range(COUNT)}
    )
    assert _open_entries(s3) == []
    (closed,) = [json.loads(s3.read(k)) for k in s3.keys(f"{LEDGER_FOLDER}/closed/")]
    assert closed["batch_id"] == batch["id"]
