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


COUNTS = f"""
    count(*) AS items,
    count(*) FILTER (WHERE i.status = 'matched') AS matched_items,
    count(*) FILTER (WHERE i.status = 'expected') AS expected_items,
    count(*) FILTER (WHERE i.status = 'break') AS break_items,
    count(*) FILTER (WHERE {CLASS} = 'open') AS open_items,
    count(*) FILTER (WHERE {CLASS} = 'resolved') AS resolved_items,
    count(*) FILTER (WHERE {CLASS} = 'written_off') AS written_off_items,
    coalesce(sum(abs(i.amount_minor)), 0)::bigint AS amount_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'matched'), 0)::bigint AS matched_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'expected'), 0)::bigint AS expected_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'break'), 0)::bigint AS break_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {CLASS} = 'open'), 0)::bigint AS open_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {CLASS} = 'resolved'), 0)::bigint AS resolved_minor,
    coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {CLASS} = 'written_off'), 0)::bigint AS written_off_minor,
    coalesce(sum({AT_STAKE}) FILTER (WHERE {CLASS} = 'open'), 0)::bigint AS at_stake_minor"""


def funnel(db: Db, f: ReconFilters) -> pd.DataFrame:
    """Per stage and currency: items, matched/expected/break items (breaks split into open,
    resolved, written_off) and the same as amounts (`*_minor`, magnitudes), plus `at_stake_minor`,
    the money at stake in open breaks."""
    return frame(db, f"""
        SELECT i.stage, i.currency, {COUNTS}
        FROM recon_items i {BREAK_JOIN}
        WHERE i.accounting_month BETWEEN :m0 AND :m1 AND {ITEM_SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2""", f.params())
