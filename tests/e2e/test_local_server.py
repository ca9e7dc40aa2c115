"""The background Prefect server the CLI starts and reuses (prefect_image_pipeline.edges.prefect_server), for real.

Each test has its own PREFECT_HOME and port, runs `process-image` as a user does (a fresh
process), and stops what it started; conftest checks at the end of the session that no
server of the suite is left running.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest

from prefect_image_pipeline.cli.server import _port_clause
from prefect_image_pipeline.edges.prefect_server.database import template_for
from prefect_image_pipeline.edges.prefect_server.ports import FALLBACK_PORTS, PortChoice
from prefect_image_pipeline.edges.prefect_server.process import (
    pid_alive,
    probe,
    server_marks,
    terminate,
)
from prefect_image_pipeline.edges.prefect_server.state import ServerState, read_state, write_state
from tests.conftest import S3Env, prefect_servers_under
from tests.fakes.openai_server import FakeOpenAIServer
from tests.local_home import LocalHome
from tests.paths import REPO, SAMPLE

pytestmark = pytest.mark.slow

STARTED = "Started a local Prefect server in the background"


@pytest.fixture
def local_home(homes: Callable[[str], LocalHome]) -> LocalHome:
    return homes("prefect-home")


@pytest.fixture
def second_home(homes: Callable[[str], LocalHome]) -> LocalHome:
    return homes("other-home")


def _offline(home: LocalHome, **extra: str) -> subprocess.CompletedProcess[str]:
    return home.run("--offline", "-i", str(SAMPLE), OPENAI_API_KEY="", **extra)


def _at_once(*runs: tuple[LocalHome, tuple[str, ...], dict[str, str]]) -> list[tuple[str, str]]:
    """Start one offline run per (home, extra flags, extra environment) at the same moment;
    their (stdout, stderr), each asserted to have succeeded. None is left running."""
    started = [
        subprocess.Popen(
            home.command("--offline", *flags, "-i", str(SAMPLE)),
            cwd=home.home.parent,
            env=home.env(OPENAI_API_KEY="", **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home, flags, extra in runs
    ]
    try:
        outputs = [run.communicate(timeout=240) for run in started]
    finally:
        for run in started:
            if run.poll() is None:
                run.kill()
    assert [run.returncode for run in started] == [0] * len(started), [e for _, e in outputs]
    return outputs


def test_first_run_starts_one_server_on_loopback_and_later_runs_reuse_it(
    local_home: LocalHome,
) -> None:
    first = _offline(local_home)
    assert first.returncode == 0, first.stderr
    _assert_listening_on_loopback_only(local_home.port)
    assert f"{STARTED}: UI at http://127.0.0.1:{local_home.port}; stop it with" in first.stdout
    assert "Prefect UI for this run: http://127.0.0.1:" in first.stdout
    state = local_home.state()
    assert state.port == local_home.port and state.prefect_version == version("prefect")
    assert state.prefect_home == str(local_home.home)

    second = _offline(local_home)
    assert second.returncode == 0, second.stderr
    assert STARTED not in second.stdout
    assert local_home.state() == state  # the same server, reused

    status = local_home.run("--server-status")
    assert status.returncode == 0
    assert f"UI http://127.0.0.1:{local_home.port}, pid {state.pid}" in status.stdout

    stopped = local_home.run("--stop-server")
    assert f"Stopped the local Prefect server on http://127.0.0.1:{local_home.port}" in (
        stopped.stdout
    )
    assert not pid_alive(state.pid) and read_state(local_home.home) is None
    after = local_home.run("--server-status")
    assert after.returncode == 3 and "No local Prefect server is running" in after.stdout


def test_two_runs_at_the_same_moment_start_one_server(local_home: LocalHome) -> None:
    outputs = _at_once((local_home, (), {}), (local_home, (), {}))
    assert sum(out.count(STARTED) for out, _ in outputs) == 1
    servers = _servers_for(local_home.home)
    assert servers == [local_home.state().pid]


def test_a_stale_state_file_is_replaced_by_a_fresh_server(local_home: LocalHome) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_state(
        local_home.home,
        ServerState(gone.pid, local_home.port, version("prefect"), str(local_home.home)),
    )
    done = _offline(local_home)
    assert done.returncode == 0, done.stderr
    assert STARTED in done.stdout
    assert local_home.state().pid != gone.pid and pid_alive(local_home.state().pid)


class _NotPrefect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_port_taken_by_another_program_leads_to_the_next_free_port(
    local_home: LocalHome,
) -> None:
    wanted = local_home.port
    squatter = ThreadingHTTPServer(("127.0.0.1", wanted), _NotPrefect)
    thread = threading.Thread(target=squatter.serve_forever, daemon=True)
    thread.start()
    try:
        done = _offline(local_home)
        status = local_home.run("--server-status")
    finally:
        squatter.shutdown()
        squatter.server_close()
    assert done.returncode == 0, done.stderr
    state = local_home.state()
    assert wanted < state.port <= wanted + FALLBACK_PORTS
    # The port was set in the environment (LocalHome.env), so the line names the variable.
    assert (
        f"{STARTED}: UI at http://127.0.0.1:{state.port} (IMAGE_PIPELINE_SERVER_PORT={wanted} "
        "is taken by another program); stop it with" in done.stdout
    )
    assert f"Prefect UI for this run: http://127.0.0.1:{state.port}/runs/" in done.stdout
    assert status.returncode == 0
    assert (
        f"UI http://127.0.0.1:{state.port} (not the configured port {wanted}: taken when it "
        f"started, or set since), pid {state.pid}" in status.stdout
    )
    assert f"PREFECT_HOME={local_home.home}," in status.stdout
    assert _servers_for(local_home.home) == [state.pid]


def test_two_homes_with_one_port_each_get_a_server_and_run(
    local_home: LocalHome, second_home: LocalHome
) -> None:
    second_home.port = local_home.port  # the same configured port, as with the default
    first = _offline(local_home)
    assert first.returncode == 0, first.stderr
    done = _offline(second_home)
    assert done.returncode == 0, done.stderr
    mine, other = local_home.state(), second_home.state()
    assert mine.ready and other.ready  # each seen holding its own port: not checked again
    assert mine.port == local_home.port and mine.prefect_home == str(local_home.home)
    assert local_home.port < other.port <= local_home.port + FALLBACK_PORTS
    assert other.prefect_home == str(second_home.home)
    assert (
        f"UI at http://127.0.0.1:{other.port} (IMAGE_PIPELINE_SERVER_PORT={local_home.port} "
        f"is taken by the Prefect server of PREFECT_HOME={local_home.home}); stop it" in done.stdout
    )
    for home, state in ((local_home, mine), (second_home, other)):  # back to back, reused
        again = _offline(home)
        assert again.returncode == 0, again.stderr
        assert STARTED not in again.stdout and home.state() == state
        assert f"Prefect UI for this run: http://127.0.0.1:{state.port}/runs/" in again.stdout
        assert _identify(state.port) == str(home.home)
        status = home.run("--server-status")
        assert f"UI http://127.0.0.1:{state.port}" in status.stdout
        assert f"pid {state.pid}, Prefect" in status.stdout
        assert f"PREFECT_HOME={home.home}," in status.stdout


def test_two_homes_starting_at_the_same_moment_on_one_port_get_a_server_each(
    local_home: LocalHome, second_home: LocalHome
) -> None:
    second_home.port = local_home.port
    outputs = _at_once((local_home, (), {}), (second_home, (), {}))
    states = [local_home.state(), second_home.state()]
    # Both chose the free port at once; the one whose server lost it started on another.
    assert sorted(state.port for state in states)[0] == local_home.port
    assert len({state.port for state in states}) == 2
    for home, state, (out, _) in zip((local_home, second_home), states, outputs, strict=True):
        assert f"{STARTED}: UI at http://127.0.0.1:{state.port}" in out
        assert _identify(state.port) == str(home.home)
        assert _servers_for(home.home) == [state.pid]  # the losing launch was stopped


def test_a_server_whose_home_was_deleted_is_stopped_and_its_port_reused(
    local_home: LocalHome, second_home: LocalHome
) -> None:
    assert _offline(local_home).returncode == 0
    leftover = local_home.state().pid
    try:
        shutil.rmtree(local_home.home)  # its state file goes too: no --stop-server can find it
        second_home.port = local_home.port
        done = _offline(second_home)
        assert done.returncode == 0, done.stderr
        assert (
            f"UI at http://127.0.0.1:{local_home.port} (stopped the server left on "
            f"IMAGE_PIPELINE_SERVER_PORT={local_home.port} by deleted PREFECT_HOME "
            f"{local_home.home}); stop it" in done.stdout
        )
        assert not pid_alive(leftover)
        assert second_home.state().port == local_home.port
        assert _identify(local_home.port) == str(second_home.home)
    finally:
        if pid_alive(leftover):
            terminate(leftover)


_FAKE_PREFECT = """
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
answers = {"/api/health": True, "/api/admin/version": "3.9.1",
           "/api/admin/settings": {"home": sys.argv[1]}}
class Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(answers.get(self.path)).encode()
        self.send_response(200 if self.path in answers else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Answer)
print("listening", flush=True)
server.serve_forever()
"""


def test_a_prefect_server_of_a_deleted_home_that_we_did_not_launch_is_left_alone(
    local_home: LocalHome, tmp_path: Path
) -> None:
    gone = tmp_path / "deleted-home"
    # Everything like a leftover of ours (Prefect's answers, the environment we set) but
    # the command line: so it is only the port's holder, never stopped.
    fake = subprocess.Popen(
        [sys.executable, "-c", _FAKE_PREFECT, str(gone), str(local_home.port)],
        env={**os.environ, **server_marks(gone, local_home.port)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert fake.stdout is not None and fake.stdout.readline() == "listening\n"
        done = _offline(local_home)
        assert fake.poll() is None
    finally:
        fake.kill()
        fake.communicate()  # reaps it and closes its pipe
    assert done.returncode == 0, done.stderr
    assert (
        f"(IMAGE_PIPELINE_SERVER_PORT={local_home.port} is taken by the Prefect server of "
        f"PREFECT_HOME={gone}); stop it" in done.stdout
    )
    assert local_home.state().port != local_home.port


def test_the_start_line_names_the_configured_port_or_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moved = PortChoice(4300, 4301, taken_by="another program")
    monkeypatch.delenv("IMAGE_PIPELINE_SERVER_PORT", raising=False)
    assert _port_clause(moved) == " (port 4300 is taken by another program)"
    assert _port_clause(PortChoice(4300, 4300)) == ""
    monkeypatch.setenv("IMAGE_PIPELINE_SERVER_PORT", "4300")
    assert _port_clause(moved) == " (IMAGE_PIPELINE_SERVER_PORT=4300 is taken by another program)"


def test_a_server_of_another_prefect_version_is_replaced(local_home: LocalHome) -> None:
    assert _offline(local_home).returncode == 0
    old = local_home.state()
    write_state(local_home.home, ServerState(old.pid, old.port, "3.0.0", old.prefect_home))
    done = _offline(local_home)
    assert done.returncode == 0, done.stderr
    assert f"{STARTED} (replacing the previous one: it ran Prefect 3.0.0, this is " in (done.stdout)
    assert not pid_alive(old.pid)
    assert local_home.state().prefect_version == version("prefect")


def test_a_server_that_dies_mid_run_is_replaced_and_the_run_goes_on(
    local_home: LocalHome, openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    assert _offline(local_home).returncode == 0  # the server is up before the timed part
    server = local_home.state()
    openai_fake.latency = 3.0
    run = subprocess.Popen(
        local_home.command("-i", str(SAMPLE)),
        cwd=local_home.home.parent,
        env=local_home.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert openai_fake.wait_until(lambda: openai_fake.in_flight == 1, timeout=120)
        os.killpg(server.pid, signal.SIGKILL)
        out, err = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    fresh = local_home.state()
    assert fresh.pid != server.pid and fresh.port == server.port
    assert (
        "(the local Prefect server stopped; started a fresh one at "
        f"http://127.0.0.1:{local_home.port}, the run goes on)" in out
    )
    assert "✓ Uploaded to S3" in out and len(s3.keys("generated-images/")) == 1
    assert len(openai_fake.responses_requests) == 1  # nothing paid twice


def test_ephemeral_server_leaves_nothing_running(
    local_home: LocalHome, second_home: LocalHome
) -> None:
    # The variable in one home and the flag in another, at the same moment (each run
    # spends most of its time starting Prefect's temporary server).
    outputs = _at_once(
        (local_home, (), {"IMAGE_PIPELINE_EPHEMERAL_SERVER": "1"}),
        (second_home, ("--ephemeral-server",), {}),
    )
    for out, err in outputs:
        assert STARTED not in out and "Prefect UI for this run" not in out
        assert "Error logging to API" not in out + err  # sent before the server stopped
    for home in (local_home, second_home):
        assert read_state(home.home) is None and _servers_for(home.home) == []


def test_flows_from_python_and_blocks_use_the_running_server(local_home: LocalHome) -> None:
    assert _offline(local_home).returncode == 0
    api_url = local_home.state().api_url
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\n"
            "from prefect_image_pipeline.process_image import process_image\n"
            "print(os.environ.get('PREFECT_API_URL', 'unset'))\n"  # importing decides nothing
            f"process_image(image={str(SAMPLE)!r}, offline=True)\n"
            "from prefect.settings import PREFECT_API_URL\n"
            "print(PREFECT_API_URL.value())",
        ],
        cwd=REPO,
        env=local_home.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = probe.stdout.strip().splitlines()
    assert lines[0] == "unset" and lines[-1] == api_url, probe.stderr
    saved = subprocess.run(
        [sys.executable, "-m", "blocks", "--skip-openai"],
        cwd=REPO,
        env=local_home.env(ARTIFACTS_BUCKET="some-bucket"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert saved.returncode == 0, saved.stderr
    assert STARTED not in saved.stdout
    assert "s3-bucket/images" in _block_names(api_url)


def test_the_database_template_is_at_prefects_migration_head(tmp_path: Path) -> None:
    import prefect.server.database
    from alembic.script import ScriptDirectory

    template = template_for(version("prefect"))
    assert template.exists(), "run scripts/make-db-template after upgrading Prefect"
    scripts = Path(prefect.server.database.__file__).parent / "_migrations"
    # Prefect keeps one migration history per database dialect (its env.py picks the folder).
    history = ScriptDirectory(str(scripts), version_locations=[str(scripts / "versions/sqlite")])
    head = history.get_current_head()
    assert head is not None
    database = tmp_path / "prefect.db"
    database.write_bytes(gzip.decompress(template.read_bytes()))
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        flow_runs = connection.execute("SELECT count(*) FROM flow_run").fetchone()[0]
    assert revision == head and flow_runs == 0


def _assert_listening_on_loopback_only(port: int) -> None:
    port_hex = f"{port:04X}"
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1].endswith(f":{port_hex}") and line.split()[3] == "0A"
    ]
    assert listening == [f"0100007F:{port_hex}"]  # 127.0.0.1, nothing on 0.0.0.0
    assert not any(
        line.split()[1].endswith(f":{port_hex}") and line.split()[3] == "0A"
        for line in Path("/proc/net/tcp6").read_text().splitlines()[1:]
    )


def _identify(port: int) -> str | None:
    """The PREFECT_HOME of the Prefect server answering on ``port``."""
    return probe(port, identify=True).prefect_home


def _servers_for(home: Path) -> list[int]:
    return prefect_servers_under(str(home))


def _block_names(api_url: str) -> list[str]:
    import httpx

    listing = httpx.post(f"{api_url}/block_documents/filter", json={}, timeout=10).json()
    return [f"{doc['block_type']['slug']}/{doc['name']}" for doc in listing]
