"""A new background server's database, started from a migrated copy instead of from nothing.

Creating Prefect's SQLite database runs every Alembic migration: 18 s here, three times the
rest of a first start. ``db-templates/prefect-<version>.db.gz`` is that database, freshly
migrated and empty (``scripts/make-db-template`` writes it; a test checks it is at the
installed Prefect's migration head). It is used only for the exact Prefect version it was
made with, only when the home has no database yet, and only for the default SQLite path;
otherwise Prefect migrates as usual.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "db-templates"
DATABASE_FILE = "prefect.db"


def template_for(prefect_version: str) -> Path:
    """Where the template for ``prefect_version`` is (it may not exist)."""
    return TEMPLATES / f"prefect-{prefect_version}.db.gz"


def seed_database(home: Path, prefect_version: str) -> bool:
    """Copy the template into ``home`` if it has no database yet; True if it did."""
    target = home / DATABASE_FILE
    template = template_for(prefect_version)
    if target.exists() or not template.exists():
        return False
    partial = home / f"{DATABASE_FILE}.{os.getpid()}.seeding"
    try:
        with gzip.open(template, "rb") as source, partial.open("wb") as out:
            shutil.copyfileobj(source, out)
        # A hard link never replaces: a reader sees no database or a whole one, and a
        # process seeding at the same moment cannot swap the file under one in use.
        os.link(partial, target)
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True
