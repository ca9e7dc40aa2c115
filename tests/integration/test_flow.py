"""The process-image flow end to end: fake OpenAI, moto S3, local HTTP, a Prefect test server."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket
from pydantic import SecretStr

from blocks import OpenAICredentials
from prefect_image_pipeline.errors import ImageGenerationError, MissingCredentialsError
from prefect_image_pipeline.pipeline.reporter import reporting_to
from prefect_image_pipeline.process_image import process_image
from tests.conftest import TEST_OPENAI_KEY, S3Env
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.images import logo, open_image


@pytest.fixture
def logo_path(tmp_path: Path) -> Path:
    path = tmp_path / "inputs" / "logo.png"
    path.parent.mkdir()
    path.write_bytes(logo())
    return path


def _work_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_flow_generates_and_publishes(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    result = process_image(image=str(logo_path), output_dir=str(work))
    assert result.s3_url == f"s3://{s3.bucket}/{result.key}"
    assert result.key.startswith("generated-images/") and result.key.endswith("_generated_logo.png")
    assert result.public_url == f"https://{s3.bucket}.s3.us-east-1.amazonaws.com/{result.key}"
    assert s3.keys() == [result.key]
    stored = s3.read(result.key)
    assert open_image(stored).size == open_image(logo()).size
    assert s3.head(result.key)["ContentType"] == "image/png"
    assert result.generated_bytes == len(stored)
    assert result.loaded_bytes == len(logo())
    assert result.usage is not None and result.usage.total_tokens > 0
    assert len(openai_fake.responses_requests) == 1
    assert _work_files(work) == []  # temporary files removed on success
    assert logo_path.exists()  # the user's own input is never cleaned up


def test_rerun_pays_nothing_and_uploads_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    first = process_image(image=str(logo_path))
    second = process_image(image=str(logo_path))
    assert len(openai_fake.responses_requests) == 1
    assert (second.s3_url, second.public_url) == (first.s3_url, first.public_url)
    assert second.generation_cached and not first.generation_cached
    assert s3.keys() == [first.key]


def test_changed_options_generate_again(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    process_image(image=str(logo_path))
    process_image(image=str(logo_path), quality="low")
    process_image(image=str(logo_path), prompt="Make it watercolor")
    requests_seen = openai_fake.responses_requests
    assert len(requests_seen) == 3
    # The default image model gets the key colour to paint the background in, after it.
    assert (requests_seen[2].prompt or "").startswith("Make it watercolor. Place the subject")


def test_same_bytes_under_another_name_are_not_paid_twice(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy-of-logo.png"
    copy.write_bytes(logo_path.read_bytes())
    process_image(image=str(logo_path))
    process_image(image=str(copy))
    assert len(openai_fake.responses_requests) == 1
    assert len(s3.keys()) == 2  # each name is still published


def test_survives_three_429s_then_two_500s(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    openai_fake.enqueue(
        Fault.rate_limit(retry_after=0.01),
        Fault.rate_limit(retry_after=0.01),
        Fault.rate_limit(retry_after=0.01),
        Fault.server_error(500),
        Fault.server_error(500),
    )
    result = process_image(image=str(logo_path))
    assert s3.keys() == [result.key]
    # 3 client attempts fail with 429, Prefect retries, 2 client attempts fail with 500, 1 succeeds.
    assert len(openai_fake.responses_requests) == 6


def test_moderation_refusal_is_not_retried(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, tmp_path: Path
) -> None:
    openai_fake.enqueue(Fault.moderation_blocked())
    work = tmp_path / "work"
    with pytest.raises(ImageGenerationError, match="moderation_blocked"):
        process_image(image=str(logo_path), output_dir=str(work))
    assert len(openai_fake.responses_requests) == 1
    assert s3.keys() == []
    assert _work_files(work) == []


def test_permanent_server_errors_give_up_after_the_retry_budget(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path
) -> None:
    openai_fake.enqueue(*[Fault.server_error(502)] * 50)
    with pytest.raises(ImageGenerationError, match="502"):
        process_image(image=str(logo_path))
    # (1 + task_retries=3) task attempts x (1 + client max_retries=2) requests
    assert len(openai_fake.responses_requests) == 12
    assert s3.keys() == []


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "Image file not found"), (b"", "empty"), (b"just text", "Not a supported image")],
)
def test_bad_local_input_never_calls_openai(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / "input.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(Exception, match=message) as caught:
        process_image(image=str(path))
    assert str(path) in str(caught.value)
    assert openai_fake.responses_requests == []
    assert s3.keys() == []


def test_url_input_is_downloaded_and_cleaned_up(
    openai_fake: FakeOpenAIServer, s3: S3Env, http_server: ImageHTTPServer, tmp_path: Path
) -> None:
    url = http_server.add("/brand/photo.jpg", logo(fmt="JPEG"), content_type="image/jpeg")
    work = tmp_path / "work"
    result = process_image(image=url, output_dir=str(work))
    assert result.key.endswith("_generated_photo.png")
    assert openai_fake.responses_requests[0].input_images[0].startswith("data:image/jpeg;base64,")
    assert _work_files(work) == []


def test_progress_never_shows_a_url_password_or_signature(
    openai_fake: FakeOpenAIServer, s3: S3Env, http_server: ImageHTTPServer
) -> None:
    served = http_server.add("/brand/logo.png", logo())
    url = served.replace("http://", "http://reader:hunter2@") + "?X-Amz-Signature=c0ffee&v=2"
    lines: list[str] = []
    with reporting_to(lines.append):
        process_image(image=url)
    shown = served.replace("http://", "http://reader:***@") + "?X-Amz-Signature=***&v=2"
    assert f"  Detected URL: {shown[:80]}..." in lines
    assert not [line for line in lines if "hunter2" in line or "c0ffee" in line]


def test_http_error_names_the_status_and_skips_openai(
    openai_fake: FakeOpenAIServer, s3: S3Env, http_server: ImageHTTPServer
) -> None:
    url = http_server.add("/missing.png", b"not found", status=404)
    with pytest.raises(requests.HTTPError, match="404"):
        process_image(image=url)
    assert http_server.request_count("/missing.png") == 1  # a 4xx is not retried
    assert openai_fake.responses_requests == []


def test_unsupported_scheme_is_refused(openai_fake: FakeOpenAIServer, s3: S3Env) -> None:
    with pytest.raises(ValueError, match="Unsupported URL scheme 'ftp'"):
        process_image(image="ftp://example.com/logo.png")
    assert openai_fake.responses_requests == []


def test_keep_temp_leaves_the_generated_png(
    openai_fake: FakeOpenAIServer, s3: S3Env, http_server: ImageHTTPServer, tmp_path: Path
) -> None:
    url = http_server.add("/logo.png", logo())
    work = tmp_path / "kept"
    result = process_image(image=url, keep_temp=True, output_dir=str(work))
    kept = _work_files(work)
    processed = [name for name in kept if name.startswith("processed_image_")]
    assert len(processed) == 1 and processed[0].endswith(".png")
    assert (work / processed[0]).read_bytes() == s3.read(result.key)
    assert any(name.startswith("input_") for name in kept)


def test_missing_key_fails_before_any_work(
    monkeypatch: pytest.MonkeyPatch, s3: S3Env, logo_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY"):
        process_image(image=str(logo_path))
    assert s3.keys() == []


def test_offline_needs_no_key_and_publishes_locally(
    monkeypatch: pytest.MonkeyPatch, local_store: Path, logo_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = process_image(image=str(logo_path), offline=True, prompt="ignored offline")
    assert result.s3_url.startswith("file://") and result.public_url == result.s3_url
    published = local_store / result.key
    image = open_image(published.read_bytes())
    assert image.mode == "RGBA" and max(image.size) >= 1024
    corner = image.getpixel((0, 0))
    assert isinstance(corner, tuple) and corner[3] == 0  # border background made transparent
    again = process_image(image=str(logo_path), offline=True, prompt="ignored offline")
    assert again.generation_cached and again.s3_url == result.s3_url


def test_blocks_replace_the_environment(
    openai_fake: FakeOpenAIServer, s3: S3Env, logo_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    OpenAICredentials(api_key=SecretStr(TEST_OPENAI_KEY), base_url=openai_fake.base_url).save(
        "test-openai", overwrite=True
    )
    credentials = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key=SecretStr("testing"),
        region_name="eu-west-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=s3.endpoint),
    )
    S3Bucket(bucket_name=s3.bucket, credentials=credentials, bucket_folder="tenant-a").save(
        "test-bucket", overwrite=True
    )
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ARTIFACTS_BUCKET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    result = process_image(
        image=str(logo_path),
        openai_credentials_block="test-openai",
        s3_bucket_block="test-bucket",
    )
    assert result.key.startswith("tenant-a/generated-images/")
    assert result.public_url.startswith(f"https://{s3.bucket}.s3.eu-west-1.amazonaws.com/")
    assert s3.keys() == [result.key]
    assert len(openai_fake.responses_requests) == 1
