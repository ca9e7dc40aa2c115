"""The warm process (prefect_image_pipeline.cli.warm): runs forked from a process that did the imports, for real.

Each test has its own PREFECT_HOME, port and background server (tests.local_home), turns
the warm process on (the suite turns it off), and its fixture waits for the warm process
to leave with its server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_image_pipeline.cli.warm.client import LOG_NAME, SOCKET_NAME
from prefect_image_pipeline.cli.warm.spawn import server_command
from tests.conftest import S3Env
from tests.fakes.openai_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.local_home import LocalHome
from tests.paths import REPO, SAMPLE

# One worker runs them all, one after the other (pytest-xdist --dist loadgroup): a test here
# moves a source file's mtime, and a warm process of another test would see its sources
# change under it.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warm")]

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


def _process_image() -> list[str]:
    """The installed console script, as a user types it: unlike LocalHome.command's
    ``python -c``, it puts no working directory on sys.path (a folder's own ``flows/``
    would be imported instead of ours, by the CLI itself, not only by the warm process)."""
    script = Path(sys.executable).with_name("process-image")
    assert script.exists(), f"{script} missing: `uv sync` installs it"
    return [str(script)]


def _flows_project(root: Path) -> Path:
    """A Prefect project's layout: a ``flows/`` package of its own, an image beside it."""
    project = root / "project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "__init__.py").write_text('"""The project\'s own flows."""\n')
    (project / "flows" / "process_image.py").write_text(
        "raise SystemExit('the project's own flows/ was imported')\n"
    )
    shutil.copy(SAMPLE, project / "logo.png")
    return project


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


def test_a_probe_a_garbled_request_or_a_second_warm_process_leaves_the_first_serving(
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
    # Nor does a second one started meanwhile: it leaves before importing anything, and
    # does not take the socket over (the first would be left serving nobody until its
    # server stops).
    second = subprocess.run(server_command(), env=home.env(**WARM), timeout=60, check=False)
    assert second.returncode == 0
    again = home.run("--offline", "-i", str(SAMPLE), **WARM)
    assert again.returncode == 0, again.stderr
    assert _served(home) == 1
    log = (home.home / LOG_NAME).read_text()
    assert "another warm process is up: leaving" in log and "Traceback" not in log


def test_changed_sources_send_the_run_the_normal_way_and_renew_the_warm_process(
    homes: Callable[[str], LocalHome],
) -> None:
    home = homes("home")
    _warm_up(home)
    source = REPO / "prefect_image_pipeline" / "cli" / "warm" / "__init__.py"
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


def test_runs_from_a_folder_with_a_flows_package_of_its_own_are_served_warm(
    homes: Callable[[str], LocalHome],
) -> None:
    # `python -m prefect_image_pipeline.cli.warm.server` imported the folder's flows/: it died at once (this
    # layout) or, for a checkout of ours, declined every run as built from other sources.
    home = homes("home")
    project = _flows_project(home.home.parent)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_process_image(), "--offline", *args],
            cwd=project,
            env=home.env(**WARM),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    first = run("-i", "logo.png")  # relative: the user's working directory
    assert first.returncode == 0, first.stderr
    assert _until((home.home / SOCKET_NAME).exists), "no warm process started"
    second = run("-i", "logo.png")
    assert second.returncode == 0, second.stderr
    assert _served(home) == 1
    assert _body(second.stdout) == _body(first.stdout)
    third = run("-i", "logo.png", "--output-dir", "kept", "--keep-temp")
    assert third.returncode == 0, third.stderr
    assert _served(home) == 2
    assert any((project / "kept").iterdir())  # the child wrote where the user stands
    log = (home.home / LOG_NAME).read_text()
    assert "sources changed" not in log and "imported flows from" not in log, log


# Three runs one after the other, as a script writes them: output captured by `$(...)` and
# files, nothing on a terminal, no pause for the warm process the first run starts.
_BACK_TO_BACK = """
for n in 1 2; do
  out=$("$@" -i "$IMAGE" 2>err$n); echo $? >code$n; printf '%s\\n' "$out" >out$n
done
"$@" -i missing.png >out3 2>err3; echo $? >code3
"""


def test_back_to_back_runs_with_captured_output_are_served(
    homes: Callable[[str], LocalHome], tmp_path: Path
) -> None:
    home = homes("home")
    script = subprocess.Popen(
        ["sh", "-c", _BACK_TO_BACK, "script", *home.command("--offline")],
        cwd=tmp_path,
        env=home.env(IMAGE=str(SAMPLE), **WARM),
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # so that a failure can stop the runs it started too
    )
    try:
        assert script.wait(timeout=600) == 0
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
    out = {n: (tmp_path / f"out{n}").read_text() for n in (1, 2, 3)}
    err = {n: (tmp_path / f"err{n}").read_text() for n in (1, 2, 3)}
    codes = [int((tmp_path / f"code{n}").read_text()) for n in (1, 2, 3)]
    assert codes == [0, 0, 1], err
    # The second run came right after the first: it waited for the warm process that one
    # started (still importing, or already up) instead of importing everything itself.
    assert _served(home) == 2
    assert _body(out[2]) == _body(out[1]) and err[2] == ""
    assert "Prefect UI for this run: http://127.0.0.1:" in out[2]
    assert "Image file not found" in err[3] and "Image file not found" not in out[3]
