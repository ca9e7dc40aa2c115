"""Before/after review: checks with every outcome, strict mode, the artifacts in a real
Prefect server's API, the HTML page in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from prefect_image_pipeline.batch.outcomes import BatchFailedError, BatchReport
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.review.report import read_rows
from tests.artifacts import read_artifact
from tests.chromium import dump_dom
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo
from tests.paths import SAMPLES


def _run(images: list[str], **options: Any) -> BatchReport:
    state = process_images(images=images, return_state=True, **options)
    try:
        return state.result()  # type: ignore[no-any-return]
    except BatchFailedError as failed:
        return failed.report


def _inputs(tmp_path: Path) -> list[str]:
    """A logo of a size OpenAI does not make (the fake echoes its size back: flagged), a
    badge with its own transparent background (passes) and a file that does not exist."""
    (tmp_path / "logo.png").write_bytes(logo(size=(500, 500)))
    shutil.copy(SAMPLES / "badge.png", tmp_path / "badge.png")
    return [str(tmp_path / "logo.png"), str(tmp_path / "badge.png"), str(tmp_path / "gone.png")]


def test_every_output_carries_its_checks_and_a_flag_does_not_fail_the_image(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    source, badge, gone = _inputs(tmp_path)
    report = _run([source, badge, gone])
    by_input = {o.input: o for o in report.outcomes}
    assert by_input[source].status == "uploaded" and by_input[source].flagged
    assert by_input[source].review and by_input[source].review.checks.flags == ["size"]
    assert by_input[badge].status == "uploaded" and not by_input[badge].flagged
    assert by_input[gone].status == "failed" and by_input[gone].review is None
    assert "1 flagged by the checks" in report.summary()
    assert len(s3.keys("generated-images/")) == 2


def test_strict_checks_fail_a_flagged_output_without_uploading_it(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    source, badge, _ = _inputs(tmp_path)
    report = _run([source, badge], strict_checks=True, image_model="gpt-image-1.5")
    flagged, passed = report.outcomes
    assert flagged.status == "failed" and "flagged (size" in (flagged.error or "")
    assert "--strict-checks" in (flagged.error or "")
    assert flagged.cost is not None and flagged.cost.usage_reported  # still shown
    assert flagged.review and flagged.review.result_thumbnail
    assert passed.status == "uploaded"
    assert [k.rsplit("_", 1)[-1] for k in s3.keys("generated-images/")] == ["badge.png"]
    assert len(openai_fake.responses_requests) == 2


def test_the_artifacts_show_source_beside_result_with_the_error_first(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    source, badge, gone = _inputs(tmp_path)
    state = process_images(images=[source, badge, gone], return_state=True)
    run_id = state.state_details.flow_run_id  # type: ignore[attr-defined]
    table = read_artifact("process-images-results", run_id).data
    rows = table if isinstance(table, list) else json.loads(table)
    assert list(rows[0]) == [
        "status",
        "error",
        "checks",
        "cost_usd",
        "input",
        "public_url",
        "tokens",
    ]  # the error never sits right of a long URL
    assert [(r["status"], r["checks"]) for r in rows] == [
        ("uploaded", "size"),
        ("uploaded", "ok"),
        ("failed", ""),
    ]
    previews = read_artifact("process-images-previews", run_id).data
    assert previews.count("](data:image/webp;base64,") == 4  # two images each, embedded
    rows_md = [line for line in previews.splitlines() if line.startswith("| ")]
    (failed_row,) = [line for line in rows_md if "gone.png" in line]
    assert failed_row.startswith("| **failed**: Image file not found")


@pytest.mark.slow  # starts a browser
def test_the_review_page_renders_every_card_in_headless_chromium(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    source, badge, gone = _inputs(tmp_path)
    report = _run([source, badge, gone], report_key="reviews/spring.html")
    page = s3.read("reviews/spring.html")
    assert s3.head("reviews/spring.html")["ContentType"] == "text/html; charset=utf-8"
    rows_path = tmp_path / "spring.jsonl"
    rows_path.write_bytes(s3.read("reviews/spring.jsonl"))
    assert [o.status for o in read_rows(rows_path).outcomes] == [o.status for o in report.outcomes]
    local = tmp_path / "spring.html"
    local.write_bytes(page)

    dom = dump_dom(local.as_uri())
    cards = re.findall(r'<article class="([^"]+)"[^>]*>', dom)
    assert [c.split()[1:] for c in cards] == [["uploaded", "flagged"], ["uploaded"], ["failed"]]
    assert dom.count('class="badge flagged"') == 1
    assert dom.count('<img alt="Result"') == 2 and dom.count('<img alt="Source"') == 2
    assert re.search(r'<p class="error">Image file not found', dom)
    assert "Flagged (1)" in dom and "Failed (1)" in dom

    filtered = dump_dom(local.as_uri() + "#flagged")
    shown = re.findall(r'<article class="([^"]+)"[^>]*?(hidden="")?>', filtered)
    assert [(c.split()[1], bool(h)) for c, h in shown] == [
        ("uploaded", False),
        ("uploaded", True),
        ("failed", True),
    ]


@pytest.mark.parametrize("key", ["reviews/x", "reviews/x.html"])
def test_a_report_key_without_html_gets_it(
    key: str, openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    source, _, _ = _inputs(tmp_path)
    _run([source], report_key=key)
    assert s3.keys("reviews/") == ["reviews/x.html", "reviews/x.jsonl"]
