"""Serve the deployments of prefect.yaml from one process, without a work pool.

    uv run python -m deployments.serve

Names, parameters, schedules and concurrency limits come from prefect.yaml, so a served
deployment is the one `prefect deploy` would create; only the work pool and pull step are
left out (runs start as subprocesses of this process, importing the installed ``flows``
package). Stop with Ctrl-C: schedules are paused until the next start.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; prefect depends on it
from prefect import Flow, serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron, Interval, Schedule
from prefect.types.entrypoint import EntrypointType

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of prefect.yaml (anchors already resolved)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return cast(list[dict[str, Any]], document["deployments"])


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """``flows/process_image.py:process_image`` -> the flow, imported as a module."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return cast(Flow[..., Any], getattr(module, name))


def schedule(spec: dict[str, Any]) -> Schedule:
    """A prefect.yaml cron or interval schedule entry as a Schedule."""
    if "interval" in spec:
        return Interval(
            spec["interval"],
            active=spec.get("active", True),
            parameters=spec.get("parameters") or {},
        )
    return Cron(
        spec["cron"],
        timezone=spec.get("timezone"),
        active=spec.get("active", True),
        parameters=spec.get("parameters") or {},
    )


def concurrency_limit(spec: int | dict[str, Any] | None) -> ConcurrencyLimitConfig | None:
    """prefect.yaml's ``concurrency_limit`` (a number or {limit, collision_strategy})."""
    if spec is None:
        return None
    if isinstance(spec, int):
        return ConcurrencyLimitConfig(limit=spec)
    return ConcurrencyLimitConfig(
        limit=spec["limit"],
        collision_strategy=ConcurrencyLimitStrategy(spec.get("collision_strategy", "ENQUEUE")),
    )


def to_deployment(spec: dict[str, Any]) -> RunnerDeployment:
    """One prefect.yaml deployment, ready to serve."""
    deployment = load_flow(spec["entrypoint"]).to_deployment(
        name=spec["name"],
        description=spec.get("description"),
        tags=spec.get("tags"),
        parameters=spec.get("parameters"),
        schedules=[schedule(entry) for entry in spec.get("schedules") or []],
        concurrency_limit=concurrency_limit(spec.get("concurrency_limit")),
        triggers=[DeploymentEventTrigger(**entry) for entry in spec.get("triggers") or []],
        enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
        # Runs import prefect_image_pipeline from the installed package, whatever the cwd.
        entrypoint_type=EntrypointType.MODULE_PATH,
        _sync=True,  # type: ignore[call-arg]  # async_dispatch: stay sync inside an event loop
    )
    return cast(RunnerDeployment, deployment)


def build_deployments(path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """Every deployment of prefect.yaml."""
    return [to_deployment(spec) for spec in deployment_specs(path)]


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m deployments.serve", description=__doc__)
    parser.add_argument(
        "--limit", type=int, default=None, help="most flow runs at once (default: no limit)"
    )
    args = parser.parse_args(argv)
    from prefect_image_pipeline.cli.server import connect_and_announce

    connect_and_announce()  # with no PREFECT_API_URL: the background server, started if need be
    serve(*build_deployments(), limit=args.limit)


if __name__ == "__main__":
    main()
