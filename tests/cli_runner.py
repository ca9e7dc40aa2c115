"""The process-image command as a user runs it: ``python -m prefect_image_pipeline.cli.main`` in a subprocess,
against the test's fakes and the session's Prefect server (fixtures ``cli_env``,
``run_cli``, registered in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "logo.png"

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_env(prefect_api_url: str, isolated_results: Path) -> Callable[[], dict[str, str]]:
    """The test's environment (read when called, after other fixtures set theirs) plus the
    shared Prefect server and result storage."""

    def current() -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_API_URL": prefect_api_url,
                "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(isolated_results),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    return current


@pytest.fixture
def run_cli(cli_env: Callable[[], dict[str, str]]) -> Runner:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        final_env = cli_env()
        final_env.update(env or {})
        for name in [k for k, v in final_env.items() if v == ""]:
            del final_env[name]
        return subprocess.run(
            [sys.executable, "-m", "prefect_image_pipeline.cli.main", *args],
            cwd=REPO,
            env=final_env,
            capture_output=True,
            text=True,
            timeout=240,
        )

    return run
