"""What we know about the background server we started: one JSON file under PREFECT_HOME.

Prefect's own ``server.pid`` holds only a pid; to reuse a server safely we also need its
port, the Prefect version it runs and the home (database) it serves.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "image-pipeline-server.json"
LOCK_FILE = "image-pipeline-server.lock"
LOG_FILE = "image-pipeline-server.log"


@dataclass(frozen=True)
class ServerState:
    """The server a previous run started (and left running for the next)."""

    pid: int
    port: int
    prefect_version: str
    prefect_home: str
    # It answered on its port as this very process (checked once: process.wait_healthy).
    ready: bool = False

    @property
    def ui_url(self) -> str:
        """Where the Prefect UI of this server is."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The value PREFECT_API_URL takes to use this server."""
        return f"{self.ui_url}/api"


def read_state(home: Path) -> ServerState | None:
    """The recorded server for ``home``, or None when there is none (or the file is garbled)."""
    try:
        data = json.loads((home / STATE_FILE).read_text(encoding="utf-8"))
        return ServerState(
            pid=int(data["pid"]),
            port=int(data["port"]),
            prefect_version=str(data["prefect_version"]),
            prefect_home=str(data["prefect_home"]),
            ready=data.get("ready") is True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(home: Path, state: ServerState) -> None:
    """Record ``state`` atomically (a reader never sees half a file)."""
    partial = home / f"{STATE_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
    partial.replace(home / STATE_FILE)


def forget_state(home: Path) -> None:
    """Remove the record (the server it named is gone)."""
    (home / STATE_FILE).unlink(missing_ok=True)
