"""The shared cache in S3 (moto, behind a proxy that counts every request it forwards)."""

from __future__ import annotations

import collections
import hashlib
import json
import uuid
from pathlib import Path

import pytest

from prefect_image_pipeline.batch.outcomes import BatchFailedError
from prefect_image_pipeline.cli.blocks import main as blocks_main
from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.steps.upload import s3_public_url
from tests.conftest import S3Env
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.s3_faults import S3FaultProxy
from tests.images import logo


@pytest.fixture
def cache_bucket(s3: S3Env) -> str:
    """A bucket of its own for the cache, beside the one the images are published to."""
    name = f"cache-{uuid.uuid4().hex[:12]}"
    s3.client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture
def cache_block(
    s3_faults: S3FaultProxy,
    cache_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """``python -m blocks`` with IMAGE_PIPELINE_CACHE_BUCKET: the block runs name."""
    name = f"image-cache-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("IMAGE_PIPELINE_CACHE_BUCKET", cache_bucket)
    argv = ["--skip-openai", "--s3-block", f"out-{name}", "--cache-block", name]
    assert blocks_main(argv) == 0
    assert f"s3-bucket/{name}: shared cache: bucket {cache_bucket}, folder cache" in (
        capsys.readouterr().out
    )
    return name


def _objects(s3: S3Env, bucket: str) -> dict[str, bytes]:
    listing = s3.client.list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    keys = [item["Key"] for item in listing.get("Contents", [])]
    return {
        key: s3.client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
        for key in keys
    }


def _reads(proxy: S3FaultProxy, since: int, bucket: str) -> collections.Counter[tuple[str, str]]:
    prefix = f"/{bucket}/"
    return collections.Counter(
        (r.method, r.path.split("?", 1)[0].removeprefix(prefix))
        for r in proxy.history[since:]
        if r.path.startswith(prefix) and r.method in ("GET", "HEAD")
    )


def test_a_fresh_host_hits_the_shared_cache_and_reads_each_object_once(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    s3_faults: S3FaultProxy,
    cache_bucket: str,
    cache_block: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(logo())
    first = process_image(image=str(image), cache_block=cache_block)
    assert len(openai_fake.responses_requests) == 1

    # Records are JSON, the index names only our serializer, the image is stored by hash.
    stored = _objects(s3, cache_bucket)
    images = [k for k in stored if k.startswith("cache/images/")]
    assert len(images) == 1
    digest = hashlib.sha256(stored[images[0]]).hexdigest()
    assert images[0] == f"cache/images/{digest}.png"
    records = {k: json.loads(v) for k, v in stored.items() if k not in images}
    index = {k: v for k, v in records.items() if k.startswith("cache/index/")}
    assert len(index) == 2 and len(records) == 4, sorted(records)
    assert {e["serializer"]["type"] for e in index.values()} == {"image-pipeline-shared-record"}
    kinds = sorted(v["record"] for k, v in records.items() if k not in index)
    assert kinds == ["generated-image", "published-image"]
    generated = next(v for v in records.values() if v.get("record") == "generated-image")
    assert generated["fields"]["image"] == {"path": f"images/{digest}.png", "sha256": digest}
    assert all(b"pickle" not in v for v in stored.values() if v is not stored[images[0]])

    # Another host: its own (empty) local storage, the same bucket. Zero calls, same URLs.
    monkeypatch.setenv("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(tmp_path / "other-host"))
    before = len(s3_faults.history)
    second = process_image(image=str(image), cache_block=cache_block)
    assert len(openai_fake.responses_requests) == 1
    assert (second.s3_url, second.public_url, second.generation_cached) == (
        first.s3_url,
        first.public_url,
        True,
    )
    reads = _reads(s3_faults, before, cache_bucket)
    gets = {path: n for (method, path), n in reads.items() if method == "GET"}
    assert gets == {key: 1 for key in stored}, reads  # every object downloaded once
    # Only Prefect's own read of a record adds a HEAD (S3Bucket.read_path); index and image
    # reads are single GETs.
    heads = {path for (method, path), _ in reads.items() if method == "HEAD"}
    assert heads <= {k for k in records if not k.startswith("cache/index/")}, reads


def test_an_index_entry_naming_another_serializer_is_never_used(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    cache_bucket: str,
    cache_block: str,
    tmp_path: Path,
) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(logo(seed=3))
    process_image(image=str(image), cache_block=cache_block)
    stored = _objects(s3, cache_bucket)
    generation = next(k for k, v in stored.items() if b'"generated-image"' in v)
    entry = generation.replace("cache/", "cache/index/", 1)
    tampered = json.loads(stored[entry])
    tampered["serializer"] = {"type": "pickle", "picklelib": "cloudpickle"}
    s3.client.put_object(Bucket=cache_bucket, Key=entry, Body=json.dumps(tampered).encode())  # type: ignore[attr-defined]

    process_image(image=str(image), cache_block=cache_block)
    assert len(openai_fake.responses_requests) == 2  # a miss, not a pickle loaded
    rewritten = json.loads(_objects(s3, cache_bucket)[entry])
    assert rewritten["serializer"]["type"] == "image-pipeline-shared-record"


def test_an_unknown_cache_block_fails_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    image = tmp_path / "logo.png"
    image.write_bytes(logo())
    with pytest.raises(ConfigurationError, match="IMAGE_PIPELINE_CACHE_BUCKET=<bucket> python"):
        process_image(image=str(image), cache_block="no-such-cache")
    assert openai_fake.responses_requests == []


def test_public_base_url_wins_over_cloudfront_and_keeps_the_s3_form_otherwise(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert s3_public_url("b", "eu-west-1", "k.png", None) == (
        "https://b.s3.eu-west-1.amazonaws.com/k.png"
    )
    image = tmp_path / "logo.png"
    image.write_bytes(logo())
    monkeypatch.setenv("CLOUDFRONT_DOMAIN", "d111.cloudfront.net")
    monkeypatch.setenv("IMAGE_PIPELINE_PUBLIC_BASE_URL", "https://pub-1.r2.dev/images/")
    published = process_image(image=str(image))
    assert published.public_url == f"https://pub-1.r2.dev/images/{published.key}"


@pytest.mark.slow  # over ~3 s: full lane only
def test_a_failed_batch_rerun_on_a_fresh_container_pays_only_for_what_failed(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    cache_block: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_CACHE_BLOCK", cache_block)  # as a worker's env sets it
    images = []
    for seed in range(4):
        path = tmp_path / f"in-{seed}.png"
        path.write_bytes(logo(seed=10 + seed))
        images.append(str(path))
    openai_fake.enqueue(Fault.server_error(503), Fault.server_error(503))  # one image's tries
    monkeypatch.setenv("IMAGE_PIPELINE_TASK_RETRIES", "0")
    monkeypatch.setenv("IMAGE_PIPELINE_OPENAI_MAX_RETRIES", "1")
    with pytest.raises(BatchFailedError) as caught:
        process_images(images=images, concurrency=1)
    assert len(caught.value.report.failed) == 1
    assert len(openai_fake.responses_requests) == 5  # 2 tries of the first, then 3 images

    # The rerun runs in a fresh container: an empty PREFECT_HOME storage, the same bucket.
    monkeypatch.setenv("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(tmp_path / "container-2"))
    report = process_images(images=images, concurrency=1)
    assert len(report.uploaded) == 4
    assert len(openai_fake.responses_requests) == 6  # only the one that had failed
    assert sum(o.generation_cached for o in report.outcomes) == 3
