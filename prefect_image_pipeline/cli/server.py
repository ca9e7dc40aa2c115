"""``process-image`` and the background Prefect server: flags, the one line on start, the run link.

The server itself lives in edges.prefect_server; this module is only what the terminal sees.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prefect_image_pipeline.cli.console import say

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.prefect_server.connect import Connection
    from prefect_image_pipeline.edges.prefect_server.ports import PortChoice


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """--ephemeral-server, --server-status and --stop-server."""
    server = parser.add_argument_group("Prefect server (docs/background.md)")
    server.add_argument(
        "--ephemeral-server",
        action="store_true",
        help="Start a temporary Prefect server for this run only (slower; nothing left running)",
    )
    server.add_argument(
        "--server-status", action="store_true", help="Say which Prefect server runs use, and exit"
    )
    server.add_argument(
        "--stop-server", action="store_true", help="Stop the background Prefect server, and exit"
    )


def server_command(args: argparse.Namespace) -> int | None:
    """Answer --server-status / --stop-server (an exit code), or None to go on with a run."""
    if not (args.server_status or args.stop_server):
        return None
    from prefect.settings import PREFECT_API_URL

    from prefect_image_pipeline.edges.prefect_server.connect import prefect_home
    from prefect_image_pipeline.edges.prefect_server.manager import server_status, stop_server
    from prefect_image_pipeline.settings.config import settings

    home = prefect_home()
    if args.stop_server:
        from prefect_image_pipeline.cli.warm.spawn import stop_warm_process

        stop_warm_process(home)
        say(stop_server(home))
        return 0
    running, text = server_status(home, settings().server_port)
    configured = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if configured:
        text = f"Runs use PREFECT_API_URL={configured} (set outside process-image). " + text
    say(text)
    return 0 if running or configured else 3


def connect_and_announce(*, ephemeral: bool = False) -> Connection:
    """Pick the Prefect API for this command; one line when a background server had to start.

    Used by ``process-image``, ``python -m blocks`` and ``python -m deployments.serve``.
    """
    if ephemeral:
        os.environ["IMAGE_PIPELINE_EPHEMERAL_SERVER"] = "1"
    from prefect_image_pipeline.edges.prefect_server.connect import connect

    connection = connect(start=True)
    ensured = connection.ensured
    if ensured is not None and ensured.started:
        why = f" (replacing the previous one: {ensured.replaced})" if ensured.replaced else ""
        say(
            f"Started a local Prefect server in the background{why}: UI at "
            f"{ensured.state.ui_url}{_port_clause(ensured.choice)}; stop it with "
            "`process-image --stop-server`."
        )
        say()
    return connection


def _port_clause(choice: PortChoice | None) -> str:
    """Why the server is not on the configured port, or what had to be stopped to use it."""
    if choice is None or (choice.taken_by is None and choice.cleared is None):
        return ""
    from prefect_image_pipeline.settings.config import settings

    # A port the user set is named by its variable: they asked for it and did not get it.
    explicit = "server_port" in settings().model_fields_set
    name = f"IMAGE_PIPELINE_SERVER_PORT={choice.wanted}" if explicit else f"port {choice.wanted}"
    parts = []
    if choice.cleared is not None:
        parts.append(f"stopped the server left on {name} by deleted PREFECT_HOME {choice.cleared}")
    if choice.taken_by is not None:
        parts.append(f"{name} is taken by {choice.taken_by}")
    return f" ({'; '.join(parts)})"


def run_link(connection: Connection, flow_run_id: object) -> str | None:
    """The run's page in the Prefect UI, when that UI outlives this process."""
    if connection.mode == "ephemeral" or flow_run_id is None:
        return None
    from prefect.settings import PREFECT_UI_URL

    ui_url = PREFECT_UI_URL.value()
    return f"{ui_url}/runs/flow-run/{flow_run_id}" if ui_url else None


def explain_lost_server(connection: Connection) -> str | None:
    """If the run failed because the background server went away: say so and what to do."""
    if connection.state is None:
        return None
    from prefect_image_pipeline.edges.prefect_server.manager import lost_server

    return lost_server(connection.state, connection.home)


@contextmanager
def restarting_if_lost(connection: Connection) -> Iterator[None]:
    """While a run uses our background server, start a fresh one if it dies.

    Prefect's client retries a refused connection with backoff (2 s, 4 s ... 32 s) once it
    has connected before, and the database outlives the server, so a server back on the
    same port within seconds lets the run go on where it was.
    """
    state = connection.state
    if state is None:
        yield
        return
    from prefect_image_pipeline.edges.prefect_server.watch import ServerWatch

    with ServerWatch(state, connection.home, on_restart=_say_restarted):
        yield


def _say_restarted(ui_url: str) -> None:
    say(f"  (the local Prefect server stopped; started a fresh one at {ui_url}, the run goes on)")


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """A sync flow joins its heartbeat thread (up to 1 s) as it ends; a terminal run needs none.

    Heartbeats let a server notice a worker's flow run that died silently; a CLI run that dies
    ends its own terminal session. Kept if the user set PREFECT_FLOWS_HEARTBEAT_FREQUENCY.
    """
    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def flush_to_temporary_server(connection: Connection | None) -> None:
    """Send the run's queued logs and events while Prefect's temporary server still runs.

    Left to exit, they were sent after the temporary server had stopped, and the last line
    a user saw was Prefect's "Error logging to API: All connection attempts failed".
    """
    if connection is None or connection.mode != "ephemeral":
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(RuntimeError):  # no log was sent to the API
        APILogWorker.instance().drain()
    EventsWorker.drain_all()
