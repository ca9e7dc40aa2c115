"""The warm process (flows.warm): runs forked from a process that did the imports, for real.

Each test has its own PREFECT_HOME, port and background server (tests.local_home), turns
the warm process on (the suite turns it off), and its fixture waits for the warm process
to leave with its server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.warm.client import LOG_NAME, SOCKET_NAME
from tests.conftest import S3Env
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.local_home import LocalHome

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "logo.png"
WARM = {"IMAGE_PIPELINE_WARM": "1", "OPENAI_API_KEY": ""}


def _served(home: LocalHome) -> int:
    log = home.home / LOG_NAME
    return log.read_text().count("run started in child") if log.exists() else 0


def _until(condition: Callable[[], bool], timeout: float = 90) -> bool:
    """Poll a file-system fact (no event to wait on) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _warm_up(home: LocalHome) -> subprocess.CompletedProcess[str]:
    first = home.run("--offline", "-i", str(SAMPLE), **WARM)
    assert first.returncode == 0, first.stderr
    assert _until((home.home / SOCKET_NAME).exists), "no warm process started"
    return first


def _body(output: str) -> list[str]:
    """What a run prints, minus what differs between any two runs (times, ids, the
    first run's server line)."""
    skipped = ("Started a local Prefect server", "Prefect UI for this run", "URL:")
    return [
        line.replace(" (cached, no API call)", "")  # the second run is a hit
        for line in output.splitlines()
        if line.strip() and not line.startswith(skipped)
    ]


def test_the_next_run_goes_through_the_warm_process_and_prints_the_same(
    homes: Callable[[str], LocalHome],
) -> None:
    home = homes("home")
    first = _warm_up(home)
    second = home.run("--offline", "-i", str(SAMPLE), **WARM)
    assert second.returncode == 0, second.stderr
    assert _served(home) == 1
    assert _body(second.stdout) == _body(first.stdout)
    assert "Prefect UI for this run: http://127.0.0.1:" in second.stdout

    failed = home.run("--offline", "-i", "missing.png", **WARM)  # exit code and stderr
    assert failed.returncode == 1 and _served(home) == 2
    assert "Image file not found" in failed.stderr


def test_a_probe_or_a_garbled_request_leaves_the_warm_process_serving(
    homes: Callable[[str], LocalHome],
) -> None:
    # A run that finishes while the warm process is still starting probes it (connect,
    # close) before starting another: that must not stop it.
    home = homes("home")
    _warm_up(home)
    for payload in (b"", b"not json\n"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(home.home / SOCKET_NAME))
            probe.sendall(payload)
    again = home.run("--offline", "-i", str(SAMPLE), **WARM)
    assert again.returncode == 0, again.stderr
    assert _served(home) == 1
    assert "Traceback" not in (home.home / LOG_NAME).read_text()


def test_changed_sources_send_the_run_the_normal_way_and_renew_the_warm_process(
    homes: Callable[[str], LocalHome],
) -> None:
    home = homes("home")
    _warm_up(home)
    source = REPO / "flows" / "warm" / "__init__.py"
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        changed = home.run("--offline", "-i", str(SAMPLE), **WARM)
        assert changed.returncode == 0, changed.stderr
        assert _served(home) == 0  # declined: built from other sources
        assert "sources changed since start" in (home.home / LOG_NAME).read_text()
        assert _until((home.home / SOCKET_NAME).exists)  # a fresh one
        again = home.run("--offline", "-i", str(SAMPLE), **WARM)
        assert again.returncode == 0 and _served(home) == 1
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_ctrl_c_reaches_the_run_and_stop_server_stops_the_warm_process(
    homes: Callable[[str], LocalHome], openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    home = homes("home")
    _warm_up(home)
    openai_fake.enqueue(Fault.held(threading.Event()))  # a generation still running
    run = subprocess.Popen(
        home.command("-i", str(SAMPLE)),
        cwd=home.home.parent,
        env=home.env(IMAGE_PIPELINE_WARM="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert openai_fake.wait_until(lambda: openai_fake.in_flight == 1, timeout=120)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, (out, err)
    assert "Interrupted" in err and _served(home) == 1

    stopped = home.run("--stop-server", **WARM)
    assert stopped.returncode == 0, stopped.stderr
    assert not (home.home / SOCKET_NAME).exists()  # gone before --stop-server returned
