"""Cache keys: the same image with the same request never pays OpenAI (or S3) twice.

Keys hash content and options, never run ids or temp paths, so they hold across
runs and processes; each policy adds TASK_SOURCE so editing a task invalidates it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy, CachePolicy
from prefect.context import TaskRunContext
from prefect.locking.memory import MemoryLockManager

# Bump to invalidate every stored result when the meaning of a key changes.
CACHE_VERSION = "1"


def _digest(*parts: Any) -> str:
    payload = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def generation_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Input image hash + model, prompt, background, quality + generator kind."""
    del context
    image, options, generator = (
        parameters["image"],
        parameters["options"],
        parameters["generator"],
    )
    return "generate-" + _digest(
        image.sha256,
        options.effective_prompt,
        options.model,
        options.background,
        options.quality,
        generator.kind,
    )


def upload_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Output image hash + object name + destination."""
    del context
    image, target = parameters["image"], parameters["store"]
    return "upload-" + _digest(
        image.sha256, parameters["filename"], parameters["s3_prefix"], asdict(target)
    )


class StepLockManager(MemoryLockManager):
    """In-memory locks whose release is a no-op for a holder that already released.

    flows.pipeline commits each step eagerly (so a crash right after an upload never pays
    twice); Prefect then commits the finished steps again with their parent and releases
    their locks a second time, which MemoryLockManager reports as an error per image.
    """

    # MemoryLockManager is a per-class singleton; without these the subclass would inherit
    # (and return) a base-class instance created earlier by Prefect itself.
    _instance = None
    _initialized = False

    def release_lock(self, key: str, holder: str) -> None:
        """Release ``key`` if ``holder`` still holds it."""
        if self.is_lock_holder(key, holder):
            super().release_lock(key, holder)


# SERIALIZABLE: two identical calls at the same moment (a duplicate in a batch) take a
# lock on the key, so the second waits and reads the first one's result instead of paying.
# In-memory locks cover one process; a lock file could outlive a killed worker and hang reruns.
_LOCKS = StepLockManager()  # type: ignore[no-untyped-call]
GENERATION_CACHE: CachePolicy = (
    CacheKeyFnPolicy(cache_key_fn=generation_key) + TASK_SOURCE
).configure(isolation_level="SERIALIZABLE", lock_manager=_LOCKS)
UPLOAD_CACHE: CachePolicy = (CacheKeyFnPolicy(cache_key_fn=upload_key) + TASK_SOURCE).configure(
    isolation_level="SERIALIZABLE", lock_manager=_LOCKS
)
