"""Breaks: the list people work through, and the open-break totals the alerts fire on.

`breaks` lists workflow rows (`recon_breaks`) with their item's figures; `open_break_totals` and
`payouts_missing_in_bank` count open breaks as the funnel does (an item with status 'break' whose
workflow state is open, or which has no workflow row yet). The job opens a workflow row with
every break in the same transaction, so the list filtered as `PAYOUT_MISSING_IN_BANK.filters()` (or
any BreakFilters with that stage, item type and break type, open, no month bound) shows exactly the
payouts `payouts_missing_in_bank` counts.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd

from metrics.figures.query import Db, read_rows
from metrics.figures.reconciliation.scope import (
    AGE,
    AT_STAKE,
    AT_STAKE_REPORTING,
    BREAK_JOIN,
    EXPONENTS,
    LATEST_RATES,
    OPEN,
    BreakFilters,
    exponent_params,
    frame,
)
from revwatch import clock
from revwatch.money import exponent


class BreakKind(NamedTuple):
    """A kind of break by stage, item type and break type."""

    stage: str
    item_type: str
    break_type: str

    def filters(self, **more: Any) -> BreakFilters:
        """The break list showing every open break of this kind, of every month."""
        return BreakFilters(stages=(self.stage,), item_types=(self.item_type,), break_types=(self.break_type,),
                            **{"states": ("open",), "limit": None, **more})


# a payout no bank line carries: the alert PayoutMissingInBank and its page figure
PAYOUT_MISSING_IN_BANK = BreakKind("S3", "payout", "missing")

BREAK_COLUMNS = f"""
    b.break_id, b.state, b.stage, b.item_key, i.item_type, i.status AS item_status, i.break_type, i.missing_side,
    i.gateway, i.site_id, i.currency, i.amount_minor, i.counter_amount_minor, i.break_amount_minor,
    {AT_STAKE} AS at_stake_minor,
    {AT_STAKE_REPORTING} AS at_stake_reporting_minor,
    i.left_ref, i.right_ref, i.match_rule, i.occurred_at, {AGE} AS age_days, i.accounting_month, i.due_at,
    b.opened_at, b.assignee, b.resolution_reason, b.resolved_by, b.resolved_at, b.approved_by,
    r.action AS awaiting_approval, r.requested_by, r.requested_at"""
# a break's pending four-eyes request, if any (one at most: a partial unique index)
PENDING_JOIN = "LEFT JOIN recon_break_requests r ON r.break_id = b.break_id AND r.decision IS NULL"

BREAK_WHERE = f"""
    b.state = ANY(CAST(:states AS text[]))
    AND (cardinality(CAST(:stages AS text[])) = 0 OR b.stage = ANY(CAST(:stages AS text[])))
    AND (cardinality(CAST(:break_types AS text[])) = 0 OR i.break_type = ANY(CAST(:break_types AS text[])))
    AND (cardinality(CAST(:item_types AS text[])) = 0 OR i.item_type = ANY(CAST(:item_types AS text[])))
    AND (cardinality(CAST(:currencies AS text[])) = 0 OR i.currency = ANY(CAST(:currencies AS text[])))
    AND (cardinality(CAST(:gateways AS text[])) = 0 OR i.gateway = ANY(CAST(:gateways AS text[])))
    AND (cardinality(CAST(:site_ids AS text[])) = 0 OR i.site_id = ANY(CAST(:site_ids AS text[])))
    AND (CAST(:m0 AS date) IS NULL OR i.accounting_month >= CAST(:m0 AS date))
    AND (CAST(:m1 AS date) IS NULL OR i.accounting_month <= CAST(:m1 AS date))
    AND (CAST(:min_amount AS numeric) IS NULL
         OR {AT_STAKE} >= CAST(:min_amount AS numeric) * power(10::numeric, coalesce(ex.exp, 2)))
    AND (CAST(:min_age AS int) IS NULL OR {AGE} >= CAST(:min_age AS int))
    AND (CAST(:max_age AS int) IS NULL OR {AGE} <= CAST(:max_age AS int))
    AND (NOT CAST(:awaiting AS boolean) OR r.request_id IS NOT NULL)"""

BY_AMOUNT = (f"at_stake_reporting_minor DESC NULLS LAST, {AT_STAKE} / power(10::numeric, coalesce(ex.exp, 2)) DESC "
             "NULLS LAST, b.break_id")
BY_AGE = "i.occurred_at ASC NULLS LAST, b.break_id"

BREAKS = f"""
    WITH {LATEST_RATES}
    SELECT {BREAK_COLUMNS}
    FROM recon_breaks b
    LEFT JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
    LEFT JOIN fx ON fx.currency = i.currency
    LEFT JOIN {EXPONENTS} ON ex.currency = i.currency
    {PENDING_JOIN}
    WHERE {BREAK_WHERE}"""
SORTED = {"amount": f"{BREAKS} ORDER BY {BY_AMOUNT} LIMIT :limit",
          "age": f"{BREAKS} ORDER BY {BY_AGE} LIMIT :limit"}


def breaks(db: Db, f: BreakFilters, reporting_currency: str = "USD", as_of: datetime | None = None) -> pd.DataFrame:
    """Breaks with their workflow state and their item's figures, biggest money at stake first
    (`sort="amount"`: converted to the reporting currency with each currency's latest rate on or
    before `as_of`, then by major units) or oldest first (`sort="age"`), up to `limit`.
    Columns: break_id, state, stage, item_key, item_type, item_status, break_type, missing_side,
    gateway, site_id, currency, amount_minor, counter_amount_minor, break_amount_minor,
    at_stake_minor, at_stake_reporting_minor, left_ref, right_ref, match_rule, occurred_at, age_days,
    accounting_month, due_at, opened_at, assignee, resolution_reason, resolved_by, resolved_at, approved_by,
    awaiting_approval (the action a pending four-eyes request asks for, else None), requested_by, requested_at."""
    params = {**f.params(), "as_of": as_of or clock.now(), "rep": reporting_currency,
              "rep_exp": exponent(reporting_currency), **exponent_params()}
    return frame(db, SORTED[f.sort], params)


def breaks_total(db: Db, f: BreakFilters, as_of: datetime | None = None) -> int:
    """How many breaks `breaks(db, f, …)` lists without its limit (the "first N of M" of a cut list)."""
    _, rows = read_rows(db, f"""
        SELECT count(*) FROM recon_breaks b
        LEFT JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
        LEFT JOIN {EXPONENTS} ON ex.currency = i.currency
        {PENDING_JOIN}
        WHERE {BREAK_WHERE}""", {**f.params(), "as_of": as_of or clock.now(), **exponent_params()})
    return int(rows[0][0])


class AtStake(NamedTuple):
    """One break's money at stake (the break list's definition), and in the reporting currency."""

    currency: str
    minor: int
    reporting_currency: str
    reporting_minor: int | None  # None: its currency has no rate on or before as_of


def break_at_stake(db: Db, break_id: int, reporting_currency: str, as_of: datetime | None = None) -> AtStake | None:
    """The money at stake of one break as the break list shows it (None: no such break, or its item is gone)."""
    _, rows = read_rows(db, f"""
        WITH {LATEST_RATES}
        SELECT i.currency, {AT_STAKE}, {AT_STAKE_REPORTING}
        FROM recon_breaks b JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
        LEFT JOIN fx ON fx.currency = i.currency
        LEFT JOIN {EXPONENTS} ON ex.currency = i.currency
        WHERE b.break_id = :id""", {"id": int(break_id), "as_of": as_of or clock.now(), "rep": reporting_currency,
                                   "rep_exp": exponent(reporting_currency), **exponent_params()})
    if not rows:
        return None
    currency, minor, reporting = rows[0]
    return AtStake(currency, int(minor), reporting_currency, None if reporting is None else int(reporting))


class OpenBreaks(NamedTuple):
    """Open breaks of one stage and currency, every month."""

    stage: str
    currency: str
    breaks: int
    at_stake_minor: int  # Σ money at stake
    oldest_age_seconds: float  # as_of - the oldest item's occurred_at, never below 0


def open_break_totals(db: Db, as_of: datetime | None = None) -> list[OpenBreaks]:
    """Open breaks of every month per stage and currency (the funnel's `open` class: the alerts' figure)."""
    _, rows = read_rows(db, f"""
        SELECT i.stage, i.currency, count(*) AS breaks, coalesce(sum({AT_STAKE}), 0)::bigint AS at_stake_minor,
               greatest(extract(epoch FROM CAST(:as_of AS timestamptz) - min(i.occurred_at)), 0)::float8
                   AS oldest_age_seconds
        FROM recon_items i {BREAK_JOIN}
        WHERE {OPEN}
        GROUP BY 1, 2 ORDER BY 1, 2""", {"as_of": as_of or clock.now()})
    return [OpenBreaks(*r) for r in rows]


class MissingPayouts(NamedTuple):
    """Open breaks of PAYOUT_MISSING_IN_BANK of one gateway and currency, every month."""

    gateway: str | None
    currency: str
    breaks: int
    at_stake_minor: int  # Σ the payouts' money
    oldest_age_days: int  # whole days from the oldest payout to as_of


def payouts_missing_in_bank(db: Db, as_of: datetime | None = None) -> list[MissingPayouts]:
    """Payouts no bank line carries (open S3 payout breaks of type missing, every month), per gateway
    and currency: the figure the alert PayoutMissingInBank fires on and the Reconciliation page shows."""
    _, rows = read_rows(db, f"""
        SELECT i.gateway, i.currency, count(*) AS breaks, coalesce(sum({AT_STAKE}), 0)::bigint AS at_stake_minor,
               max({AGE}) AS oldest_age_days
        FROM recon_items i {BREAK_JOIN}
        WHERE i.stage = :stage AND i.item_type = :item_type AND i.break_type = :break_type AND {OPEN}
        GROUP BY 1, 2 ORDER BY 1, 2""", {**PAYOUT_MISSING_IN_BANK._asdict(), "as_of": as_of or clock.now()})
    return [MissingPayouts(*r) for r in rows]


class ItemCount(NamedTuple):
    stage: str
    status: str
    items: int


def item_counts(db: Db) -> list[ItemCount]:
    """Items per stage and status (matched, expected, break), every month."""
    _, rows = read_rows(db, "SELECT stage, status, count(*) AS items FROM recon_items GROUP BY 1, 2 ORDER BY 1, 2", {})
    return [ItemCount(*r) for r in rows]
