"""Run the fake OpenAI server by hand, to try the README's commands without an account.

    uv run python -m tests.fakes.serve_openai > /tmp/fake-openai.env &
    source /tmp/fake-openai.env      # OPENAI_BASE_URL and OPENAI_API_KEY

The same fake the tests drive (Responses, Images, Files and Batch APIs, every body
checked against the openai SDK's types), on a random loopback port, until Ctrl-C or
SIGTERM. ``--batch-duration`` makes each batch take that many simulated seconds (each
look at a batch moves the fake's clock by ``--seconds-per-poll``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.fakes.openai_server import FakeOpenAIServer

API_KEY = "sk-fake-openai"


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.serve_openai")
    parser.add_argument("--batch-duration", type=float, default=0.0)
    parser.add_argument("--seconds-per-poll", type=float, default=60.0)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fake = FakeOpenAIServer(
        api_key=API_KEY,
        batch_duration=args.batch_duration,
        batch_seconds_per_poll=args.seconds_per_poll,
    )
    with fake:
        print(f"export OPENAI_BASE_URL={fake.base_url}")
        print(f"export OPENAI_API_KEY={API_KEY}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
