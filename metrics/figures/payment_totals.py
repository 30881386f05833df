"""All-time payment counters and this month's disputes, as the exporter's families count them:
one pass over `rollup_payments` (it grows with hours x dimensions, not with transactions) and one
month of `rollup_disputes` through its local_date index."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, text


class AttemptTotal(NamedTuple):
    gateway: str
    method: str
    region: str
    status: str
    failure_code: str | None   # failed attempts only
    card_brand: str            # card attempts only, else ''
    attempts: int
    attempts_this_month: int   # of the current UTC month


# One pass over rollup_payments, pre-aggregated per site before `sites` is joined. The card brands
# of card attempts come along (the card networks of the dispute families), and whether a row is a
# successful card payment of the current UTC month (revwatch_card_payments_month): the pass reads
# every row anyway, so the month costs no second read.
_PAYMENTS = """
    SELECT r.gateway, r.payment_method_type, coalesce(s.region, :unknown) AS region, r.status, r.code, r.brand,
           sum(r.n)::bigint, coalesce(sum(r.n_month), 0)::bigint
    FROM (SELECT site_id, gateway, payment_method_type, status,
                 CASE WHEN status = 'failed' THEN failure_code END AS code,
                 CASE WHEN payment_method_type = 'card' THEN card_brand ELSE '' END AS brand,
                 sum(attempts) AS n,
                 sum(attempts) FILTER (WHERE hour >= date_trunc('month', CAST(:now AS timestamptz), 'UTC')) AS n_month
          FROM rollup_payments GROUP BY 1, 2, 3, 4, 5, 6) r
    LEFT JOIN sites s ON s.site_id = r.site_id
    GROUP BY 1, 2, 3, 4, 5, 6"""

_SITE_CURRENCIES = "SELECT DISTINCT currency FROM sites WHERE currency IS NOT NULL"

# The current UTC month; local_date is within a day of the UTC date, so `local_date >= first UTC
# day - 1` lets the local_date index bound the read to the month before `hour` decides.
_MONTH = """r.local_date >= (date_trunc('month', CAST(:now AS timestamptz), 'UTC') AT TIME ZONE 'UTC')::date - 1
            AND r.hour >= date_trunc('month', CAST(:now AS timestamptz), 'UTC')"""
_DISPUTES_MONTH = f"""
    SELECT r.card_brand, sum(r.disputes)::bigint FROM rollup_disputes r
    WHERE {_MONTH} AND r.card_brand <> '' GROUP BY 1"""




def attempt_totals(conn: Connection, now: datetime, unknown_region: str) -> list[AttemptTotal]:
    """Attempts ever per gateway, method, region, status, failure code and card brand (rollup rows
    of an unknown site under `unknown_region`, as the pages do)."""
    return [AttemptTotal(*row) for row in conn.execute(text(_PAYMENTS), {"unknown": unknown_region, "now": now})]


def site_currencies(conn: Connection) -> list[str]:
    """Every currency a site bills in."""
    return [c for (c,) in conn.execute(text(_SITE_CURRENCIES))]


def disputes_this_month(conn: Connection, now: datetime) -> dict[str, int]:
    """Disputes opened in the current UTC month, per card brand (brandless ones left out)."""
    return {brand: int(n) for brand, n in conn.execute(text(_DISPUTES_MONTH), {"now": now})}
