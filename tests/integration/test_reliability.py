"""The fault-injection suite: every image either comes through or fails with a named reason.

The scenarios live in tests/fault_scenarios.py; this module runs each one against fresh
fakes and checks the figures and citations in docs/reliability.md against them.
Reproduce the figures with ``uv run pytest tests/integration/test_reliability.py -q``.
"""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest

from prefect_image_pipeline.errors import explain
from prefect_image_pipeline.steps.encode import encode_image
from prefect_image_pipeline.steps.generate import OpenAIImageGenerator
from tests.conftest import S3Env
from tests.fake_clients import NATIVE_TRANSPARENCY
from tests.fakes.flaky_http import FlakyImageServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.fakes.s3_faults import S3FaultProxy
from tests.fault_scenarios import CLEAR_FAILURES, SCENARIOS, Rig
from tests.images import logo
from tests.paths import REPO


@pytest.fixture
def rig(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    s3_faults: S3FaultProxy,
    flaky_http: FlakyImageServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Rig:
    # Only Prefect's retries (3, after 0.02 s in tests) stand between a fault and a refusal:
    # the openai client's and botocore's own retries would absorb faults, and add seconds.
    monkeypatch.setenv("IMAGE_PIPELINE_OPENAI_MAX_RETRIES", "0")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    work = tmp_path / "work"
    return Rig(openai_fake, s3, s3_faults, flaky_http, work, monkeypatch)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(rig: Rig, name: str) -> None:
    case = SCENARIOS[name]
    case.run(rig)
    assert rig.outcomes, f"{name} recorded no outcome"
    assert rig.outcomes[0] == case.outcome
    assert rig.openai.errors == rig.http.errors == 0  # the fakes themselves did not break


def figures() -> dict[str, int]:
    """Scenarios run, survived, refused; lost is zero when every scenario passes."""
    outcomes = [case.outcome for case in SCENARIOS.values()]
    return {
        "run": len(outcomes),
        "survived": outcomes.count("survived"),
        "refused": outcomes.count("refused"),
        "pipeline": sum(case.level == "pipeline" for case in SCENARIOS.values()),
    }


def test_the_documented_figures_are_this_suites() -> None:
    doc = (REPO / "docs" / "reliability.md").read_text()
    n = figures()
    assert (
        f"{n['run']} scenarios run ({n['pipeline']} through the whole flow), "
        f"{n['survived']} survived, {n['refused']} refused, 0 lost"
    ) in doc
    for name in SCENARIOS:
        assert f"`{name}`" in doc, f"docs/reliability.md does not list scenario {name}"


def test_every_test_the_docs_cite_exists() -> None:
    doc = (REPO / "docs" / "reliability.md").read_text()
    # tests/unit/, tests/integration/, tests/e2e/ or tests/ itself.
    cited = set(re.findall(r"(tests/(?:\w+/)?test_\w+\.py)::(\w+)", doc))
    assert cited
    for module, name in cited:
        source = (REPO / module).read_text()
        assert f"def {name}(" in source, f"docs/reliability.md cites missing {module}::{name}"


def test_openai_html_reply_is_refused_with_a_reason(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.enqueue(Fault.malformed(content_type="text/html"))
    client = openai.OpenAI(
        api_key=openai_fake.api_key, base_url=openai_fake.base_url, max_retries=0
    )
    with pytest.raises(CLEAR_FAILURES) as caught:
        OpenAIImageGenerator(client).generate(encode_image(logo()), NATIVE_TRANSPARENCY)
    assert "Malformed response from OpenAI" in explain(caught.value)
