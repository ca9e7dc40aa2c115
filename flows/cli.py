"""``process-image``: the reference's command line, running the Prefect flow.

Prefect's own console logging is silenced unless --debug, so the terminal shows the
reference's step-by-step output; the same lines still reach the run's log in the UI.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, get_args

from flows.generate import Background, Quality
from flows.settings import (
    DEFAULT_BACKGROUND,
    DEFAULT_MODEL,
    DEFAULT_QUALITY,
    DEFAULT_S3_PREFIX,
)

if TYPE_CHECKING:
    from flows.process_image import ProcessedImage

RULE = "=" * 80
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def build_parser() -> argparse.ArgumentParser:
    """The reference's flags, plus --offline, --debug and block names."""
    parser = argparse.ArgumentParser(
        prog="process-image",
        description="Recreate an image with OpenAI's image_generation tool and upload it to S3.",
    )
    parser.add_argument("-i", "--input", required=True, help="Image URL or local file path")
    parser.add_argument("-p", "--prompt", help="Custom prompt (default: recreation prompt)")
    parser.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help="OpenAI model (default: %(default)s)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        help="Directory for temporary files (default: system temp)",
    )
    parser.add_argument(
        "--keep-temp", action="store_true", help="Keep temporary files after processing"
    )
    parser.add_argument(
        "--background",
        default=DEFAULT_BACKGROUND,
        choices=get_args(Background),
        help="Background setting (default: %(default)s)",
    )
    parser.add_argument(
        "--quality",
        default=DEFAULT_QUALITY,
        choices=get_args(Quality),
        help="Image quality (default: %(default)s)",
    )
    parser.add_argument(
        "--s3-prefix",
        default=DEFAULT_S3_PREFIX,
        help="S3 key prefix (default: %(default)s)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="Dry run with no key or cloud account: local Pillow generator, local storage",
    )
    parser.add_argument("--openai-block", help="Name of a saved OpenAI Credentials block")
    parser.add_argument("--s3-block", help="Name of a saved S3Bucket block")
    parser.add_argument("--debug", action="store_true", help="Show Prefect logs and tracebacks")
    return parser


def _quiet_prefect_console(debug: bool) -> None:
    # Must happen before prefect is imported: its logging config reads these once.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO" if debug else "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A first run migrates a fresh database; Prefect's 20 s default is too short on small machines.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def _say(line: str = "") -> None:
    print(line, flush=True)


def _print_results(result: ProcessedImage) -> None:
    _say()
    _say(RULE)
    _say("RESULTS")
    _say(RULE)
    _say(f"S3 URL:        {result.s3_url}")
    _say(f"Public URL:    {result.public_url}")
    _say(RULE)
    _say()
    _say("✓ Processing complete!")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    _quiet_prefect_console(args.debug)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\n✗ Interrupted; temporary files were cleaned up.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from flows.connections import GeneratorTarget
    from flows.errors import explain

    try:
        # Fail fast, before Prefect starts, when the key is missing.
        GeneratorTarget(
            kind="offline" if args.offline else "openai",
            credentials_block=args.openai_block,
        ).check()
        from flows.process_image import process_image
        from flows.report import reporting_to

        _say(RULE)
        _say(
            "Image Processing with OpenAI and S3 Upload"
            + (" (offline dry run)" if args.offline else "")
        )
        _say(RULE)
        _say()
        with reporting_to(_say):
            result = process_image(
                image=args.input,
                prompt=args.prompt,
                model=args.model,
                background=args.background,
                quality=args.quality,
                s3_prefix=args.s3_prefix,
                keep_temp=args.keep_temp,
                output_dir=args.output_dir,
                offline=args.offline,
                openai_credentials_block=args.openai_block,
                s3_bucket_block=args.s3_block,
            )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one readable line
        if args.debug:
            traceback.print_exc()
        print(f"\n✗ Error processing {args.input}: {explain(exc)}", file=sys.stderr)
        if not args.debug:
            print("  (run again with --debug for the full traceback)", file=sys.stderr)
        return EXIT_FAILED
    _print_results(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
