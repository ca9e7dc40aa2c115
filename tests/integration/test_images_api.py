"""The Images API generator (--api images): what the fake receives, options and the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.process_image import process_image
from tests.conftest import S3Env
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo, open_image


def _image(tmp_path: Path, name: str = "logo.png", seed: int = 0) -> str:
    path = tmp_path / name
    path.write_bytes(logo(seed=seed))
    return str(path)


def test_an_images_api_run_sends_one_multipart_edit_with_every_image(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    http_server: ImageHTTPServer,
    tmp_path: Path,
) -> None:
    reference_url = http_server.add("/style.png", logo(seed=7))
    local_reference = _image(tmp_path, "brand.png", seed=8)
    result = process_image(
        image=_image(tmp_path),
        api="images",
        image_model="gpt-image-1.5",
        quality="medium",
        size="1024x1536",
        output_format="webp",
        output_compression=80,
        input_fidelity="high",
        reference_images=[reference_url, local_reference],
    )
    assert openai_fake.responses_requests == [] and openai_fake.spec_errors == []
    (sent,) = openai_fake.images_requests
    form = sent.json
    assert [name for name, _, _ in form["_images"]] == [
        "input.png",
        "reference-1.png",
        "reference-2.png",
    ]  # the input, then each reference in order (the URL one fetched by us)
    assert form["prompt"].startswith("Recreate")
    assert (form["model"], form["quality"], form["size"], form["output_format"]) == (
        "gpt-image-1.5",
        "medium",
        "1024x1536",
        "webp",
    )
    assert (form["output_compression"], form["input_fidelity"]) == ("80", "high")
    assert "moderation" not in form and "detail" not in form
    assert result.generator == "openai-images"
    assert result.key.endswith(".webp")
    assert open_image(s3.read(result.key)).size == (1024, 1536)
    # Only the image model is billed: no main-model tokens.
    assert result.usage is not None and result.usage.input_tokens == 0
    assert result.usage.image_output_image_tokens > 0


def test_an_option_the_images_api_lacks_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    with pytest.raises(InvalidOptionsError, match="The Images API has no moderation"):
        process_image(image=_image(tmp_path), api="images", moderation="low")
    with pytest.raises(InvalidOptionsError, match="takes images as uploads, not file ids"):
        process_image(image=_image(tmp_path), api="images", reference_images=["file-abc123"])
    assert openai_fake.history == []


def test_the_endpoint_is_part_of_the_cache_key(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    image = _image(tmp_path)
    process_image(image=image)
    process_image(image=image, api="images")  # a Responses result never answers it
    again = process_image(image=image, api="images")
    assert len(openai_fake.responses_requests) == 1
    assert len(openai_fake.images_requests) == 1
    assert again.generation_cached


def test_the_fake_refuses_an_edit_field_the_sdk_does_not_have(
    openai_fake: FakeOpenAIServer,
) -> None:
    import httpx

    headers = {"Authorization": "Bearer sk-test-canary-0123456789abcdef"}
    with httpx.Client(base_url=openai_fake.base_url, headers=headers) as client:
        refused = client.post(
            "/images/edits",
            data={"prompt": "x", "moderation": "low"},
            files=[("image[]", ("a.png", logo(), "image/png"))],
        )
    assert refused.status_code == 400
    assert openai_fake.spec_errors[0].param == "moderation"
