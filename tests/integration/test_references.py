"""Reference images and masks: what is sent, in which form and order, and what is left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_image_pipeline.errors import InvalidImageError, InvalidOptionsError
from prefect_image_pipeline.pipeline.reporter import reporting_to
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.steps.references import is_problematic
from tests.conftest import S3Env
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.images import logo, solid

PUBLIC = "https://images.example.com/style.png"


@pytest.fixture
def logo_path(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_bytes(logo())
    return path


def _images(fake: FakeOpenAIServer, n: int = 0) -> list[dict[str, Any]]:
    (message,) = fake.responses_requests[n].json["input"]
    return [part for part in message["content"] if part["type"] == "input_image"]


def _form(part: dict[str, Any]) -> str:
    if "file_id" in part:
        return f"file:{part['file_id']}"
    url = str(part["image_url"])
    return "data" if url.startswith("data:image/") else url


def test_references_follow_the_input_in_order_deduplicated_in_their_forms(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, tmp_path: Path
) -> None:
    brand = tmp_path / "brand.png"
    brand.write_bytes(logo(seed=7))
    lines: list[str] = []
    with reporting_to(lines.append):
        process_image(
            image=str(logo_path),
            reference_images=[str(brand), PUBLIC, "file-abc123", PUBLIC, str(logo_path)],
        )
    parts = _images(openai_fake)
    assert [_form(p) for p in parts] == ["data", "data", PUBLIC, "file:file-abc123"]
    assert {p["detail"] for p in parts} == {"high"}
    assert f"  Reference: {PUBLIC} (URL, fetched by OpenAI)" in lines


def test_urls_openai_cannot_reach_are_fetched_by_us_and_inlined(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, http_server: ImageHTTPServer
) -> None:
    url = http_server.add("/style.png", logo(seed=3))  # plain http on a trusted loopback host
    process_image(image=str(logo_path), reference_images=[url])
    assert [_form(p) for p in _images(openai_fake)] == ["data", "data"]
    assert http_server.request_count("/style.png") == 1


def test_the_references_problem_hosts_and_markers_are_inlined() -> None:
    assert is_problematic("https://firebasestorage.googleapis.com/v0/b/x/o/a.png")
    assert is_problematic("https://blog.example.com/wp-content/uploads/a.png")
    assert is_problematic("https://mywordpress.example.com/a.png")
    assert is_problematic("http://images.example.com/a.png")
    assert is_problematic("https://[::1/a.png")  # unparsable
    assert not is_problematic(PUBLIC)


def test_unusable_references_are_skipped_with_their_reason_and_the_run_goes_on(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    logo_path: Path,
    http_server: ImageHTTPServer,
    tmp_path: Path,
) -> None:
    missing = http_server.add("/gone.png", b"", status=404)
    text = tmp_path / "notes.png"
    text.write_bytes(b"not an image")
    lines: list[str] = []
    with reporting_to(lines.append):
        process_image(
            image=str(logo_path),
            reference_images=["https://cdn.openai.com/x.png", missing, str(text)],
        )
    assert [_form(p) for p in _images(openai_fake)] == ["data"]
    skipped = [line for line in lines if line.startswith("  ⚠ Skipped reference")]
    assert len(skipped) == 3
    assert "cdn.openai.com" in skipped[0] and "404" in skipped[1] and "notes.png" in skipped[2]


def test_more_than_sixteen_images_are_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    with pytest.raises(InvalidOptionsError, match="limit of 16"):
        process_image(image=str(logo_path), reference_images=[f"file-{n}" for n in range(16)])
    assert openai_fake.history == []


def test_inlined_references_are_capped_in_total(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    logo_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_REFERENCE_BYTES", "1000")
    brand = tmp_path / "brand.png"
    brand.write_bytes(logo(size=(400, 300), seed=5))
    with pytest.raises(InvalidImageError, match="IMAGE_PIPELINE_MAX_REFERENCE_BYTES"):
        process_image(image=str(logo_path), reference_images=[str(brand)])
    assert openai_fake.history == []


def test_references_and_their_order_are_part_of_the_cache_key(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    process_image(image=str(logo_path))
    process_image(image=str(logo_path), reference_images=["file-a", "file-b"])
    process_image(image=str(logo_path), reference_images=["file-b", "file-a"])
    again = process_image(image=str(logo_path), reference_images=["file-a", "file-b"])
    assert len(openai_fake.responses_requests) == 3
    assert again.generation_cached


def test_a_url_openai_could_not_download_is_retried_without_it(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    openai_fake.enqueue(
        Fault.api_error(
            400,
            f"Error while downloading {PUBLIC}.",
            "invalid_request_error",
            code="invalid_image_url",
            param="url",
        )
    )
    process_image(image=str(logo_path), reference_images=[PUBLIC, "file-keep"])
    assert [_form(p) for p in _images(openai_fake, 0)] == ["data", PUBLIC, "file:file-keep"]
    # Our own download of it failed too (no such host here), so it was left out.
    assert [_form(p) for p in _images(openai_fake, 1)] == ["data", "file:file-keep"]


def test_a_png_mask_is_sent_as_the_tools_input_image_mask(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, tmp_path: Path
) -> None:
    mask = tmp_path / "mask.png"
    mask.write_bytes(solid((160, 100), (0, 0, 0, 0)))
    process_image(image=str(logo_path), mask=str(mask))
    tool = openai_fake.responses_requests[0].json["tools"][0]
    assert tool["input_image_mask"]["image_url"].startswith("data:image/png;base64,")


def test_a_mask_that_is_not_a_png_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, tmp_path: Path
) -> None:
    mask = tmp_path / "mask.jpg"
    mask.write_bytes(logo(fmt="JPEG"))
    with pytest.raises(InvalidOptionsError, match="must be a PNG"):
        process_image(image=str(logo_path), mask=str(mask))
    assert openai_fake.history == []
