"""``process-image``: the reference's command line, running the Prefect flow.

Prefect's own console logging is silenced unless --debug, so the terminal shows the
reference's step-by-step output; the same lines still reach the run's log in the UI.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prefect_image_pipeline.cli.budget import add_budget_flag, show_budget
from prefect_image_pipeline.cli.console import (
    BatchProgress,
    banner,
    print_results,
    print_summary,
    say,
)
from prefect_image_pipeline.cli.inputs import collect_inputs
from prefect_image_pipeline.cli.review import say_and_log, wants_report, write_local_reports
from prefect_image_pipeline.cli.server import (
    add_server_flags,
    connect_and_announce,
    explain_lost_server,
    flush_to_temporary_server,
    restarting_if_lost,
    run_link,
    server_command,
    without_heartbeats,
)
from prefect_image_pipeline.cli.watch import add_watch_flags, watch_command

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import State

    from prefect_image_pipeline.batch.outcomes import BatchReport
    from prefect_image_pipeline.options.jobs import Row
    from prefect_image_pipeline.pipeline.run import ProcessedImage

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def startup_done() -> None:
    """Collect garbage again (console_main paused it), sparing what the imports built."""
    from prefect_image_pipeline.process_image import process_image  # noqa: F401 - the last big import

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def build_parser() -> argparse.ArgumentParser:
    """The reference's flags, plus --offline, --debug and block names."""
    # Here, not at the top: the choices come from the openai SDK, whose import takes ~0.8 s
    # that console_main overlaps with the background server's start.
    from prefect_image_pipeline.cli.flags import add_option_flags
    from prefect_image_pipeline.cli.review import add_review_flags

    parser = argparse.ArgumentParser(
        prog="process-image",
        description="Recreate an image with OpenAI's image_generation tool and upload it to S3.",
    )
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        help="Image URL, s3:// URI or local file path; repeat for a batch",
    )
    parser.add_argument(
        "--input-list",
        metavar="FILE",
        help="File with one input per line (# comments and blank lines ignored)",
    )
    parser.add_argument(
        "--jobs",
        metavar="FILE",
        help="Per-image jobs: JSON lines or CSV with an input column and any per-image "
        "option by its flow-parameter name (prompt, s3_prefix, quality, ...)",
    )
    add_option_flags(parser)  # every option's flag (options.run, options.generation)
    add_review_flags(parser)
    add_budget_flag(parser)
    add_watch_flags(parser)
    parser.add_argument("--debug", action="store_true", help="Show Prefect logs and tracebacks")
    add_server_flags(parser)
    return parser


def _quiet_prefect_console(debug: bool) -> None:
    # A run waiting for another one's generation says so (prefect_image_pipeline.cache.locks).
    waits = logging.StreamHandler(sys.stdout)
    waits.setFormatter(logging.Formatter("  … %(message)s"))
    locks_log = logging.getLogger("prefect_image_pipeline.cache.locks")
    locks_log.addHandler(waits)
    locks_log.setLevel(logging.INFO)
    # Must happen before prefect is imported: its logging config reads these once.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO" if debug else "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A first run migrates a fresh database; Prefect's 20 s default is too short on small machines.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a run hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_prefect_console(args.debug)
    answered = server_command(args)
    if answered is not None:
        return answered
    if args.budget:
        return show_budget()
    watched = watch_command(args)
    if watched is not None:
        return watched
    inputs: list[Row] = [*collect_inputs(parser, args), *jobs_of(parser, args)]
    try:
        return _run(args, inputs)
    except KeyboardInterrupt:
        print("\n✗ Interrupted; temporary files were cleaned up.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _options(args: argparse.Namespace, flow: Flow[..., Any]) -> dict[str, Any]:
    """The flags' values that ``flow`` takes as parameters."""
    from prefect_image_pipeline.cli.flags import option_values

    return option_values(args, flow.parameters.properties)


def jobs_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Row]:
    """--jobs: the file's rows, each checked against the run's flags (exit 2 naming the
    row and column of the first bad one)."""
    if not args.jobs:
        return []
    from prefect_image_pipeline.cli.jobs import JobsFileError, read_jobs
    from prefect_image_pipeline.options.run import RunOptions
    from prefect_image_pipeline.process_images import process_images

    try:
        return read_jobs(args.jobs, RunOptions.from_parameters(_options(args, process_images)))
    except JobsFileError as exc:
        parser.error(str(exc))


def _run(args: argparse.Namespace, inputs: list[Row]) -> int:
    from prefect_image_pipeline.errors import explain
    from prefect_image_pipeline.options.run import RunOptions
    from prefect_image_pipeline.pipeline.targets import resolve_generator_target
    from prefect_image_pipeline.process_images import process_images

    subject = _input(inputs[0]) if len(inputs) == 1 else f"{len(inputs)} images"
    connection = None
    try:
        # Fail fast, before Prefect starts, when the key is missing or options clash.
        resolve_generator_target(
            args.offline, args.openai_credentials_block, calling=not args.estimate_only
        )
        RunOptions.from_parameters(_options(args, process_images)).generation.check()
        banner(args.offline)
        connection = connect_and_announce(ephemeral=args.ephemeral_server)
        startup_done()
        with without_heartbeats(), restarting_if_lost(connection):
            single = len(inputs) == 1 and not (args.batch_api or wants_report(args) or args.jobs)
            run = _run_estimate if args.estimate_only else _run_one if single else _run_batch
            code, flow_run_id = run(args, inputs)
        flush_to_temporary_server(connection)
        link = run_link(connection, flow_run_id)
        if link:
            say(f"Prefect UI for this run: {link}")
        return code
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one readable line
        if args.debug:
            traceback.print_exc()
        flush_to_temporary_server(connection)
        reason = (explain_lost_server(connection) if connection else None) or explain(exc)
        print(f"\n✗ Error processing {subject}: {reason}", file=sys.stderr)
        if not args.debug:
            print("  (run again with --debug for the full traceback)", file=sys.stderr)
        return EXIT_FAILED


def _input(row: Row) -> str:
    return row if isinstance(row, str) else str(row["input"])


def _run_one(args: argparse.Namespace, inputs: list[Row]) -> tuple[int, object]:
    from prefect_image_pipeline.pipeline.reporter import Reporter
    from prefect_image_pipeline.process_image import process_image

    with Reporter(say=say).active():
        state: State[ProcessedImage] = process_image(  # type: ignore[assignment]
            image=_input(inputs[0]), **_options(args, process_image), return_state=True
        )
        result = state.result()
    print_results(result)
    return EXIT_OK, state.state_details.flow_run_id


def _run_estimate(args: argparse.Namespace, inputs: list[Row]) -> tuple[int, object]:
    """--estimate: the flow says each image's line and the totals; nothing is paid."""
    from prefect_image_pipeline.pipeline.reporter import Reporter
    from prefect_image_pipeline.process_images import process_images

    with Reporter(say=say).active():
        state = process_images(images=inputs, **_options(args, process_images), return_state=True)
        state.result()
    return EXIT_OK, state.state_details.flow_run_id


def _run_batch(args: argparse.Namespace, inputs: list[Row]) -> tuple[int, object]:
    from prefect_image_pipeline.batch.outcomes import BatchFailedError
    from prefect_image_pipeline.pipeline.reporter import Reporter, log_to_run_logger
    from prefect_image_pipeline.process_images import process_images

    if args.batch_api:
        say(f"Processing {len(inputs)} image(s) through OpenAI's Batch API...")
    else:
        say(f"Processing {len(inputs)} images, at most {args.concurrency} at a time...")
    lines = say_and_log if args.batch_api else log_to_run_logger
    with (
        BatchProgress(total=len(inputs)) as progress,
        Reporter(say=lines, progress=progress.update).active(),
    ):
        state: State[BatchReport] = process_images(  # type: ignore[assignment]
            images=inputs,
            **_options(args, process_images),
            return_state=True,
        )
        try:
            report = state.result()
        except BatchFailedError as failed:
            report = failed.report
    flow_run_id = state.state_details.flow_run_id
    print_summary(report)
    if wants_report(args):
        report = write_local_reports(args, report)
    if report.failed:
        names = ", ".join(o.input for o in report.failed)
        print(
            f"\n✗ {len(report.failed)} of {len(report.outcomes)} images failed: {names}",
            file=sys.stderr,
        )
        return EXIT_FAILED, flow_run_id
    say()
    say("✓ Submitted to OpenAI's Batch API." if report.submitted else "✓ Processing complete!")
    return EXIT_OK, flow_run_id
