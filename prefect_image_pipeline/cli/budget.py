"""``process-image --budget``: today's spending against the fleet's daily budget."""

from __future__ import annotations

import argparse

from prefect_image_pipeline.cli.console import say


def add_budget_flag(parser: argparse.ArgumentParser) -> None:
    """--budget: show and exit (no inputs needed)."""
    parser.add_argument(
        "--budget",
        action="store_true",
        help="Show today's spending (UTC) against IMAGE_PIPELINE_DAILY_BUDGET_USD and exit",
    )


def show_budget() -> int:
    """Print spent, reserved and left for today; 1 when the shared Redis does not answer."""
    from prefect_image_pipeline.edges.redis import check_reachable
    from prefect_image_pipeline.errors import ConfigurationError
    from prefect_image_pipeline.settings.config import settings
    from prefect_image_pipeline.spending.limits import (
        DAILY_BUDGET_VARIABLE,
        open_ledger,
        today_account,
    )

    config = settings()
    if config.lock_url:
        try:
            check_reachable(config.lock_url.get_secret_value())
        except ConfigurationError as exc:
            print(f"✗ {exc}")
            return 1
    limit = config.daily_budget_usd
    account = today_account(limit if limit is not None else float("inf"), config.budget_name)
    balance = open_ledger().balance(account)
    where = "every host sharing IMAGE_PIPELINE_LOCK_URL" if config.lock_url else "this host"
    day = account.name.rpartition(":")[2]
    say(f"Spending of budget {config.budget_name!r} on {day} (UTC), {where}:")
    say(f"  spent:    ${balance.spent_usd:.4f}")
    say(f"  reserved: ${balance.reserved_usd:.4f} (requests in flight)")
    if limit is None:
        say(f"  left:     no daily budget ({DAILY_BUDGET_VARIABLE} is not set)")
    else:
        say(f"  left:     ${balance.left(limit):.4f} of ${limit:.2f}")
    return 0
