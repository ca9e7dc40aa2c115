"""Caches survive upgrades: records written by an earlier release are still hits today."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from prefect._internal.result_records import ResultRecord

from prefect_image_pipeline.cache.records import RecordSerializer, register_legacy_modules
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.upload import PublishedImage
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo
from tests.paths import TEST_DATA

RELEASE_BE5A233 = TEST_DATA / "cache-be5a233"
GENERATION_RECORD = "9ab5ef8ca580ed189cf611ab6cf9b965"
UPLOAD_RECORD = "b63d1600310de95b55eaeadca1dc0af1"


def test_images_generated_by_release_be5a233_are_not_paid_for_again(
    openai_fake: FakeOpenAIServer, s3: S3Env, isolated_results: Path, tmp_path: Path
) -> None:
    shutil.copytree(RELEASE_BE5A233, isolated_results, dirs_exist_ok=True)
    image = tmp_path / "logo.png"
    shutil.copy(RELEASE_BE5A233 / "logo.png", image)
    result = process_image(image=str(image))
    assert result.generation_cached
    assert openai_fake.responses_requests == []
    assert s3.keys() == [result.key]


def test_the_fixture_is_the_image_the_tests_make() -> None:
    # If tests.images.logo() ever changes, the fixture still holds the original input.
    assert (RELEASE_BE5A233 / "logo.png").read_bytes() == logo()


def test_both_kinds_of_record_from_release_be5a233_are_readable() -> None:
    register_legacy_modules()
    generated: ResultRecord[object] = ResultRecord.deserialize(
        (RELEASE_BE5A233 / GENERATION_RECORD).read_bytes()
    )
    published: ResultRecord[object] = ResultRecord.deserialize(
        (RELEASE_BE5A233 / UPLOAD_RECORD).read_bytes()
    )
    assert isinstance(generated.result, GeneratedImage)
    assert generated.result.png.startswith(b"\x89PNG")
    assert isinstance(published.result, PublishedImage)
    assert published.result.key.endswith("_generated_logo.png")


def test_records_written_today_name_no_module_and_round_trip() -> None:
    serializer = RecordSerializer()
    image = GeneratedImage(png=logo(), sha256="0" * 64, generator="offline-pillow-v1")
    blob = serializer.dumps(image)
    assert b"flows." not in base64.b64decode(blob)
    assert serializer.loads(blob) == image
    published = PublishedImage(s3_url="s3://b/k.png", public_url="https://x/k.png", key="k.png")
    assert serializer.loads(serializer.dumps(published)) == published
