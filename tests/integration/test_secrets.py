"""No secret or image payload reaches a log, an exception, an artifact or a stored result.

Runs the process-image flow with canary credentials (the OpenAI key, an AWS secret key
and session token) through success and through failures that carry request context
(a rejected key, a moderation refusal that answered a request holding the image, an S3
AccessDenied), then searches everything a run leaves behind: captured stdout/stderr and
log records, the run's logs and artifacts read back from the Prefect API, the flow and
task runs' state messages, the raised exception, and every file in result storage
(with Prefect's base64-wrapped pickles unwrapped, so a payload cannot hide inside).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import State
from prefect.logging.handlers import APILogWorker

from prefect_image_pipeline.process_image import process_image
from tests.conftest import TEST_OPENAI_KEY, S3Env
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.fakes.s3_faults import S3Fault, S3FaultProxy
from tests.images import logo

AWS_SECRET_CANARY = "awsSecretCanary/0123456789abcdefghijklmnopqrstuv"
AWS_TOKEN_CANARY = "awsSessionTokenCanary0123456789abcdefghijklmnop"
WRONG_KEY_CANARY = "sk-wrong-canary-fedcba9876543210"
# The result artifact's embedded previews (checks.thumbnails), shown there on purpose as a
# batch's previews show them; any other data URL is still a leak.
THUMBNAILS = re.compile(r"!\[(?:source|result)\]\(data:image/webp;base64,[A-Za-z0-9+/=]+\)")

# What reaches the Prefect server is searched too: the run logs go there.
pytestmark = pytest.mark.api_logs


@dataclass
class Leaks:
    """Where each secret must not appear."""

    needles: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, value: str) -> None:
        self.needles[label] = value

    def add_payload(self, label: str, image: bytes) -> None:
        """A stretch of the image's base64 past the format's fixed header bytes."""
        encoded = base64.b64encode(image).decode()
        assert len(encoded) > 160
        self.add(label, encoded[60:160])

    def find(self, haystacks: dict[str, str]) -> list[str]:
        """``label in place`` for every needle found in any haystack."""
        return [
            f"{label} in {place}"
            for place, text in haystacks.items()
            for label, needle in self.needles.items()
            if needle in text
        ]


@pytest.fixture
def leaks(monkeypatch: pytest.MonkeyPatch, s3_faults: S3FaultProxy) -> Leaks:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET_CANARY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_TOKEN_CANARY)
    monkeypatch.setenv("IMAGE_PIPELINE_OPENAI_MAX_RETRIES", "0")
    found = Leaks()
    found.add("OpenAI key", TEST_OPENAI_KEY)
    found.add("wrong OpenAI key", WRONG_KEY_CANARY)
    found.add("AWS secret key", AWS_SECRET_CANARY)
    found.add("AWS session token", AWS_TOKEN_CANARY)
    found.add("a data URL", "data:image/")
    return found


def _run(image: str, work: Path) -> State:
    state = process_image(image=image, output_dir=str(work), return_state=True)
    assert isinstance(state, State)
    return state


def _run_record(state: State) -> dict[str, str]:
    """The run's logs, artifacts and state messages, as stored by the Prefect API."""
    APILogWorker.drain_all(timeout=10)  # logs travel to the API in the background
    flow_run_id = state.state_details.flow_run_id
    assert isinstance(flow_run_id, UUID)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        flow_run = client.read_flow_run(flow_run_id)
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    assert logs, "the run's logs did not reach the API"
    messages = [(flow_run.state.message if flow_run.state else None) or ""]
    messages += [run.state.message or "" for run in task_runs if run.state]
    return {
        "Prefect logs": "\n".join(log.message for log in logs),
        "artifacts": "\n".join(
            f"{a.key} {a.description} {THUMBNAILS.sub('', str(a.data))}" for a in artifacts
        ),
        "state messages": "\n".join(messages),
        "flow parameters": json.dumps(flow_run.parameters, default=str),
    }


def _stored_results(root: Path) -> dict[str, str]:
    """Every result file as text, with Prefect's base64-wrapped pickles unwrapped too."""
    found: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        found[f"result file {path.name}"] = raw.decode("latin-1")
        for blob in _wrapped_results(raw):
            found[f"result {path.name} (unwrapped)"] = blob.decode("latin-1")
    return found


def _wrapped_results(raw: bytes) -> Iterator[bytes]:
    try:
        record = json.loads(raw)
    except ValueError:
        return
    result = record.get("result") if isinstance(record, dict) else None
    if isinstance(result, str):
        try:
            yield base64.decodebytes(result.encode())
        except (binascii.Error, ValueError):
            return


def _assert_nothing_leaked(
    leaks: Leaks,
    state: State,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    results: Path,
) -> None:
    out, err = capfd.readouterr()
    places = {"stdout": out, "stderr": err, "log records": caplog.text}
    places |= _run_record(state)
    places |= _stored_results(results)
    if state.is_failed():
        with pytest.raises(Exception) as caught:
            state.result()
        places["exception"] = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r}"
    else:
        places["result"] = repr(state.result())
    assert leaks.find(places) == []


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def test_a_successful_run_leaks_nothing(
    leaks: Leaks,
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    http_server: ImageHTTPServer,
    tmp_path: Path,
    isolated_results: Path,
    capfd: pytest.CaptureFixture[str],
    info_logs: pytest.LogCaptureFixture,
) -> None:
    source = logo(size=(300, 200), seed=7)
    leaks.add_payload("the input image's base64", source)
    state = _run(http_server.add("/brand/logo.png", source), tmp_path / "work")
    assert state.is_completed()
    # The payloads did travel where they had to: proof the needles are the real ones.
    (request,) = openai_fake.responses_requests
    assert leaks.needles["the input image's base64"] in request.input_images[0]
    published = s3.read(state.result().key)
    leaks.add_payload("the generated image's base64", published)
    assert list(isolated_results.rglob("*")), "no results were stored, so none were searched"
    _assert_nothing_leaked(leaks, state, capfd, info_logs, isolated_results)


@pytest.mark.parametrize("failure", ["wrong key", "moderation", "S3 access denied"])
def test_failed_runs_leak_nothing(
    leaks: Leaks,
    openai_fake: FakeOpenAIServer,
    s3_faults: S3FaultProxy,
    s3: S3Env,
    http_server: ImageHTTPServer,
    tmp_path: Path,
    isolated_results: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    info_logs: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    source = logo(size=(300, 200), seed=11)
    leaks.add_payload("the input image's base64", source)
    if failure == "wrong key":
        monkeypatch.setenv("OPENAI_API_KEY", WRONG_KEY_CANARY)
    elif failure == "moderation":
        openai_fake.enqueue(Fault.moderation_blocked())
    else:
        s3_faults.enqueue(S3Fault.access_denied())
    state = _run(http_server.add("/logo.png", source), tmp_path / "work")
    assert state.is_failed()
    assert s3.keys() == []
    _assert_nothing_leaked(leaks, state, capfd, info_logs, isolated_results)


def test_the_search_finds_a_planted_secret(
    leaks: Leaks, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The search itself works: a canary written to stderr or a result file is found."""
    print(f"oops {AWS_SECRET_CANARY}", file=sys.stderr)
    (tmp_path / "record").write_text(
        json.dumps({"result": base64.encodebytes(TEST_OPENAI_KEY.encode() * 3).decode()})
    )
    _, err = capfd.readouterr()
    found = leaks.find({"stderr": err, **_stored_results(tmp_path)})
    assert found == ["AWS secret key in stderr", "OpenAI key in result record (unwrapped)"]
