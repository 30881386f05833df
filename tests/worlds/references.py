"""Plain-Python references for the Overview's figures (tests/test_metrics_queries.py,
tests/test_overview_page.py), computed from the RAW product tables of any world.

Each reference here reads `invoices`, `payment_attempts`, `parking_sessions` and `sites`
directly; only a site's local date comes from PostgreSQL (`AT TIME ZONE`), and period
arithmetic (today, week, month, cut-offs) is redone in Python, so the two paths share nothing
but the data.
"""
from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from metrics.figures import overview as q

# Raw rows with their site and local date (decided by PostgreSQL, like the product does).
RAW_INVOICES = """
    SELECT i.currency, i.total_minor, i.issued_at, i.status, p.site_id, s.region,
           (i.issued_at AT TIME ZONE coalesce(s.timezone, 'UTC'))::date AS local_date,
           (CAST(%(as_of)s AS timestamptz) AT TIME ZONE coalesce(s.timezone, 'UTC'))::date AS today
    FROM invoices i
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    LEFT JOIN sites s ON s.site_id = p.site_id"""
RAW_ATTEMPTS = """
    SELECT a.gateway, a.status, a.failure_code, a.attempt_number, a.attempted_at, p.site_id, s.region,
           (a.attempted_at AT TIME ZONE coalesce(s.timezone, 'UTC'))::date AS local_date
    FROM payment_attempts a
    LEFT JOIN invoices i ON i.invoice_id = a.invoice_id
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    LEFT JOIN sites s ON s.site_id = p.site_id"""
RAW_SESSIONS = """
    SELECT p.site_id, s.region, (p.entered_at AT TIME ZONE s.timezone)::date AS local_date
    FROM parking_sessions p JOIN sites s ON s.site_id = p.site_id"""


def in_scope(row, regions=(), site_ids=()) -> bool:
    if not regions and not site_ids:
        return True
    return (not regions or row.region in regions) and (not site_ids or row.site_id in site_ids) and row.region is not None


def raw_rows(world, sql, params=None):
    import psycopg
    from psycopg.rows import namedtuple_row

    with psycopg.connect(world.libpq, row_factory=namedtuple_row) as conn:
        conn.execute("SET timezone = 'UTC'")
        return conn.execute(sql, params or {}).fetchall()


def minus_month(d):
    """PostgreSQL's `- interval '1 month'`: same day last month, clamped to its last day."""
    y, m = (d.year - 1, 12) if d.month == 1 else (d.year, d.month - 1)
    return d.replace(year=y, month=m, day=min(d.day, calendar.monthrange(y, m)[1]))


def reference_revenue(world, as_of: datetime, regions=(), site_ids=()) -> dict[tuple[str, str], tuple[int, int, bool]]:
    """{(period, currency): (total, previous, previous_complete)} from raw invoices, periods
    computed in Python. previous_complete: the comparable span starts on or after the first
    invoiced local day (else the page shows no comparison).

    The data's grain is the UTC hour: an invoice counts before a cut-off when its hour starts
    before it (as_of on a whole hour makes this plain 'issued before')."""
    rows = [r for r in raw_rows(world, RAW_INVOICES, {"as_of": as_of}) if r.status != "void"]
    first_day = min(r.local_date for r in rows)
    out: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, True])
    for r in rows:
        if not in_scope(r, regions, site_ids):
            continue
        hour = r.issued_at.replace(minute=0, second=0, microsecond=0)
        t, d = r.today, r.local_date
        week, month = t - timedelta(days=t.weekday()), t.replace(day=1)
        spans = {
            "today": ((t, t), (t - timedelta(days=1),) * 2, as_of - timedelta(days=1)),
            "wtd": ((week, t), (week - timedelta(days=7), t - timedelta(days=7)), as_of - timedelta(days=7)),
            "mtd": ((month, t), (minus_month(month), minus_month(t)), minus_month(as_of)),
        }
        for period, ((c0, c1), (p0, p1), cut) in spans.items():
            fig = out[(period, r.currency)]
            if c0 <= d <= c1 and hour < as_of:
                fig[0] += r.total_minor
            if p0 <= d <= p1 and hour < cut:
                fig[1] += r.total_minor
            fig[2] = fig[2] and p0 >= first_day
    return {k: tuple(v) for k, v in out.items() if v[0] or v[1]}


def reference_payments(world, start: date, end: date, regions=(), site_ids=()) -> q.PaymentCounts:
    c = Counter()
    for r in raw_rows(world, RAW_ATTEMPTS):
        if start <= r.local_date <= end and in_scope(r, regions, site_ids):
            ok, first = r.status == "succeeded", r.attempt_number == 1
            c.update(attempts=1, succeeded=ok, failed=r.status == "failed", first_attempts=first, first_succeeded=ok and first)
    return q.PaymentCounts(c["attempts"], c["succeeded"], c["failed"], c["first_attempts"], c["first_succeeded"])


def reference_sessions(world, start: date, end: date, regions=(), site_ids=()) -> int:
    return sum(1 for r in raw_rows(world, RAW_SESSIONS) if start <= r.local_date <= end and in_scope(r, regions, site_ids))


def reference_range(world) -> tuple[date, date]:
    dates = [d for sql in (RAW_INVOICES, RAW_ATTEMPTS, RAW_SESSIONS)
             for d in raw_rows(world, f"SELECT min(local_date), max(local_date) FROM ({sql}) x", {"as_of": None})[0]]
    return min(dates), max(dates)
