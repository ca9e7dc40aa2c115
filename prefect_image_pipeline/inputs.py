"""What the user asked to process, parsed once: an http(s) URL, an S3 object or a local file.

Every other module takes an ``ImageInput`` rather than re-reading the string, so an input
is classified in exactly one place and shown in exactly one way (secrets redacted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

from prefect_image_pipeline.errors import InvalidImageSourceError
from prefect_image_pipeline.urls import parse_http_url, redact_url

InputKind = Literal["url", "s3", "file"]
S3_SCHEME = "s3://"
_DESCRIPTIONS: dict[InputKind, str] = {"url": "URL", "s3": "S3 object", "file": "local file"}


@dataclass(frozen=True)
class ImageInput:
    """An input classified: ``location`` is the URL, the ``s3://`` URI or the absolute path."""

    raw: str
    kind: InputKind
    location: str

    @property
    def description(self) -> str:
        """How the CLI names the kind: "URL", "S3 object" or "local file"."""
        return _DESCRIPTIONS[self.kind]

    @property
    def shown(self) -> str:
        """The input fit for logs and messages: a URL's password and signatures redacted."""
        return redact_url(self.raw) if self.kind == "url" else self.raw

    @property
    def name(self) -> str:
        """The file name the input carries (never a URL's query), used to name outputs."""
        if self.kind == "url":
            name = PurePosixPath(unquote(urlsplit(self.location).path)).name
        elif self.kind == "s3":
            name = PurePosixPath(self.bucket_and_key[1]).name
        else:
            name = Path(self.location).name
        return name or "image"

    @property
    def bucket_and_key(self) -> tuple[str, str]:
        """``s3://bucket/some/key.png`` -> ``("bucket", "some/key.png")``."""
        return parse_s3_uri(self.location)


def is_s3_uri(image: str) -> bool:
    """Whether ``image`` names an S3 object."""
    return image.strip().lower().startswith(S3_SCHEME)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Bucket and key of an ``s3://`` URI; InvalidImageSourceError when either is missing."""
    parts = urlsplit(uri.strip())
    bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
    if not bucket or not key:
        raise InvalidImageSourceError(f"Invalid S3 URI: {uri}; expected s3://bucket/key")
    return bucket, key


def parse_input(image: str) -> ImageInput:
    """Classify ``image``; refuse, naming the input and the fix, what no step could load."""
    text = image.strip()
    if not text:
        raise InvalidImageSourceError("No image given; pass an http(s) URL or a local file path")
    if is_s3_uri(text):
        parse_s3_uri(text)
        return ImageInput(text, "s3", text)
    if "://" not in text:
        return ImageInput(text, "file", _expand(text))
    parts = urlsplit(text)
    if parts.scheme.lower() == "file":
        return ImageInput(text, "file", _expand(unquote(parts.path)))
    parse_http_url(text)
    return ImageInput(text, "url", text)


def input_label(image: str) -> str:
    """The input's file name, to name its task runs in the UI; never raises."""
    try:
        return parse_input(image).name
    except ValueError:  # an input the load step will refuse with the full reason
        return "image"


def _expand(path: str) -> str:
    return str(Path(os.path.expanduser(path)).absolute())
