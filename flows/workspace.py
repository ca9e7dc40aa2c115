"""The run's working directory: downloaded inputs and generated PNGs live here until cleanup.

Tasks hand each other paths and hashes rather than image bytes, so futures stay small.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flows.encode import EncodedImage, encode_image, sha256_hex
from flows.generate import GeneratedImage
from flows.settings import DEFAULT_DOWNLOAD_TIMEOUT
from flows.sources import ImageSource, classify_source, read_source


@dataclass(frozen=True)
class LoadedImage:
    """An input image on local disk; ``temporary`` when we downloaded it."""

    source: ImageSource
    path: str
    size: int
    sha256: str
    temporary: bool


@dataclass(frozen=True)
class SavedImage:
    """A generated PNG written to the working directory."""

    path: str
    size: int
    sha256: str


def prepare_work_dir(output_dir: str | None) -> tuple[Path, bool]:
    """``output_dir`` (created if needed) or a fresh temp dir; True when we created a temp dir."""
    if output_dir:
        path = Path(output_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve(), False
    return Path(tempfile.mkdtemp(prefix="process-image-")), True


def load_image(
    image: str, work_dir: str, timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT
) -> LoadedImage:
    """Read a local file in place, or download a URL into ``work_dir``."""
    source = classify_source(image)
    data = read_source(source, timeout=timeout)
    digest = sha256_hex(data)
    if source.kind == "path":
        return LoadedImage(source, source.location, len(data), digest, temporary=False)
    path = Path(work_dir) / f"input_{digest[:12]}_{_safe_name(source.name)}"
    path.write_bytes(data)
    return LoadedImage(source, str(path), len(data), digest, temporary=True)


def encode_loaded(loaded: LoadedImage) -> EncodedImage:
    """Validate and encode the loaded bytes (errors name the original input)."""
    return encode_image(Path(loaded.path).read_bytes(), loaded.source.raw)


def save_generated(generated: GeneratedImage, work_dir: str) -> SavedImage:
    """Write ``processed_image_{timestamp}.png`` (suffixed with the hash if that name is taken)."""
    directory = Path(work_dir)
    stamp = int(time.time())
    path = directory / f"processed_image_{stamp}.png"
    if path.exists() and sha256_hex(path.read_bytes()) != generated.sha256:
        path = directory / f"processed_image_{stamp}_{generated.sha256[:8]}.png"
    path.write_bytes(generated.png)
    return SavedImage(str(path), generated.size, generated.sha256)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
    return cleaned[-80:] or "image"
