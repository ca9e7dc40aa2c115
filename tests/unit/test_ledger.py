"""The spending ledger of one host: reservations, settlement, expiry, and processes racing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from prefect_image_pipeline.spending.ledger import Account, LocalLedger
from tests.clock import ManualClock

RUN = Account("run:r1", 1.0, "this run's budget of $1.00")
DAY = Account("day:fleet:2026-12-07", 1.5, "today's budget")


def test_a_reservation_that_would_cross_any_limit_is_refused_and_reserves_nothing(
    tmp_path: Path,
) -> None:
    ledger = LocalLedger(tmp_path / "spending.json")
    assert ledger.reserve([RUN, DAY], "a", 0.6) is None
    assert ledger.reserve([RUN, DAY], "b", 0.6) == RUN  # 1.2 > the run's 1.0
    assert ledger.balance(DAY).reserved_usd == pytest.approx(0.6)  # b took nothing anywhere
    ledger.settle([RUN, DAY], "a", 0.25)  # the answer cost less than reserved
    assert ledger.balance(RUN).spent_usd == pytest.approx(0.25)
    assert ledger.balance(RUN).reserved_usd == 0.0
    assert ledger.reserve([RUN, DAY], "b", 0.6) is None  # now it fits
    assert ledger.reserve([DAY], "c", 0.7) == DAY  # 0.25 + 0.6 + 0.7 > 1.5


def test_a_killed_runs_reservations_expire(tmp_path: Path) -> None:
    clock = ManualClock()
    ledger = LocalLedger(tmp_path / "spending.json", clock=clock, ttl_s=1800)
    assert ledger.reserve([RUN], "killed", 1.0) is None  # never settled: its run died
    assert ledger.reserve([RUN], "next", 0.1) == RUN
    clock.now += 1801
    assert ledger.balance(RUN).reserved_usd == 0.0
    assert ledger.reserve([RUN], "next", 0.1) is None


def _reserve_many(path: str, prefix: str, results: multiprocessing.Queue[int]) -> None:
    ledger = LocalLedger(Path(path))
    results.put(sum(ledger.reserve([RUN], f"{prefix}{n}", 0.01) is None for n in range(80)))


def test_processes_racing_never_reserve_more_than_the_limit(tmp_path: Path) -> None:
    path = str(tmp_path / "spending.json")
    results: multiprocessing.Queue[int] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_reserve_many, args=(path, name, results))
        for name in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    granted = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sum(granted) == 100  # $1.00 in $0.01 steps, whoever asked
    assert LocalLedger(Path(path)).balance(RUN).reserved_usd == pytest.approx(1.0)
