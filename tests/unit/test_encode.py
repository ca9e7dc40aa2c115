"""Step 2: MIME detection by signature and data-URL encoding."""

from __future__ import annotations

import base64

import pytest

from prefect_image_pipeline.errors import InvalidImageError
from prefect_image_pipeline.image_processing_utils import encode_image_for_openai
from prefect_image_pipeline.steps.encode import detect_mime_type, encode_image, to_data_url
from tests.images import logo


def test_encode_image_for_openai_is_plain_base64() -> None:
    data = logo()
    encoded = encode_image_for_openai(data, "image/png")
    assert base64.b64decode(encoded) == data
    assert encode_image_for_openai(data) == encoded


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_real_mime_type_is_detected(fmt: str, mime: str) -> None:
    data = logo(fmt=fmt)
    assert detect_mime_type(data) == mime
    assert encode_image(data).data_url.startswith(f"data:{mime};base64,")


def test_jpeg_goes_out_as_jpeg_not_png() -> None:
    encoded = encode_image(logo(fmt="JPEG"))
    assert encoded.mime_type == "image/jpeg"
    assert to_data_url(b"abc", "image/jpeg") == "data:image/jpeg;base64,YWJj"


def test_encoded_image_repr_hides_the_payload() -> None:
    encoded = encode_image(logo())
    assert "base64" not in repr(encoded)
    assert encoded.sha256 in repr(encoded)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, I am text", "Not a supported image"),
        (b"%PDF-1.7 not an image", "Not a supported image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "Corrupt image"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImageError, match=message):
        detect_mime_type(data, "upload.png")


def test_error_names_the_source() -> None:
    with pytest.raises(ValueError, match=r"notes\.txt"):
        encode_image(b"plain text", "notes.txt")


def test_library_api_is_reexported_by_the_package() -> None:
    import prefect_image_pipeline
    from prefect_image_pipeline import image_processing_utils

    for name in prefect_image_pipeline.__all__:
        assert getattr(prefect_image_pipeline, name) is getattr(image_processing_utils, name)
    with pytest.raises(AttributeError):
        _ = prefect_image_pipeline.not_a_function  # type: ignore[attr-defined]
