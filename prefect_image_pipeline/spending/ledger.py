"""The spending ledger: what each account (a run's cap, a day's fleet budget) has spent and
has reserved for requests in flight.

A request reserves its expected cost on every account it counts against, in one atomic
step, before it is sent; its answer's real cost then replaces the reservation (``settle``).
A reservation carries an expiry, so one held by a run that was killed stops counting after
``RESERVATION_TTL_S`` instead of eating the budget.

- ``LocalLedger``: one host's processes, a JSON file under PREFECT_HOME guarded by an
  exclusive ``flock`` (released by the kernel if a holder dies);
- ``spending.redis_ledger.RedisLedger``: every host sharing IMAGE_PIPELINE_LOCK_URL.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Longer than one request can take with the SDK's and Prefect's retries (the SDK's 600 s
# timeout is not reached in practice), short enough that a killed run's reservations are
# free again within the hour.
RESERVATION_TTL_S = 1800.0
# Accounts untouched this long are dropped from a local ledger (days and runs long past).
_KEEP_S = 8 * 86400
_EPSILON = 1e-9  # dollars: sums of floats must not refuse a request that fits exactly


@dataclass(frozen=True)
class Account:
    """A limit to spend against: ``name`` keys it, ``label`` is how messages name it."""

    name: str
    limit_usd: float
    label: str


@dataclass(frozen=True)
class Balance:
    """What an account has spent and has reserved for requests in flight."""

    spent_usd: float
    reserved_usd: float

    def left(self, limit_usd: float) -> float:
        """What may still be reserved under ``limit_usd``."""
        return max(0.0, limit_usd - self.spent_usd - self.reserved_usd)


class Ledger(Protocol):
    """Where accounts are kept."""

    def reserve(self, accounts: Sequence[Account], token: str, usd: float) -> Account | None:
        """Reserve ``usd`` under ``token`` on every account, or on none: the account it
        would take over its limit, else None (reserved)."""
        ...

    def settle(self, accounts: Sequence[Account], token: str, usd: float) -> None:
        """Replace ``token``'s reservation with ``usd`` spent (0: released, nothing spent)."""
        ...

    def balance(self, account: Account) -> Balance:
        """The account's spent and live reserved amounts."""
        ...


class LocalLedger:
    """The ledger of one host: ``path`` (JSON), locked for each change; clock injectable."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        ttl_s: float = RESERVATION_TTL_S,
    ) -> None:
        self.path = path
        self.clock = clock
        self.ttl_s = ttl_s

    def reserve(self, accounts: Sequence[Account], token: str, usd: float) -> Account | None:
        """As Ledger.reserve."""
        with self._state() as state:
            now = self.clock()
            for account in accounts:
                entry = _entry(state, account.name, now)
                reserved = sum(usd for usd, _ in entry["reserved"].values())
                if entry["spent"] + reserved + usd > account.limit_usd + _EPSILON:
                    return account
            for account in accounts:
                _entry(state, account.name, now)["reserved"][token] = [
                    usd,
                    now + self.ttl_s,
                ]
        return None

    def settle(self, accounts: Sequence[Account], token: str, usd: float) -> None:
        """As Ledger.settle."""
        with self._state() as state:
            now = self.clock()
            for account in accounts:
                entry = _entry(state, account.name, now)
                entry["reserved"].pop(token, None)
                entry["spent"] += usd

    def balance(self, account: Account) -> Balance:
        """As Ledger.balance."""
        with self._state() as state:
            entry = _entry(state, account.name, self.clock())
        return Balance(entry["spent"], sum(usd for usd, _ in entry["reserved"].values()))

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The ledger's contents under the lock, written back when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(self.path.read_text()) if self.path.exists() else {}
                yield state
                now = self.clock()
                kept = {k: v for k, v in state.items() if v["touched"] > now - _KEEP_S}
                temporary = self.path.with_suffix(".tmp")
                temporary.write_text(json.dumps(kept))
                temporary.replace(self.path)  # whole or not at all, if this process dies
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _entry(state: dict[str, Any], name: str, now: float) -> dict[str, Any]:
    """The account's record, its expired reservations dropped, marked as touched now."""
    entry: dict[str, Any] = state.setdefault(name, {"spent": 0.0, "reserved": {}, "touched": now})
    entry["reserved"] = {t: r for t, r in entry["reserved"].items() if r[1] > now}
    entry["touched"] = now
    return entry
