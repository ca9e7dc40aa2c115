"""Reuse, replace or start the background server, one process at a time (a file lock).

The lock is ``fcntl.flock`` on a file under PREFECT_HOME: the kernel releases it when its
holder exits, however it exits, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path

from prefect_image_pipeline.edges.prefect_server.database import seed_database
from prefect_image_pipeline.edges.prefect_server.ports import PortChoice, choose_port
from prefect_image_pipeline.edges.prefect_server.process import (
    PortLostError,
    launch,
    launched_here,
    looks_like_server,
    pid_alive,
    probe,
    terminate,
    wait_healthy,
)
from prefect_image_pipeline.edges.prefect_server.state import (
    LOCK_FILE,
    LOG_FILE,
    ServerState,
    forget_state,
    read_state,
    write_state,
)
from prefect_image_pipeline.errors import LocalServerError

STOP_HINT = "process-image --stop-server"
# How each server this process launched got its port, by pid: the early start (before the
# CLI's imports) chooses it, and the line the CLI prints after ensure_server tells it.
_CHOICES: dict[int, PortChoice] = {}


@dataclass(frozen=True)
class Ensured:
    """The server to use, and what had to happen to get it (for the one line we print)."""

    state: ServerState
    started: bool
    replaced: str | None = None  # why an earlier server was stopped first
    choice: PortChoice | None = None  # how a server started here got its port


def prefect_version() -> str:
    """The installed Prefect, as a server reports it at /api/admin/version."""
    return version("prefect")


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def runs_our_server(state: ServerState, home: Path) -> bool:
    """The recorded process is a Prefect server for ``home`` on its port (maybe still starting)."""
    return (
        state.prefect_home == str(home)
        and pid_alive(state.pid)
        and looks_like_server(state.pid, state.port)
    )


def is_serving(state: ServerState, home: Path) -> bool:
    """The recorded server is up: ours, alive, and answering as Prefect on its port."""
    return runs_our_server(state, home) and probe(state.port).is_prefect


def _launch(home: Path, port: int, seed: bool, *, fallback: bool, skip: set[int]) -> ServerState:
    choice = choose_port(home, port, fallback=fallback, skip=skip)
    if seed:
        seed_database(home, prefect_version())
    fresh = ServerState(
        pid=launch(home, choice.port),
        port=choice.port,
        prefect_version=prefect_version(),
        prefect_home=str(home),
    )
    _CHOICES[fresh.pid] = choice
    # Recorded before it is ready, so a run killed while waiting can still find and stop it.
    write_state(home, fresh)
    return fresh


def start_early(home: Path, port: int, *, seed: bool) -> None:
    """Launch a server without waiting for it, unless one of ours runs already.

    The CLI calls this before its own imports (~2.5 s), so the server starts meanwhile;
    ensure_server then waits for it. Problems are left for ensure_server to report.
    """
    with _locked(home):
        state = read_state(home)
        if state is not None and runs_our_server(state, home):
            return
        forget_state(home)
        with suppress(LocalServerError):
            _launch(home, port, seed, fallback=True, skip=set())


def ensure_server(
    home: Path, port: int, start_timeout_s: float, *, seed: bool, fallback: bool = True
) -> Ensured:
    """The server for ``home``: the running one if it fits, otherwise a fresh one on ``port``
    (or, with ``fallback``, on a free port above it when ``port`` is taken).

    ``seed``: a new database may start as a copy of the migrated template (edges.prefect_server
    .database); false when the user configured a database of their own.
    """
    with _locked(home):
        replaced = None
        lost: set[int] = set()
        state = read_state(home)
        try:
            if state is not None and runs_our_server(state, home):
                try:
                    state = _ready(state, home, start_timeout_s)  # at once unless starting
                except PortLostError:
                    lost.add(state.port)  # started early, and another process bound its port first
                else:
                    if state.prefect_version == prefect_version():
                        return _reused(state)
                    replaced = (
                        f"it ran Prefect {state.prefect_version}, this is {prefect_version()}"
                    )
                    terminate(state.pid)
            forget_state(home)
            fresh = _start(home, port, start_timeout_s, seed, fallback=fallback, lost=lost)
        except LocalServerError:
            forget_state(home)
            raise
        return Ensured(fresh, started=True, replaced=replaced, choice=_CHOICES.get(fresh.pid))


def _ready(state: ServerState, home: Path, start_timeout_s: float) -> ServerState:
    """Wait for the server; once it is known to hold its port, record that (checked once)."""
    wait_healthy(state, home, start_timeout_s)
    if not state.ready:
        state = replace(state, ready=True)
        write_state(home, state)
    return state


def _reused(state: ServerState) -> Ensured:
    if launched_here(state.pid):  # by start_early: this run started it after all
        return Ensured(state, started=True, choice=_CHOICES.get(state.pid))
    return Ensured(state, started=False)


def _start(
    home: Path, port: int, start_timeout_s: float, seed: bool, *, fallback: bool, lost: set[int]
) -> ServerState:
    """Launch and wait; when another process binds the port first, again on another one.

    Ends: every retry skips one more port, and choose_port gives up past its small range.
    """
    while True:
        fresh = _launch(home, port, seed, fallback=fallback, skip=lost)
        try:
            return _ready(fresh, home, start_timeout_s)
        except PortLostError:
            forget_state(home)
            if not fallback:
                raise
            lost.add(fresh.port)


def stop_server(home: Path) -> str:
    """Stop the recorded server; says what happened. (A warm process beside it follows it
    out; ``process-image --stop-server`` stops that one first.)"""
    with _locked(home):
        state = read_state(home)
        if state is None:
            return f"No local Prefect server recorded under {home}."
        forget_state(home)
        if not is_serving(state, home):
            return f"The local Prefect server (pid {state.pid}) had already stopped."
        terminate(state.pid)
        return f"Stopped the local Prefect server on {state.ui_url} (pid {state.pid})."


def server_status(home: Path, wanted_port: int | None = None) -> tuple[bool, str]:
    """(running, what to tell the user) for the server recorded under ``home``; says so when
    it is not on ``wanted_port`` (the configured one)."""
    state = read_state(home)
    if state is None:
        return False, f"No local Prefect server is running for PREFECT_HOME={home}."
    if not is_serving(state, home):
        return False, (
            f"The local Prefect server recorded under {home} (pid {state.pid}) is not running; "
            "the next run starts a fresh one."
        )
    moved = (
        f" (not the configured port {wanted_port}: taken when it started, or set since)"
        if wanted_port not in (None, state.port)
        else ""
    )
    return True, (
        f"Local Prefect server running: UI {state.ui_url}{moved}, pid {state.pid}, Prefect "
        f"{state.prefect_version}, PREFECT_HOME={home}, log {home / LOG_FILE}. "
        f"Stop it with `{STOP_HINT}`."
    )


def lost_server(state: ServerState, home: Path) -> str | None:
    """If the server a run was using has gone: the sentence saying so and what to do."""
    if is_serving(state, home):
        return None
    return (
        f"the local Prefect server on {state.ui_url} (pid {state.pid}) stopped during the run; "
        f"run the command again to start a fresh one (its log: {home / LOG_FILE})"
    )
