"""Step 4: object keys, public URLs, and uploads to moto's S3 server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from prefect_image_pipeline.edges.s3.client import resolve_bucket_name
from prefect_image_pipeline.errors import explain, is_transient
from prefect_image_pipeline.image_processing_utils import upload_image_to_s3
from prefect_image_pipeline.steps.upload import (
    CACHE_CONTROL,
    LocalObjectStore,
    build_object_key,
    output_filename,
    s3_public_url,
)
from tests.conftest import S3Env
from tests.images import logo


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", "photo.png"),
        ("logo.png", "logo.png"),
        ("LOGO.PNG", "LOGO.png"),
        ("my photo (1).jpeg", "my-photo-1.png"),
        ("dir/sub/pic.webp", "pic.png"),
        ("", "image.png"),
        ("...", "image.png"),
    ],
)
def test_output_filename_has_one_png_suffix(name: str, expected: str) -> None:
    assert output_filename(name) == expected


def test_object_key_has_one_timestamp() -> None:
    assert build_object_key("generated-images", "photo.jpg", 1703123456) == (
        "generated-images/1703123456_photo.png"
    )
    assert build_object_key("/a//b/", "x.png", 5) == "a/b/5_x.png"
    assert build_object_key("", "x.png", 5) == "5_x.png"
    assert re.fullmatch(r"p/\d{10}_x\.png", build_object_key("p", "x"))


def test_public_url_prefers_cloudfront() -> None:
    assert s3_public_url("b", "eu-west-1", "k/x.png", None) == (
        "https://b.s3.eu-west-1.amazonaws.com/k/x.png"
    )
    assert s3_public_url("b", "eu-west-1", "k/x.png", "assets.example.com") == (
        "https://assets.example.com/k/x.png"
    )


def test_upload_puts_the_object_with_cache_headers(s3: S3Env) -> None:
    data = logo()
    s3_url, public_url = upload_image_to_s3(data, "output.png")
    match = re.fullmatch(rf"s3://{s3.bucket}/(generated-images/\d+_output\.png)", s3_url)
    assert match, s3_url
    key = match.group(1)
    assert public_url == f"https://{s3.bucket}.s3.us-east-1.amazonaws.com/{key}"
    head = s3.head(key)
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == CACHE_CONTROL
    assert s3.read(key) == data


def test_upload_without_filename_names_by_content(s3: S3Env) -> None:
    s3_url, _ = upload_image_to_s3(logo(), s3_key_prefix="custom/prefix")
    assert re.fullmatch(
        rf"s3://{s3.bucket}/custom/prefix/\d+_generated_[0-9a-f]{{12}}\.png", s3_url
    )


def test_upload_uses_cloudfront_and_region(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFRONT_DOMAIN", "https://assets.example.com/")
    _, public_url = upload_image_to_s3(logo(), "a.jpg")
    assert re.fullmatch(r"https://assets\.example\.com/generated-images/\d+_a\.png", public_url)


def test_upload_of_empty_bytes_is_refused(s3: S3Env) -> None:
    with pytest.raises(ValueError, match="empty"):
        upload_image_to_s3(b"")
    assert s3.keys() == []


def test_upload_to_a_missing_bucket_is_a_named_client_error(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACTS_BUCKET", "no-such-bucket-here")
    with pytest.raises(ClientError) as caught:
        upload_image_to_s3(logo(), "x.png")
    assert not is_transient(caught.value)
    assert "NoSuchBucket" in explain(caught.value)
    assert "ARTIFACTS_BUCKET" in explain(caught.value)


def test_bucket_is_auto_detected_from_the_account(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET")
    assert resolve_bucket_name() == "leadmagnet-artifacts-123456789012"
    s3.client.create_bucket(Bucket="leadmagnet-artifacts-123456789012")  # type: ignore[attr-defined]
    s3_url, _ = upload_image_to_s3(logo(), "auto.png")
    assert s3_url.startswith("s3://leadmagnet-artifacts-123456789012/generated-images/")


def test_sts_failure_says_to_set_artifacts_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(RuntimeError, match="Failed to get AWS account ID") as caught:
        resolve_bucket_name()
    assert "ARTIFACTS_BUCKET" in str(caught.value)


def test_local_store_writes_file_urls(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    published = store.put_image("generated-images/1_x.png", b"png-bytes")
    assert published.s3_url == (tmp_path / "generated-images/1_x.png").as_uri()
    assert published.public_url == published.s3_url
    assert (tmp_path / "generated-images/1_x.png").read_bytes() == b"png-bytes"
    assert not list(tmp_path.rglob("*.partial"))
