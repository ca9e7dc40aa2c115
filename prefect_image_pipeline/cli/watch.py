"""``process-image --watch s3://bucket/prefix/``: the watcher in a terminal.

Each new image under the prefix becomes an ``image-pipeline.source.created`` event on the
Prefect server this command uses (the background one unless PREFECT_API_URL says
otherwise); the ``process-image/on-upload`` deployment's trigger runs each one on the work
pool. With ``--queue-url`` it reads the SQS queue the bucket notifies; without, it lists
the prefix every ``--poll-seconds``. Ctrl-C stops it after the poll in hand.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from prefect_image_pipeline.cli.console import say


def add_watch_flags(parser: argparse.ArgumentParser) -> None:
    """--watch and what it takes."""
    group = parser.add_argument_group("watching a prefix (docs/platform.md)")
    group.add_argument(
        "--watch",
        metavar="S3_PREFIX",
        help="Turn each new image under s3://bucket/prefix/ into an "
        "image-pipeline.source.created event (the on-upload deployment runs it); "
        "runs until Ctrl-C",
    )
    group.add_argument(
        "--queue-url",
        metavar="URL",
        help="--watch: the SQS queue the bucket's ObjectCreated notifications go to "
        "(default: list the prefix every --poll-seconds)",
    )
    group.add_argument(
        "--poll-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="--watch: seconds between listings, or the long poll with --queue-url (10)",
    )
    group.add_argument("--max-sources", type=int, metavar="N", help=argparse.SUPPRESS)


def watch_command(args: argparse.Namespace) -> int | None:
    """Run the watcher if --watch was given; its exit code, else None."""
    if not args.watch:
        return None
    from prefect.events.worker import EventsWorker

    from prefect_image_pipeline.cli.server import connect_and_announce
    from prefect_image_pipeline.errors import explain
    from prefect_image_pipeline.watch.loop import watch

    stop = threading.Event()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        say("Stopping after this poll…")
        stop.set()

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        connect_and_announce(ephemeral=args.ephemeral_server)
        count = watch(
            args.watch,
            queue_url=args.queue_url,
            poll_seconds=args.poll_seconds,
            stop=stop,
            max_sources=args.max_sources,
            logger=_console_logger(),
        )
    except Exception as exc:  # noqa: BLE001 - one readable line, as every other command
        print(f"\n✗ Error watching {args.watch}: {explain(exc)}", file=sys.stderr)
        return 1
    finally:
        EventsWorker.drain_all()  # the last events reach the server before we exit
    say(f"Announced {count} new source(s).")
    return 0


def _console_logger() -> logging.Logger:
    logger = logging.getLogger("prefect_image_pipeline.cli.watch")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
