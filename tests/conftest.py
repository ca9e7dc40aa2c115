"""Shared fixtures: a Prefect test server, moto's S3 server, the fake OpenAI and image servers.

Environment is pinned before any project import so retry delays are short and no
developer configuration (keys, AWS profiles) leaks into the tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Started in the background (`nohup pytest … &`), pytest inherits SIGINT ignored, and so
# would every process it starts: the tests that stop a process with SIGINT (Ctrl-C, and
# every end-to-end process at teardown) would then wait out their timeouts. A handler, unlike
# "ignored", is reset to the default in each process a test starts.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

for _name in list(os.environ):
    if _name.startswith(("OPENAI_", "AWS_", "ARTIFACTS_", "CLOUDFRONT_", "IMAGE_PIPELINE_")):
        del os.environ[_name]
os.environ.update(
    {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "IMAGE_PIPELINE_RETRY_DELAY_SECONDS": "0.02",
        # Never join (or start) a developer's background Prefect server; the tests of it
        # (e2e/test_local_server.py) give each process its own PREFECT_HOME and unset this.
        "IMAGE_PIPELINE_EPHEMERAL_SERVER": "1",
        # No warm process (prefect_image_pipeline.cli.warm) unless a test asks: each would outlive its run by
        # seconds and decide, by timing, which way the next run goes.
        "IMAGE_PIPELINE_WARM": "0",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        # The loopback fakes are trusted; tests of the address policy override this.
        "IMAGE_URL_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
)

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from prefect.context import (  # noqa: E402
    SettingsContext,
    get_settings_context,
    refresh_global_settings_context,
)
from prefect.settings import (  # noqa: E402
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_RESULTS_LOCAL_STORAGE_PATH,
    temporary_settings,
)

from prefect_image_pipeline.edges.prefect_server.manager import (  # noqa: E402
    ensure_server,
    start_early,
    stop_server,
)
from tests.cli_runner import cli_env, run_cli  # noqa: E402, F401 - shared fixtures
from tests.fake_clients import API_KEY, close_open_clients  # noqa: E402
from tests.fakes.flaky_http import FlakyImageServer  # noqa: E402
from tests.fakes.http_server import ImageHTTPServer  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402
from tests.fakes.s3_faults import S3FaultProxy  # noqa: E402
from tests.local_home import LocalHome, home_maker  # noqa: E402
from tests.prefect_server import free_port  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

TEST_OPENAI_KEY = "sk-test-canary-0123456789abcdef"


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook, which it completes
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A serial run goes from the quickest tests to the slowest: unit, integration, the
    tests at tests/ itself, then e2e (collection order would start with e2e/).

    Under pytest-xdist, the longest tests first (a raised timeout marks them, then the slow
    ones), the rest in their order. The workers are handed tests in this order, so the last
    minutes are short tests shared by both rather than one end-to-end test with the other
    idle. With ``--dist loadgroup``, also make sure each test of an ``xdist_group`` carries
    the group in its node id, which is how the controller sends a group to one worker."""
    if not hasattr(config, "workerinput"):  # not a pytest-xdist worker
        tiers = {"unit": 0, "integration": 1, "e2e": 3}
        items.sort(key=lambda item: tiers.get(item.path.parent.name, 2))
        return

    def longest_first(item: pytest.Item) -> tuple[float, bool]:
        timeout = item.get_closest_marker("timeout")
        allowed = float(timeout.args[0]) if timeout is not None and timeout.args else 0.0
        return (-allowed, item.get_closest_marker("slow") is None)

    items.sort(key=longest_first)
    if getattr(config.option, "loadgroup", False):  # a pytest-xdist worker under loadgroup
        _name_groups_in_node_ids(items)


def _name_groups_in_node_ids(items: list[pytest.Item]) -> None:
    """pytest-xdist (3.8) appends "@group" by setting ``Item._nodeid``; pytest 9.2 builds the
    node id from ``Item._id`` instead, so the suffix is lost and a group's tests are spread
    over the workers (test_warm.py's then fail). Append it where it is missing; fail loudly
    if that no longer takes rather than let a group be split without anyone knowing."""
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if not names:
            continue
        suffix = "@" + "_".join(sorted(names))
        if not item.nodeid.endswith(suffix):
            from _pytest.nodeid import NodeId  # pytest >= 9.2, where the suffix gets lost

            item._id = NodeId.parse(item.nodeid + suffix)  # type: ignore[attr-defined]
        if not item.nodeid.endswith(suffix):
            raise pytest.UsageError(f"{item.nodeid}: its xdist_group is not in its node id")


_SESSION_SERVER = pytest.StashKey[tuple[Path, int]]()


def _untraced() -> dict[str, str]:
    """Take coverage's subprocess hook out of the environment (put it back afterwards):
    tracing a Prefect server slows its start by seconds and covers none of our code."""
    return {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("COVERAGE_PROCESS")}


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Launch the session's Prefect server now, in every process that runs tests, so it
    boots while this process collects and imports the tests (~5 s); the fixture below
    waits for it. Not in pytest-xdist's controller, which runs none."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    if config.option.collectonly:
        return
    home, port = Path(tempfile.mkdtemp(prefix="prefect-server-")).resolve(), free_port()
    config.stash[_SESSION_SERVER] = (home, port)
    traced = _untraced()
    try:
        start_early(home, port, seed=True)
    finally:
        os.environ.update(traced)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the session's server even when no test asked for it."""
    if (server := config.stash.get(_SESSION_SERVER, None)) is not None:
        stop_server(server[0])
        shutil.rmtree(server[0], ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_api_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """One Prefect server for the session (per xdist worker); its URL lets subprocesses share it.

    Started the way the CLI starts its background server (prefect_image_pipeline.edges.prefect_server), so its
    database is a copy of the migrated template: ready in ~6 s where prefect_test_harness,
    migrating a fresh database, took ~20-25 s, and launched in ``pytest_configure``, so most
    of those seconds pass while the tests are collected.

    Flow-run heartbeats are off: a sync flow joins its heartbeat thread for up to a second
    as it ends (measured: 1.13 s per trivial flow with them, 0.15-0.20 s without), and no
    test is about crash detection by heartbeat.
    """
    home, port = request.config.stash[_SESSION_SERVER]
    traced = _untraced()
    try:
        ensured = ensure_server(home, port, start_timeout_s=180, seed=True)
    finally:
        os.environ.update(traced)
    # In the environment and the global settings too, so threads with a fresh context and
    # subprocesses see this server (as prefect_test_harness arranges).
    os.environ["PREFECT_API_URL"] = ensured.state.api_url
    refresh_global_settings_context()
    try:
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield ensured.state.api_url
            _drain_prefect_workers()
    finally:
        stop_server(home)
        del os.environ["PREFECT_API_URL"]
        refresh_global_settings_context()


def _drain_prefect_workers() -> None:
    """Send queued logs and events before the server stops (or they fail at exit)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(RuntimeError):  # never started
        APILogWorker.instance().drain()
    EventsWorker.drain_all()


@pytest.fixture(scope="session", autouse=True)
def no_server_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the session, fail if a Prefect server a test started still runs."""
    root = str(tmp_path_factory.getbasetemp())
    yield
    left = prefect_servers_under(root)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    assert not left, f"Prefect servers left running by the tests (now killed): {left}"


def prefect_servers_under(root: str) -> list[int]:
    """Live `prefect server start` processes whose PREFECT_HOME lies under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        homes = [v[len(b"PREFECT_HOME=") :] for v in environ if v.startswith(b"PREFECT_HOME=")]
        if (
            b"server" in argv
            and b"start" in argv
            and any(h.startswith(root.encode()) for h in homes)
        ):
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def isolated_results(
    prefect_api_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """Fresh result storage (hence a cold cache) for every test, and run logs kept out of
    the Prefect server unless the test reads them (marked ``api_logs``): sending them was
    a tenth of the everyday lane's time, the server's share of storing them included.

    The session's settings with those values changed, entered as temporary_settings
    enters its own: a copy takes well under a millisecond, where temporary_settings
    validates the settings again from every source (60-80 ms, each of ~600 tests).
    """
    results = tmp_path / "results"
    context = get_settings_context()
    settings = context.settings
    storage = settings.results.model_copy(update={"local_storage_path": results})
    to_api = settings.logging.to_api.model_copy(
        update={"enabled": request.node.get_closest_marker("api_logs") is not None}
    )
    logging_settings = settings.logging.model_copy(update={"to_api": to_api})
    changed = {"results": storage, "logging": logging_settings}
    with SettingsContext(profile=context.profile, settings=settings.model_copy(update=changed)):
        assert PREFECT_RESULTS_LOCAL_STORAGE_PATH.value() == results
        yield results


@pytest.fixture(autouse=True)
def local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where --offline publishes during a test."""
    root = tmp_path / "local-bucket"
    monkeypatch.setenv("IMAGE_PIPELINE_LOCAL_STORE", str(root))
    return root


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3/STS server on a random loopback port."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], LocalHome]]:
    """PREFECT_HOMEs with no API configured, as a user's terminal has (tests.local_home).

    In a short folder of the session's temp root rather than the test's tmp_path: the warm
    process's socket path must stay under 100 characters (cli/warm/client.py), and under
    pytest-xdist a tmp_path like .../popen-gw0/test_the_next_run_goes_through0 is too long.
    """
    yield from home_maker(tmp_path_factory.mktemp("homes"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a random loopback port, for the locks every host shares."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@dataclass
class S3Env:
    """A fresh bucket on moto, with the environment pointing at it."""

    endpoint: str
    bucket: str
    client: object

    def keys(self, prefix: str = "") -> list[str]:
        """Object keys in the bucket."""
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)  # type: ignore[attr-defined]
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def head(self, key: str) -> dict[str, object]:
        """The object's metadata."""
        return self.client.head_object(Bucket=self.bucket, Key=key)  # type: ignore[attr-defined, no-any-return]

    def read(self, key: str) -> bytes:
        """The object's bytes."""
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]  # type: ignore[attr-defined]
        return body.read()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def moto_client(moto_endpoint: str) -> object:
    """A boto3 S3 client of moto, for the tests' own look at the buckets (one for the
    session: each new client loads botocore's service model again)."""
    return boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)


@pytest.fixture
def s3(moto_endpoint: str, moto_client: object, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    """ARTIFACTS_BUCKET set to a new, empty bucket on moto."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("ARTIFACTS_BUCKET", bucket)
    moto_client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    return S3Env(endpoint=moto_endpoint, bucket=bucket, client=moto_client)


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """The fake Responses API, with OPENAI_API_KEY/OPENAI_BASE_URL pointing at it."""
    with FakeOpenAIServer(api_key=TEST_OPENAI_KEY) as server:
        monkeypatch.setenv("OPENAI_API_KEY", TEST_OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def http_server() -> Iterator[ImageHTTPServer]:
    """A loopback server for image URLs."""
    with ImageHTTPServer() as server:
        yield server


@pytest.fixture
def flaky_http() -> Iterator[FlakyImageServer]:
    """A loopback image server whose paths can fail their first requests."""
    with FlakyImageServer() as server:
        yield server


@pytest.fixture
def s3_faults(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3FaultProxy]:
    """S3 and STS through a proxy to moto that answers queued faults with AWS errors."""
    with S3FaultProxy(s3.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        yield proxy


# For the tests of the fakes themselves (tests/integration/test_fake_*.py).
@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI server of the test's own, keyed with tests.fake_clients.API_KEY."""
    with FakeOpenAIServer(api_key=API_KEY) as server:
        yield server
        assert server.errors == 0, "the fake itself raised"


@pytest.fixture
def close_clients() -> Iterator[None]:
    """Close the clients tests.fake_clients.make_client made: a keep-alive socket left to the
    garbage collector raises ResourceWarning (an error here) in a later test."""
    yield
    close_open_clients()
