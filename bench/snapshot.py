"""A frozen copy of the code under test, so a long run measures one version of it.

The working tree is shared: flows/ can change while a 15-minute benchmark runs, and
workers started later would import the new code (or a half-saved file). Workers run
from a copy taken at the start instead (``python -m`` puts their cwd first on sys.path,
ahead of the editable install), and the report records which code that was.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

PACKAGES = ("prefect_image_pipeline", "flows", "blocks", "bench")


def take(project_root: Path, destination: Path) -> Path:
    """Copy the packages a worker imports into ``destination``; returns it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for package in PACKAGES:
        shutil.copytree(project_root / package, destination / package, ignore=ignore)
    return destination


def fingerprint(snapshot: Path, project_root: Path) -> dict[str, str | list[str]]:
    """Git commit, files of the snapshot that differ from it, and a hash of the sources."""
    digest = hashlib.sha256()
    for path in sorted(snapshot.rglob("*.py")):
        digest.update(str(path.relative_to(snapshot)).encode())
        digest.update(path.read_bytes())
    return {
        "git_commit": _git(project_root, "rev-parse", "HEAD").strip(),
        "uncommitted": _git(
            project_root, "status", "--porcelain", "--", *PACKAGES[:-1]
        ).splitlines(),
        "sources_sha256": digest.hexdigest(),
    }


def _git(project_root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=project_root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout
