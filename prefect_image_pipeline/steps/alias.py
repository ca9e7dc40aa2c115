"""A stable address: the newest output and its copies also under a key that never changes.

``--alias logos/acme.png`` writes the output to ``logos/acme.png`` and each copy beside it
(``logos/acme-640w.webp``), with a short ``CacheControl`` so browsers and the CDN look again
soon. An alias already holding the same bytes is left alone (its SHA-256 is in the object's
metadata), so an unchanged image is neither rewritten nor invalidated. In a batch the alias
names each image with ``{stem}`` (``logos/{stem}.png``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from pydantic import BaseModel

from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.steps.web_copies import WebCopy

STEM = "{stem}"


class AliasResult(BaseModel):
    """Where the stable address points, and which of its keys this run rewrote."""

    key: str
    public_url: str
    written: list[str] = []
    unchanged: list[str] = []


@dataclass(frozen=True)
class AliasWrite:
    """One alias key and the immutable object it should hold a copy of."""

    source_key: str
    key: str
    sha256: str
    content_type: str


class AliasStore(Protocol):
    """What pointing an alias needs of a store."""

    def point(
        self, source_key: str, key: str, sha256: str, content_type: str, max_age: int
    ) -> bool:
        """Make ``key`` hold ``source_key``'s bytes unless it already does; True if written."""
        ...

    def public_url(self, key: str) -> str:
        """The public URL of ``key``."""
        ...


def check_alias(alias: str | None, image_count: int) -> None:
    """Refuse an alias that cannot work, before any call: a key that climbs out of the
    bucket, or one alias for several images."""
    if alias is None:
        return
    parts = PurePosixPath(alias).parts
    if not alias.strip("/") or ".." in parts or alias.startswith("/") or alias.endswith("/"):
        raise ConfigurationError(
            f"--alias {alias!r} is not an object key: give a path such as logos/acme.png"
        )
    if image_count > 1 and STEM not in alias:
        raise ConfigurationError(
            f"--alias {alias!r} would be the same key for all {image_count} images: put "
            f"{STEM} in it (e.g. logos/{STEM}.png) so each image gets its own"
        )


def alias_base(alias: str, output_stem: str) -> str:
    """The alias without its extension, ``{stem}`` filled in: ``logos/acme``."""
    filled = alias.replace(STEM, output_stem)
    name = PurePosixPath(filled).name
    return filled[: -len(PurePosixPath(name).suffix)] if PurePosixPath(name).suffix else filled


def alias_writes(
    base: str, output_key: str, sha256: str, content_type: str, copies: list[WebCopy]
) -> list[AliasWrite]:
    """The original under ``base`` with its own extension, each copy with its suffix."""
    output_stem, _, extension = output_key.rpartition(".")
    writes = [AliasWrite(output_key, f"{base}.{extension}", sha256, content_type)]
    for copy in copies:
        tail = copy.key[len(output_stem) :] if copy.key.startswith(output_stem) else copy.key
        writes.append(AliasWrite(copy.key, f"{base}{tail}", copy.sha256, copy.content_type))
    return writes


def point_alias(store: AliasStore, writes: list[AliasWrite], max_age: int) -> AliasResult:
    """Point every alias key at its object; the first write is the original's."""
    result = AliasResult(key=writes[0].key, public_url=store.public_url(writes[0].key))
    for write in writes:
        changed = store.point(
            write.source_key, write.key, write.sha256, write.content_type, max_age
        )
        (result.written if changed else result.unchanged).append(write.key)
    return result
