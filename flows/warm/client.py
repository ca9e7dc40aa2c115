"""``process-image`` through the warm process: a run without paying for the imports.

Importing Prefect, openai and boto3 is most of a warm single-image run (about 2.5 s of
4.4 s here). The warm process (flows.warm.server) has imported them once and forks a
child per run; this side, standard library only, hands the child the terminal (its
stdin, stdout and stderr as file descriptors), the arguments, the environment and the
working directory over a Unix socket in PREFECT_HOME, forwards Ctrl-C and termination,
and exits with the child's code. The child runs exactly what ``process-image`` runs.

Used only when it cannot change the outcome: a plain run against the background server
(no ``--debug``, no Prefect logging settings of the run's own, IMAGE_PIPELINE_WARM not
``0``), and only if the warm process was built from these very source files (a
fingerprint of their paths, sizes and modification times, and the interpreter); otherwise
``run_warm`` returns None and the run goes the normal way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SOCKET_NAME = "image-pipeline-warm.sock"
LOG_NAME = "image-pipeline-warm.log"
# Flags whose runs the warm process must not take: they change logging or need no run.
_COLD_FLAGS = {"--debug", "-h", "--help", "--server-status", "--stop-server", "--ephemeral-server"}
_PACKAGES = ("flows", "blocks")
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; leave room


def home() -> Path:
    """PREFECT_HOME as Prefect resolves it without a profile (flows.local_server.connect)."""
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


def fingerprint() -> str:
    """What the warm process must have been built from: these sources and this Python."""
    digest = hashlib.sha256(sys.executable.encode())
    root = Path(__file__).resolve().parents[2]
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
    path = socket_path(home())
    if not eligible(argv, environ) or len(str(path)) > _UNIX_PATH_MAX or not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        request = {
            "argv": list(argv),
            "env": environ,
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
