"""Step 1: loading images from URLs (against a local HTTP server) and from paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from prefect_image_pipeline.errors import (
    ImageNotFoundError,
    InvalidImageError,
    InvalidImageSourceError,
)
from prefect_image_pipeline.image_processing_utils import (
    download_image_from_url,
    load_image_from_path,
)
from prefect_image_pipeline.inputs import input_label, parse_input
from tests.fakes.http_server import ImageHTTPServer
from tests.images import logo


def test_download_returns_the_served_bytes(http_server: ImageHTTPServer) -> None:
    body = logo()
    url = http_server.add("/logo.png", body)
    assert download_image_from_url(url) == body
    assert http_server.request_count("/logo.png") == 1


def test_download_follows_a_redirect(http_server: ImageHTTPServer) -> None:
    target = http_server.add("/real.png", logo())
    url = http_server.redirect("/moved.png", target)
    assert download_image_from_url(url) == logo()


@pytest.mark.parametrize("status", [403, 404, 500])
def test_download_error_status_names_the_status_and_url(
    http_server: ImageHTTPServer, status: int
) -> None:
    url = http_server.add("/broken.png", b"nope", status=status)
    with pytest.raises(requests.HTTPError) as caught:
        download_image_from_url(url)
    assert str(status) in str(caught.value)
    assert url in str(caught.value)
    assert caught.value.response is not None
    assert caught.value.response.status_code == status


def test_download_timeout_is_a_request_exception(http_server: ImageHTTPServer) -> None:
    url = http_server.stall("/slow.png", 3)
    with pytest.raises(requests.RequestException, match="Timeout downloading image"):
        download_image_from_url(url, timeout=0.3)


def test_download_from_a_closed_port_is_a_connection_error() -> None:
    with ImageHTTPServer() as server:
        url = server.url("/gone.png")
    with pytest.raises(requests.ConnectionError, match="Could not connect"):
        download_image_from_url(url, timeout=2)


def test_download_of_an_empty_body_is_refused(http_server: ImageHTTPServer) -> None:
    url = http_server.add("/empty.png", b"")
    with pytest.raises(InvalidImageError, match="empty"):
        download_image_from_url(url)


def test_download_over_the_size_cap_is_refused(
    http_server: ImageHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "1000")
    url = http_server.add("/big.png", b"\x89PNG" + b"0" * 5000)
    with pytest.raises(InvalidImageError, match="too large"):
        download_image_from_url(url)


def test_download_of_an_endless_body_stops_at_the_cap(
    http_server: ImageHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "200000")
    url = http_server.endless("/forever.png")
    with pytest.raises(InvalidImageError, match="too large"):
        download_image_from_url(url, timeout=5)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "gopher://x/y", "http:///nohost.png", "not a url://x"]
)
def test_download_refuses_unusable_urls(url: str) -> None:
    with pytest.raises(ValueError):
        download_image_from_url(url)


def test_load_from_path_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(logo())
    assert load_image_from_path(str(path)) == logo()


def test_load_from_path_expands_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "Downloads").mkdir()
    (tmp_path / "Downloads" / "image.png").write_bytes(logo())
    assert load_image_from_path("~/Downloads/image.png") == logo()


def test_missing_file_is_file_not_found_with_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="Image file not found") as caught:
        load_image_from_path(str(missing))
    assert str(missing) in str(caught.value)
    assert isinstance(caught.value, ImageNotFoundError)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(InvalidImageError, match="empty"):
        load_image_from_path(str(path))


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageSourceError, match="directory"):
        load_image_from_path(str(tmp_path))


def test_oversize_local_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "100")
    path = tmp_path / "big.png"
    path.write_bytes(logo())
    with pytest.raises(InvalidImageError, match="IMAGE_PIPELINE_MAX_IMAGE_BYTES"):
        load_image_from_path(str(path))


def test_parse_input_tells_urls_from_paths(tmp_path: Path) -> None:
    assert parse_input("https://cdn.example.com/a/logo%20v2.png").kind == "url"
    assert parse_input("https://cdn.example.com/a/logo%20v2.png").name == "logo v2.png"
    assert parse_input("https://cdn.example.com/").name == "image"
    local = parse_input(str(tmp_path / "x.jpg"))
    assert (local.kind, local.name) == ("file", "x.jpg")
    file_url = parse_input((tmp_path / "y.png").as_uri())
    assert (file_url.kind, file_url.location) == ("file", str(tmp_path / "y.png"))


@pytest.mark.parametrize("raw", ["", "   "])
def test_parse_input_refuses_blank_input(raw: str) -> None:
    with pytest.raises(InvalidImageSourceError, match="No image given"):
        parse_input(raw)


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("https://user:secret@cdn.example.com/a/logo.png?token=abc", "logo.png"),
        ("s3://bucket/in/photos/cat.jpg", "cat.jpg"),
        ("/tmp/in/shot.webp", "shot.webp"),
        ("ftp://example.com/logo.png", "image"),  # refused later, by the load step
        ("s3://", "image"),
        ("", "image"),
    ],
)
def test_input_label_is_the_file_name_and_never_the_query(image: str, label: str) -> None:
    assert input_label(image) == label
