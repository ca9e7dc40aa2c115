"""Point this process at the right Prefect API before any flow runs.

In order: PREFECT_API_URL from the environment or Prefect's settings (profile, .env,
prefect.toml: used as is); IMAGE_PIPELINE_EPHEMERAL_SERVER=1 (Prefect's temporary server per
process); otherwise the background server recorded under PREFECT_HOME, started on first use
by the commands that may start one (the CLI, ``python -m blocks``, ``python -m
deployments.serve``). Flows imported from Python only join a server that is already up.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from prefect_image_pipeline.edges.prefect_server.database import DATABASE_FILE, seed_database
from prefect_image_pipeline.edges.prefect_server.manager import (
    Ensured,
    ensure_server,
    is_serving,
    prefect_version,
    start_early,
    stop_server,
)
from prefect_image_pipeline.edges.prefect_server.process import launched_here
from prefect_image_pipeline.edges.prefect_server.state import ServerState, read_state
from prefect_image_pipeline.settings.config import settings

Mode = Literal["configured", "ephemeral", "local"]


@dataclass(frozen=True)
class Connection:
    """Which API this process uses, and the background server behind it if it is ours."""

    mode: Mode
    home: Path
    ensured: Ensured | None = None

    @property
    def state(self) -> ServerState | None:
        """The background server in use, if any."""
        return self.ensured.state if self.ensured else None


def prefect_home() -> Path:
    """PREFECT_HOME as Prefect resolves it (environment, profile or default)."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser().resolve()


def connect(*, start: bool) -> Connection:
    """Use the configured API, or the background server (``start``: start it if needed)."""
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_API_URL

    home = prefect_home()
    configured = PREFECT_API_URL.value()
    state = read_state(home)
    if configured and not (state and configured == state.api_url):
        _drop_early_start(home, state)
        return Connection("configured", home)
    config = settings()
    default_db = f"sqlite+aiosqlite:///{home / DATABASE_FILE}"
    seed = PREFECT_API_DATABASE_CONNECTION_URL.value() == default_db
    if config.ephemeral_server:
        _drop_early_start(home, state)
        if seed:  # Prefect's temporary server uses the same file: skip its 18 s of migrations
            seed_database(home, prefect_version())
        return Connection("ephemeral", home)
    if start:
        ensured = ensure_server(home, config.server_port, config.server_start_timeout, seed=seed)
    elif state and state.prefect_version == prefect_version() and is_serving(state, home):
        ensured = Ensured(state, started=False)
    else:
        return Connection("ephemeral", home)
    if configured != ensured.state.api_url:
        _use_api(ensured.state.api_url)
    return Connection("local", home, ensured)


def find_running_server() -> Connection | None:
    """For flows called from Python: use the background server if one is up, never start one.

    None when PREFECT_API_URL is already in the environment (nothing to decide, no probe).
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    return connect(start=False)


def prepare_early() -> None:
    """Before Prefect is imported: join the running server, or start one to boot meanwhile.

    Only a guess from the environment, the state file and Prefect's profile file, made to
    overlap the server's start with this process's imports; ``connect`` decides for real
    and stops a server started here that it does not use.
    """
    if os.environ.get("PREFECT_API_URL") or _other_settings_may_apply():
        return
    config = settings()
    if config.ephemeral_server:
        return
    home = _home_from_environment()
    state = read_state(home)
    if state and state.prefect_version == prefect_version() and is_serving(state, home):
        os.environ["PREFECT_API_URL"] = state.api_url  # Prefect reads it as it is imported
        return
    # No database setting anywhere (checked above), so the default SQLite file: seedable.
    start_early(home, config.server_port, seed=True)


def _home_from_environment() -> Path:
    # Prefect's own default, read without importing Prefect (a profile cannot move the home).
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser().resolve()


def _other_settings_may_apply() -> bool:
    """A profile or settings file might set the API or the database: leave it to Prefect."""
    prefixes = ("PREFECT_PROFILE", "PREFECT_API_", "PREFECT_SERVER_DATABASE")
    if any(name.startswith(prefixes) for name in os.environ):
        return True
    if Path("prefect.toml").exists() or "[tool.prefect" in _read("pyproject.toml"):
        return True
    dotenv = _read(".env").splitlines()
    return any(line.strip().startswith(prefixes) for line in dotenv) or _profile_sets_anything()


def _read(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _profile_sets_anything() -> bool:
    home = _home_from_environment()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = profiles.get("active", "ephemeral")
    values = profiles.get("profiles", {}).get(active, {})
    return any("API" in key or "DATABASE" in key for key in values)


def _drop_early_start(home: Path, state: ServerState | None) -> None:
    # prepare_early guessed wrong (a setting only Prefect sees): leave nothing running.
    if state is not None and launched_here(state.pid):
        stop_server(home)


def _use_api(api_url: str) -> None:
    # The environment reaches child processes (deployment runs, workers); the refresh makes
    # this process's Prefect, already imported, read it too.
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()
