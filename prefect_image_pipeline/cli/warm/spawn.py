"""Start the warm process in the background after a run against the background server;
stop it with that server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from prefect_image_pipeline.cli.warm.client import alive, eligible, home, package_root, socket_path

_STOP_SECONDS = 5.0  # it leaves at once; the socket file goes as it does
# -P: no working directory on sys.path (a copy there would be imported instead); the
# folder this process imported the package from goes first unless the interpreter finds it
# anyway (site-packages, an editable install), so both run the same code.
_BOOT = (
    "import sys; root = sys.argv[1]; root in sys.path or sys.path.insert(0, root); "
    "from prefect_image_pipeline.cli.warm.server import main; main(root)"
)


def is_listening() -> bool:
    """Whether this PREFECT_HOME's warm process answers."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(socket_path(home())))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def stop_warm_process(prefect_home: Path) -> bool:
    """Ask ``prefect_home``'s warm process to leave; True if one was there and went.

    Runs in flight are its children and finish; only the listener goes.
    """
    path = socket_path(prefect_home)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        conn.sendall(json.dumps({"stop": True}).encode() + b"\n")
        answered = conn.makefile("rb").readline().strip() == b"stopping"
    except OSError:
        return False
    finally:
        conn.close()
    deadline = time.monotonic() + _STOP_SECONDS
    while (path.exists() or alive(prefect_home) is not None) and time.monotonic() < deadline:
        time.sleep(0.02)
    return answered


def server_command() -> list[str]:
    """How the warm process is started: this Python, importing what this process imports."""
    return [sys.executable, "-P", "-c", _BOOT, str(package_root())]


def start_warm_process(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Start one for the next run if this run (``argv``, the ``environ`` it started with)
    could have used it and none is up: True if started. Needs the background server."""
    from prefect_image_pipeline.edges.prefect_server.state import read_state

    if not eligible(argv, dict(environ)) or read_state(home()) is None:
        return False
    if alive(home()) is not None or is_listening():  # up or starting (or of an older release)
        return False
    subprocess.Popen(
        server_command(),
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives this run, never gets its terminal's Ctrl-C
    )
    return True
