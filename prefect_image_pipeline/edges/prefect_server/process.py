"""Start, probe and stop one ``prefect server start`` process, bound to 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from prefect_image_pipeline.edges.prefect_server.state import LOG_FILE, ServerState
from prefect_image_pipeline.errors import LocalServerError

PROBE_TIMEOUT_S = 2.0
POLL_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 15.0
LISTEN = "0A"  # the TCP state of a listening socket in /proc/net/tcp
# Servers this process started. Held so that Popen's finaliser never warns "still running"
# about a child that is meant to outlive us; process-wide because the children are.
_LAUNCHED: list[subprocess.Popen[bytes]] = []


class PortLostError(LocalServerError):
    """Another process began listening on the port a server we launched was starting on."""

    def __init__(self, port: int) -> None:
        super().__init__(
            f"Port {port} on 127.0.0.1 was taken by another program while the local Prefect "
            "server started; run again, or set IMAGE_PIPELINE_SERVER_PORT to a free port"
        )
        self.port = port


@dataclass(frozen=True)
class Probe:
    """What answers on a port: nothing, something else, or a Prefect server (and which)."""

    listening: bool
    prefect_version: str | None = None
    prefect_home: str | None = None

    @property
    def is_prefect(self) -> bool:
        """A healthy Prefect API answered."""
        return self.prefect_version is not None


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and certainly not ours
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return True  # no /proc (macOS): the signal check is all there is
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def looks_like_server(pid: int, port: int) -> bool:
    """``pid`` runs ``prefect server start`` on ``port`` (not a reused pid of another program).

    Where /proc is missing (macOS) there is no cheap way to tell, and the port probe decides.
    """
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)
    return b"server" in argv and b"start" in argv and str(port).encode() in argv


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    return inodes


def holds_port(pid: int, port: int) -> bool | None:
    """``pid`` itself listens on ``port`` (None where there is no /proc to tell, as on macOS).

    A health answer on the port proves only that some Prefect server is there: one of
    another PREFECT_HOME may have bound it first while ours was still importing.
    """
    if not Path("/proc/net/tcp").exists():
        return None
    sockets = _listening_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except PermissionError:
        return None  # another user's process, or /proc hidden from us: cannot tell
    except OSError:
        return False  # gone
    for fd in fds:
        with suppress(OSError):  # closed meanwhile
            if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                return True
    return False


def launched_here(pid: int) -> bool:
    """This process started ``pid``."""
    return any(process.pid == pid for process in _LAUNCHED)


def _get_json(port: int, path: str) -> object:
    url = f"http://127.0.0.1:{port}/api/{path}"
    with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
        return json.loads(response.read())


def probe(port: int, *, identify: bool = False) -> Probe:
    """Who answers on ``port``; ``identify`` also asks a Prefect server for its home."""
    with socket.socket() as sock:
        sock.settimeout(PROBE_TIMEOUT_S)
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return Probe(listening=False)
    try:
        if _get_json(port, "health") is not True:
            return Probe(listening=True)
        version = str(_get_json(port, "admin/version"))
        home = None
        if identify:
            server_settings = _get_json(port, "admin/settings")
            home = str(server_settings.get("home")) if isinstance(server_settings, dict) else None
    except (OSError, ValueError, urllib.error.URLError):
        return Probe(listening=True)
    return Probe(listening=True, prefect_version=version, prefect_home=home)


def server_arguments(port: int) -> list[str]:
    """The command line after the interpreter's path: how a server of ours is recognised."""
    return ["-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]


def server_marks(home: Path | str, port: int) -> dict[str, str]:
    """Environment every server we launch has, checked with its command line to recognise one
    that outlived its PREFECT_HOME (prefect_image_pipeline.edges.prefect_server.ports)."""
    return {
        "PREFECT_HOME": str(home),
        # The UI in the browser calls back to this server, not Prefect's default port.
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }


def launch(home: Path, port: int) -> int:
    """Start the server detached from this process (it outlives the run); returns its pid."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update(server_marks(home, port))
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    command = [sys.executable, *server_arguments(port)]
    with (home / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal must not stop it
        )
    _LAUNCHED.append(process)
    return process.pid


def wait_healthy(state: ServerState, home: Path, timeout_s: float) -> None:
    """Block until the server answers; raise naming its log if it exits or takes too long.

    PortLostError when another process listens on its port instead (two PREFECT_HOMEs starting
    servers at the same moment both found it free): ours is stopped, the caller picks
    another port. Once ``state.ready`` that was checked: a live process keeps its socket.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(state.pid):
            if probe(state.port).listening:
                raise PortLostError(state.port)  # ours could not bind it
            raise LocalServerError(
                f"The local Prefect server exited while starting; its log is {home / LOG_FILE}"
            )
        found = probe(state.port)
        if found.listening and not state.ready and not _is_ours(state, found):
            terminate(state.pid)
            raise PortLostError(state.port)
        if found.is_prefect:
            return
        time.sleep(POLL_INTERVAL_S)
    terminate(state.pid)
    raise LocalServerError(
        f"The local Prefect server was not ready after {timeout_s:.0f} s (log: "
        f"{home / LOG_FILE}); raise IMAGE_PIPELINE_SERVER_START_TIMEOUT or use "
        "--ephemeral-server"
    )


def _is_ours(state: ServerState, found: Probe) -> bool:
    owner = holds_port(state.pid, state.port)
    if owner is None:  # no /proc: ask the server which home it serves (one more request)
        if not found.is_prefect:
            return True  # maybe ours, bound but not answering yet: keep waiting
        return probe(state.port, identify=True).prefect_home == state.prefect_home
    return owner


def terminate(pid: int) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(POLL_INTERVAL_S)
