"""The warm process: Prefect, openai, boto3 and the pipeline imported once, a fork per run.

Started in the background by process-image after a run against the background Prefect
server (cli.warm.spawn), it imports everything a run needs, freezes those objects for
the garbage collector, then listens on
``$PREFECT_HOME/image-pipeline-warm.sock``. For each client (cli.warm.client) it checks
the client was built from the same sources, forks, and the child takes the client's
terminal, arguments, environment and working directory and runs process-image's main.
Nothing of one run reaches another: each child starts from the same untouched imports.

It lives as long as the background server it was started beside: when that server is
stopped (``process-image --stop-server``) or replaced, it exits within CHECK_SECONDS.
One per PREFECT_HOME: it holds ``image-pipeline-warm.lock`` from before its imports to its
end, and a second one started meanwhile leaves at once.

cli.warm.spawn starts it with ``python -P`` and the folder process-image imported
``flows`` from: a ``flows/`` in the working directory (a Prefect project's, or a checkout
of this repository while the package is installed elsewhere) is never imported instead.
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import io
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from prefect_image_pipeline.cli.warm.client import (
    LOCK_NAME,
    LOG_NAME,
    fingerprint,
    home,
    package_root,
    socket_path,
)

CHECK_SECONDS = 5.0
_MAX_FDS = 3


def _prepare_like_the_cli() -> None:
    """The environment process-image sets before Prefect is imported (cli.main)."""
    from prefect_image_pipeline.cli.main import _quiet_prefect_console

    _quiet_prefect_console(debug=False)


def _import_everything() -> None:
    """What a run imports, so that no child pays for it."""
    import boto3  # noqa: F401
    import fastapi.encoders  # noqa: F401 - Prefect serialises flow parameters with it
    import imagehash  # noqa: F401 - the similarity check's numpy and scipy, about 0.5 s
    import openai.resources.images
    import openai.resources.responses  # noqa: F401
    import prefect.flow_engine
    import prefect.task_engine  # noqa: F401

    import prefect_image_pipeline.cli.server
    import prefect_image_pipeline.pipeline.run
    import prefect_image_pipeline.process_image
    import prefect_image_pipeline.process_images  # noqa: F401
    from prefect_image_pipeline.cli.main import build_parser

    build_parser()  # imports the flags' modules too


def _hold_lock(prefect_home: Path, built_from: str) -> IO[str] | None:
    """The lock no other warm process of ``prefect_home`` holds, with what this one is built
    from written in it (cli.warm.client.alive); None if another one has it."""
    lock = (prefect_home / LOCK_NAME).open("a+")  # not truncated before it is ours
    for _ in range(25):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            time.sleep(0.02)  # a run's look at it (alive) lasts an instant; another one's, not
    else:
        lock.close()
        return None
    lock.truncate(0)
    lock.write(json.dumps({"pid": os.getpid(), "started": time.time(), "fingerprint": built_from}))
    lock.flush()
    return lock


def serve(prefect_home: Path, built_from: str, lock: IO[str]) -> None:
    """Accept runs until the background server of ``prefect_home`` is gone."""
    from prefect_image_pipeline.edges.prefect_server.manager import is_serving
    from prefect_image_pipeline.edges.prefect_server.state import read_state

    state = read_state(prefect_home)
    if state is None:
        return
    path = socket_path(prefect_home)
    path.unlink(missing_ok=True)  # a dead one's: a live one would hold the lock
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)  # the runs carry the user's environment and keys
    bound = path.stat().st_ino
    listener.listen(16)
    listener.settimeout(CHECK_SECONDS)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    gc.freeze()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                current = read_state(prefect_home)
                if current != state or not is_serving(state, prefect_home):
                    return
                if not _is_ours(path, bound):
                    return  # its socket file was removed: no run could reach it
                continue
            if not _take(conn, built_from, (listener, lock)):
                return  # asked to stop, or built from other sources: a fresh one will start
    finally:
        listener.close()
        path.unlink(missing_ok=True)
        lock.close()  # now, not after the interpreter's teardown: a fresh one may start


def _is_ours(path: Path, inode: int) -> bool:
    """Whether the socket file at ``path`` is still the one this process bound."""
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def _take(conn: socket.socket, built_from: str, own: tuple[socket.socket, IO[str]]) -> bool:
    """Start a child for ``conn``'s run; False when the client's sources differ.

    ``own`` (the listener and the lock) is closed in the child: a run outliving this
    process must not keep runs coming to it, nor a fresh warm process from starting.
    """
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, _MAX_FDS)
    buffer = message
    while not buffer.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        buffer += more
    try:
        request = json.loads(buffer) if buffer.strip() else None
    except ValueError:
        request = None
    if not isinstance(request, dict):
        # A probe (cli.warm.spawn.is_listening connects and closes), or noise: no run.
        conn.close()
        for fd in fds:
            os.close(fd)
        return True
    if request.get("stop"):
        conn.sendall(b"stopping\n")
        conn.close()
        return False
    if request["fingerprint"] != built_from or len(fds) != _MAX_FDS:
        print("sources changed since start: leaving for a fresh one", file=sys.stderr)
        conn.sendall(b"stale\n")
        conn.close()
        for fd in fds:
            os.close(fd)
        return False
    child = os.fork()
    if child == 0:  # the child: never returns
        for owned in own:
            owned.close()
        _run_child(conn, fds, request)
    print(f"run started in child {child}", file=sys.stderr, flush=True)
    conn.close()
    for fd in fds:
        os.close(fd)
    return True


def _run_child(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    code = 1
    try:
        # Said by the child itself, so it always comes before its exit line.
        conn.sendall(f"pid {os.getpid()}\n".encode())
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        if isinstance(sys.stdout, io.TextIOWrapper):
            # Buffered as a fresh interpreter would (this one started on /dev/null): line by
            # line on a terminal or with PYTHONUNBUFFERED, else in blocks (stderr: by line).
            unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
            sys.stdout.reconfigure(line_buffering=unbuffered or os.isatty(1))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect reads the run's environment, not ours
        sys.argv = ["process-image", *request["argv"]]
        gc.enable()
        from prefect_image_pipeline.cli.main import main

        code = main(request["argv"])
        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then leave with a code
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            conn.sendall(f"exit {code}\n".encode())
        finally:
            os._exit(code)


def main(expected_root: str | None = None) -> None:
    """Import, then serve this PREFECT_HOME's runs; leave at once if another warm process
    is up, or if ``flows`` did not come from ``expected_root`` (where process-image's did)."""
    prefect_home = home()
    log = (prefect_home / LOG_NAME).open("a", buffering=1)
    os.dup2(log.fileno(), 2)
    if expected_root is not None and Path(expected_root).resolve() != package_root():
        # Its runs would all be declined (another fingerprint): no use importing.
        print(
            f"imported flows from {package_root()}, not {expected_root}: leaving", file=sys.stderr
        )
        return
    built_from = fingerprint()  # before the imports: a file changed during them counts
    lock = _hold_lock(prefect_home, built_from)
    if lock is None:
        print("another warm process is up: leaving", file=sys.stderr)
        return
    _prepare_like_the_cli()
    _import_everything()
    serve(prefect_home, built_from, lock)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
