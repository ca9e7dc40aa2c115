"""Published for the web: sized copies in modern formats, a stable alias, the CDN refreshed.

Against moto's S3 and CloudFront (through the recording proxy, which counts every PUT,
a server-side copy included) and the fake OpenAI, with the real pipeline.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from PIL import Image

from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.pipeline.run import ProcessedImage
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.review.report import write_reports
from prefect_image_pipeline.steps.web_copies import CopyPlan, render_copy
from tests.artifacts import read_artifact
from tests.cli_runner import Runner
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.s3_faults import S3FaultProxy
from tests.images import logo, open_image
from tests.paths import README, REPO

IMMUTABLE = "public, max-age=31536000, immutable"


def _logo_file(tmp_path: Path, seed: int = 0, name: str = "acme") -> str:
    path = tmp_path / f"{name}.png"
    path.write_bytes(logo(size=(1024, 1024), seed=seed))
    return str(path)


def _corner_alpha(data: bytes) -> int:
    pixel = open_image(data).convert("RGBA").getpixel((0, 0))
    assert isinstance(pixel, tuple)
    return int(pixel[3])


@pytest.fixture
def distribution(s3_faults: S3FaultProxy, monkeypatch: pytest.MonkeyPatch) -> str:
    """A CloudFront distribution in moto, named by CLOUDFRONT_DISTRIBUTION_ID."""
    client = boto3.client("cloudfront", region_name="us-east-1")
    origin = {
        "Id": "bucket",
        "DomainName": "bucket.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    created = client.create_distribution(
        DistributionConfig={
            "CallerReference": uuid.uuid4().hex,
            "Origins": {"Quantity": 1, "Items": [origin]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "bucket",
                "ViewerProtocolPolicy": "allow-all",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
            "Comment": "",
            "Enabled": True,
        }
    )
    distribution_id = str(created["Distribution"]["Id"])
    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", distribution_id)
    return distribution_id


def _invalidated(distribution_id: str) -> list[list[str]]:
    """The paths of each invalidation of the distribution, oldest first."""
    client = boto3.client("cloudfront", region_name="us-east-1")
    listing = client.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    found = []
    for item in reversed(listing.get("Items", [])):
        batch = client.get_invalidation(DistributionId=distribution_id, Id=item["Id"])
        found.append(sorted(batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]))
    return found


def test_copies_at_each_width_and_format_are_published_beside_the_output(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    state = process_image(
        image=_logo_file(tmp_path),
        widths=[320, 640, 2048],
        formats=["webp", "avif"],
        return_state=True,
    )
    result = state.result()  # type: ignore[union-attr]
    assert isinstance(result, ProcessedImage) and result.copies is not None
    stem = result.key.rsplit(".", 1)[0]
    expected = {f"{stem}-{w}w.{fmt}" for w in (320, 640) for fmt in ("webp", "avif")}
    assert {copy.key for copy in result.copies.copies} == expected
    assert set(s3.keys()) == expected | {result.key}  # the original, untouched, and its copies
    assert result.copies.skipped == [
        "2048w skipped: wider than the 1024 px output (never upscaled)"
    ]
    original = s3.read(result.key)
    assert _corner_alpha(original) == 0  # the default path's transparent PNG
    for copy in result.copies.copies:
        head = s3.head(copy.key)
        assert head["ContentType"] == f"image/{copy.format}" == copy.content_type
        assert head["CacheControl"] == IMMUTABLE
        data = s3.read(copy.key)
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == copy.format.upper() and image.size[0] == copy.width
        assert _corner_alpha(data) == 0  # transparency kept
    assert len(openai_fake.responses_requests) == 1
    # The run's result artifact lists them too, with the snippet to paste.
    artifact = str(read_artifact("process-image-result", state.state_details.flow_run_id).data)  # type: ignore[union-attr]
    assert all(f"]({copy.public_url})" in artifact for copy in result.copies.copies)
    assert (
        "2048w skipped" in artifact
        and '```html\n<picture>\n  <source type="image/avif"' in artifact
    )


def test_a_rerun_encodes_and_uploads_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env, s3_faults: S3FaultProxy, tmp_path: Path
) -> None:
    image = _logo_file(tmp_path)
    first = process_image(image=image, widths=[320], formats=["webp"])
    puts = s3_faults.count("PUT")
    again = process_image(image=image, widths=[320], formats=["webp"])
    assert s3_faults.count("PUT") == puts  # nothing uploaded again
    assert isinstance(first, ProcessedImage) and isinstance(again, ProcessedImage)
    assert again.copies == first.copies and again.public_url == first.public_url
    assert len(openai_fake.responses_requests) == 1


def test_an_alias_follows_the_newest_output_and_the_cdn_is_told_exactly_what_changed(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    s3_faults: S3FaultProxy,
    distribution: str,
    tmp_path: Path,
) -> None:
    options: dict[str, Any] = {"widths": [320], "formats": ["webp"], "alias": "logos/acme.png"}
    first = process_image(image=_logo_file(tmp_path, seed=1), **options)
    assert isinstance(first, ProcessedImage) and first.alias is not None
    aliases = ["logos/acme.png", "logos/acme-320w.webp"]
    assert sorted(first.alias.written) == sorted(aliases)
    assert s3.read("logos/acme.png") == s3.read(first.key)
    head = s3.head("logos/acme.png")
    assert head["CacheControl"] == "public, max-age=300"
    assert head["ContentType"] == "image/png"
    assert _invalidated(distribution) == [sorted(f"/{key}" for key in aliases)]

    # The same image again: no write, no invalidation.
    puts = s3_faults.count("PUT")
    same = process_image(image=_logo_file(tmp_path, seed=1), **options)
    assert isinstance(same, ProcessedImage) and same.alias is not None
    assert same.alias.written == [] and sorted(same.alias.unchanged) == sorted(aliases)
    assert s3_faults.count("PUT") == puts
    assert len(_invalidated(distribution)) == 1

    # A changed source: the alias moves to the new output; one more invalidation.
    changed = process_image(image=_logo_file(tmp_path, seed=2), **options)
    assert isinstance(changed, ProcessedImage) and changed.key != first.key
    assert s3.read("logos/acme.png") == s3.read(changed.key)
    assert s3.read("logos/acme-320w.webp") == s3.read(changed.key.replace(".png", "-320w.webp"))
    assert _invalidated(distribution)[-1] == sorted(f"/{key}" for key in aliases)
    assert len(_invalidated(distribution)) == 2


def test_a_batch_names_each_alias_with_its_stem_and_invalidates_once(
    openai_fake: FakeOpenAIServer, s3: S3Env, distribution: str, tmp_path: Path
) -> None:
    images = [_logo_file(tmp_path, seed=n, name=f"brand-{n}") for n in range(3)]
    state = process_images(images=images, alias="latest/{stem}.png", return_state=True)
    report = cast(BatchReport, state.result())  # type: ignore[union-attr]
    assert [o.status for o in report.outcomes] == ["uploaded"] * 3
    previews = str(read_artifact("process-images-previews", state.state_details.flow_run_id).data)  # type: ignore[union-attr]
    assert "Stable URL: [latest/brand-2.png](" in previews
    rows = write_reports(report, tmp_path / "review.html")  # the review page and its rows
    page = (tmp_path / "review.html").read_text()
    assert page.count('<li>stable: <a href="') == 3 and ">latest/brand-1.png</a>" in page
    assert rows.read_text().count('"key": "latest/brand-') == 3
    keys = [f"latest/brand-{n}.png" for n in range(3)]
    assert [o.alias.key if o.alias else None for o in report.outcomes] == keys
    assert _invalidated(distribution) == [sorted(f"/{key}" for key in keys)]


def test_an_alias_that_cannot_work_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = [_logo_file(tmp_path, seed=n, name=f"brand-{n}") for n in range(2)]
    with pytest.raises(ConfigurationError, match=r"same key for all 2 images: put \{stem\}"):
        process_images(images=images, alias="logos/acme.png")
    with pytest.raises(ConfigurationError, match="is not an object key"):
        process_image(image=images[0], alias="../outside.png")
    assert openai_fake.responses_requests == [] and s3.keys() == []


def _put_source(s3: S3Env, data: bytes) -> None:
    s3.client.put_object(Bucket=s3.bucket, Key="incoming/acme.png", Body=data)  # type: ignore[attr-defined]


def test_reprocessing_keeps_copies_and_aliases_in_step_and_records_them(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    from prefect_image_pipeline.reprocess_images import reprocess_images

    _put_source(s3, logo(size=(512, 512), seed=7))
    options: dict[str, Any] = {
        "source_prefix": "incoming/",
        "destination_prefix": "site",
        "widths": [256],
        "formats": ["webp"],
        "alias": "latest/{stem}.png",
    }
    reprocess_images(**options)
    manifest = json.loads(s3.read("site/manifest.json"))
    entry = manifest["entries"]["incoming/acme.png"]
    assert entry["alias"] == "latest/acme.png"
    assert entry["copies"] == [entry["output_key"].replace(".png", "-256w.webp")]
    first_copies = entry["copies"]

    _put_source(s3, logo(size=(512, 512), seed=8))
    reprocess_images(**options)
    entry = json.loads(s3.read("site/manifest.json"))["entries"]["incoming/acme.png"]
    assert s3.read("latest/acme.png") == s3.read(entry["output_key"])
    assert s3.read("latest/acme-256w.webp") == s3.read(entry["copies"][0])
    assert entry["copies"] != first_copies  # the changed source's own copy
    assert len(openai_fake.responses_requests) == 2


def test_copies_of_an_opaque_image_and_a_jpeg_on_white() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (400, 200), (10, 20, 30, 0)).save(buffer, "PNG")
    data, width, height = render_copy(buffer.getvalue(), CopyPlan(100, "jpeg"))
    assert (width, height) == (100, 50)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.getpixel((0, 0)) == (255, 255, 255)
    assert CopyPlan(None, "avif").key("a/1_generated_x.png") == "a/1_generated_x.avif"


@pytest.mark.slow  # a CLI subprocess
def test_the_readmes_web_command_works_as_written(
    run_cli: Runner, openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    (command,) = re.findall(r"^uv run process-image (.*--alias.*)$", README.read_text(), re.M)
    done = run_cli(*[str(REPO / a) if a.startswith("samples/") else a for a in command.split()])
    assert done.returncode == 0, done.stderr
    assert re.search(r"avif\s+320w .*-320w\.avif", done.stdout)
    # The fake answers at the input's size (the sample: 320 px), so 640w is rightly skipped.
    (count,) = re.findall(r"^Web copies:\s+(\d+)$", done.stdout, re.M)
    assert count == "2" and "640w skipped: wider than the 320 px output" in done.stdout
    assert "logos/acme.png (3 rewritten, 0 unchanged)" in done.stdout
    assert '<source type="image/avif" srcset="' in done.stdout
    assert '<source type="image/webp" srcset="' in done.stdout
    assert len(s3.keys("logos/")) == 3
    refused = run_cli("-i", _logo_file(tmp_path), "--widths", "320,abc")
    assert refused.returncode == 2 and "--widths: '320,abc'" in refused.stderr
