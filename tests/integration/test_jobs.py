"""Per-image jobs: rows with their own prompt, prefix and options (--jobs, ``images`` objects)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.cli.jobs import JobsFileError, read_jobs
from prefect_image_pipeline.cli.review import redo_inputs
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.run import RunOptions
from prefect_image_pipeline.pricing import load_price_table
from prefect_image_pipeline.pricing.forecast import forecast
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.review.report import write_reports
from tests.artifacts import read_artifact
from tests.cli_runner import Runner
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo_files
from tests.paths import REPO


def _sent(fake: FakeOpenAIServer) -> dict[str, dict[str, Any]]:
    """What the fake OpenAI received, by prompt: the image tool of each request."""
    return {r.prompt: r.json["tools"][0] for r in fake.responses_requests}


def test_each_row_is_sent_with_its_own_prompt_options_and_prefix(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    a, b, c = logo_files(tmp_path, 3)
    state = process_images(
        images=[
            {"input": a, "prompt": "Logo for ACME", "s3_prefix": "cust_1/jobs/job_1"},
            {"input": b, "prompt": "Logo for Initech", "quality": "high"},
            c,
        ],
        quality="low",
        background="opaque",  # the prompt as written (transparency would add a key colour)
        return_state=True,
    )
    report = state.result()
    assert isinstance(report, BatchReport)
    sent = _sent(openai_fake)
    assert sent["Logo for ACME"]["quality"] == "low"  # the run's, where the row is silent
    assert sent["Logo for Initech"]["quality"] == "high"  # the row's own
    assert len(sent) == 3  # the plain row: the default prompt, the run's options
    keys = [o.key or "" for o in report.outcomes]
    assert keys[0].startswith("cust_1/jobs/job_1/") and not keys[1].startswith("cust_1/")
    assert [o.options for o in report.outcomes] == [
        {"prompt": "Logo for ACME", "s3_prefix": "cust_1/jobs/job_1"},
        {"prompt": "Logo for Initech", "quality": "high"},
        {},
    ]
    table = json.loads(
        read_artifact("process-images-results", state.state_details.flow_run_id).data
    )
    assert [row["options"] for row in table] == [
        'prompt="Logo for ACME", s3_prefix=cust_1/jobs/job_1',
        'prompt="Logo for Initech", quality=high',
        "",
    ]


def test_the_same_input_with_two_prompts_is_two_images_and_a_rerun_pays_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    (image,) = logo_files(tmp_path, 1)
    rows: list[Any] = [
        {"input": image, "prompt": "in blue"},
        {"input": image, "prompt": "in red"},
        {"input": image, "prompt": "in blue"},  # a duplicate row: runs once
    ]
    first = process_images(images=rows, background="opaque")
    assert isinstance(first, BatchReport)
    assert sorted(_sent(openai_fake)) == ["in blue", "in red"]
    assert first.outcomes[0].public_url == first.outcomes[2].public_url
    assert first.outcomes[0].public_url != first.outcomes[1].public_url
    again = process_images(images=rows, background="opaque")
    assert isinstance(again, BatchReport)
    assert len(openai_fake.responses_requests) == 2  # each cache key follows its own options
    assert all(o.generation_cached for o in again.outcomes)


def test_a_bad_row_is_refused_naming_it_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    a, b = logo_files(tmp_path, 2)
    with pytest.raises(Exception, match=r"images\[1\] \(.*logo-1.png\).*webp") as refused:
        process_images(
            images=[a, {"input": b, "background": "transparent", "output_format": "jpeg"}]
        )
    assert "png or webp" in str(refused.value)
    with pytest.raises(Exception, match="qualty"):  # Prefect validates the parameter
        process_images(images=[{"input": a, "qualty": "high"}])
    assert openai_fake.responses_requests == []


# -- the jobs file -------------------------------------------------------------------------


def test_jsonl_and_csv_give_the_same_rows(tmp_path: Path) -> None:
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text(
        "\n".join(
            [
                json.dumps({"input": "a.png", "prompt": "ACME, in blue", "widths": [320, 640]}),
                "",
                json.dumps("b.png"),
                json.dumps({"input": "c.png", "strict_checks": True, "quality": "high"}),
            ]
        )
    )
    table = tmp_path / "jobs.csv"
    table.write_text(
        "input,prompt,widths,strict_checks,quality\n"
        'a.png,"ACME, in blue","320,640",,\n'
        "b.png,,,,\n"
        "c.png,,,true,high\n"
    )
    run = RunOptions()
    expected = [
        {"input": "a.png", "prompt": "ACME, in blue", "widths": [320, 640]},
        "b.png",
        {"input": "c.png", "quality": "high", "strict_checks": True},
    ]
    assert read_jobs(str(jsonl), run) == expected
    assert read_jobs(str(table), run) == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "j.csv",
            "input,qualty\na.png,high\n",
            "column 'qualty': not a per-image option (did you mean 'quality'?)",
        ),
        ("j.csv", "image,prompt\na.png,x\n", "the header has no input column"),
        (
            "j.csv",
            "input,quality\na.png,high\nb.png,ultra\n",
            "row 3, column quality: quality must be one of",
        ),
        ("j.csv", "input,concurrency\na.png,3\n", "column 'concurrency': not a per-image option"),
        (
            "j.jsonl",
            '{"input": "a.png"}\n{"input": "b.png", "size": "10x10"}\n',
            "row 2, column size",
        ),
        (
            "j.jsonl",
            '{"input": "a.png", "references": ["r.png"]}\n',
            "did you mean 'reference_images'?",
        ),
        ("j.jsonl", '{"input": "a.png"}\n{"input": "b.png",\n', "row 2: not a JSON object"),
        (
            "j.jsonl",
            '{"input": "a.png", "alias": "../up.png"}\n',
            "row 1 (a.png): --alias '../up.png' is not an object key",
        ),
        ("j.jsonl", '{"prompt": "no input"}\n', "row 1, column input: field required"),
        ("j.jsonl", "\n# nothing\n", "has no rows"),
        (
            "j.csv",
            "input,prompt,s3_prefix\na.png,Recreate the logo, in blue,cust_1/jobs\n",
            "row 2: 4 cells for 3 columns; quote a value that holds a comma",
        ),
        ("j.csv", 'input,widths\na.png,"[320,"\n', "row 2, column widths: not a JSON array"),
    ],
)
def test_a_bad_jobs_file_is_refused_naming_row_and_column(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(JobsFileError) as refused:
        read_jobs(str(path), RunOptions())
    assert message in str(refused.value)
    assert str(path) in str(refused.value)


@pytest.mark.slow  # a process-image subprocess: full lane only
def test_a_bad_jobs_file_exits_2_before_prefect_starts(
    openai_fake: FakeOpenAIServer, run_cli: Runner, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("input,quality\nlogo.png,ultra\n")
    result = run_cli("--jobs", str(jobs))
    assert result.returncode == 2
    assert f"--jobs {jobs}, row 2, column quality: quality must be one of" in result.stderr
    assert openai_fake.history == []


@pytest.mark.slow  # a process-image subprocess: full lane only
def test_the_cli_runs_a_jobs_file_row_by_row(
    openai_fake: FakeOpenAIServer, s3: S3Env, run_cli: Runner, tmp_path: Path
) -> None:
    a, b = logo_files(tmp_path, 2)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"input": a, "prompt": "Recreate for cust_1", "s3_prefix": "cust_1/jobs/job_1"})
        + "\n"
        + json.dumps(
            {"input": b, "prompt": "Recreate for cust_2", "s3_prefix": "cust_2/jobs/job_9"}
        )
        + "\n"
    )
    result = run_cli("--jobs", str(jobs), "--background", "opaque")
    assert result.returncode == 0, result.stderr
    assert sorted(_sent(openai_fake)) == ["Recreate for cust_1", "Recreate for cust_2"]
    assert [key.split("/")[0] for key in s3.keys("")] == ["cust_1", "cust_2"]
    assert 'options: prompt="Recreate for cust_1", s3_prefix=cust_1/jobs/job_1' in result.stdout


def test_two_rows_may_not_share_an_alias(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    a, b = logo_files(tmp_path, 2)
    rows: list[Any] = [
        {"input": a, "alias": "brand/logo.png"},
        {"input": b, "alias": "brand/logo.png"},
    ]
    with pytest.raises(Exception, match="would both be published under the alias 'brand/logo'"):
        process_images(images=rows)
    assert openai_fake.history == []


def test_redoing_a_jobs_run_keeps_each_rows_options_but_those_given_again(tmp_path: Path) -> None:
    rows = [
        ImageOutcome.failed("a.png", "flagged").model_copy(
            update={"options": {"prompt": "old", "s3_prefix": "cust_1/jobs/job_1"}}
        ),
        ImageOutcome(input="b.png", status="uploaded", options={"prompt": "fine"}),
    ]
    page = tmp_path / "review.html"
    write_reports(BatchReport(outcomes=rows), page, title="review")
    redo = redo_inputs(str(page.with_suffix(".jsonl")), given={"prompt"})
    assert redo == [{"input": "a.png", "s3_prefix": "cust_1/jobs/job_1"}]  # --prompt wins


def test_a_dearer_row_under_the_runs_cap_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    a, b = logo_files(tmp_path, 2)
    table = load_price_table(None)
    low, high = (
        forecast(GenerationOptions(quality=quality), None, table=table).usd or 0.0
        for quality in ("low", "high")
    )
    cap = (low + high) / 2  # enough for the run's low quality, not for the row's high
    rows: list[Any] = [a, {"input": b, "quality": "high"}]
    with pytest.raises(Exception, match=r"images\[1\] \(.*logo-1.png\): --max-cost"):
        process_images(images=rows, quality="low", max_cost_usd=cap)
    assert openai_fake.history == []


def test_the_docs_jobs_files_are_read_as_written(tmp_path: Path) -> None:
    text = (REPO / "docs" / "platform.md").read_text(encoding="utf-8")
    jsonl = re.search(r"JSON lines \(`jobs.jsonl`\):\n\n```json\n(.*?)```", text, re.S)
    table = re.search(r"```csv\n(.*?)```", text, re.S)
    assert jsonl and table
    (tmp_path / "jobs.jsonl").write_text(jsonl.group(1))
    (tmp_path / "jobs.csv").write_text(table.group(1))
    rows = read_jobs(str(tmp_path / "jobs.jsonl"), RunOptions())
    assert [r if isinstance(r, str) else r["input"] for r in rows] == [
        "s3://my-bucket/uploads/acme.png",
        "https://example.com/initech.jpg",
        "samples/logo.png",
    ]
    assert rows[1] == {
        "input": "https://example.com/initech.jpg",
        "prompt": "Recreate the Initech logo",
        "quality": "high",
        "widths": [320, 640],
    }
    from_csv = read_jobs(str(tmp_path / "jobs.csv"), RunOptions())
    assert [r["input"] for r in from_csv if isinstance(r, dict)] == [
        "s3://my-bucket/uploads/acme.png",
        "https://example.com/initech.jpg",
    ]
