"""``process-image`` through the warm process: a run without paying for the imports.

Importing Prefect, openai and boto3 is most of a warm single-image run (about 2.5 s of
4.4 s here). The warm process (cli.warm.server) has imported them once and forks a
child per run; this side, standard library only, hands the child the terminal (its
stdin, stdout and stderr as file descriptors), the arguments, the environment and the
working directory over a Unix socket in PREFECT_HOME, forwards Ctrl-C and termination,
and exits with the child's code. The child runs exactly what ``process-image`` runs.

Used only when it cannot change the outcome: a plain run against the background server
(no ``--debug``, no Prefect logging settings of the run's own, IMAGE_PIPELINE_WARM not
``0``), and only if the warm process was built from these very source files (a
fingerprint of their paths, sizes and modification times, and the interpreter); otherwise
``run_warm`` returns None and the run goes the normal way. A run that finds the warm process
still importing (started by the run just before it, as back-to-back runs from a script do)
waits for it rather than doing the same imports itself on the same cores.

The fingerprint is of the package this very module was imported from (package_root): the
warm process imports from that folder too (cli.warm.spawn), never from another copy that
the working directory happens to hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SOCKET_NAME = "image-pipeline-warm.sock"
LOG_NAME = "image-pipeline-warm.log"
# Held by the warm process for its whole life, with what it was built from; see alive().
LOCK_NAME = "image-pipeline-warm.lock"
# How long after its start a warm process may still be importing: a run waits for it no
# longer (its imports take ~2.5 s on an idle machine; a run doing them itself, as long).
START_SECONDS = 30.0
# Flags whose runs the warm process must not take: they change logging or need no run.
_COLD_FLAGS = {"--debug", "-h", "--help", "--server-status", "--stop-server", "--ephemeral-server"}
_PACKAGES = ("prefect_image_pipeline",)
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; leave room


def home() -> Path:
    """PREFECT_HOME as Prefect resolves it without a profile (edges.prefect_server.connect)."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser().resolve()


def socket_path(prefect_home: Path) -> Path:
    """Where the warm process of ``prefect_home`` listens."""
    return prefect_home / SOCKET_NAME


def eligible(argv: Sequence[str], environ: dict[str, str]) -> bool:
    """Whether this run may go through the warm process at all."""
    if environ.get("IMAGE_PIPELINE_WARM", "1") == "0" or not argv:
        return False
    if _COLD_FLAGS.intersection(argv):
        return False
    # Those choose a server or logging the warm process has already set up.
    settings_of_its_own = ("PREFECT_LOGGING_", "PREFECT_API_URL", "PREFECT_PROFILE")
    if any(name.startswith(settings_of_its_own) for name in environ):
        return False
    return environ.get("IMAGE_PIPELINE_EPHEMERAL_SERVER", "0") in ("", "0", "false")


def package_root() -> Path:
    """The folder this process imported prefect_image_pipeline from (site-packages, a checkout)."""
    return Path(__file__).resolve().parents[3]


def alive(prefect_home: Path) -> dict[str, Any] | None:
    """What the warm process of ``prefect_home`` recorded at its start (pid, started,
    fingerprint; {} while it is writing them) if one is up or starting, else None."""
    try:
        with open(prefect_home / LOCK_NAME, "rb") as lock:
            try:
                # Shared and for an instant: the warm process retries its exclusive lock.
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    found = json.loads(lock.read())
                except ValueError:
                    return {}
                return found if isinstance(found, dict) else {}
            return None  # closing the file releases the lock
    except OSError:
        return None


def fingerprint() -> str:
    """What the warm process must have been built from: these sources and this Python."""
    digest = hashlib.sha256(sys.executable.encode())
    root = package_root()
    for package in _PACKAGES:
        for directory, subdirectories, files in os.walk(root / package):
            subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".json", ".gz")):
                    stat = os.stat(os.path.join(directory, name))
                    entry = f"{directory}/{name}:{stat.st_size}:{stat.st_mtime_ns}"
                    digest.update(entry.encode())
    return digest.hexdigest()


def run_warm(argv: Sequence[str]) -> int | None:
    """Run ``argv`` in a child of the warm process: its exit code, or None if it cannot."""
    environ = dict(os.environ)
    prefect_home = home()
    path = socket_path(prefect_home)
    if not eligible(argv, environ) or len(str(path)) > _UNIX_PATH_MAX:
        return None
    conn = _connect(path, prefect_home)
    if conn is None:
        return None
    try:
        request = {
            "argv": list(argv),
            "env": environ,
            # The child chdirs here: relative paths (-i logo.png) mean what they mean here.
            "cwd": os.getcwd(),
            "fingerprint": fingerprint(),
        }
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reply = conn.makefile("rb")
        first = reply.readline().decode().split()
        if first[:1] != ["pid"]:
            return None  # stale (built from other sources) or busy: the normal way
    except OSError:
        conn.close()
        return None
    child = int(first[1])
    forwarded = _forward_signals(child)
    try:
        last = reply.readline().decode().split()
    finally:
        for signum, previous in forwarded.items():
            signal.signal(signum, previous)
        conn.close()
    if last[:1] == ["exit"]:
        return int(last[1])
    print("✗ The warm process ended this run unexpectedly; run again", file=sys.stderr)
    return 1


def _connect(path: Path, prefect_home: Path) -> socket.socket | None:
    """A connection to the warm process; None if there is none that could take this run.

    One still importing, from these sources, is waited for: those imports are what this run
    would otherwise do itself, competing with it for the same cores.
    """
    deadline: float | None = None
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
            return conn
        except OSError:
            conn.close()
        starting = alive(prefect_home)
        if starting is None:
            return None
        if deadline is None:  # the first look: is it worth waiting for?
            if starting.get("fingerprint") != fingerprint():
                return None  # built from other sources: it would decline this run
            deadline = float(starting.get("started", 0)) + START_SECONDS
        if time.time() > deadline:
            return None  # stuck, or serving with its socket gone: not worth waiting for
        time.sleep(0.02)


def _forward_signals(child: int) -> dict[signal.Signals, Any]:
    """Pass Ctrl-C, termination and hang-up on to the child, which handles them as its own."""

    def forward(signum: int, frame: object) -> None:
        del frame
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, forward)
    return previous
