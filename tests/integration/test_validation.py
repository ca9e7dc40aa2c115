"""Image validation before any OpenAI call: signature, Pillow decode, pixel and byte limits."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import requests

from prefect_image_pipeline.errors import ConfigurationError, InvalidImageError, is_transient
from prefect_image_pipeline.image_processing_utils import (
    download_image_from_url,
    load_image_from_path,
)
from prefect_image_pipeline.settings.config import DEFAULT_MAX_IMAGE_PIXELS, settings
from prefect_image_pipeline.steps.encode import detect_mime_type, encode_image
from tests.fakes.flaky_http import TrickleServer
from tests.fakes.http_server import ImageHTTPServer
from tests.images import animated_gif, large_blank_png, logo


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with a one-row IDAT: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = zlib.compress(b"\x00" * (1 + (width + 7) // 8))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def test_a_still_gif_passes_and_an_animated_one_is_refused() -> None:
    assert detect_mime_type(animated_gif(frames=1)) == "image/gif"
    with pytest.raises(InvalidImageError, match=r"Animated GIF: anim\.gif has 3 frames") as caught:
        detect_mime_type(animated_gif(frames=3), "anim.gif")
    assert "export one frame as PNG" in str(caught.value)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding() -> None:
    # 8000 x 8000 = 64 MP: a 10 KB file that would need 64 MB+ once decoded.
    bomb = large_blank_png(8000, 8000)
    assert len(bomb) < 100_000
    with pytest.raises(
        InvalidImageError, match=r"too many pixels: bomb\.png is 8000x8000"
    ) as caught:
        detect_mime_type(bomb, "bomb.png")
    assert f"over the limit of {DEFAULT_MAX_IMAGE_PIXELS} pixels" in str(caught.value)
    assert "decompression bomb" in str(caught.value)


def test_a_header_beyond_pillows_own_limit_is_refused_with_the_same_advice() -> None:
    with pytest.raises(InvalidImageError, match="too many pixels") as caught:
        detect_mime_type(png_header_only(100_000, 100_000), "huge.png")
    assert "IMAGE_PIPELINE_MAX_IMAGE_PIXELS" in str(caught.value)


def test_the_pixel_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    image = logo(size=(200, 100))
    assert detect_mime_type(image) == "image/png"
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_PIXELS", "19999")
    with pytest.raises(InvalidImageError, match="200x100, over the limit of 19999"):
        detect_mime_type(image)
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_PIXELS", "20_000")
    assert detect_mime_type(image) == "image/png"


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_bad_limit_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_PIXELS", value)
    with pytest.raises(ConfigurationError, match="IMAGE_PIPELINE_MAX_IMAGE_PIXELS must be a"):
        settings()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_refused_as_corrupt(fmt: str) -> None:
    whole = logo(size=(300, 200), fmt=fmt)
    with pytest.raises(InvalidImageError, match=f"Corrupt image: cut.{fmt.lower()}"):
        detect_mime_type(whole[: len(whole) * 2 // 3], f"cut.{fmt.lower()}")


def test_a_signature_alone_is_not_enough() -> None:
    with pytest.raises(InvalidImageError, match=r"Corrupt image: fake\.gif looks like image/gif"):
        detect_mime_type(b"GIF89a" + b"<html>not really</html>" * 10, "fake.gif")


def test_oversize_bytes_are_refused_even_when_handed_over_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "1000")
    with pytest.raises(InvalidImageError, match=r"Image too large: upload is \d+ bytes, over 1000"):
        encode_image(logo(size=(300, 300)), "upload")


def test_oversize_local_files_are_refused_without_reading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_MAX_IMAGE_BYTES", "1000")
    path = tmp_path / "big.png"
    path.write_bytes(logo(size=(300, 300)))
    path.chmod(0o200)  # unreadable: refusing it must not need its bytes
    try:
        with pytest.raises(InvalidImageError, match="Image too large"):
            load_image_from_path(str(path))
    finally:
        path.chmod(0o600)


# -- what a download may contain --------------------------------------------------------


def test_a_web_page_is_refused_naming_its_content_type(http_server: ImageHTTPServer) -> None:
    url = http_server.add("/logo.png", b"<!doctype html><p>Sign in</p>" * 50, "text/html")
    with pytest.raises(InvalidImageError, match="sent text/html whose bytes are not PNG") as caught:
        download_image_from_url(url)
    assert "not a web page" in str(caught.value)
    assert not is_transient(caught.value)


def test_the_bytes_decide_not_the_content_type(http_server: ImageHTTPServer) -> None:
    mislabelled = http_server.add("/a.png", logo(), "application/octet-stream")
    assert download_image_from_url(mislabelled) == logo()
    lying = http_server.add("/b.png", b"%PDF-1.7 " + bytes(200), "image/png")
    with pytest.raises(InvalidImageError, match="sent image/png whose bytes are not"):
        download_image_from_url(lying)


def test_a_tiny_non_image_body_is_still_checked(http_server: ImageHTTPServer) -> None:
    url = http_server.add("/tiny.png", b"nope", "image/png")
    with pytest.raises(InvalidImageError, match="Not a supported image"):
        download_image_from_url(url)


def test_a_server_dripping_bytes_hits_the_download_deadline() -> None:
    # Every byte arrives well within the 0.25 s read timeout; the whole image never would.
    with (
        TrickleServer(logo(), interval=0.02) as server,
        pytest.raises(requests.Timeout, match="still arriving after 1s") as caught,
    ):
        download_image_from_url(server.origin + "/slow.png", timeout=0.25)
    assert is_transient(caught.value)
