"""Where the tests find the repository's files, wherever under tests/ a test module lives."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SAMPLE = SAMPLES / "logo.png"
DOCS = REPO / "docs"
TEST_DATA = REPO / "tests" / "data"
README = REPO / "README.md"
