"""Kill a CLI run at a chosen moment, as a crashed host or an OOM kill would, then run it again.

``kill_cli_when`` starts ``process-image ARGS`` (tests.cli_runner), waits for the moment (a
condition on the fakes: what S3 holds, what OpenAI was asked) and SIGKILLs it; the test
checks what the kill left, then reruns the same command with ``tests.cli_runner.run_cli_process``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from tests.cli_runner import start_cli

KILL_WAIT_SECONDS = 180.0


def wait_while_running(
    condition: Callable[[], bool],
    process: subprocess.Popen[str],
    *,
    timeout: float = KILL_WAIT_SECONDS,
    poll: float = 0.1,
    message: str = "timed out waiting for the run to progress",
) -> None:
    """Poll ``condition`` (state in moto or a fake: no event to wait on) until it holds;
    fail with the process's output if it exits first, with ``message`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, message
        time.sleep(poll)


def kill_cli_when(
    condition: Callable[[], bool],
    *args: str,
    env: dict[str, str],
    timeout: float = KILL_WAIT_SECONDS,
    poll: float = 0.1,
    message: str = "timed out waiting for the run to progress",
) -> subprocess.Popen[str]:
    """Start ``process-image ARGS`` and SIGKILL it once ``condition()`` holds; the killed
    process (its pid names what it left behind). It is reaped whatever happens."""
    process = start_cli(*args, env=env)
    try:
        wait_while_running(condition, process, timeout=timeout, poll=poll, message=message)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process
