"""One generation per cache key at a time, across threads, processes and hosts.

Prefect takes a lock on a step's cache key before it looks for the record
(SERIALIZABLE isolation), so a second identical call waits and then reads the first
one's record instead of paying. Which lock depends on where runs happen:

- ``FileLockManager`` (default): ``fcntl.flock`` on one file per key under
  ``$PREFECT_HOME/locks``. It covers threads and processes of one host, needs no
  service, and the kernel releases it when its holder dies (a SIGKILL leaves no stale
  lock, unlike Prefect's FileSystemLockManager, whose lock files outlive a crash).
- ``cache.redis_locks.LeasedRedisLockManager`` when ``IMAGE_PIPELINE_LOCK_URL`` is
  set: every host that shares the cache bucket shares the locks.

Both say once, in the run's log, that a call is waiting for another run's generation,
and both accept a second release of a lock already released (pipeline.run commits
each step eagerly, then Prefect commits and releases it again with its parent).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
import time
from pathlib import Path

from prefect.locking.protocol import LockManager

_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,120}")
_POLL_SECONDS = 0.05
_LOG = logging.getLogger(__name__)


def lock_name(key: str) -> str:
    """The part of a key that names the record: a key may arrive as a storage path."""
    name = Path(key).name or key
    if _SAFE_NAME.fullmatch(name):
        return name
    return "key-" + hashlib.sha256(key.encode()).hexdigest()


def say_waiting(key: str) -> None:
    """Say why this call is not moving: in the run's log (the UI) and on this module's
    logger (process-image prints it)."""
    message = "Waiting for another run that is producing the same result (%s)"
    _LOG.info(message, key)
    try:
        from prefect.logging import get_run_logger

        get_run_logger().info(message, key)
    except Exception:  # noqa: BLE001 - outside a run there is no run log
        pass


class AsyncInThreads:
    """The async half of Prefect's LockManager protocol, as the sync methods in a thread."""

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """As acquire_lock, in a worker thread."""
        from anyio import to_thread

        acquire = self.acquire_lock  # type: ignore[attr-defined]
        return bool(await to_thread.run_sync(acquire, key, holder, acquire_timeout, hold_timeout))

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """As wait_for_lock, in a worker thread."""
        from anyio import to_thread

        wait = self.wait_for_lock  # type: ignore[attr-defined]
        return bool(await to_thread.run_sync(wait, key, timeout))


class FileLockManager(AsyncInThreads, LockManager):
    """Exclusive ``flock`` locks on ``<directory>/<key>.lock``, one open file per holder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._guard = threading.Lock()
        self._held: dict[str, tuple[str, int]] = {}  # key name -> (holder, fd)

    def _path(self, key: str) -> Path:
        return self.directory / f"{lock_name(key)}.lock"

    def _open_locked(self, path: Path, deadline: float | None) -> int | None:
        """An fd holding ``path``'s lock, or None at the deadline.

        A holder unlinks the file before it unlocks (so lock files do not pile up); a
        waiter that then gets the lock of the unlinked file opens the path again.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        announced = False
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not announced:
                    say_waiting(path.stem)
                    announced = True
                if not _flock_until(fd, deadline):
                    os.close(fd)
                    return None
            if _same_file(fd, path):
                return fd
            os.close(fd)

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Block until ``holder`` has ``key`` (or ``acquire_timeout`` passes)."""
        del hold_timeout  # the kernel frees the lock when its process dies: no expiry needed
        name = lock_name(key)
        with self._guard:
            if self._held.get(name, ("", 0))[0] == holder:
                return True
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        fd = self._open_locked(self._path(key), deadline)
        if fd is None:
            return False
        with self._guard:
            self._held[name] = (holder, fd)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        """Release ``key`` if ``holder`` has it; otherwise do nothing."""
        name = lock_name(key)
        with self._guard:
            held = self._held.get(name)
            if held is None or held[0] != holder:
                return
            del self._held[name]
        path = self._path(key)
        try:
            if _same_file(held[1], path):
                path.unlink()
        finally:
            os.close(held[1])  # closing the last fd of the file releases the flock

    def is_locked(self, key: str) -> bool:
        """Whether any thread or process holds ``key`` now."""
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        """Whether ``holder`` (in this process) has ``key``."""
        with self._guard:
            return self._held.get(lock_name(key), ("", 0))[0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until nobody holds ``key``; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True


def _flock_until(fd: int, deadline: float | None) -> bool:
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks in the kernel, without the GIL
        return True
    while time.monotonic() < deadline:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(_POLL_SECONDS)
    return False


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False
