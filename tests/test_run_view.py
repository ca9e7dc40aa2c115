"""How one image's run reads: its task runs in the UI, its result artifact, its own lines.

Runs the process-image flow against the test Prefect server (offline, or with the fake
OpenAI and moto S3) and reads back what the server stored.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path
from typing import cast
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import State
from prefect.events.worker import EventsWorker

from prefect_image_pipeline.pipeline.reporter import Reporter, current_reporter, report
from prefect_image_pipeline.pipeline.run import ProcessedImage
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.steps.cleanup import work_dir_prefix
from tests.conftest import S3Env
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo

STEPS = ("load", "encode", "generate", "save", "upload", "cleanup")


def _flow_run_id(state: object) -> UUID:
    flow_run_id = cast("State[object]", state).state_details.flow_run_id
    assert flow_run_id is not None
    return flow_run_id


def _task_run_names(flow_run_id: UUID, expected: int) -> list[str]:
    """The run's task run names, once at least ``expected`` reached the server, and any
    more that follow within a second (task runs are recorded from events, a bit later)."""
    EventsWorker.drain_all()  # every event of the run has been sent
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    names: list[str] = []
    deadline = time.monotonic() + 30
    settled_at: float | None = None
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            names = [run.name for run in client.read_task_runs(flow_run_filter=run_filter)]
        if len(names) >= expected:
            settled_at = settled_at or time.monotonic() + 1.0
            if time.monotonic() >= settled_at:
                break
        time.sleep(0.2)
    return names


def _own_work_dirs() -> set[Path]:
    """The temp work dirs this process has made and not removed."""
    return set(Path(tempfile.gettempdir()).glob(f"{work_dir_prefix(os.getpid())}*"))


def test_one_image_is_one_task_run_per_step_named_for_it(
    http_server: ImageHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = http_server.add("/brand/logo.png", logo())  # downloaded: a temp file to clean up
    before = _own_work_dirs()
    state = process_image(image=url, offline=True, return_state=True)
    names = _task_run_names(_flow_run_id(state), expected=len(STEPS))
    assert sorted(names) == sorted(f"{step} logo.png" for step in STEPS)
    # Spelled out: every run names its step and its input, none carries Prefect's random
    # suffix ("encode-595"), and the image is cleaned up by one task run.
    assert all(name.split(" ")[0] in STEPS and name.endswith(" logo.png") for name in names)
    assert not [name for name in names if re.search(r"-[0-9a-f]{3}$", name)]
    assert [name for name in names if name.startswith("cleanup")] == ["cleanup logo.png"]
    # That one cleanup removed the download, the generated PNG and the temp work dir.
    assert _own_work_dirs() == before


def test_one_image_leaves_the_result_a_batch_row_shows(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    http_server: ImageHTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kinds = ("text_input", "cached_text_input", "text_output", "image_input", "image_output")
    prices = {"models": {m: dict.fromkeys(kinds, 1000.0) for m in ("gpt-5", "gpt-image-1.5")}}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    monkeypatch.setenv("IMAGE_PIPELINE_PRICES_FILE", str(tmp_path / "prices.json"))
    served = http_server.add("/brand/logo.png", logo())
    url = served.replace("http://", "http://reader:hunter2@") + "?X-Amz-Signature=c0ffee"
    state = process_image(image=url, image_model="gpt-image-1.5", return_state=True)
    processed = cast("State[ProcessedImage]", state).result()
    assert processed.cost is not None and processed.cost.usd
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[_flow_run_id(state)])
            )
        )
    assert artifact.key == "process-image-result" and artifact.type == "markdown"
    assert artifact.description == processed.cost.describe()
    assert processed.review is not None
    flags = processed.review.checks.flags
    text = str(artifact.data)
    assert text.startswith("# Uploaded logo.png" + (", flagged by the checks" if flags else ""))
    row = text.splitlines()[-1]
    assert row.startswith("| **uploaded** | ![source](data:image/webp;base64,")
    assert "| ![result](data:image/webp;base64," in row
    assert f"| {', '.join(flags) or 'ok'} | ${processed.cost.usd:.4f} |" in row
    shown = served.replace("http://", "http://reader:***@") + "?X-Amz-Signature=***"
    assert row.endswith(f"| [{shown}]({processed.public_url}) |")
    assert "hunter2" not in text and "c0ffee" not in text


def _unsized(line: str) -> str:
    return re.sub(r"\d+ bytes", "N bytes", line)


@pytest.mark.slow  # over ~3 s: full lane only
def test_two_runs_in_one_process_each_get_only_their_own_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # Relative names: the progress line cuts a shown input at 80 characters, and a
    # pytest-xdist worker's tmp_path can be longer than that.
    monkeypatch.chdir(tmp_path)
    images = {}
    for n, name in enumerate(("first", "second")):
        images[name] = Path(f"{name}.png")
        images[name].write_bytes(logo(seed=n))
    both_started = threading.Barrier(2, timeout=60)

    def run(name: str) -> list[str]:
        lines: list[str] = []

        def say(line: str) -> None:
            lines.append(line)
            if line == "Step 1: Loading image...":
                both_started.wait()  # the two runs overlap from their first line on

        with Reporter(say=say).active():
            process_image(image=str(images[name]), offline=True)
        return lines

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(run, ["first", "second"])
    assert f"  Detected local file: {images['first']}..." in first
    assert f"  Detected local file: {images['second']}..." in second
    assert not [line for line in first if "second" in line]
    assert not [line for line in second if "first" in line]
    # The same lines, but for the name and the sizes.
    assert [_unsized(line.replace("second", "first")) for line in second] == [
        _unsized(line) for line in first
    ]
    assert first[:2] == ["Step 1: Loading image...", f"  Detected local file: {images['first']}..."]
    assert first[-1] == "  ✓ Uploaded to local storage"


def test_a_reporter_holds_for_its_block_and_reaches_the_threads_it_starts() -> None:
    outer: list[str] = []
    inner: list[str] = []
    with Reporter(say=outer.append).active():
        report("outer")
        with Reporter(say=inner.append).active():
            report("inner")
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(copy_context().run, report, "inner, from a thread").result()
        report("outer again")
    assert outer == ["outer", "outer again"]
    assert inner == ["inner", "inner, from a thread"]
    assert current_reporter() == Reporter()
