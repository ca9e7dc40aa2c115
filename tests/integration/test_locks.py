"""The cache's locks: flock files on one host, Redis leases across hosts (a real redis-server)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import anyio
import pytest
import redis

from prefect_image_pipeline.cache.locks import FileLockManager
from prefect_image_pipeline.cache.redis_locks import LeasedRedisLockManager
from prefect_image_pipeline.cache.storage import lock_manager
from tests.paths import REPO

KEY = "generate-0123abcd"


def _hold_in_child(code: str) -> subprocess.Popen[str]:
    """A Python child that takes a lock, prints 'held' and waits to be killed."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


# -- file locks ------------------------------------------------------------------


def test_a_file_lock_excludes_other_holders_and_leaves_no_file(tmp_path: Path) -> None:
    locks = FileLockManager(tmp_path)
    assert locks.acquire_lock(KEY, holder="first")
    assert locks.acquire_lock(KEY, holder="first")  # re-entrant for its holder
    assert locks.is_locked(KEY) and locks.is_lock_holder(KEY, "first")
    assert not locks.acquire_lock(KEY, holder="second", acquire_timeout=0)

    locks.release_lock(KEY, holder="second")  # not the holder: nothing happens
    assert locks.is_lock_holder(KEY, "first")
    locks.release_lock(KEY, holder="first")
    locks.release_lock(KEY, holder="first")  # a second release is not an error
    assert not locks.is_locked(KEY)
    assert list(tmp_path.iterdir()) == []
    assert locks.acquire_lock(KEY, holder="second", acquire_timeout=0)
    locks.release_lock(KEY, holder="second")


def test_a_file_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    holder = _hold_in_child(
        f"""
        from pathlib import Path
        from prefect_image_pipeline.cache.locks import FileLockManager
        FileLockManager(Path({str(tmp_path)!r})).acquire_lock({KEY!r}, holder="child")
        print("held", flush=True)
        input()
        """
    )
    locks = FileLockManager(tmp_path)
    try:
        assert locks.is_locked(KEY)
        assert not locks.acquire_lock(KEY, holder="parent", acquire_timeout=0)
    finally:
        _kill(holder)
    assert locks.acquire_lock(KEY, holder="parent", acquire_timeout=0)  # no stale lock
    locks.release_lock(KEY, holder="parent")


def test_a_waiter_says_why_it_waits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    locks = FileLockManager(tmp_path)
    locks.acquire_lock(KEY, holder="first")
    with caplog.at_level(logging.INFO, logger="prefect_image_pipeline.cache.locks"):
        assert not locks.acquire_lock(KEY, holder="second", acquire_timeout=0.1)
    assert f"Waiting for another run that is producing the same result ({KEY})" in caplog.text
    assert not locks.wait_for_lock(KEY, timeout=0)
    locks.release_lock(KEY, holder="first")
    assert locks.wait_for_lock(KEY, timeout=0)


def test_the_async_half_runs_the_same_locks(tmp_path: Path, redis_url: str) -> None:
    key = f"{KEY}-{os.getpid()}-async"
    for locks in (FileLockManager(tmp_path), LeasedRedisLockManager(redis_url, lease_seconds=5)):
        assert anyio.run(locks.aacquire_lock, key, "first")
        assert not anyio.run(locks.await_for_lock, key, 0.05)
        locks.release_lock(key, holder="first")
        assert anyio.run(locks.await_for_lock, key, 1)


def test_keys_given_as_paths_share_a_lock_and_odd_keys_are_hashed(tmp_path: Path) -> None:
    locks = FileLockManager(tmp_path / "locks")
    locks.acquire_lock(f"/home/a/.prefect/storage/{KEY}", holder="first")
    assert locks.is_locked(KEY)
    locks.acquire_lock("../../etc/passwd x", holder="first")
    names = sorted(p.name for p in (tmp_path / "locks").iterdir())
    assert names[0] == f"{KEY}.lock" and names[1].startswith("key-"), names


def test_the_settings_choose_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    assert isinstance(lock_manager(), FileLockManager)
    monkeypatch.setenv("IMAGE_PIPELINE_LOCK_URL", redis_url)
    monkeypatch.setenv("IMAGE_PIPELINE_LOCK_LEASE_SECONDS", "7")
    chosen = lock_manager()
    assert isinstance(chosen, LeasedRedisLockManager) and chosen.lease_seconds == 7
    assert lock_manager() is chosen  # one per process: a holder finds its lock again


# -- Redis leases ----------------------------------------------------------------


def _ttl_ms(redis_url: str, key: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.pttl(f"image-pipeline:lock:{key}"))
    finally:
        client.close()


def test_a_redis_lock_is_a_lease_its_holder_renews(redis_url: str) -> None:
    key = f"{KEY}-{os.getpid()}-renew"
    holder = LeasedRedisLockManager(redis_url, lease_seconds=0.9)
    other = LeasedRedisLockManager(redis_url, lease_seconds=0.9)
    assert holder.acquire_lock(key, holder="first")
    assert 0 < _ttl_ms(redis_url, key) <= 900
    assert not other.acquire_lock(key, holder="second", acquire_timeout=0)

    # The renewal thread extends the lease every third of it: the TTL climbs back up.
    first = _ttl_ms(redis_url, key)
    deadline = time.monotonic() + 10
    while _ttl_ms(redis_url, key) <= first:
        assert time.monotonic() < deadline, "the lease was never renewed"
        first = min(first, _ttl_ms(redis_url, key))
        time.sleep(0.02)
    assert holder.is_lock_holder(key, "first")

    other.release_lock(key, holder="second")  # not the holder: nothing happens
    holder.release_lock(key, holder="first")
    holder.release_lock(key, holder="first")  # a second release is not an error
    assert _ttl_ms(redis_url, key) == -2  # gone
    assert other.acquire_lock(key, holder="second", acquire_timeout=0)
    other.release_lock(key, holder="second")


def test_releasing_while_leases_are_renewed_never_fails_or_calls_a_lease_lost(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The renewal thread and a release met in the middle under load (seen as a KeyError
    # ending a paid run): the renewer found the lease gone and dropped it as lost while
    # prefect-redis was about to. Renewing non-stop while locks come and go must be quiet.
    manager = LeasedRedisLockManager(redis_url, lease_seconds=30)
    done = threading.Event()

    def renew_non_stop() -> None:
        while not done.is_set():
            manager.renew_all()
            time.sleep(0)  # let the releasing thread take the guard between renewals

    renewer = threading.Thread(target=renew_non_stop)
    renewer.start()
    try:
        for n in range(200):
            key = f"{KEY}-{os.getpid()}-race-{n}"
            assert manager.acquire_lock(key, holder="me", acquire_timeout=0)
            manager.release_lock(key, holder="me")
    finally:
        done.set()
        renewer.join()
    assert "Lost the lease" not in caplog.text


@pytest.mark.slow  # over ~3 s: full lane only
def test_a_killed_redis_holder_frees_the_key_within_one_lease(redis_url: str) -> None:
    key = f"{KEY}-{os.getpid()}-killed"
    child = _hold_in_child(
        f"""
        from prefect_image_pipeline.cache.redis_locks import LeasedRedisLockManager
        locks = LeasedRedisLockManager({redis_url!r}, lease_seconds=1.5)
        locks.acquire_lock({key!r}, holder="child")
        print("held", flush=True)
        input()
        """
    )
    _kill(child)
    left = _ttl_ms(redis_url, key)
    assert 0 < left <= 1500  # what is left of the dead holder's lease, at most one lease
    waiter = LeasedRedisLockManager(redis_url, lease_seconds=1.5)
    assert waiter.acquire_lock(key, holder="parent", acquire_timeout=10)
    waiter.release_lock(key, holder="parent")


def test_waiting_for_a_redis_lock_leaves_no_key_without_expiry(redis_url: str) -> None:
    key = f"{KEY}-{os.getpid()}-probe"
    locks = LeasedRedisLockManager(redis_url, lease_seconds=5)
    assert locks.wait_for_lock(key, timeout=1)
    assert _ttl_ms(redis_url, key) == -2
    locks.acquire_lock(key, holder="first")
    assert not LeasedRedisLockManager(redis_url, lease_seconds=5).wait_for_lock(key, timeout=0.1)
    locks.release_lock(key, holder="first")
