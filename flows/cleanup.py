"""Step 5, cleanup: remove temporary files, whatever happened before."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


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
