"""Spending you control: a cap per run, a daily budget for the fleet (docs/spending.md).

ledger.py keeps the accounts (redis_ledger.py when hosts share Redis); limits.py reserves
each request's forecast before it is sent; events.py says when a day's budget is reached.
"""
