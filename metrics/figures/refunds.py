"""Refunds: money going back out, by creation day (the Refunds & disputes page, `revwatch show`).

Reads the additive `rollup_refunds`; money stays integer minor units per currency, never summed
across currencies. The week-earlier comparison is `payments.week_earlier`, as for payments.
"""
from __future__ import annotations

import pandas as pd

from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, ratio_column, read_frame


def refund_kpis(db: Db, f: Filters) -> pd.DataFrame:
    """Per currency: refunds, amount_minor, succeeded, failed, pending, failed_minor,
    mean_seconds_to_refund (from the paid attempt; over refunds whose attempt is known)."""
    sql = f"""
        SELECT r.currency, sum(r.refunds)::bigint AS refunds, sum(r.amount_minor)::bigint AS amount_minor,
               coalesce(sum(r.refunds) FILTER (WHERE r.status = 'succeeded'), 0)::bigint AS succeeded,
               coalesce(sum(r.refunds) FILTER (WHERE r.status = 'failed'), 0)::bigint AS failed,
               coalesce(sum(r.refunds) FILTER (WHERE r.status = 'pending'), 0)::bigint AS pending,
               coalesce(sum(r.amount_minor) FILTER (WHERE r.status = 'failed'), 0)::bigint AS failed_minor,
               sum(r.timed_refunds)::bigint AS timed_refunds, sum(r.refund_seconds)::bigint AS refund_seconds
        FROM rollup_refunds r WHERE {IN_RANGE} AND {SCOPE} GROUP BY 1 ORDER BY 1"""
    return ratio_column(read_frame(db, sql, f.params()), "mean_seconds_to_refund", "refund_seconds", "timed_refunds")


def refunds_by_reason(db: Db, f: Filters) -> pd.DataFrame:
    """reason, gateway, currency: refunds, amount_minor, failed."""
    sql = f"""
        SELECT r.reason, r.gateway, r.currency, sum(r.refunds)::bigint AS refunds,
               sum(r.amount_minor)::bigint AS amount_minor,
               coalesce(sum(r.refunds) FILTER (WHERE r.status = 'failed'), 0)::bigint AS failed
        FROM rollup_refunds r WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2, 3 ORDER BY refunds DESC, 1, 2, 3"""
    return read_frame(db, sql, f.params())


def refunds_daily(db: Db, f: Filters) -> pd.DataFrame:
    """local_date, currency, refunds, amount_minor."""
    sql = f"""
        SELECT r.local_date, r.currency, sum(r.refunds)::bigint AS refunds, sum(r.amount_minor)::bigint AS amount_minor
        FROM rollup_refunds r WHERE {IN_RANGE} AND {SCOPE} GROUP BY 1, 2 ORDER BY 1, 2"""
    return read_frame(db, sql, f.params())
