"""A transparent PNG whatever the image model, against a fake OpenAI that refuses what
each model refuses (tests/fakes/openai_models.py): the default model never makes one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pipeline.reporter import StepReporter
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.transparency import cut_out_background
from tests.cli_runner import SAMPLE, Runner
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.images import logo, open_image

HEX = re.compile(r"#[0-9A-F]{6}")


def _alpha(image: Image.Image, x: int, y: int) -> int:
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return int(pixel[3])


def _is_cut_out(data: bytes) -> None:
    """A PNG whose border is clear and whose middle (the logo) is kept."""
    assert data.startswith(b"\x89PNG")
    _is_cut_out_image(open_image(data).convert("RGBA"))


def _is_cut_out_image(image: Image.Image) -> None:
    width, height = image.size
    assert _alpha(image, 0, 0) == 0 and _alpha(image, width - 1, height - 1) == 0
    assert _alpha(image, width // 2, height // 2) == 255


def _logo_file(tmp_path: Path, seed: int = 0) -> str:
    path = tmp_path / f"logo-{seed}.png"
    path.write_bytes(logo(seed=seed))
    return str(path)


@pytest.mark.slow
def test_the_command_with_no_flags_publishes_a_transparent_png_and_its_cost(
    run_cli: Runner, openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    done = run_cli("-i", str(SAMPLE))
    assert done.returncode == 0, done.stderr
    (key,) = s3.keys()
    _is_cut_out(s3.read(key))
    (request,) = openai_fake.responses_requests
    tool = request.json["tools"][0]
    assert "model" not in tool and tool["background"] == "opaque"  # OpenAI's default model
    key_colour = HEX.search(request.prompt or "")
    assert key_colour, request.prompt
    assert f"painted a flat {key_colour.group()} one, cut out here" in done.stdout
    assert re.search(r"^Estimated cost: \$\d+\.\d{4} ", done.stdout, re.MULTILINE), done.stdout
    assert openai_fake.spec_errors == []


def test_the_images_api_gets_a_key_colour_and_the_result_is_cut_out(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    result = process_image(image=_logo_file(tmp_path), api="images")
    (sent,) = openai_fake.images_requests
    assert sent.json["background"] == "opaque"
    assert HEX.search(sent.json["prompt"])
    assert result.background_cut_out == HEX.search(sent.json["prompt"]).group()  # type: ignore[union-attr]
    _is_cut_out(s3.read(result.key))
    assert result.cost is not None and result.cost.usd is not None and result.cost.usd > 0


def test_a_model_in_preview_is_tried_then_cut_out_and_a_rerun_pays_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    image = _logo_file(tmp_path)
    result = process_image(image=image, image_model="gpt-image-2")
    backgrounds = [r.json["tools"][0]["background"] for r in openai_fake.responses_requests]
    assert backgrounds == ["transparent", "opaque"]  # refused (400, not billed), then keyed
    assert result.background_cut_out is not None
    _is_cut_out(s3.read(result.key))

    again = process_image(image=image, image_model="gpt-image-2")
    assert again.generation_cached and len(openai_fake.responses_requests) == 2
    assert again.background_cut_out == result.background_cut_out  # kept in the cache record
    assert again.key == result.key


def test_a_model_that_makes_transparency_is_asked_for_it(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    result = process_image(image=_logo_file(tmp_path), image_model="gpt-image-1.5")
    (request,) = openai_fake.responses_requests
    assert request.json["tools"][0]["background"] == "transparent"
    assert not HEX.search(request.prompt or "")
    assert result.background_cut_out is None
    _is_cut_out(s3.read(result.key))


def test_fallback_background_on_the_default_model_asks_opaque_without_trying(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    result = process_image(image=_logo_file(tmp_path), fallback_background=True)
    (request,) = openai_fake.responses_requests
    assert request.json["tools"][0]["background"] == "opaque"
    assert result.background_cut_out is None
    assert _alpha(open_image(s3.read(result.key)).convert("RGBA"), 0, 0) == 255


def test_batch_mode_sends_the_key_colour_and_publishes_cut_outs(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_BATCH_POLL_SECONDS", "0.01")
    images = [_logo_file(tmp_path, seed) for seed in range(3)]
    report = process_images(images=images, batch_api=True, wait_for_batch=True)
    assert [o.status for o in report.outcomes] == ["uploaded"] * 3, report.summary()
    (batch,) = openai_fake.batches
    bodies = [line["body"] for line in openai_fake.batch_input_lines(batch["id"])]
    assert {body["background"] for body in bodies} == {"opaque"}
    assert all(HEX.search(body["prompt"]) for body in bodies)
    for outcome in report.outcomes:
        assert outcome.background_cut_out and outcome.key
        _is_cut_out(s3.read(outcome.key))
    assert report.cost.usd is not None and report.cost.batch
    assert openai_fake.spec_errors == []


@pytest.mark.slow
def test_an_option_the_model_cannot_take_is_refused_before_any_call(
    run_cli: Runner, openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    done = run_cli("-i", str(SAMPLE), "--image-model", "gpt-image-1.5", "--quality", "xhigh")
    assert done.returncode != 0
    assert "Image model gpt-image-1.5 does not take quality 'xhigh'" in done.stderr, done.stderr
    assert openai_fake.responses_requests == [] and s3.keys() == []


def test_input_fidelity_never_reaches_a_model_that_must_omit_it(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    with pytest.raises(InvalidOptionsError, match="gpt-image-2 takes no input_fidelity"):
        process_image(image=_logo_file(tmp_path), image_model="gpt-image-2", input_fidelity="high")
    assert openai_fake.responses_requests == []


def test_a_webp_cut_out_is_asked_for_as_png_and_published_as_webp(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    result = process_image(image=_logo_file(tmp_path), output_format="webp", output_compression=80)
    tool = openai_fake.responses_requests[0].json["tools"][0]
    # Lossless for the cut: compression would smear the key into the subject's edges.
    assert tool["output_format"] == "png" and "output_compression" not in tool
    assert result.key.endswith(".webp")
    published = open_image(s3.read(result.key))
    assert published.format == "WEBP"
    _is_cut_out_image(published.convert("RGBA"))


@pytest.mark.parametrize("fallback", [False, True])
def test_a_refusal_from_a_model_that_should_make_transparency_is_not_sent_again(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, fallback: bool
) -> None:
    openai_fake.enqueue(Fault.transparent_unsupported())  # OpenAI changed its mind
    result = process_image(
        image=_logo_file(tmp_path), image_model="gpt-image-1.5", fallback_background=fallback
    )
    backgrounds = [r.json["tools"][0]["background"] for r in openai_fake.responses_requests]
    assert backgrounds == ["transparent", "opaque"]
    if fallback:  # opaque, as asked
        assert result.background_cut_out is None
    else:
        assert result.background_cut_out is not None
        _is_cut_out(s3.read(result.key))


def test_a_model_that_ignored_the_key_colour_is_said_plainly() -> None:
    """Nothing was cut (the model painted something else): the output never claims a cut."""
    lines: list[str] = []
    report = StepReporter(lines.append, offline=False)
    painted = cut_out_background(
        GeneratedImage(png=logo(), sha256="x", generator="t"), (255, 0, 255), GenerationOptions()
    )  # a white logo: no magenta to cut
    assert painted.cut_out_key == "#FF00FF" and painted.cut_out_share == 0
    report.generated(painted, cached=False)
    assert any("did not paint the flat #FF00FF one asked for" in line for line in lines)
    assert not any("cut out here" in line for line in lines)
