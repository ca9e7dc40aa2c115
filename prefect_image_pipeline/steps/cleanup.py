"""Step 5, cleanup: remove temporary files, whatever happened before, and the work dirs
of runs that were killed before their own cleanup could run.

Temp work dirs are named ``process-image-{host}-{pid}-{random}``, so a later run on the
same host can tell a dead process's dir from a live one's.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

WORK_DIR_PREFIX = "process-image-"


def cleanup_temp_files(*file_paths: str | os.PathLike[str] | None) -> int:
    """Delete each existing path (files, or empty directories); returns how many were removed.

    Missing paths are fine; a path that cannot be removed is logged, never raised,
    so cleanup can run in ``finally`` blocks without hiding the original error.
    """
    removed = 0
    for raw in file_paths:
        if not raw:
            continue
        path = Path(raw)
        try:
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("Could not remove temporary file %s: %s", path, exc.strerror or exc)
    return removed


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
