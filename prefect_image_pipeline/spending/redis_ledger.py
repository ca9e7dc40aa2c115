"""The spending ledger every host shares, in the Redis of IMAGE_PIPELINE_LOCK_URL.

Each account is two keys: ``<name>:spent`` (a float) and ``<name>:reserved`` (a hash of
token -> "usd expires_at_us"). A reservation checks and writes every account in one Lua
script, timed by Redis's own clock, so two hosts can never both take the last dollar and
hosts' clocks do not matter. Keys expire a few days after their last change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect_image_pipeline.edges.redis import redis_client
from prefect_image_pipeline.spending.ledger import RESERVATION_TTL_S, Account, Balance

_PREFIX = "image-pipeline:spend:"
_KEEP_MS = 8 * 86400 * 1000

# Shared by the scripts: drop the expired reservations of reserved-hash key ``k`` and
# return the live total.
_LIVE = """
local function live(k, now)
  local total = 0
  local fields = redis.call('HGETALL', k)
  for i = 1, #fields, 2 do
    local usd, expires = string.match(fields[i + 1], '(%S+) (%S+)')
    if tonumber(expires) <= now then
      redis.call('HDEL', k, fields[i])
    else
      total = total + tonumber(usd)
    end
  end
  return total
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# KEYS: spent_1, reserved_1, spent_2, reserved_2, ...; ARGV: token, usd, ttl_us, keep_ms,
# limit_1, limit_2, ... Returns 0 when reserved, else the 1-based index of the account that
# the reservation would take over its limit.
_RESERVE = (
    _LIVE
    + """
local usd = tonumber(ARGV[2])
local n = #KEYS / 2
for i = 1, n do
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  if spent + live(KEYS[2 * i], now) + usd > tonumber(ARGV[4 + i]) + 1e-9 then
    return i
  end
end
local entry = ARGV[2] .. ' ' .. string.format('%.0f', now + tonumber(ARGV[3]))
for i = 1, n do
  redis.call('HSET', KEYS[2 * i], ARGV[1], entry)
  redis.call('PEXPIRE', KEYS[2 * i], ARGV[4])
end
return 0
"""
)

# KEYS as _RESERVE; ARGV: token, usd spent, keep_ms.
_SETTLE = """
for i = 1, #KEYS / 2 do
  redis.call('HDEL', KEYS[2 * i], ARGV[1])
  redis.call('INCRBYFLOAT', KEYS[2 * i - 1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[3])
end
return 0
"""

# KEYS: spent, reserved. Returns {spent, reserved} as strings.
_BALANCE = (
    _LIVE
    + """
return {redis.call('GET', KEYS[1]) or '0', tostring(live(KEYS[2], now))}
"""
)


class RedisLedger:
    """As spending.ledger.Ledger, in the Redis at ``url``."""

    def __init__(self, url: str, ttl_s: float = RESERVATION_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._client: Any = redis_client(url)
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)
        self._balance = self._client.register_script(_BALANCE)

    def reserve(self, accounts: Sequence[Account], token: str, usd: float) -> Account | None:
        """As Ledger.reserve."""
        ttl_us = int(self.ttl_s * 1_000_000)
        args = [token, repr(usd), ttl_us, _KEEP_MS, *(repr(a.limit_usd) for a in accounts)]
        over = int(self._reserve(keys=_keys(accounts), args=args))
        return accounts[over - 1] if over else None

    def settle(self, accounts: Sequence[Account], token: str, usd: float) -> None:
        """As Ledger.settle."""
        self._settle(keys=_keys(accounts), args=[token, repr(usd), _KEEP_MS])

    def balance(self, account: Account) -> Balance:
        """As Ledger.balance."""
        spent, reserved = self._balance(keys=_keys([account]))
        return Balance(float(spent), float(reserved))


def _keys(accounts: Sequence[Account]) -> list[str]:
    return [f"{_PREFIX}{a.name}:{part}" for a in accounts for part in ("spent", "reserved")]
