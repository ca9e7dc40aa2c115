"""The loopback services a benchmark talks to: moto (S3), the fake OpenAI, a Prefect server.

All bind 127.0.0.1 on random ports and stop when their ``with`` block ends.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moto.server import ThreadedMotoServer

from tests.fakes.openai_server import FakeOpenAIServer, RecordedRequest

PREFECT_START_TIMEOUT_S = 120.0
# Never used for real: the fake only checks that a bearer token is sent.
FAKE_OPENAI_KEY = "sk-bench-0123456789abcdef"


class CountingOpenAIServer(FakeOpenAIServer):
    """The fake OpenAI server, keeping each request's line and headers but not its body.

    The base class keeps every parsed body (a ~1.4 MB data URL per 1 MB image) for test
    assertions; a 500-image batch would hold ~700 MB in this process. The benchmark only
    counts requests, so the body is dropped before it is stored.
    """

    def _record(self, request: RecordedRequest) -> None:
        super()._record(RecordedRequest(request.method, request.path, request.headers))

    @property
    def responses_count(self) -> int:
        """``POST /v1/responses`` requests received so far."""
        return len(self.responses_requests)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3/STS server; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def openai_server(latency: float) -> Iterator[CountingOpenAIServer]:
    """The fake Responses API; every ``/v1/responses`` request stays ``latency`` s in flight."""
    with CountingOpenAIServer(api_key=FAKE_OPENAI_KEY, latency=latency) as server:
        yield server


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(api_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + PREFECT_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited early; see {log}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"prefect server not healthy after {PREFECT_START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's own process group (it was started in a new session), then KILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def prefect_server(env: dict[str, str], log: Path, niceness: int = 0) -> Iterator[tuple[str, int]]:
    """``prefect server start`` on a random port; yields (API URL, server pid).

    ``niceness`` > 0 runs it at a lower CPU priority (``nice -n``), standing in for a server
    on another machine: it then mostly records events after the batch instead of during it.

    A long-lived server makes each flow run in a fresh process ~7 s cheaper than the
    ephemeral server a process starts when PREFECT_API_URL is unset (shared/NOTES.md).
    """
    port = free_port()
    command = ["nice", "-n", str(niceness)] if niceness else []
    command += [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(api_url, process, log)
        yield api_url, process.pid
    finally:
        _stop(process)
