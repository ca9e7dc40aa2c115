"""Where a run's cache records live and which locks guard them, chosen when it starts.

Without a cache block: Prefect's result storage on this host (``$PREFECT_HOME/storage``),
records as prefect_image_pipeline.cache.records writes them. With one: the shared bucket of
cache.shared. Either way one lock manager per process, chosen here: file locks
(cache.locks), or Redis leases (cache.redis_locks) when IMAGE_PIPELINE_LOCK_URL
is set.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, cast

from prefect import Task
from prefect.locking.protocol import LockManager

from prefect_image_pipeline.cache.locks import FileLockManager
from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.settings.config import settings

TaskT = TypeVar("TaskT", bound=Task[Any, Any])


def with_cache(step: TaskT, cache_block: str | None) -> TaskT:
    """``step`` storing its records where the run asks, under the settings' locks."""
    locks = cast(Hashable, lock_manager())  # managers hash by identity
    return cast(TaskT, _configured(step, cache_block, locks))


# Process-wide on purpose: one configured copy per task, block and lock manager.
@lru_cache(maxsize=64)
def _configured(step: Task[Any, Any], cache_block: str | None, locks: Any) -> Task[Any, Any]:
    policy = step.cache_policy
    if cache_block is None:
        return step.with_options(cache_policy=policy.configure(lock_manager=locks))  # type: ignore[union-attr]
    from prefect_image_pipeline.cache.shared import (
        SharedRecordSerializer,
        cache_bucket,
        cache_index,
    )

    return step.with_options(
        result_storage=cache_bucket(cache_block),
        result_serializer=SharedRecordSerializer(block=cache_block),
        cache_policy=policy.configure(  # type: ignore[union-attr]
            key_storage=cache_index(cache_block), lock_manager=locks
        ),
    )


def check_cache_block(name: str) -> None:
    """Fail before any work when the cache block cannot be loaded."""
    from prefect_image_pipeline.cache.shared import cache_bucket

    try:
        cache_bucket(name)
    except Exception as exc:  # noqa: BLE001 - any failure to load means the same fix
        raise ConfigurationError(
            f"Cache block {name!r} could not be loaded ({type(exc).__name__}); save it with "
            "IMAGE_PIPELINE_CACHE_BUCKET=<bucket> python -m blocks, or unset "
            "IMAGE_PIPELINE_CACHE_BLOCK / --cache-block to cache on this host"
        ) from None


def is_cached(step: Task[Any, Any], parameters: dict[str, Any]) -> bool:
    """Whether ``step`` called with ``parameters`` would be a cache hit, asking nothing else.

    The key comes from the step's own policy and the record is looked up in the store
    Prefect itself would read (its result storage and key storage), so the answer is
    exactly the task's: batch mode submits only what an interactive run would pay for.
    """
    from prefect.results import get_result_store

    key = step.cache_policy.compute_key(  # type: ignore[union-attr]
        task_ctx=None,  # type: ignore[arg-type]  # our key functions never read it
        inputs=parameters,
        flow_parameters={},
    )
    if not key:
        return False
    store = get_result_store().update_for_task(step, _sync=True)  # type: ignore[call-arg]
    return bool(store.exists(key))  # type: ignore[union-attr]


def lock_manager() -> LockManager:
    """The lock manager the settings ask for: Redis leases, else file locks on this host."""
    config = settings()
    if config.lock_url:
        return _redis_locks(config.lock_url.get_secret_value(), config.lock_lease_seconds)
    return _file_locks(str(_prefect_home() / "locks"))


# Process-wide on purpose: a holder's lock must be found again by the same manager.
@lru_cache(maxsize=8)
def _file_locks(directory: str) -> FileLockManager:
    return FileLockManager(Path(directory))


# Process-wide on purpose: a lease is renewed and released by the manager that took it.
@lru_cache(maxsize=8)
def _redis_locks(url: str, lease_seconds: float) -> LockManager:
    from prefect_image_pipeline.cache.redis_locks import LeasedRedisLockManager

    return LeasedRedisLockManager(url, lease_seconds=lease_seconds)


def _prefect_home() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()
