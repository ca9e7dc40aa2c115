"""Batch input files written as the images are read: memory stays flat however many.

Each line goes straight to disk; a new file starts before one would pass OpenAI's limits
(50,000 lines, 200 MB). A request already spooled (the same bytes under another name)
is written once: both inputs get its answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from prefect_image_pipeline.batch_api.lines import MAX_BYTES_PER_FILE, MAX_LINES_PER_FILE, BatchLine
from prefect_image_pipeline.errors import InvalidImageSourceError


@dataclass
class SpoolFile:
    """One input file: its path, size and the requests in it (custom_id -> input)."""

    path: Path
    size: int = 0
    requests: dict[str, str] = field(default_factory=dict)


class LineSpool:
    """JSONL input files under one directory, safe to add to from many threads."""

    def __init__(
        self,
        directory: Path,
        max_lines: int = MAX_LINES_PER_FILE,
        max_bytes: int = MAX_BYTES_PER_FILE,
    ) -> None:
        self._directory = directory
        self._max_lines, self._max_bytes = max_lines, max_bytes
        self._lock = threading.Lock()
        self.files: list[SpoolFile] = []

    def add(self, line: BatchLine) -> None:
        """Append ``line`` to the current file, or to a new one if it would not fit."""
        if line.size > self._max_bytes:
            raise InvalidImageSourceError(
                f"{line.input} makes a batch request of {line.size} bytes, over the Batch "
                f"API's {self._max_bytes} per file; process it without --batch-api"
            )
        with self._lock:
            if any(line.custom_id in spooled.requests for spooled in self.files):
                return
            current = self.files[-1] if self.files else None
            if (
                current is None
                or len(current.requests) >= self._max_lines
                or current.size + line.size > self._max_bytes
            ):
                self._directory.mkdir(parents=True, exist_ok=True)
                current = SpoolFile(self._directory / f"batch-{len(self.files) + 1:04d}.jsonl")
                self.files.append(current)
            with current.path.open("a", encoding="utf-8") as out:
                out.write(line.text + "\n")
            current.size += line.size
            current.requests[line.custom_id] = line.input
