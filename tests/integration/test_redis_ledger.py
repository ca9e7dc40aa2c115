"""The spending ledger hosts share in a real Redis: atomic across clients, expiring."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from prefect_image_pipeline.spending.ledger import Account
from prefect_image_pipeline.spending.redis_ledger import RedisLedger


def _accounts() -> tuple[Account, Account]:
    tag = uuid.uuid4().hex[:8]
    return Account(f"run:{tag}", 1.0, "run"), Account(f"day:{tag}:2026-12-07", 1.5, "day")


def test_clients_racing_never_reserve_more_than_the_limit(redis_url: str) -> None:
    run, day = _accounts()
    hosts = [RedisLedger(redis_url) for _ in range(4)]

    def reserve(n: int) -> bool:
        return hosts[n % 4].reserve([run, day], f"t{n}", 0.01) is None

    with ThreadPoolExecutor(max_workers=8) as pool:
        granted = sum(pool.map(reserve, range(300)))
    assert granted == 100
    assert hosts[0].balance(run).reserved_usd == pytest.approx(1.0)
    assert hosts[1].balance(day).reserved_usd == pytest.approx(1.0)


def test_settling_replaces_the_reservation_with_what_was_spent(redis_url: str) -> None:
    run, day = _accounts()
    ledger = RedisLedger(redis_url)
    assert ledger.reserve([run, day], "a", 0.9) is None
    assert ledger.reserve([run, day], "b", 0.2) == run
    ledger.settle([run, day], "a", 0.4)
    assert (ledger.balance(day).spent_usd, ledger.balance(day).reserved_usd) == (0.4, 0.0)
    assert ledger.reserve([run, day], "b", 0.6) is None


def test_a_killed_holders_reservation_expires(redis_url: str) -> None:
    run, _ = _accounts()
    ledger = RedisLedger(redis_url, ttl_s=0.5)  # timed by Redis's clock, not ours
    assert ledger.reserve([run], "killed", 1.0) is None
    assert ledger.reserve([run], "next", 0.1) == run
    deadline = time.monotonic() + 10
    while ledger.balance(run).reserved_usd and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ledger.balance(run).reserved_usd == 0.0
    assert ledger.reserve([run], "next", 0.1) is None
