"""Cache keys: the same image with the same request never pays OpenAI (or S3) twice.

Keys hash content and options, never run ids, temp paths or our own source code, so they
hold across runs, processes and upgrades. Each policy carries an explicit cache version
instead of Prefect's TASK_SOURCE (which re-keyed every image on any edit of a task body).

Change a version only when the meaning of its key or record changes, and say so in the
change's notes: a new version makes every user pay once more for every image.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy
from prefect.context import TaskRunContext
from prefect.locking.memory import MemoryLockManager

# Inside each key's digest since the first release; the versions below supersede it.
_KEY_FORMAT = "1"
# Version 1 of each is the TASK_SOURCE hash that the last release keyed with TASK_SOURCE
# (be5a233) put in its keys, so caches written by that release are still hits after it.
GENERATION_CACHE_VERSION = "2eb2e86fc0f3fefe132518837b025c2f"
UPLOAD_CACHE_VERSION = "c9ed4bcbdea71f2e48b0d670c991459c"
COPIES_CACHE_VERSION = "1"


def _digest(*parts: Any) -> str:
    payload = json.dumps([_KEY_FORMAT, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def generation_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Input image hash + the options' fingerprint + generator kind (+ references, mask)."""
    del context
    image, options, generator = (
        parameters["image"],
        parameters["options"],
        parameters["generator"],
    )
    extra: list[Any] = []
    references, mask = parameters.get("references") or (), parameters.get("mask")
    if references or mask:  # absent for a run without them: its key is as before they existed
        extra.append(
            {
                "references": [ref.cache_key for ref in references],
                "mask": mask.cache_key if mask else None,
            }
        )
    return "generate-" + _digest(image.sha256, *options.fingerprint(), generator.kind, *extra)


def upload_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Output image hash + object name + destination."""
    del context
    image, target = parameters["image"], parameters["store"]
    destination = asdict(target)
    # Fields added after the first release enter the key only when set.
    for late_field in ("public_base_url",):
        if destination.get(late_field) is None:
            destination.pop(late_field, None)
    return "upload-" + _digest(
        image.sha256, parameters["filename"], parameters["s3_prefix"], destination
    )


def copies_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Output image hash + its key + the widths and formats asked + destination."""
    del context
    destination = {k: v for k, v in asdict(parameters["store"]).items() if v is not None}
    return "copies-" + _digest(
        parameters["image"].sha256,
        parameters["output_key"],
        sorted(set(parameters["widths"] or [])),
        list(dict.fromkeys(parameters["formats"] or [])),
        destination,
    )


@dataclass
class CacheVersion(CachePolicy):
    """A constant part of every key of one policy: bump it to re-key on purpose."""

    version: str = ""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str:
        """The version itself."""
        return self.version


class StepLockManager(MemoryLockManager):
    """In-memory locks whose release is a no-op for a holder that already released.

    pipeline.run commits each step eagerly (so a crash right after an upload never
    pays twice); Prefect then commits the finished steps again with their parent and
    releases their locks a second time, which MemoryLockManager reports as an error.
    """

    # MemoryLockManager is a per-class singleton; without these the subclass would inherit
    # (and return) a base-class instance created earlier by Prefect itself.
    _instance = None
    _initialized = False

    def release_lock(self, key: str, holder: str) -> None:
        """Release ``key`` if ``holder`` still holds it."""
        if self.is_lock_holder(key, holder):
            super().release_lock(key, holder)


def _policy(key_fn: Any, version: str) -> CachePolicy:
    # SERIALIZABLE: two identical calls at the same moment (a duplicate in a batch) take a
    # lock on the key, so the second waits and reads the first one's result instead of
    # paying. In-memory locks cover one process; a lock file could outlive a killed worker.
    return (CacheKeyFnPolicy(cache_key_fn=key_fn) + CacheVersion(version=version)).configure(
        isolation_level="SERIALIZABLE", lock_manager=_LOCKS
    )


# Process-wide on purpose: a lock only works if every thread of the process sees it.
_LOCKS = StepLockManager()  # type: ignore[no-untyped-call]
GENERATION_CACHE = _policy(generation_key, GENERATION_CACHE_VERSION)
UPLOAD_CACHE = _policy(upload_key, UPLOAD_CACHE_VERSION)
COPIES_CACHE = _policy(copies_key, COPIES_CACHE_VERSION)
