"""Blocks: Prefect's standard suite, masking of secrets, and `python -m blocks` from the env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.testing.standard_test_suites.blocks import BlockStandardTestSuite
from prefect_aws import AwsCredentials, S3Bucket

from blocks import DEFAULT_OPENAI_BLOCK, DEFAULT_S3_BUCKET_BLOCK, OpenAICredentials
from prefect_image_pipeline.cli.blocks import main as blocks_main
from prefect_image_pipeline.process_image import process_image
from tests.conftest import TEST_OPENAI_KEY, S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo


class TestOpenAICredentialsStandard(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[OpenAICredentials]:
        return OpenAICredentials

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # The suite downloads the logo; CI has no network, so check the URL's shape instead.
        assert re.fullmatch(r"https://\S+\.png", str(block._logo_url))


def test_secret_is_masked_in_the_api_and_reprs(prefect_api_url: str) -> None:
    OpenAICredentials(api_key=TEST_OPENAI_KEY).save("masked-check", overwrite=True)  # type: ignore[arg-type]
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            "masked-check", "image-pipeline-openai-credentials", include_secrets=False
        )
    assert TEST_OPENAI_KEY not in str(document.data)
    loaded = OpenAICredentials.load("masked-check")
    assert TEST_OPENAI_KEY not in repr(loaded)
    assert loaded.api_key.get_secret_value() == TEST_OPENAI_KEY


def test_python_m_blocks_saves_what_the_flow_needs(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert blocks_main([]) == 0
    out = capsys.readouterr().out
    assert f"image-pipeline-openai-credentials/{DEFAULT_OPENAI_BLOCK}" in out
    assert f"bucket {s3.bucket}" in out
    assert TEST_OPENAI_KEY not in out and "testing" not in out

    bucket = S3Bucket.load(DEFAULT_S3_BUCKET_BLOCK)
    assert bucket.bucket_name == s3.bucket
    assert isinstance(bucket.credentials, AwsCredentials)
    assert bucket.credentials.aws_client_parameters.endpoint_url == s3.endpoint

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ARTIFACTS_BUCKET", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    image = tmp_path / "logo.png"
    image.write_bytes(logo())
    result = process_image(
        image=str(image),
        openai_credentials_block=DEFAULT_OPENAI_BLOCK,
        s3_bucket_block=DEFAULT_S3_BUCKET_BLOCK,
    )
    assert s3.keys() == [result.key]
    assert len(openai_fake.responses_requests) == 1


def test_python_m_blocks_without_a_key_says_what_to_set(
    s3: S3Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert blocks_main([]) == 1
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert blocks_main(["--skip-openai", "--s3-block", "aws-only"]) == 0
    assert S3Bucket.load("aws-only").bucket_name == s3.bucket
