"""Read queries behind the Overview page: data range, revenue to date, range KPIs, daily series,
one site's hours, job freshness. The Overview's payment charts read metrics/figures/payments.py.

Every query reads the additive rollups (`rollup_sessions`, `rollup_invoices`,
`rollup_payments`) plus the small `sites` and `job_runs` tables, so a page costs the same
at 10 M transactions as at 10 k. Values are bound parameters, never formatted into SQL.
Local days are decided by PostgreSQL (`AT TIME ZONE` a site's checked zone, revwatch/rules/site_zones.sql),
never by Python.
Money stays integer minor units per currency; formatting is the page's job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, ratio, read_frame, read_rows
from revwatch import clock
from revwatch.rules import site_zones

if TYPE_CHECKING:
    import pandas as pd


# ---------------------------------------------------------------- filter options
def filter_options(db: Db) -> pd.DataFrame:
    """Sites to choose from: site_id, name, region (ordered by region, then name)."""
    return read_frame(db, "SELECT site_id, name, region FROM sites ORDER BY region, name, site_id", {})


@dataclass(frozen=True)
class DataRange:
    first: date
    last: date

    def holds(self, f: Filters) -> bool:
        """Whether the data reaches back to `f`'s first day: a comparison with it means something
        (the previous span, a week earlier); before the data starts it is shown as none."""
        return f.start >= self.first


def data_range(db: Db) -> DataRange | None:
    """First and last local date present in any rollup; None when nothing was rolled up yet."""
    sql = """
        SELECT min(d0), max(d1) FROM (
            SELECT min(local_date) AS d0, max(local_date) AS d1 FROM rollup_sessions
            UNION ALL SELECT min(local_date), max(local_date) FROM rollup_invoices
            UNION ALL SELECT min(local_date), max(local_date) FROM rollup_payments) x"""
    first, last = read_rows(db, sql, {})[1][0]
    return None if first is None else DataRange(first, last)


# ---------------------------------------------------------------- revenue to date
@dataclass(frozen=True)
class PeriodRevenue:
    """Invoiced total (minor units) of one period-to-date and of its comparable period before."""

    period: str  # "today", "wtd", "mtd"
    currency: str
    total_minor: int
    previous_minor: int
    previous_complete: bool = True  # False: the comparable span starts before the first invoiced day

    @property
    def change_minor(self) -> int:
        return self.total_minor - self.previous_minor

    @property
    def change_rate(self) -> float | None:
        """The change as a share of the comparable period (None when that period had nothing)."""
        return ratio(self.change_minor, self.previous_minor)


PERIODS: tuple[str, ...] = ("today", "wtd", "mtd")


def revenue_to_date(db: Db, f: Filters, as_of: datetime | None = None) -> tuple[PeriodRevenue, ...]:
    """Invoiced revenue (non-void) for today, week to date and month to date, per currency.

    Each site's "today" is its own local date at `as_of` (default: revwatch.clock's now),
    decided in SQL. The comparison is the same span one day / week / month earlier (yesterday,
    the same days of last week, days 1..d of last month), cut at the same time of day, so a
    morning is compared with a morning. The date range of `f` does not apply; its sites do.
    """
    sql = f"""
        WITH a AS (SELECT CAST(:as_of AS timestamptz) AS t,
                          (SELECT min(local_date) FROM rollup_invoices) AS first_day),
        zone_today AS (  -- one "today" per time zone in use (UTC for rows of an unknown site)
            SELECT z.tz, (a.t AT TIME ZONE z.tz)::date AS today
            FROM (SELECT coalesce(zone, 'UTC') AS tz FROM ({site_zones.SQL}) sz UNION SELECT 'UTC') z CROSS JOIN a),
        spans AS (  -- per zone and period: the span to date, its comparable span and that span's cut-off
            SELECT zt.tz, p.period, p.cur_from, zt.today AS cur_to, p.prev_from, p.prev_to, a.t - p.shift AS prev_cut
            FROM zone_today zt CROSS JOIN a
            CROSS JOIN LATERAL (VALUES
                ('today', zt.today, zt.today - 1, zt.today - 1, interval '1 day'),
                ('wtd', date_trunc('week', zt.today::timestamp)::date,
                        date_trunc('week', zt.today::timestamp)::date - 7, zt.today - 7, interval '7 days'),
                ('mtd', date_trunc('month', zt.today::timestamp)::date,
                        (date_trunc('month', zt.today::timestamp) - interval '1 month')::date,
                        (zt.today - interval '1 month')::date, interval '1 month')
            ) AS p(period, cur_from, prev_from, prev_to, shift))
        SELECT sp.period, r.currency,
               coalesce(sum(r.total_minor) FILTER (
                   WHERE r.local_date BETWEEN sp.cur_from AND sp.cur_to AND r.hour < a.t), 0)::bigint AS total_minor,
               coalesce(sum(r.total_minor) FILTER (
                   WHERE r.local_date BETWEEN sp.prev_from AND sp.prev_to AND r.hour < sp.prev_cut), 0)::bigint
                   AS previous_minor,
               bool_and(sp.prev_from >= a.first_day) AS previous_complete
        FROM rollup_invoices r
        CROSS JOIN a
        LEFT JOIN ({site_zones.SQL}) s ON s.site_id = r.site_id
        JOIN spans sp ON sp.tz = coalesce(s.zone, 'UTC')
             AND (r.local_date BETWEEN sp.cur_from AND sp.cur_to OR r.local_date BETWEEN sp.prev_from AND sp.prev_to)
        WHERE r.status <> 'void'
          AND r.local_date BETWEEN (SELECT min(prev_from) FROM spans) AND (SELECT max(cur_to) FROM spans)
          AND {SCOPE}
        GROUP BY sp.period, r.currency"""
    _, rows = read_rows(db, sql, {**f.params(), "as_of": as_of or clock.now()})
    figures = [PeriodRevenue(p, c, int(t), int(prev), bool(ok)) for p, c, t, prev, ok in rows if t or prev]
    return tuple(sorted(figures, key=lambda x: (PERIODS.index(x.period), x.currency)))


# ---------------------------------------------------------------- range KPIs
@dataclass(frozen=True)
class PaymentCounts:
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    first_attempts: int = 0
    first_succeeded: int = 0

    @property
    def success_rate(self) -> float | None:
        return ratio(self.succeeded, self.attempts)

    @property
    def first_attempt_success_rate(self) -> float | None:
        return ratio(self.first_succeeded, self.first_attempts)


@dataclass(frozen=True)
class RangeKpis:
    """Counts for the selected range and the equal-length range before it."""

    sessions: int = 0
    previous_sessions: int = 0
    payments: PaymentCounts = field(default_factory=PaymentCounts)
    previous_payments: PaymentCounts = field(default_factory=PaymentCounts)


def range_kpis(db: Db, f: Filters) -> RangeKpis:
    """Sessions and payment counts over the selected local days and the same number of days
    before; one pass over each rollup covers both ranges (`cur` tells them apart)."""
    both = {**f.params(), "start": f.previous().start}  # scan [previous start, end] once
    cur = "(r.local_date >= :cur_start)"
    payments = f"""
        SELECT {cur} AS cur,
               coalesce(sum(r.attempts), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'succeeded'), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'failed'), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE NOT r.is_retry), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE NOT r.is_retry AND r.status = 'succeeded'), 0)::bigint
        FROM rollup_payments r WHERE {IN_RANGE} AND {SCOPE} GROUP BY 1"""
    sessions = f"""
        SELECT {cur} AS cur, coalesce(sum(r.sessions), 0)::bigint
        FROM rollup_sessions r WHERE {IN_RANGE} AND {SCOPE} GROUP BY 1"""
    params = {**both, "cur_start": f.start}
    pay = {row[0]: PaymentCounts(*(int(v) for v in row[1:])) for row in read_rows(db, payments, params)[1]}
    sess = {row[0]: int(row[1]) for row in read_rows(db, sessions, params)[1]}
    return RangeKpis(sess.get(True, 0), sess.get(False, 0), pay.get(True, PaymentCounts()), pay.get(False, PaymentCounts()))


# ---------------------------------------------------------------- daily series
def daily_revenue(db: Db, f: Filters) -> pd.DataFrame:
    """local_date, currency, invoices, total_minor: non-void invoices by issue day."""
    sql = f"""
        SELECT r.local_date, r.currency, sum(r.invoices)::bigint AS invoices, sum(r.total_minor)::bigint AS total_minor
        FROM rollup_invoices r
        WHERE r.status <> 'void' AND {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2"""
    return read_frame(db, sql, f.params())


def daily_sessions(db: Db, f: Filters) -> pd.DataFrame:
    """local_date, sessions: sessions by entry day."""
    sql = f"""
        SELECT r.local_date, sum(r.sessions)::bigint AS sessions
        FROM rollup_sessions r WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1 ORDER BY 1"""
    return read_frame(db, sql, f.params())


# ---------------------------------------------------------------- hourly series
def hourly_site_invoices(db: Db, f: Filters, site_id: str) -> pd.DataFrame:
    """hour (UTC), local_time (the hour's start on the site's wall clock), invoices, total_minor
    for one site: every hour of its local days in the range (up to the newest rolled-up hour),
    zero when nothing was invoiced, so a gap shows as zeros."""
    sql = f"""
        WITH s AS (SELECT coalesce(zone, 'UTC') AS timezone FROM ({site_zones.SQL}) sz WHERE site_id = :site_id),
        bounds AS (
            SELECT date_trunc('hour', CAST(:start AS date)::timestamp AT TIME ZONE s.timezone, 'UTC') AS lo,
                   (CAST(:end AS date) + 1)::timestamp AT TIME ZONE s.timezone AS hi,
                   (SELECT max(hour) FROM rollup_invoices) AS newest
            FROM s),
        hours AS (
            SELECT generate_series(b.lo, least(b.hi - interval '1 second', b.newest), interval '1 hour') AS hour
            FROM bounds b)
        SELECT h.hour, h.hour AT TIME ZONE s.timezone AS local_time,
               coalesce(sum(r.invoices), 0)::bigint AS invoices,
               coalesce(sum(r.total_minor), 0)::bigint AS total_minor
        FROM hours h
        CROSS JOIN s
        LEFT JOIN rollup_invoices r ON r.hour = h.hour AND r.site_id = :site_id AND r.status <> 'void'
        GROUP BY 1, 2 ORDER BY 1"""
    return read_frame(db, sql, {**f.params(), "site_id": site_id})


# ---------------------------------------------------------------- freshness
@dataclass(frozen=True)
class JobFreshness:
    job: str
    last_success_at: datetime | None  # finished_at of the newest successful run (succeeded or partial)
    last_run_at: datetime             # started_at of the newest run
    last_outcome: str                 # running, succeeded, partial, failed, skipped, abandoned
    last_error: str | None


def freshness(db: Db) -> tuple[JobFreshness, ...]:
    """Per job in the run log: its last success and how its latest run went."""
    sql = """
        SELECT l.job, ok.finished_at AS last_success_at, l.started_at AS last_run_at, l.outcome, l.error
        FROM (SELECT DISTINCT ON (job) job, started_at, outcome, error
              FROM job_runs ORDER BY job, started_at DESC, run_id DESC) l
        LEFT JOIN LATERAL (
            SELECT max(finished_at) AS finished_at FROM job_runs j
            WHERE j.job = l.job AND j.outcome IN ('succeeded', 'partial')) ok ON true  -- health.jobs.DONE
        ORDER BY l.job"""
    return tuple(JobFreshness(*row) for row in read_rows(db, sql, {})[1])
