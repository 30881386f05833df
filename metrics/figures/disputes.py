"""Disputes and chargebacks by opening day, and each card network's monthly dispute ratio against
its monitoring level (the Refunds & disputes page, `revwatch show`, the weekly report).

Reads the additive `rollup_disputes` and, for the ratio's denominator, `rollup_payments`; the
monitoring levels are the catalogue's. Money stays integer minor units per currency.
"""
from __future__ import annotations

import pandas as pd

from metrics.catalogue import DISPUTE_RATIO_THRESHOLDS
from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, ratio_column, read_frame


def dispute_kpis(db: Db, f: Filters) -> pd.DataFrame:
    """Per currency: disputes, amount_minor, won, lost, open, lost_minor (by opening day)."""
    sql = f"""
        SELECT r.currency, sum(r.disputes)::bigint AS disputes, sum(r.amount_minor)::bigint AS amount_minor,
               coalesce(sum(r.disputes) FILTER (WHERE r.outcome = 'won'), 0)::bigint AS won,
               coalesce(sum(r.disputes) FILTER (WHERE r.outcome = 'lost'), 0)::bigint AS lost,
               coalesce(sum(r.disputes) FILTER (WHERE r.outcome = 'open'), 0)::bigint AS open,
               coalesce(sum(r.amount_minor) FILTER (WHERE r.outcome = 'lost'), 0)::bigint AS lost_minor
        FROM rollup_disputes r WHERE {IN_RANGE} AND {SCOPE} GROUP BY 1 ORDER BY 1"""
    return read_frame(db, sql, f.params())


def disputes_by_reason(db: Db, f: Filters) -> pd.DataFrame:
    """gateway, reason, card_brand, currency: disputes, won, lost, open, amount_minor, lost_minor."""
    sql = f"""
        SELECT r.gateway, r.reason, r.card_brand, r.currency, sum(r.disputes)::bigint AS disputes,
               coalesce(sum(r.disputes) FILTER (WHERE r.outcome = 'won'), 0)::bigint AS won,
               coalesce(sum(r.disputes) FILTER (WHERE r.outcome = 'lost'), 0)::bigint AS lost,
               coalesce(sum(r.disputes) FILTER (WHERE r.outcome = 'open'), 0)::bigint AS open,
               sum(r.amount_minor)::bigint AS amount_minor,
               coalesce(sum(r.amount_minor) FILTER (WHERE r.outcome = 'lost'), 0)::bigint AS lost_minor
        FROM rollup_disputes r WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2, 3, 4 ORDER BY disputes DESC, 1, 2, 3, 4"""
    return read_frame(db, sql, f.params())


def dispute_ratios(db: Db, f: Filters) -> pd.DataFrame:
    """month, card_brand, disputes, card_payments (successful card payments of that network),
    ratio, threshold (card network monitoring level, None where none is set), over_threshold.

    Months are local months of the selected days: a month cut by the range counts only its
    selected days, on both sides of the ratio."""
    sql = f"""
        WITH d AS (SELECT date_trunc('month', r.local_date)::date AS month, r.card_brand, sum(r.disputes)::bigint AS n
                   FROM rollup_disputes r WHERE r.card_brand <> '' AND {IN_RANGE} AND {SCOPE} GROUP BY 1, 2),
             p AS (SELECT date_trunc('month', r.local_date)::date AS month, r.card_brand, sum(r.attempts)::bigint AS n
                   FROM rollup_payments r
                   WHERE r.status = 'succeeded' AND r.payment_method_type = 'card' AND r.card_brand <> ''
                     AND {IN_RANGE} AND {SCOPE} GROUP BY 1, 2)
        SELECT coalesce(d.month, p.month) AS month, coalesce(d.card_brand, p.card_brand) AS card_brand,
               coalesce(d.n, 0)::bigint AS disputes, coalesce(p.n, 0)::bigint AS card_payments
        FROM d FULL JOIN p ON p.month = d.month AND p.card_brand = d.card_brand
        ORDER BY 1, 2"""
    df = ratio_column(read_frame(db, sql, f.params()), "ratio", "disputes", "card_payments")
    df["threshold"] = [DISPUTE_RATIO_THRESHOLDS.get(b) for b in df["card_brand"]]
    df["over_threshold"] = [bool(t is not None and r is not None and r == r and r > t)
                            for r, t in zip(df["ratio"], df["threshold"], strict=True)]
    return df
