"""The port a new background server gets: the configured one when free, else one just above.

Any number of PREFECT_HOMEs may share a machine, each with its own server: when the
configured port is taken (by another home's server or any other program), the first free
one of the FALLBACK_PORTS above it is used, and the state file records it. The range is
small so ports stay predictable (4300, 4301, ...). The choice is only a guess until the
server binds: two homes may pick the same free port at once, and the loser's wait sees it
(process.PortLostError) and asks again with that port skipped.

A server that process-image left on a port for a PREFECT_HOME that no longer exists holds
that port for good (its state file, which --stop-server reads, went with the directory): it
is stopped instead, but only a process that is provably such a server.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from prefect_image_pipeline.edges.prefect_server.process import (
    Probe,
    holds_port,
    probe,
    server_arguments,
    server_marks,
    terminate,
)
from prefect_image_pipeline.errors import LocalServerError

FALLBACK_PORTS = 20
HIGHEST_PORT = 65535
FIX = "set IMAGE_PIPELINE_SERVER_PORT to a free port, or set PREFECT_API_URL to use a server"


@dataclass(frozen=True)
class PortChoice:
    """The port a new server gets, and what the configured one (``wanted``) had on it."""

    wanted: int
    port: int
    taken_by: str | None = None  # who holds ``wanted`` when another port is used
    cleared: str | None = None  # the deleted PREFECT_HOME whose leftover server was stopped


def choose_port(
    home: Path, wanted: int, *, fallback: bool, skip: Collection[int] = ()
) -> PortChoice:
    """``wanted`` if it is free (after stopping a leftover server on it), else the first free
    port above it; ``skip``: ports a server of ours just lost to another process.

    Without ``fallback`` a taken ``wanted`` is an error (a restart must keep the run's URL).
    """
    found = probe(wanted, identify=True)
    cleared = stop_leftover(wanted, found)
    if cleared is not None:
        found = probe(wanted, identify=True)
    if not found.listening and wanted not in skip:
        return PortChoice(wanted, wanted, cleared=cleared)
    taken_by = holder(found, home) if found.listening else "a process that took it meanwhile"
    if not fallback:
        raise LocalServerError(f"Port {wanted} on 127.0.0.1 is in use by {taken_by}; {FIX}")
    for port in range(wanted + 1, min(wanted + FALLBACK_PORTS, HIGHEST_PORT) + 1):
        if port not in skip and _free(port):
            return PortChoice(wanted, port, taken_by=taken_by, cleared=cleared)
    raise LocalServerError(
        f"Port {wanted} on 127.0.0.1 is in use by {taken_by}, and so are the "
        f"{FALLBACK_PORTS} ports above it; {FIX}"
    )


def holder(found: Probe, home: Path) -> str:
    """Who answers on a taken port, in a few words for the user."""
    if found.is_prefect and found.prefect_home not in (None, str(home)):
        return f"the Prefect server of PREFECT_HOME={found.prefect_home}"
    if found.is_prefect:
        return "a Prefect server process-image did not start"
    return "another program"


def _free(port: int) -> bool:
    found = probe(port, identify=True)
    if found.listening and stop_leftover(port, found) is not None:
        found = probe(port)
    return not found.listening


def stop_leftover(port: int, found: Probe) -> str | None:
    """Stop the server on ``port`` if process-image started it for a PREFECT_HOME that no
    longer exists; returns that home, or None when nothing was stopped."""
    gone = found.prefect_home
    if not found.is_prefect or gone is None or not _deleted(gone):
        return None
    pid = _leftover_pid(port, gone)
    if pid is None:
        return None
    terminate(pid)
    return gone


def _deleted(home: str) -> bool:
    try:
        Path(home).stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False  # there but unreadable to us (permissions): not gone
    return False


def _leftover_pid(port: int, home: str) -> int | None:
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return None  # no /proc (macOS): no way to be sure, so nothing is stopped
    return next((int(name) for name in entries if _is_our_server(int(name), port, home)), None)


def _is_our_server(pid: int, port: int, home: str) -> bool:
    """``pid`` is a server process-image launched (its exact command line and environment)
    for ``home`` on ``port``, leads its own process group (terminate stops the group), sees
    our filesystem (so its home is really gone, not in another container) and holds the
    port itself."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:-1]
        if argv != [part.encode() for part in server_arguments(port)]:
            return False
        environ = set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        same_root = Path(f"/proc/{pid}/root").samefile("/")
        leads_group = os.getpgid(pid) == pid
    except OSError:
        return False  # gone, or another user's process: not ours to stop
    marks = {f"{key}={value}".encode() for key, value in server_marks(home, port).items()}
    return marks <= environ and same_root and leads_group and holds_port(pid, port) is True
