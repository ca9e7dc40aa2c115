"""A real headless Chromium (Debian's ``chromium`` package), driven from the command line.

``--dump-dom`` returns the DOM after the page's scripts ran; ``--screenshot`` renders it.
Everything that would reach the network by itself (updates, metrics, safe browsing) is
off, and each call has a profile of its own, removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

QUIET = (
    "--headless",
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-sync",
    "--no-pings",
    "--hide-scrollbars",
)


def chromium() -> str:
    """The browser's path; a clear failure when it is not installed."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Install Debian's chromium: apt-get install -y chromium (.ci/run does)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [chromium(), *QUIET, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump_dom(url: str) -> str:
    """The page's DOM once its scripts ran."""
    return _run("--dump-dom", url).stdout


def screenshot(url: str, out: Path, width: int = 1280, height: int = 900) -> Path:
    """A PNG of the page as a browser window of that size shows it."""
    _run(f"--screenshot={out}", f"--window-size={width},{height}", url)
    assert out.exists() and out.stat().st_size > 0
    return out
