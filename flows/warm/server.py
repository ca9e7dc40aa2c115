"""The warm process: Prefect, openai, boto3 and the pipeline imported once, a fork per run.

``python -m flows.warm.server`` (started in the background by process-image after a run
against the background Prefect server, flows.warm.spawn) imports everything a run needs,
freezes those objects for the garbage collector, then listens on
``$PREFECT_HOME/image-pipeline-warm.sock``. For each client (flows.warm.client) it checks
the client was built from the same sources, forks, and the child takes the client's
terminal, arguments, environment and working directory and runs process-image's main.
Nothing of one run reaches another: each child starts from the same untouched imports.

It lives as long as the background server it was started beside: when that server is
stopped (``process-image --stop-server``) or replaced, it exits within CHECK_SECONDS.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from flows.warm.client import LOG_NAME, fingerprint, home, socket_path

CHECK_SECONDS = 5.0
_MAX_FDS = 3


def _prepare_like_the_cli() -> None:
    """The environment process-image sets before Prefect is imported (flows.cli)."""
    from flows.cli import _quiet_prefect_console

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

    import flows.cli_server
    import flows.pipeline.run
    import flows.process_image
    import flows.process_images  # noqa: F401
    from flows.cli import build_parser

    build_parser()  # imports the flags' modules too


def serve(prefect_home: Path) -> None:
    """Accept runs until the background server of ``prefect_home`` is gone."""
    from flows.local_server.manager import is_serving
    from flows.local_server.state import read_state

    state = read_state(prefect_home)
    if state is None:
        return
    built_from = fingerprint()
    path = socket_path(prefect_home)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)  # the runs carry the user's environment and keys
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
                continue
            if not _take(conn, built_from, listener):
                return  # asked to stop, or built from other sources: a fresh one will start
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _take(conn: socket.socket, built_from: str, listener: socket.socket) -> bool:
    """Start a child for ``conn``'s run; False when the client's sources differ."""
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
        # A probe (flows.warm.spawn.is_listening connects and closes), or noise: no run.
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
        listener.close()
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
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect reads the run's environment, not ours
        sys.argv = ["process-image", *request["argv"]]
        gc.enable()
        from flows.cli import main

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


def main() -> None:
    """``python -m flows.warm.server``: import, then serve this PREFECT_HOME's runs."""
    prefect_home = home()
    log = (prefect_home / LOG_NAME).open("a", buffering=1)
    os.dup2(log.fileno(), 2)
    _prepare_like_the_cli()
    _import_everything()
    serve(prefect_home)


if __name__ == "__main__":
    main()
