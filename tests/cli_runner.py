"""The process-image command as a user runs it: ``python -m prefect_image_pipeline.cli`` in a
subprocess, from the repository root.

Every test that runs the CLI goes through here: ``cli_argv`` (the command line),
``run_cli_process`` (run to the end, output captured), ``start_cli`` (in the background) and
``session_env`` (this process's environment pointed at the session's Prefect server and the
test's result storage). The fixtures ``cli_env`` and ``run_cli`` (registered in conftest.py)
do the same against the test's fakes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.paths import REPO, SAMPLE

__all__ = [
    "REPO",
    "SAMPLE",
    "Runner",
    "cli_argv",
    "cli_env",
    "run_cli",
    "run_cli_process",
    "session_env",
    "start_cli",
]

CLI_MODULE = "prefect_image_pipeline.cli"

Runner = Callable[..., subprocess.CompletedProcess[str]]


def cli_argv(*args: str) -> list[str]:
    """The command line of ``process-image ARGS`` in this interpreter."""
    return [sys.executable, "-m", CLI_MODULE, *args]


def session_env(prefect_api_url: str, isolated_results: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` now, plus the session's Prefect server and the test's result storage."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_API_URL": prefect_api_url,
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(isolated_results),
            **extra,
        }
    )
    return env


def run_cli_process(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``process-image ARGS`` to its end; stdout and stderr captured as text."""
    return subprocess.run(
        cli_argv(*args),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(
    *args: str, env: dict[str, str], stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    """Start ``process-image ARGS`` in the background, stdout piped (stderr too, or into
    stdout with ``stderr=subprocess.STDOUT``); the caller waits for it or kills it."""
    return subprocess.Popen(
        cli_argv(*args),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


@pytest.fixture
def cli_env(prefect_api_url: str, isolated_results: Path) -> Callable[[], dict[str, str]]:
    """The test's environment (read when called, after other fixtures set theirs) plus the
    shared Prefect server and result storage."""

    def current() -> dict[str, str]:
        return session_env(prefect_api_url, isolated_results, PYTHONUNBUFFERED="1")

    return current


@pytest.fixture
def run_cli(cli_env: Callable[[], dict[str, str]]) -> Runner:
    """``run_cli(*args, env={...})``: process-image in ``cli_env()`` with ``env`` on top (a
    value of "" removes the variable)."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        final_env = cli_env()
        final_env.update(env or {})
        for name in [k for k, v in final_env.items() if v == ""]:
            del final_env[name]
        return run_cli_process(*args, env=final_env)

    return run
