"""The review loop from a terminal: --report, the page in headless Chromium, --redo-flagged."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.chromium import dump_dom
from tests.cli_runner import run_cli_process, session_env
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo
from tests.paths import SAMPLES

# End to end through subprocesses: not in scripts/check --fast.
pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli_process(*args, env=env)


@pytest.fixture
def env(prefect_api_url: str, isolated_results: Path) -> dict[str, str]:
    return session_env(prefect_api_url, isolated_results)


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_offline_batch_of_the_samples_opens_as_a_review_page(
    env: dict[str, str], tmp_path: Path, local_store: Path
) -> None:
    env.pop("OPENAI_API_KEY", None)
    env["IMAGE_PIPELINE_LOCAL_STORE"] = str(local_store)
    page = tmp_path / "review.html"
    samples = sorted(SAMPLES.iterdir())
    args = [arg for sample in samples for arg in ("-i", str(sample))]
    done = _cli(env, "--offline", *args, "--report", str(page))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Review page: {page.as_uri()}" in done.stdout
    rows = _rows(tmp_path / "review.jsonl")
    assert [row["input"] for row in rows] == [str(s) for s in samples]

    dom = dump_dom(page.as_uri())
    cards = re.findall(r'<article class="([^"]+)"', dom)
    assert len(cards) == len(samples) == 3
    flagged = [row["input"] for row in rows if row["flags"]]
    assert dom.count('class="badge flagged"') == len(flagged)
    # The photo has no plain background to cut out: no transparency came back, and it says so.
    assert flagged == [str(SAMPLES / "photo.jpg")]
    assert dom.count('<img alt="Source"') == dom.count('<img alt="Result"') == 3


def test_redo_flagged_pays_only_for_the_redone_images(
    env: dict[str, str], openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    env.update({k: v for k, v in os.environ.items() if k.startswith(("OPENAI_", "AWS_"))})
    env["ARTIFACTS_BUCKET"] = s3.bucket
    white = tmp_path / "logo.png"
    white.write_bytes(logo(size=(500, 500)))  # a size OpenAI does not make: flagged
    badge = tmp_path / "badge.png"
    shutil.copy(SAMPLES / "badge.png", badge)  # its own transparency: passes
    page = tmp_path / "review.html"
    first = _cli(env, "-i", str(white), "-i", str(badge), "--report", str(page))
    assert first.returncode == 0, first.stdout + first.stderr
    rows_path = tmp_path / "review.jsonl"
    before = _rows(rows_path)
    assert [row["flags"] for row in before] == [["size"], []]
    assert len(openai_fake.responses_requests) == 2

    redo = _cli(env, "--redo-flagged", str(rows_path), "--size", "1024x1024")
    assert redo.returncode == 0, redo.stdout + redo.stderr
    assert len(openai_fake.responses_requests) == 3  # only the flagged one again
    (sent,) = openai_fake.responses_requests[2:]
    assert sent.json["tools"][0]["size"] == "1024x1024"
    after = _rows(rows_path)
    assert [row["input"] for row in after] == [str(white), str(badge)]
    assert [row["flags"] for row in after] == [[], []]
    assert after[1] == before[1]  # the good one untouched
    redone_checks = after[0]["outcome"]["review"]["checks"]["results"]  # type: ignore[index]
    assert {check["name"]: check["passed"] for check in redone_checks}["size"] is True
    assert 'class="badge flagged"' not in dump_dom(page.as_uri())

    nothing = _cli(env, "--redo-flagged", str(rows_path))
    assert nothing.returncode == 0 and "Nothing to redo" in nothing.stdout
    assert len(openai_fake.responses_requests) == 3
