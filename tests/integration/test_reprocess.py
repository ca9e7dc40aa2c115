"""The reprocess-images flow: only new or changed sources cost an OpenAI call and an upload."""

from __future__ import annotations

import json

from prefect_image_pipeline.reprocess_images import reprocess_images
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo


def _put(s3: S3Env, key: str, body: bytes) -> None:
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=body)  # type: ignore[attr-defined]


def _outputs(s3: S3Env) -> list[str]:
    return [k for k in s3.keys("reprocessed/") if k.endswith(".png")]


def test_second_run_over_an_unchanged_prefix_does_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    for n in range(3):
        _put(s3, f"incoming/logo-{n}.png", logo(seed=n))
    _put(s3, "incoming/readme.txt", b"not an image")

    first = reprocess_images()
    assert [o.status for o in first.outcomes] == ["uploaded"] * 3
    assert len(openai_fake.responses_requests) == 3
    outputs = _outputs(s3)
    assert len(outputs) == 3
    manifest = json.loads(s3.read("reprocessed/manifest.json"))
    assert sorted(manifest["entries"]) == [f"incoming/logo-{n}.png" for n in range(3)]
    assert {e["output_key"] for e in manifest["entries"].values()} == set(outputs)

    second = reprocess_images()
    assert [o.status for o in second.outcomes] == ["skipped"] * 3
    assert len(openai_fake.responses_requests) == 3  # zero new OpenAI calls
    assert _outputs(s3) == outputs  # zero uploads
    assert [o.public_url for o in second.outcomes] == [o.public_url for o in first.outcomes]


def test_changed_and_new_sources_are_picked_up(openai_fake: FakeOpenAIServer, s3: S3Env) -> None:
    _put(s3, "incoming/a.png", logo(seed=1))
    _put(s3, "incoming/b.jpg", logo(seed=2, fmt="JPEG"))
    reprocess_images()
    assert len(openai_fake.responses_requests) == 2

    _put(s3, "incoming/a.png", logo(seed=99))  # changed bytes -> new ETag
    _put(s3, "incoming/c.png", logo(seed=3))  # new
    third = reprocess_images()
    statuses = {o.input.rsplit("/", 1)[1]: o.status for o in third.outcomes}
    assert statuses == {"a.png": "uploaded", "b.jpg": "skipped", "c.png": "uploaded"}
    assert len(openai_fake.responses_requests) == 4
    manifest = json.loads(s3.read("reprocessed/manifest.json"))
    assert len(manifest["entries"]) == 3


def test_new_parameters_reprocess_everything(openai_fake: FakeOpenAIServer, s3: S3Env) -> None:
    _put(s3, "incoming/a.png", logo(seed=1))
    reprocess_images()
    again = reprocess_images(quality="low")
    assert [o.status for o in again.outcomes] == ["uploaded"]
    assert len(openai_fake.responses_requests) == 2
    assert openai_fake.responses_requests[1].json["tools"][0]["quality"] == "low"


def test_outputs_under_the_source_prefix_are_not_sources(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    _put(s3, "media/a.png", logo(seed=1))
    first = reprocess_images(source_prefix="media/", destination_prefix="media/out")
    assert len(first.outcomes) == 1
    second = reprocess_images(source_prefix="media/", destination_prefix="media/out")
    assert [o.status for o in second.outcomes] == ["skipped"]
    assert len(openai_fake.responses_requests) == 1
