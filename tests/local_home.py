"""A PREFECT_HOME with no API configured, as a user's terminal has: for the tests of the
background server (e2e/test_local_server.py) and of the warm process (e2e/test_warm.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prefect_image_pipeline.cli.warm.client import SOCKET_NAME
from prefect_image_pipeline.edges.prefect_server.manager import stop_server
from prefect_image_pipeline.edges.prefect_server.state import STATE_FILE, ServerState, read_state
from tests.prefect_server import free_port

# Coverage tracing a Prefect server slows its start by seconds and covers nothing of ours.
_UNTRACED = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
# The warm process leaves within its CHECK_SECONDS of its server stopping.
WARM_EXIT_SECONDS = 20.0


@dataclass
class LocalHome:
    """A PREFECT_HOME with no API configured: what a user's terminal looks like."""

    home: Path
    port: int

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_API_URL", "PREFECT_RESULTS_", *_UNTRACED))
            and k != "IMAGE_PIPELINE_EPHEMERAL_SERVER"
        }
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "IMAGE_PIPELINE_SERVER_PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        # The console script's entry point, as `process-image` runs it (early start included).
        return [
            sys.executable,
            "-c",
            "from prefect_image_pipeline.cli.process import console_main; console_main()",
            *args,
        ]

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.home.parent,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    def state(self) -> ServerState:
        found = read_state(self.home)
        assert found is not None, f"no {STATE_FILE} under {self.home}"
        return found


def home_maker(root: Path) -> Iterator[Callable[[str], LocalHome]]:
    """Make PREFECT_HOMEs under ``root`` (each with its own port); at the end stop their
    servers and wait for their warm processes to follow."""
    made: list[LocalHome] = []

    def make(name: str) -> LocalHome:
        home = LocalHome(root / name, free_port())
        home.home.mkdir()
        made.append(home)
        return home

    yield make
    for home in made:
        stop_server(home.home)
    for home in made:  # and their warm processes, which follow their server out
        deadline = time.monotonic() + WARM_EXIT_SECONDS
        while (home.home / SOCKET_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (home.home / SOCKET_NAME).exists(), f"a warm process outlived {home.home}"
