"""Keep the background server up while a run uses it: a fresh one when it dies."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from prefect_image_pipeline.edges.prefect_server.manager import ensure_server
from prefect_image_pipeline.edges.prefect_server.process import pid_alive
from prefect_image_pipeline.edges.prefect_server.state import ServerState
from prefect_image_pipeline.errors import LocalServerError
from prefect_image_pipeline.settings.config import settings

CHECK_INTERVAL_S = 0.5


class ServerWatch:
    """A daemon thread checking the server's pid; restarts it on the same port if it dies."""

    def __init__(self, state: ServerState, home: Path, on_restart: Callable[[str], None]) -> None:
        self._state = state
        self._home = home
        self._on_restart = on_restart
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="server-watch", daemon=True)

    def __enter__(self) -> ServerWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=CHECK_INTERVAL_S * 4)

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL_S):
            if pid_alive(self._state.pid):
                continue
            try:
                # Same port or none: the run's client keeps the API URL it started with.
                fresh = ensure_server(
                    self._home,
                    self._state.port,
                    settings().server_start_timeout,
                    seed=False,
                    fallback=False,
                )
            except LocalServerError:
                return  # the run fails, and the CLI says the server is gone
            self._state = fresh.state
            self._on_restart(fresh.state.ui_url)
