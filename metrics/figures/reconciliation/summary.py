"""Where the reconciliation stands: the accounting months it has judged, its last run, and the
stage funnel (per stage and currency: items and amounts matched, expected, break; breaks split
into open, resolved and written off)."""
from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

import pandas as pd

from metrics.figures.query import Db, read_rows
from metrics.figures.reconciliation.scope import (
    AT_STAKE,
    BREAK_JOIN,
    CLASS,
    ITEM_SCOPE,
    RECON_JOB,
    ReconFilters,
    frame,
    item_scope,
    month_end,
)


def default_close_month(months: list[date], today: date) -> date | None:
    """The month the close view opens on: the latest that has ended, else the newest there is."""
    ended = [m for m in months if month_end(m) < today]
    return max(ended) if ended else max(months, default=None)


def months(db: Db) -> list[date]:
    """Accounting months present in recon_items, oldest first (a skip scan of the month index);
    empty when no reconciliation has run."""
    _, rows = read_rows(db, """
        WITH RECURSIVE m AS (
            SELECT min(accounting_month) AS d FROM recon_items
            UNION ALL
            SELECT (SELECT min(accounting_month) FROM recon_items WHERE accounting_month > m.d)
            FROM m WHERE m.d IS NOT NULL)
        SELECT d FROM m WHERE d IS NOT NULL ORDER BY d""", {})
    return [r[0] for r in rows]


class LastRun(NamedTuple):
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    rows_written: int


def last_run(db: Db, job: str = RECON_JOB) -> LastRun | None:
    """The newest run of the reconciliation job in the run log, if any."""
    _, rows = read_rows(db, """
        SELECT started_at, finished_at, outcome, rows_written FROM job_runs WHERE job = :job
        ORDER BY started_at DESC LIMIT 1""", {"job": job})
    return LastRun(*rows[0]) if rows else None


def _by_status(what: str, status: str | None = None) -> str:
    """sum over recon_month_counts `c` of `what` (items or amount_minor), of one status or all."""
    only = f" FILTER (WHERE c.status = '{status}')" if status else ""
    return f"coalesce(sum(c.{what}){only}, 0)::bigint"


def _by_class(what: str | None, cls: str) -> str:
    """Over a month's break items `i`: count (None) or sum of `what` of those of the workflow class `cls`."""
    return (f"count(*) FILTER (WHERE {CLASS} = '{cls}')" if what is None
            else f"coalesce(sum({what}) FILTER (WHERE {CLASS} = '{cls}'), 0)::bigint")


# The items and amounts by status come from the month counts (recon_month_counts, kept by triggers): a month
# is a few thousand rows there, not its hundreds of thousands of items. Only the breaks, few, are read item by
# item for their workflow class (open, resolved, written off: people move them) and the money at stake.
_FUNNEL = f"""
    WITH counted AS (
        SELECT c.stage, c.currency,
               {_by_status('items')} AS items, {_by_status('items', 'matched')} AS matched_items,
               {_by_status('items', 'expected')} AS expected_items, {_by_status('items', 'break')} AS break_items,
               {_by_status('amount_minor')} AS amount_minor, {_by_status('amount_minor', 'matched')} AS matched_minor,
               {_by_status('amount_minor', 'expected')} AS expected_minor,
               {_by_status('amount_minor', 'break')} AS break_minor
        FROM recon_month_counts c
        WHERE c.accounting_month BETWEEN :m0 AND :m1 AND {item_scope("c")}
        GROUP BY 1, 2 HAVING sum(c.items) > 0),
    breaks AS (
        SELECT i.stage, i.currency,
               {_by_class(None, 'open')} AS open_items, {_by_class(None, 'resolved')} AS resolved_items,
               {_by_class(None, 'written_off')} AS written_off_items,
               {_by_class('abs(i.amount_minor)', 'open')} AS open_minor,
               {_by_class('abs(i.amount_minor)', 'resolved')} AS resolved_minor,
               {_by_class('abs(i.amount_minor)', 'written_off')} AS written_off_minor,
               {_by_class(AT_STAKE, 'open')} AS at_stake_minor
        FROM recon_items i {BREAK_JOIN}
        WHERE i.accounting_month BETWEEN :m0 AND :m1 AND i.status = 'break' AND {ITEM_SCOPE}
        GROUP BY 1, 2)
    SELECT c.stage, c.currency, c.items, c.matched_items, c.expected_items, c.break_items,
           coalesce(b.open_items, 0) AS open_items, coalesce(b.resolved_items, 0) AS resolved_items,
           coalesce(b.written_off_items, 0) AS written_off_items, c.amount_minor, c.matched_minor, c.expected_minor,
           c.break_minor, coalesce(b.open_minor, 0) AS open_minor, coalesce(b.resolved_minor, 0) AS resolved_minor,
           coalesce(b.written_off_minor, 0) AS written_off_minor, coalesce(b.at_stake_minor, 0) AS at_stake_minor
    FROM counted c LEFT JOIN breaks b ON b.stage = c.stage AND b.currency = c.currency
    ORDER BY 1, 2"""


def funnel(db: Db, f: ReconFilters) -> pd.DataFrame:
    """Per stage and currency: items, matched/expected/break items (breaks split into open,
    resolved, written_off) and the same as amounts (`*_minor`, magnitudes), plus `at_stake_minor`,
    the money at stake in open breaks."""
    return frame(db, _FUNNEL, f.params())
