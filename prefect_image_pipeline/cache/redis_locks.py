"""Locks every host shares, in Redis, held as short leases the holder keeps renewing.

prefect-redis's RedisLockManager is the lock; what it lacks for us is expiry. Prefect
acquires without a hold timeout, so a holder that dies leaves a key with no TTL and every
waiter hangs; and a fixed timeout long enough for one generation (a 600 s request times
the SDK's retries) would block waiters for half an hour after a crash. Here each lock is a
lease of ``lease_seconds`` (IMAGE_PIPELINE_LOCK_LEASE_SECONDS, default 60) that a
background thread extends every third of a lease while the holder works: a killed holder
frees its key within one lease, a live one keeps it as long as it needs.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prefect_redis.locking import RedisLockManager
from redis.exceptions import LockError

from prefect_image_pipeline.cache.locks import AsyncInThreads, lock_name, say_waiting

_LOG = logging.getLogger(__name__)


class LeasedRedisLockManager(AsyncInThreads, RedisLockManager):  # type: ignore[misc]  # untyped package
    """RedisLockManager with renewed leases, shared names and idempotent release (its
    async methods run the sync ones in a thread: the renewal thread is synchronous)."""

    def __init__(self, url: str, lease_seconds: float = 60.0) -> None:
        super().__init__(connection_url=url)
        self.lease_seconds = lease_seconds
        self._renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self._renewer_guard = threading.Lock()
        self._leases_guard = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "lease_seconds": self.lease_seconds}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._renewing = threading.Event()
        self._renewer = None
        self._renewer_guard = threading.Lock()
        self._leases_guard = threading.Lock()

    @staticmethod
    def _lock_name_for_key(key: str) -> str:
        # The record's name, not a host's storage path, so every host asks for one lock.
        return f"image-pipeline:lock:{lock_name(key)}"

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take ``key`` as a renewed lease (``hold_timeout`` is replaced by the lease)."""
        del hold_timeout
        if self.is_lock_holder(key, holder):
            return True
        if super().acquire_lock(key, holder, acquire_timeout=0, hold_timeout=self.lease_seconds):
            self._keep_renewing()
            return True
        if acquire_timeout == 0:
            return False
        say_waiting(lock_name(key))
        taken = super().acquire_lock(
            key, holder, acquire_timeout=acquire_timeout, hold_timeout=self.lease_seconds
        )
        if taken:
            self._keep_renewing()
        return bool(taken)

    def release_lock(self, key: str, holder: str) -> None:
        """Release ``key`` if ``holder`` has it; otherwise do nothing (a second release)."""
        # Never while the renewal thread works: it would find the lease gone from Redis,
        # call it lost and drop it from ``_locks`` between prefect-redis's release and its
        # own removal of it (a KeyError at the end of a paid generation).
        with self._leases_guard:
            if self.is_lock_holder(key, holder):
                super().release_lock(key, holder)

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until ``key`` is free; the probe lock is a lease too, never left behind."""
        from redis.lock import Lock

        probe = Lock(self.client, self._lock_name_for_key(key), timeout=self.lease_seconds)
        if not probe.acquire(blocking_timeout=timeout):
            return False
        probe.release()
        return True

    def _keep_renewing(self) -> None:
        with self._renewer_guard:
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_forever, name="image-pipeline-lock-leases", daemon=True
                )
                self._renewer.start()

    def _renew_forever(self) -> None:
        while not self._renewing.wait(self.lease_seconds / 3):
            self.renew_all()

    def renew_all(self) -> None:
        """Extend every lease this process holds back to a full ``lease_seconds``."""
        with self._leases_guard:
            for name, lock in list(self._locks.items()):
                try:
                    lock.reacquire()  # type: ignore[union-attr]  # only sync locks are taken
                except LockError:
                    # Lost (this process stalled for a whole lease): another holder may now
                    # generate the same image; its record and ours are the same request.
                    _LOG.warning("Lost the lease on %s; another run may take it over", name)
                    self._locks.pop(name, None)
