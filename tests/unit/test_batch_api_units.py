"""Batch mode's parts on their own: request ids, input files within OpenAI's limits, prices."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from prefect_image_pipeline.batch_api.lines import BatchLine, batch_line, request_id
from prefect_image_pipeline.batch_api.spool import LineSpool
from prefect_image_pipeline.cli.inputs import collect_inputs
from prefect_image_pipeline.cli.main import build_parser
from prefect_image_pipeline.errors import InvalidImageSourceError
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pricing import estimate_cost, load_price_table
from prefect_image_pipeline.steps.encode import encode_image
from prefect_image_pipeline.steps.usage import TokenUsage
from tests.images import logo


def _line(custom_id: str, size: int) -> BatchLine:
    return BatchLine(custom_id, f"input-{custom_id}", "x" * (size - 1))


def test_request_ids_follow_what_decides_the_answer() -> None:
    image = encode_image(logo(seed=1))
    options = GenerationOptions(api="images")
    same = request_id(image, options, (), None, "/v1/images/edits")
    assert same == request_id(image, options, (), None, "/v1/images/edits")
    assert same.startswith("img-") and len(same) == 44
    others = {
        request_id(encode_image(logo(seed=2)), options, (), None, "/v1/images/edits"),
        request_id(image, replace(options, quality="low"), (), None, "/v1/images/edits"),
        request_id(image, options, (), None, "/v1/responses"),
    }
    assert same not in others and len(others) == 3


def test_an_images_line_is_the_json_form_of_images_edit() -> None:
    image = encode_image(logo())
    options = GenerationOptions(api="images", size="1024x1536", output_compression=None)
    line = batch_line("img-1", "logo.png", "/v1/images/edits", image, options, (), None)
    parsed = json.loads(line.text)
    assert set(parsed) == {"custom_id", "method", "url", "body"}
    assert (parsed["method"], parsed["url"]) == ("POST", "/v1/images/edits")
    assert parsed["body"]["images"] == [{"image_url": image.data_url}]
    assert parsed["body"]["size"] == "1024x1536" and "output_compression" not in parsed["body"]
    assert line.size == len(line.text.encode()) + 1


def test_the_spool_starts_a_new_file_before_a_limit_would_be_passed(tmp_path: Path) -> None:
    spool = LineSpool(tmp_path, max_lines=2, max_bytes=100)
    for n, size in enumerate([40, 40, 40, 70, 40]):
        spool.add(_line(f"c{n}", size))
    spool.add(_line("c0", 40))  # the same request again: written once
    assert [list(f.requests) for f in spool.files] == [["c0", "c1"], ["c2"], ["c3"], ["c4"]]
    for spooled in spool.files:
        lines = spooled.path.read_text().splitlines()
        assert len(lines) == len(spooled.requests) and spooled.size <= 100
    with pytest.raises(InvalidImageSourceError, match="without --batch-api"):
        spool.add(_line("big", 101))


def test_the_price_table_has_a_batch_column(tmp_path: Path) -> None:
    table = load_price_table(None)
    assert table.price("gpt-image-1.5", "image_output", batch=True) == pytest.approx(
        table.price("gpt-image-1.5", "image_output") / 2  # type: ignore[operator]
    )
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"models": {"m": {"image_output": 10.0, "batch": {}}}}))
    usage = TokenUsage(image_tool_reported=True, image_output_image_tokens=1_000_000)
    cost = estimate_cost(usage, "gpt-5", "m", load_price_table(override), batch=True)
    assert cost.usd is None and cost.interactive_usd == pytest.approx(10.0)
    assert "no price for m batch image_output" in cost.describe()


def test_wait_needs_batch_api(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert collect_inputs(parser, parser.parse_args(["--batch-api", "--wait", "-i", "a.png"]))
    with pytest.raises(SystemExit) as exited:
        collect_inputs(parser, parser.parse_args(["--wait", "-i", "a.png"]))
    assert exited.value.code == 2
    assert "--wait goes with --batch-api" in capsys.readouterr().err
