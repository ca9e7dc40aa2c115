"""``--jobs FILE``: per-image jobs from JSON lines or CSV, every row checked before a run.

JSON lines: one object per line (``{"input": "...", "prompt": "..."}``; a bare string is an
input with no options of its own). CSV: a header row with an ``input`` column and any
per-image option by its flow-parameter name; an empty cell leaves the run's value, a list
(``widths``, ``reference_images``) is a JSON array or comma-separated. A ``.json`` file may
hold one array of such rows. A row's problem is refused naming the file, the row (its line
number) and the column, before Prefect starts and before anything is paid for.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import ValidationError

from prefect_image_pipeline.errors import ImagePipelineError
from prefect_image_pipeline.options.jobs import (
    ImageJob,
    JobBase,
    as_row,
    per_image_options,
    unknown_column_hint,
)
from prefect_image_pipeline.options.run import RunOptions
from prefect_image_pipeline.pipeline.jobs import check_job


class JobsFileError(ValueError):
    """A jobs file that cannot run: what, where, and the fix."""


def read_jobs(path: str, run: RunOptions) -> list[str | dict[str, Any]]:
    """The file's rows as the ``images`` parameter takes them, each checked against ``run``."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise JobsFileError(f"cannot read --jobs {path}: {exc.strerror}") from exc
    rows = list(_csv_rows(path, text) if path.lower().endswith(".csv") else _json_rows(path, text))
    if not rows:
        raise JobsFileError(f"--jobs {path} has no rows: give one image per line")
    return [as_row(_checked(path, line, row, run)) for line, row in rows]


def _json_rows(path: str, text: str) -> Iterator[tuple[int, Any]]:
    if text.lstrip().startswith("["):  # one JSON array
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JobsFileError(
                f"--jobs {path}: not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
        yield from enumerate(rows, start=1)
        return
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            yield line, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise JobsFileError(
                f"--jobs {path}, row {line}: not a JSON object ({exc.msg}); write one "
                'object per line, e.g. {"input": "logo.png", "prompt": "..."}'
            ) from None


def _csv_rows(path: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    if "input" not in header:
        raise JobsFileError(
            f"--jobs {path}: the header has no input column (it has {', '.join(header)}); "
            "the first line names the columns: input, then any per-image option"
        )
    for name in header:
        if name != "input" and name not in ImageJob.model_fields:
            hint = unknown_column_hint(name)
            raise JobsFileError(f"--jobs {path}, column {name!r}: not a per-image option ({hint})")
    lists = _list_columns()
    for row in reader:
        where = f"--jobs {path}, row {reader.line_num}"
        if None in row:  # csv puts the cells beyond the header under None
            raise JobsFileError(
                f"{where}: {len(header) + len(row[None])} cells for {len(header)} columns; "  # type: ignore[index]
                'quote a value that holds a comma ("Recreate the logo, in blue")'
            )
        cells = {k.strip(): (v or "").strip() for k, v in row.items()}
        yield reader.line_num, {k: _cell(where, k, v, k in lists) for k, v in cells.items() if v}


def _cell(where: str, column: str, value: str, is_list: bool) -> Any:
    if not is_list:
        return value
    if not value.startswith("["):
        return [item.strip() for item in value.split(",") if item.strip()]
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise JobsFileError(
            f"{where}, column {column}: not a JSON array ({exc.msg}); write 320,640 or [320, 640]"
        ) from None


def _list_columns() -> set[str]:
    def is_list(annotation: Any) -> bool:
        return get_origin(annotation) is list or any(is_list(a) for a in get_args(annotation))

    return {o.name for o in per_image_options() if is_list(o.annotation)}


def _checked(path: str, line: int, row: Any, run: RunOptions) -> JobBase:
    where = f"--jobs {path}, row {line}"
    if isinstance(row, dict):
        for key in row:
            if key not in ImageJob.model_fields:
                raise JobsFileError(f"{where}: unknown column {key!r} ({unknown_column_hint(key)})")
    try:
        job = ImageJob.model_validate(row) if not isinstance(row, str) else ImageJob(input=row)
    except ValidationError as exc:
        error = exc.errors()[0]
        column = ".".join(str(part) for part in error["loc"][:1]) or "input"
        reason = error.get("ctx", {}).get("error") or error["msg"].lower()
        raise JobsFileError(f"{where}, column {column}: {reason}") from None
    try:
        check_job(job, run)
    except ImagePipelineError as exc:
        raise JobsFileError(f"{where} ({job.input}): {exc}") from None
    return job
