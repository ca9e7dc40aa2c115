"""The image tool's options end to end: sent as asked, refused before any call, keys follow
the format, names of any length make safe keys, and each run's cost is shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from prefect.exceptions import ParameterTypeError

from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.pipeline.reporter import reporting_to
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.steps.upload import output_filename
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo, open_image


@pytest.fixture
def logo_path(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_bytes(logo())
    return path


def _tool(fake: FakeOpenAIServer, n: int = 0) -> dict[str, object]:
    return fake.responses_requests[n].json["tools"][0]  # type: ignore[no-any-return]


def test_every_option_reaches_the_tool_and_detail_the_image(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    result = process_image(
        image=str(logo_path),
        image_model="gpt-image-2.5-flare",
        size="1536x1024",
        output_format="webp",
        output_compression=80,
        moderation="low",
        action="edit",
        detail="original",
        quality="xhigh",
        complexity="low",
        background="opaque",  # sent as is (a transparent one is cut out: test_transparency)
    )
    tool = _tool(openai_fake)
    assert tool == {
        "type": "image_generation",
        "background": "opaque",
        "quality": "xhigh",
        "output_format": "webp",
        "model": "gpt-image-2.5-flare",
        "size": "1536x1024",
        "output_compression": 80,
        "moderation": "low",
        "action": "edit",
        "complexity": "low",
    }
    (content,) = [m["content"] for m in openai_fake.responses_requests[0].json["input"]]
    assert [part.get("detail") for part in content if part["type"] == "input_image"] == ["original"]
    assert result.key.endswith(".webp")


def test_input_fidelity_reaches_a_model_that_takes_it(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    process_image(image=str(logo_path), image_model="gpt-image-1.5", input_fidelity="high")
    assert _tool(openai_fake)["input_fidelity"] == "high"
    assert _tool(openai_fake)["background"] == "transparent"  # it makes transparency itself


def test_defaults_send_the_default_model_a_key_colour_and_detail(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    process_image(image=str(logo_path))
    assert _tool(openai_fake) == {
        "type": "image_generation",
        "background": "opaque",  # the default image model refuses transparent
        "quality": "high",
        "output_format": "png",
    }
    (content,) = [m["content"] for m in openai_fake.responses_requests[0].json["input"]]
    assert content[1]["detail"] == "high"
    assert "background is removed afterwards" in content[0]["text"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output_format": "jpeg"}, "transparent background needs png or webp"),
        ({"output_compression": 50}, "compression applies to webp and jpeg only"),
    ],
)
def test_options_that_cannot_work_are_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, options: dict, message: str
) -> None:
    with pytest.raises(InvalidOptionsError, match=message):
        process_image(image=str(logo_path), **options)
    assert openai_fake.history == []
    assert s3.keys() == []


@pytest.mark.parametrize(
    "options",
    [
        {"size": "1000x1000"},
        {"output_format": "gif"},
        {"image_model": "gpt-image-1"},
        {"output_compression": 101},
    ],
)
def test_bad_values_are_refused_by_the_flow_parameters(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, options: dict
) -> None:
    with pytest.raises(ParameterTypeError):
        process_image(image=str(logo_path), **options)
    assert openai_fake.history == []


def test_a_new_option_value_is_a_new_image_and_the_old_one_a_cache_hit(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    process_image(image=str(logo_path))
    process_image(image=str(logo_path), size="1024x1024")
    again = process_image(image=str(logo_path))
    assert len(openai_fake.responses_requests) == 2
    assert again.generation_cached


@pytest.mark.parametrize(("fmt", "mime"), [("webp", "image/webp"), ("jpeg", "image/jpeg")])
def test_offline_output_follows_format_and_size(
    local_store: Path, logo_path: Path, fmt: str, mime: str
) -> None:
    background = "opaque" if fmt == "jpeg" else "transparent"
    result = process_image(
        image=str(logo_path),
        offline=True,
        output_format=fmt,
        size="1536x1024",
        background=background,
    )
    assert result.key.endswith(f"_generated_logo.{fmt}")
    stored = (local_store / result.key).read_bytes()
    image = open_image(stored)
    assert (image.format, image.size) == ({"webp": "WEBP", "jpeg": "JPEG"}[fmt], (1536, 1024))
    assert Image.MIME[image.format or ""] == mime


def test_any_input_name_makes_a_safe_unique_key(local_store: Path, tmp_path: Path) -> None:
    long_name = "a" * 240 + ".png"
    path = tmp_path / long_name
    path.write_bytes(logo())
    result = process_image(image=str(path), offline=True)
    assert len(result.key.encode()) < 1024
    assert len(Path(result.key).name.encode()) + len(".partial") <= 255
    assert (local_store / result.key).is_file()
    assert output_filename("b" * 240) != output_filename("b" * 239 + "c")
    assert output_filename("ロゴ.png") != output_filename("写真.png")
    assert output_filename("../../etc/passwd%2e.png").startswith("passwd")


def test_a_prefix_never_leads_outside_the_store(local_store: Path, logo_path: Path) -> None:
    result = process_image(image=str(logo_path), offline=True, s3_prefix="../../escape")
    assert result.key.startswith("escape/")
    assert (local_store / result.key).is_file()


def test_fallback_background_retries_opaque_and_says_so(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    lines: list[str] = []
    with reporting_to(lines.append):
        result = process_image(
            image=str(logo_path), image_model="gpt-image-2", fallback_background=True
        )
    # gpt-image-2's transparency is in preview: tried, refused by OpenAI, then opaque.
    assert [_tool(openai_fake, n)["background"] for n in range(2)] == ["transparent", "opaque"]
    assert any("refused a transparent background" in line for line in lines)
    pixel = open_image(s3.read(result.key)).convert("RGBA").getpixel((0, 0))
    assert isinstance(pixel, tuple) and pixel[3] == 255  # opaque, as asked


def test_each_run_shows_its_cost_and_a_rerun_costs_nothing(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    logo_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kinds = ("text_input", "cached_text_input", "text_output", "image_input", "image_output")
    main = dict(zip(kinds, (1000.0, 100.0, 2000.0, 0.0, 0.0), strict=True))
    tool = dict(zip(kinds, (5.0, 1.0, 6.0, 300.0, 7000.0), strict=True))
    prices = {"models": {"gpt-5": main, "gpt-image-2.5-flare": tool}}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    monkeypatch.setenv("IMAGE_PIPELINE_PRICES_FILE", str(tmp_path / "prices.json"))

    first = process_image(image=str(logo_path), image_model="gpt-image-2.5-flare")
    u = first.usage
    assert u is not None and first.cost is not None
    expected = (
        (u.input_tokens - u.cached_input_tokens) * 1000
        + u.cached_input_tokens * 100
        + u.output_tokens * 2000
        + u.image_input_text_tokens * 5
        + u.image_input_image_tokens * 300
        + u.image_output_image_tokens * 7000
        + u.image_output_text_tokens * 6
    ) / 1_000_000
    assert expected > 0
    assert first.cost.usd == pytest.approx(expected)
    assert first.cost.describe() == f"Estimated cost: ${expected:.4f}"

    again = process_image(image=str(logo_path), image_model="gpt-image-2.5-flare")
    assert again.cost is not None
    assert again.cost.usd == 0 and again.cost.saved_usd == pytest.approx(expected)
    assert again.cost.describe() == (
        f"Estimated cost: $0.0000 (cached, no API call; saved ${expected:.4f})"
    )


def test_a_bad_price_file_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    logo_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_PRICES_FILE", str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r"missing\.json"):
        process_image(image=str(logo_path))
    assert openai_fake.history == []
