"""``process-image``'s flags for batch mode and review: --batch-api, --report, --redo-flagged.

The review loop from a terminal: ``--report review.html`` writes the contact sheet and
``review.jsonl`` beside it; ``--redo-flagged review.jsonl`` runs only the failed and
flagged images again (with the new prompt or options given alongside) and rewrites both
reports with the new outcomes in place of the old, the good images untouched and unpaid.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_image_pipeline.cli.console import say

if TYPE_CHECKING:
    from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
    from prefect_image_pipeline.options.jobs import Row


def add_review_flags(parser: argparse.ArgumentParser) -> None:
    """--report and --redo-flagged (the CLI's own; --strict-checks is an option's flag)."""
    parser.add_argument(
        "--report",
        metavar="PATH.html",
        help="Write a review page (source beside result, checks, cost) and PATH.jsonl beside it",
    )
    parser.add_argument(
        "--redo-flagged",
        metavar="PATH.jsonl",
        help="Run again only the failed and flagged images of a --report's JSON lines, "
        "with the options given now; both reports are rewritten",
    )


def say_and_log(line: str) -> None:
    """A batch-mode line (submitted, batch status): on the terminal and in the run's log."""
    from prefect_image_pipeline.pipeline.reporter import log_to_run_logger

    say(line)
    log_to_run_logger(line)


def wants_report(args: argparse.Namespace) -> bool:
    """Whether this run ends with a review page (so it runs as a batch, even of one)."""
    return bool(args.report or args.redo_flagged)


def redo_inputs(path: str, given: set[str]) -> list[Row]:
    """The failed and flagged inputs of a JSON lines report, each with the options its
    jobs row set (a customer's prefix is kept), but for those ``given`` now (--prompt)."""
    from prefect_image_pipeline.options.jobs import row_of
    from prefect_image_pipeline.review.report import read_rows

    try:
        earlier = read_rows(Path(path).expanduser())
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"process-image: cannot read --redo-flagged {path} ({exc}); give the .jsonl "
            "a --report run wrote"
        ) from None
    return [
        row_of(o.input, {k: v for k, v in o.options.items() if k not in given})
        for o in earlier.outcomes
        if o.status == "failed" or o.flagged
    ]


def _job(outcome: ImageOutcome) -> tuple[str, str]:
    from prefect_image_pipeline.options.jobs import job_key

    return job_key(outcome.input, outcome.options)


def write_local_reports(args: argparse.Namespace, report: BatchReport) -> BatchReport:
    """The report to show and write: with --redo-flagged, the earlier one with these
    outcomes in place of the old; written to --report (or beside the .jsonl)."""
    from prefect_image_pipeline.review.report import read_rows, write_reports

    if args.redo_flagged:
        rows = Path(args.redo_flagged).expanduser()
        redone = {_job(o): o for o in report.outcomes}  # a row is its input and options
        earlier = read_rows(rows).outcomes
        merged = [redone.pop(_job(o), o) for o in earlier] + list(redone.values())
        report = type(report)(outcomes=merged)
        page = Path(args.report).expanduser() if args.report else rows.with_suffix(".html")
    else:
        page = Path(args.report).expanduser()
    if page.suffix != ".html":
        page = page.with_suffix(".html")
    written = write_reports(report, page, title=f"Review: {report.summary()}")
    say(f"Review page: {page.resolve().as_uri()} (rows: {written})")
    return report
