"""The run's working directory: downloaded inputs and generated PNGs live here until cleanup.

Tasks hand each other paths and hashes rather than image bytes, so futures stay small.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from flows.encode import EncodedImage, encode_image, sha256_hex
from flows.generate import GeneratedImage
from flows.s3_inputs import is_s3_uri, parse_s3_uri, read_s3_object
from flows.settings import DEFAULT_DOWNLOAD_TIMEOUT
from flows.sources import classify_source, max_image_bytes, read_source

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

# Temp work dirs are named process-image-{host}-{pid}-{random}: see sweep_orphaned_work_dirs.
WORK_DIR_PREFIX = "process-image-"


@dataclass(frozen=True)
class LoadedImage:
    """An input image on local disk; ``temporary`` when we fetched it into the work dir."""

    input: str
    name: str
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
    created_at: int


def input_kind(image: str) -> str:
    """How the CLI describes an input: "URL", "S3 object" or "local file"."""
    if is_s3_uri(image):
        return "S3 object"
    return "URL" if classify_source(image).kind == "url" else "local file"


def input_label(image: str) -> str:
    """The input's file name, to name its task runs in the UI; never raises.

    Only the last path segment: a URL's query (which may carry a token) never shows.
    """
    try:
        if is_s3_uri(image):
            return PurePosixPath(parse_s3_uri(image)[1]).name or "image"
        return classify_source(image).name
    except ValueError:  # an input the load step will refuse with the full reason
        return "image"


def prepare_work_dir(output_dir: str | None) -> tuple[Path, bool]:
    """``output_dir`` (created if needed) or a fresh temp dir; True when we created a temp dir.

    A fresh temp dir is named after this host and process, and creating one first removes
    those left by runs of this host that were killed before their cleanup could run.
    """
    if output_dir:
        path = Path(output_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve(), False
    sweep_orphaned_work_dirs()
    return Path(tempfile.mkdtemp(prefix=work_dir_prefix(os.getpid()))), True


def sweep_orphaned_work_dirs() -> list[Path]:
    """Remove the temp work dirs whose process is gone (SIGKILL, OOM, a lost machine).

    Only dirs named by this host are judged, so a /tmp shared with another container
    (another PID namespace) is never swept from here; a live process keeps its dir.
    """
    removed = []
    for candidate in Path(tempfile.gettempdir()).glob(f"{WORK_DIR_PREFIX}*"):
        pid = _owner_pid(candidate.name)
        if pid is not None and not _process_alive(pid) and candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    if removed:
        logger.info("Removed %s work dir(s) left by killed runs", len(removed))
    return removed


def _host_tag() -> str:
    # Letters and digits only, so the name splits unambiguously on "-".
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def work_dir_prefix(pid: int) -> str:
    """How the temp work dirs of process ``pid`` on this host begin."""
    return f"{WORK_DIR_PREFIX}{_host_tag()}-{pid}-"


def _owner_pid(name: str) -> int | None:
    """The PID in a work dir's name if this host created it; None for anything else."""
    match = re.fullmatch(rf"{WORK_DIR_PREFIX}([A-Za-z0-9]+)-(\d+)-[^-]+", name)
    if match is None or match.group(1) != _host_tag():
        return None
    return int(match.group(2))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def load_image(
    image: str,
    work_dir: str,
    s3_client: S3Client | None = None,
    timeout: int | float = DEFAULT_DOWNLOAD_TIMEOUT,
) -> LoadedImage:
    """Read a local file in place; download a URL or S3 object into ``work_dir``."""
    if is_s3_uri(image):
        if s3_client is None:
            raise ValueError(f"No S3 client to read {image}")
        data = read_s3_object(image, s3_client, max_image_bytes())
        name = PurePosixPath(parse_s3_uri(image)[1]).name
    else:
        source = classify_source(image)
        data = read_source(source, timeout=timeout)
        name = source.name
        if source.kind == "path":
            return LoadedImage(image, name, source.location, len(data), sha256_hex(data), False)
    digest = sha256_hex(data)
    path = Path(work_dir) / f"input_{digest[:12]}_{_safe_name(name)}"
    path.write_bytes(data)
    return LoadedImage(image, name, str(path), len(data), digest, temporary=True)


def encode_loaded(loaded: LoadedImage) -> EncodedImage:
    """Validate and encode the loaded bytes (errors name the original input)."""
    return encode_image(Path(loaded.path).read_bytes(), loaded.input)


def save_generated(generated: GeneratedImage, work_dir: str) -> SavedImage:
    """Write ``processed_image_{timestamp}.png`` (suffixed with the hash if that name is taken)."""
    directory = Path(work_dir)
    stamp = int(time.time())
    path = directory / f"processed_image_{stamp}.png"
    if path.exists() and sha256_hex(path.read_bytes()) != generated.sha256:
        path = directory / f"processed_image_{stamp}_{generated.sha256[:8]}.png"
    path.write_bytes(generated.png)
    return SavedImage(str(path), generated.size, generated.sha256, generated.created_at)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
    return cleaned[-80:] or "image"
