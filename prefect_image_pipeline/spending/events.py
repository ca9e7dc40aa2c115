"""The Prefect event a reached budget emits, so an automation can tell someone.

``image-pipeline.budget.reached``, its resource the day's account
(``image-pipeline.budget.day:2026-12-07``), its payload the limit, spent and reserved
amounts. Emitted once per account by each process that is refused.
"""

from __future__ import annotations

import logging
import threading

from prefect_image_pipeline.spending.ledger import Account, Balance

BUDGET_REACHED_EVENT = "image-pipeline.budget.reached"
_LOG = logging.getLogger(__name__)
# Process-wide on purpose: one event per account and process, not one per refused image.
_announced: set[str] = set()
_guard = threading.Lock()


def announce_budget_reached(account: Account, balance: Balance) -> None:
    """Emit the event for ``account`` unless this process already did."""
    with _guard:
        if account.name in _announced:
            return
        _announced.add(account.name)
    from prefect.events import emit_event

    _LOG.warning("%s is reached: no new request starts", account.label)
    emit_event(
        event=BUDGET_REACHED_EVENT,
        resource={
            "prefect.resource.id": f"image-pipeline.budget.{account.name}",
            "prefect.resource.name": account.label,
        },
        payload={
            "limit_usd": account.limit_usd,
            "spent_usd": round(balance.spent_usd, 6),
            "reserved_usd": round(balance.reserved_usd, 6),
        },
    )
