"""Temp work dirs: named after host and process, and swept once their process is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from prefect_image_pipeline.steps.cleanup import (
    WORK_DIR_PREFIX,
    prepare_work_dir,
    sweep_orphaned_work_dirs,
    work_dir_prefix,
)


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def _work_dir_of(pid: int) -> str:
    return f"{work_dir_prefix(pid)}abc_12"


def test_a_fresh_work_dir_names_this_process(temp_root: Path) -> None:
    path, created = prepare_work_dir(None)
    assert created and path.parent == temp_root
    assert path.name.startswith(WORK_DIR_PREFIX)
    assert f"-{os.getpid()}-" in path.name


def test_only_dirs_of_dead_processes_of_this_host_are_swept(temp_root: Path) -> None:
    orphan = temp_root / _work_dir_of(_dead_pid())
    (orphan / "000001").mkdir(parents=True)
    (orphan / "000001" / "processed_image_1.png").write_bytes(b"png")
    live = temp_root / _work_dir_of(os.getpid())
    other_host = temp_root / f"{WORK_DIR_PREFIX}otherhost-{_dead_pid()}-abc_12"
    older_version = temp_root / f"{WORK_DIR_PREFIX}k3j4_x9q"
    for kept in (live, other_host, older_version):
        kept.mkdir()
    not_a_dir = temp_root / _work_dir_of(_dead_pid())
    not_a_dir.write_text("someone's file")

    assert sweep_orphaned_work_dirs() == [orphan]
    assert not orphan.exists()
    assert live.is_dir() and other_host.is_dir() and older_version.is_dir()
    assert not_a_dir.read_text() == "someone's file"


def test_creating_a_work_dir_sweeps_the_orphans_first(temp_root: Path) -> None:
    orphan = temp_root / _work_dir_of(_dead_pid())
    orphan.mkdir()
    path, _ = prepare_work_dir(None)
    assert sorted(temp_root.iterdir()) == [path]


def test_an_output_dir_is_used_as_given_and_sweeps_nothing(temp_root: Path, tmp_path: Path) -> None:
    orphan = temp_root / _work_dir_of(_dead_pid())
    orphan.mkdir()
    path, created = prepare_work_dir(str(tmp_path / "mine"))
    assert (path, created) == ((tmp_path / "mine").resolve(), False)
    assert orphan.is_dir()
