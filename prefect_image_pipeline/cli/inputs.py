"""``process-image``'s inputs: -i values, --input-list files and --redo-flagged reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_image_pipeline.cli.console import say

if TYPE_CHECKING:
    from prefect_image_pipeline.options.jobs import Row


def read_input_list(path: str) -> list[str]:
    """Inputs from a file: one per line, ``#`` comments and blank lines ignored."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SystemExit(f"process-image: cannot read --input-list {path}: {exc.strerror}") from exc
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def collect_inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Row]:
    """-i values, --input-list lines, then --redo-flagged's; at least one is required."""
    from prefect_image_pipeline.cli.review import redo_inputs

    inputs: list[Row] = [
        *args.input,
        *(read_input_list(args.input_list) if args.input_list else []),
    ]
    if args.redo_flagged:
        given = {k for k, v in vars(args).items() if v != parser.get_default(k)}
        inputs += redo_inputs(args.redo_flagged, given)
        if not inputs:
            say(f"Nothing to redo: no failed or flagged image in {args.redo_flagged}")
            raise SystemExit(0)
    if not inputs and not args.jobs:
        parser.error(
            "give an image with -i/--input, a file of inputs with --input-list, or a jobs "
            "file with --jobs"
        )
    if args.wait_for_batch and not args.batch_api:
        parser.error("--wait goes with --batch-api")
    return inputs
