"""Read queries for billing accuracy, over `billing_findings` (collectors/billing_classification.py).

One row per judged session, correct ones included, so every figure is an additive sum grouped
by the indexed (local_date, site_id) plus one dimension: billable and correct sessions (accuracy
= correct / billable, a read-time ratio), leakage (money billing failed to collect: the negative
part of billed - expected, i.e. under-billed, never billed, tax too low) and overcharge (customer
harm: the positive part, i.e. over-billed, duplicates, invoices not due, tax too high), per
currency, never summed across currencies. Dates are the sites' local exit dates; values are
bound parameters; money is integer minor units.
"""
from __future__ import annotations

import pandas as pd

from metrics.overview import _IN_RANGE, _SCOPE, Db, Filters, _rows

DIMENSIONS = ("site_id", "rate_plan_id", "class", "local_date")


def _dimension(by: str) -> str:
    if by not in DIMENSIONS:
        raise ValueError(f"cannot group billing findings by {by!r}; one of {DIMENSIONS}")
    return f'r."{by}"'


def accuracy(db: Db, filters: Filters, by: str = "site_id") -> pd.DataFrame:
    """Per `by`: findings (judged sessions), billable ones and correct ones."""
    dim = _dimension(by)
    cols, rows = _rows(db, f"""
        SELECT {dim} AS "{by}", count(*) FILTER (WHERE r.billable) AS billable,
               count(*) FILTER (WHERE r.class = 'correct') AS correct, count(*) AS findings
        FROM billing_findings r
        WHERE {_IN_RANGE} AND {_SCOPE}
        GROUP BY 1 ORDER BY 1""", filters.params())
    return pd.DataFrame(rows, columns=cols)


def leakage_overcharge(db: Db, filters: Filters, by: str = "site_id") -> pd.DataFrame:
    """Per `by` and currency: sessions judged, leakage_minor and overcharge_minor."""
    dim = _dimension(by)
    cols, rows = _rows(db, f"""
        SELECT {dim} AS "{by}", r.currency, count(*) AS sessions,
               coalesce(sum(greatest(-r.difference_minor, 0)), 0)::bigint AS leakage_minor,
               coalesce(sum(greatest(r.difference_minor, 0)), 0)::bigint AS overcharge_minor
        FROM billing_findings r
        WHERE {_IN_RANGE} AND {_SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2""", filters.params())
    return pd.DataFrame(rows, columns=cols)


def class_counts(db: Db, filters: Filters) -> pd.DataFrame:
    """Per class and currency: sessions and the net difference (billed - expected)."""
    cols, rows = _rows(db, f"""
        SELECT r.class, r.currency, count(*) AS sessions, coalesce(sum(r.difference_minor), 0)::bigint AS difference_minor
        FROM billing_findings r
        WHERE {_IN_RANGE} AND {_SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2""", filters.params())
    return pd.DataFrame(rows, columns=cols)
