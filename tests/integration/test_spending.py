"""Spending you control: --estimate, a cap per run, a daily budget, and Redis away.

Against the fake OpenAI (whose output tokens follow OpenAI's published per-size,
per-quality figures), moto's S3 and a real Redis; what was paid is read from each image's
priced usage, what was asked from the requests the fake received.
"""

from __future__ import annotations

import shlex
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path
from typing import Any, cast

import pytest

from prefect_image_pipeline.batch.estimate import RunEstimate
from prefect_image_pipeline.batch.outcomes import BatchFailedError, BatchReport
from prefect_image_pipeline.cli.blocks import main as blocks_main
from prefect_image_pipeline.errors import ConfigurationError, MissingCredentialsError
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pricing import load_price_table
from prefect_image_pipeline.pricing.forecast import forecast
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.reprocess_images import reprocess_images
from prefect_image_pipeline.spending.events import BUDGET_REACHED_EVENT
from tests.cli_runner import REPO, Runner, start_cli
from tests.conftest import S3Env
from tests.events import Events, stored_events
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo, logo_files
from tests.prefect_server import free_port

# Output tokens dominate at high quality: the fake's answers cost 96-100 % of the
# forecast there; at low quality the fixed per-request part (the main model's own output,
# the input images) weighs more. docs/spending.md explains the margin.
LOWEST_SHARE_OF_FORECAST = {"low": 0.6, "medium": 0.8, "high": 0.9}


def _one_image(quality: str = "high", batch: bool = False) -> float:
    """The forecast of one 1024x1024 input (every input here is one)."""
    expected = forecast(
        GenerationOptions(quality=quality), (1024, 1024), table=load_price_table(None)
    )
    usd = expected.batch_usd if batch else expected.usd
    assert usd is not None
    return usd


def _report(**parameters: Any) -> BatchReport:
    try:
        return cast("BatchReport", process_images(**parameters))
    except BatchFailedError as failed:
        return failed.report


def _paid(report: BatchReport) -> float:
    return sum(o.cost.usd or 0.0 for o in report.uploaded if o.cost is not None)


def test_estimate_makes_no_call_uploads_nothing_and_prices_cached_images_at_zero(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    done, new = logo_files(tmp_path, 2, size=(1024, 1024))
    process_image(image=done)
    keys, calls = s3.keys(), len(openai_fake.responses_requests)

    estimate = process_images(images=[done, new, str(tmp_path / "missing.png")], estimate_only=True)

    assert isinstance(estimate, RunEstimate)
    assert (len(openai_fake.responses_requests), s3.keys()) == (calls, keys)
    cached, fresh, missing = estimate.images
    assert cached.cached and cached.usd == 0.0
    assert fresh.usd is not None and fresh.size == (1024, 1024)
    assert fresh.usd == pytest.approx(_one_image())
    assert fresh.batch_usd == pytest.approx(fresh.usd / 2)
    assert missing.error and "missing.png" in missing.error
    assert estimate.usd == pytest.approx(fresh.usd)
    lines = "\n".join(estimate.lines())
    assert f"${fresh.usd:.4f} interactive, ${fresh.batch_usd:.4f} with --batch-api" in lines
    assert "assumes: gpt-5 writes 200 tokens of its own" in lines


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_the_estimate_is_an_upper_bound_within_the_stated_margin(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, quality: str
) -> None:
    (image,) = logo_files(tmp_path, 1, size=(1024, 1024))
    estimate = process_image(image=image, quality=quality, estimate_only=True)
    assert isinstance(estimate, RunEstimate) and estimate.usd is not None
    paid = process_image(image=image, quality=quality)
    actual = paid.cost.usd if not isinstance(paid, RunEstimate) and paid.cost else None
    assert actual is not None
    assert LOWEST_SHARE_OF_FORECAST[quality] * estimate.usd <= actual <= estimate.usd


def test_a_cap_below_one_image_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=r"--max-cost \$0\.0100 is below what one image"):
        process_images(images=logo_files(tmp_path, 2, size=(1024, 1024)), max_cost_usd=0.01)
    assert openai_fake.responses_requests == [] and s3.keys() == []


@pytest.mark.slow  # over ~3 s: full lane only
@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_run_cap_stops_new_requests_and_a_rerun_with_more_pays_only_for_the_rest(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, concurrency: int
) -> None:
    images = logo_files(tmp_path, 6, size=(1024, 1024))
    cap = 2.5 * _one_image()
    openai_fake.latency = 0.2  # requests overlap at concurrency 8
    report = _report(images=images, max_cost_usd=cap, concurrency=concurrency)

    assert len(report.uploaded) == 2 and len(openai_fake.responses_requests) == 2
    assert _paid(report) <= cap
    reason = f"not started: this run's budget of ${cap:.2f} is spent"
    assert [o.error for o in report.failed] == [reason] * 4

    again = _report(images=images, max_cost_usd=10 * _one_image(), concurrency=concurrency)
    assert len(again.uploaded) == 6 and len(openai_fake.responses_requests) == 6
    assert _paid(again) == pytest.approx(4 * _paid(report) / 2, rel=0.05)  # four new, at cost


@pytest.fixture
def cache_block(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared cache chunk children need, saved by ``python -m blocks``."""
    name = f"image-cache-{uuid.uuid4().hex[:8]}"
    s3.client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    monkeypatch.setenv("IMAGE_PIPELINE_CACHE_BUCKET", name)
    argv = ["--skip-openai", "--cache-block", name]
    argv += ["--s3-block", f"out-{name}", "--aws-block", f"aws-{name}"]
    assert blocks_main(argv) == 0
    return name


@pytest.mark.slow  # over ~3 s: full lane only
def test_chunk_children_of_one_parent_share_its_cap(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, cache_block: str
) -> None:
    images, parent, cap = (
        logo_files(tmp_path, 6, size=(1024, 1024)),
        uuid.uuid4().hex,
        2.5 * _one_image(),
    )

    def child(n: int) -> BatchReport:  # as the parent starts each chunk (batch.chunks)
        chunk = images[3 * n : 3 * n + 3]
        return _report(
            images=chunk, chunk_of=f"{parent}/{n}", max_cost_usd=cap, cache_block=cache_block
        )

    with ThreadPoolExecutor(max_workers=2) as pool:  # each in a copy of the test's context
        reports = [f.result() for f in [pool.submit(copy_context().run, child, n) for n in (0, 1)]]
    assert sum(len(report.uploaded) for report in reports) == 2
    assert len(openai_fake.responses_requests) == 2


def test_batch_mode_reserves_at_the_batch_price_when_submitting(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    cap = 2.5 * _one_image(batch=True)  # below two interactive images, above two at batch
    report = _report(
        images=logo_files(tmp_path, 4, size=(1024, 1024)), batch_api=True, max_cost_usd=cap
    )
    (batch,) = openai_fake.batches
    assert len(openai_fake.batch_input_lines(batch["id"])) == 2
    assert [o.status for o in report.outcomes].count("submitted") == 2
    assert {o.error for o in report.failed} == {
        f"not started: this run's budget of ${cap:.2f} is spent"
    }


@pytest.mark.slow  # over ~3 s: full lane only
def test_a_reached_daily_budget_stops_the_run_and_emits_an_event(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_api_url: str,
) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("IMAGE_PIPELINE_BUDGET_NAME", name)
    monkeypatch.setenv("IMAGE_PIPELINE_DAILY_BUDGET_USD", str(1.5 * _one_image()))
    report = _report(images=logo_files(tmp_path, 3, size=(1024, 1024)), concurrency=1)
    assert len(report.uploaded) == 1
    assert all("today's budget of $" in (o.error or "") for o in report.failed)
    assert len(report.failed) == 2

    def ours(events: Events) -> Events:
        return [e for e in events if name in e["resource"]["prefect.resource.id"]]

    event_filter = {"event": {"name": [BUDGET_REACHED_EVENT]}}
    mine = ours(stored_events(prefect_api_url, event_filter, lambda found: bool(ours(found))))
    assert len(mine) == 1  # once per process, not once per refused image
    assert mine[0]["payload"]["limit_usd"] == pytest.approx(1.5 * _one_image())


@pytest.mark.slow  # process-image subprocesses
def test_two_processes_sharing_redis_stay_within_the_daily_budget(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    redis_url: str,
    cli_env: Any,
    run_cli: Runner,
) -> None:
    budget = 2.5 * _one_image()
    shared = {
        "IMAGE_PIPELINE_LOCK_URL": redis_url,
        "IMAGE_PIPELINE_DAILY_BUDGET_USD": str(budget),
        "IMAGE_PIPELINE_BUDGET_NAME": f"fleet-{uuid.uuid4().hex[:8]}",
    }
    hosts = []
    for host in ("a", "b"):
        argv = [
            arg
            for image in logo_files(tmp_path / host, 3, size=(1024, 1024))
            for arg in ("-i", image)
        ]
        hosts.append(start_cli(*argv, "--concurrency", "3", env={**cli_env(), **shared}))
    outputs = [host.communicate(timeout=240)[0] for host in hosts]
    assert [host.returncode for host in hosts] == [1, 1], outputs

    assert len(openai_fake.responses_requests) == 2  # two images for both hosts together
    shown = run_cli("--budget", env=shared)
    assert shown.returncode == 0, shown.stderr
    spent = float(shown.stdout.split("spent:")[1].split()[0].lstrip("$"))
    assert 0 < spent <= budget
    assert f"of ${budget:.2f}" in shown.stdout and "every host" in shown.stdout


def test_an_unreachable_lock_url_refuses_the_run_naming_the_variable(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_LOCK_URL", f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ConfigurationError) as refused:
        process_images(images=logo_files(tmp_path, 2, size=(1024, 1024)))
    assert "IMAGE_PIPELINE_LOCK_URL points at redis://127.0.0.1:" in str(refused.value)
    assert "Start that Redis, or unset IMAGE_PIPELINE_LOCK_URL" in str(refused.value)
    assert openai_fake.responses_requests == []


@pytest.mark.slow  # process-image subprocesses
def test_estimate_from_the_command_line(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, run_cli: Runner
) -> None:
    (image,) = logo_files(tmp_path, 1, size=(1024, 1024))
    shown = run_cli("-i", image, "--estimate", "--quality", "low")
    assert shown.returncode == 0, shown.stderr
    assert "Estimate only: nothing is sent to OpenAI or uploaded." in shown.stdout
    assert f"${_one_image('low'):.4f}  1024x1024 in, 1024x1024 low out  {image}" in shown.stdout
    assert openai_fake.responses_requests == [] and s3.keys() == []


def _readme_spending_commands() -> list[list[str]]:
    """The README's estimate -> capped run -> rerun commands, as argument lists."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("Know the price first", 1)[1].split("```bash", 1)[1].split("```")[0]
    prefix = "uv run process-image "
    return [
        shlex.split(line.split("#")[0].removeprefix(prefix))
        for line in block.strip().splitlines()
        if line.startswith(prefix)
    ]


@pytest.mark.slow  # process-image subprocesses
def test_the_readmes_estimate_cap_and_rerun_work_as_written(
    openai_fake: FakeOpenAIServer, s3: S3Env, run_cli: Runner
) -> None:
    estimate, capped, rerun = _readme_spending_commands()

    shown = run_cli(*estimate)
    assert shown.returncode == 0, shown.stderr
    assert "with --batch-api" in shown.stdout and openai_fake.responses_requests == []

    stopped = run_cli(*capped)
    assert stopped.returncode == 1
    assert "not started: this run's budget of $0.40 is spent" in stopped.stdout + stopped.stderr
    assert len(openai_fake.responses_requests) == 1 and len(s3.keys()) == 1

    finished = run_cli(*rerun)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert len(openai_fake.responses_requests) == 2 and len(s3.keys()) == 2


def test_reprocess_estimates_only_the_new_and_changed_sources(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    for n in range(2):
        s3.client.put_object(  # type: ignore[attr-defined]
            Bucket=s3.bucket, Key=f"incoming/logo-{n}.png", Body=logo(size=(1024, 1024), seed=n)
        )
    reprocess_images()  # both published; the manifest records them
    s3.client.put_object(  # type: ignore[attr-defined]
        Bucket=s3.bucket, Key="incoming/new.png", Body=logo(size=(1024, 1024), seed=7)
    )
    keys, calls = s3.keys(), len(openai_fake.responses_requests)

    estimate = reprocess_images(estimate_only=True)

    assert isinstance(estimate, RunEstimate)
    assert [i.input for i in estimate.images] == [f"s3://{s3.bucket}/incoming/new.png"]
    assert estimate.usd == pytest.approx(_one_image())
    assert (len(openai_fake.responses_requests), s3.keys()) == (calls, keys)


def test_an_estimate_of_local_files_needs_no_aws_account_and_no_openai_key(
    openai_fake: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # STS away
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # refused at once, not after botocore's retries
    images = logo_files(tmp_path, 1, size=(1024, 1024))
    with pytest.raises(RuntimeError, match="Failed to get AWS account ID"):
        process_images(images=images)  # publishing needs the bucket
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingCredentialsError):
        process_images(images=images)  # and calling OpenAI a key
    estimate = process_images(images=images, estimate_only=True)
    assert isinstance(estimate, RunEstimate) and estimate.usd == pytest.approx(_one_image())
