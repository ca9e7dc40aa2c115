"""A real `prefect server start`, workers and CLI commands, for end-to-end tests.

Every process runs in its own session with its output in a log file, and `PrefectStack`
stops all of them when its block ends, failed or not: SIGINT, then SIGKILL after a grace
period, then SIGKILL for anything they left behind (a worker starts each flow run in a
session of its own, so a worker killed mid-run would orphan it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import TracebackType

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_image_pipeline.edges.prefect_server.database import seed_database

BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
PYTHON = sys.executable

# Coverage's subprocess hook traces every process it reaches: it slows each Prefect import
# by seconds, and these processes run nothing the in-process tests do not already cover.
_UNTRACED = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int | str) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> set[tuple[int, int]]:
    """Every live process below ``pid``, wherever its session, as (pid, start time)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: set[tuple[int, int]] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def kill_if_same(pid: int, started: int) -> None:
    """SIGKILL ``pid`` unless it exited (or its number now belongs to another process)."""
    stat = _stat(pid)
    if stat is not None and stat[1] == started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class Finished:
    """A command that ran to its end."""

    argv: list[str]
    returncode: int
    output: str  # stdout and stderr, interleaved


@dataclass
class Managed:
    """A process this test started, with its combined output in ``log``."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 40) -> str:
        """The last lines it printed, for failure messages."""
        return "\n".join(self.output().splitlines()[-lines:])

    def running(self) -> bool:
        """Whether it has not exited yet."""
        return self.process.poll() is None

    def finish(self, timeout: float) -> Finished:
        """Wait for the exit; past ``timeout`` stop it and fail the test with its output."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"{self.name} did not finish within {timeout:.0f}s:\n{self.tail()}"
            ) from None
        return Finished(self.argv, self.process.returncode, self.output())

    def stop(self, grace: float = 20.0) -> None:
        """SIGINT, SIGKILL after ``grace``, then SIGKILL whatever it left running."""
        leftovers = descendants(self.process.pid)
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=grace)
        for pid, started in leftovers:
            kill_if_same(pid, started)


@dataclass
class PrefectStack:
    """A Prefect server on a random loopback port, and the processes that talk to it.

    ``env()`` is read when a process starts, so it picks up what fixtures set in
    ``os.environ`` (moto's endpoint, the fake OpenAI URL) after the stack was created.
    """

    root: Path
    cwd: Path
    port: int = field(default_factory=free_port)
    processes: list[Managed] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        """PREFECT_API_URL for clients of this server."""
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def home(self) -> Path:
        """PREFECT_HOME of every process: a fresh profile and SQLite database."""
        return self.root / "prefect-home"

    def env(
        self, extra: Mapping[str, str] | None = None, drop: tuple[str, ...] = ()
    ) -> dict[str, str]:
        """os.environ now, minus names starting with ``drop``, pointed at this server."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _UNTRACED and not (drop and k.startswith(drop))
        }
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_URL": self.api_url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PYTHONUNBUFFERED": "1",
                # Wide, colourless output that tests can search.
                "COLUMNS": "200",
                "NO_COLOR": "1",
                "PWD": str(self.cwd),  # `{{ $PWD }}` in prefect.yaml reads this, not cwd=
            }
        )
        env.update(extra or {})
        return env

    def worker_env(self, results: Path, drop: tuple[str, ...] = ()) -> dict[str, str]:
        """A worker's environment: polling every second, its runs' results in ``results``."""
        return self.env(
            {
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_WORKER_PREFETCH_SECONDS": "1",
                "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(results),
            },
            drop=drop,
        )

    def start(self, name: str, *argv: str, env: Mapping[str, str] | None = None) -> Managed:
        """Start ``argv`` in the background, from the repository root."""
        log = self.root / "logs" / f"{len(self.processes):02d}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                cwd=self.cwd,
                env=dict(env) if env is not None else self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        managed = Managed(name, list(argv), process, log)
        self.processes.append(managed)
        return managed

    def start_server(self, timeout: float = 180.0, attempts: int = 3) -> None:
        """`prefect server start` on 127.0.0.1; returns once healthy.

        The free port may be taken by another process before the server binds it: then
        the server exits at once and we try another port.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        seed_database(self.home, version("prefect"))  # as the CLI starts one: no migrations
        env = self.env(
            {
                # No scheduled runs: the nightly schedule is stored, never fired mid-test.
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
                "PREFECT_SERVER_UI_ENABLED": "false",
            }
        )
        for attempt in range(1, attempts + 1):
            server = self.start(
                "server",
                PREFECT,
                *("server", "start", "--host", "127.0.0.1", "--port", str(self.port)),
                env=env,
            )
            if self._healthy(server, timeout):
                return
            server.stop()
            if attempt == attempts or "address already in use" not in server.output().lower():
                raise AssertionError(f"prefect server did not start:\n{server.tail()}")
            self.port = free_port()
            env["PREFECT_API_URL"] = self.api_url

    def _healthy(self, server: Managed, timeout: float) -> bool:
        """Poll /api/health until it answers true (True) or the server exits (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not server.running():
                return False
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if httpx.get(f"{self.api_url}/health", timeout=2).json() is True:
                    return True
            time.sleep(0.25)
        raise AssertionError(f"prefect server not healthy after {timeout:.0f}s:\n{server.tail()}")

    @contextlib.contextmanager
    def client(self) -> Iterator[SyncPrefectClient]:
        """A Prefect client of this server (not the test session's harness)."""
        with (
            temporary_settings({PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            yield client

    def logs(self) -> str:
        """The tail of every process's output, for failure messages."""
        return "\n\n".join(
            f"== {p.name} ({' '.join(p.argv[1:])})\n{p.tail()}" for p in self.processes
        )

    def stop(self) -> None:
        """Stop everything, newest first (runs and workers before the server)."""
        for managed in reversed(self.processes):
            managed.stop()

    def __enter__(self) -> PrefectStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            # Shown by pytest with the failure: what each process said last.
            print(self.logs())
        self.stop()
