"""Billing accuracy: every closed session judged against its shadow-rated price (SOURCES.md §1).

A compute job (`classify-billing`). The judgment is revwatch/rules/billing_judgment.py (its docstring
gives the classes); this job decides which sessions to judge and stores the answer: sessions judged
`correct` are counted in `billing_correct` per (site, UTC hour of exit, local date, plan, currency),
every other class gets its row in `billing_findings`. Sums and counts stay additive over sites, plans
and days; the drill-downs judge a counted session again with the same statement.

**The unit of recompute is a site's hour of exits** (issue 17): its findings and counts are replaced
together, in one transaction. Ingest queues the site-hours a change makes stale in `pending_site_hours`
(`TOUCHED`: a session's old and new exit, an invoice's session, the sessions a changed plan or tax rate
governs, every session of a changed site), so a run's cost follows what changed, not a time window: a
two-day stay that closes re-judges its own site-hour, not the two days it spans.

Settle delay: billing writes an invoice shortly after the exit and ingest copies sessions and invoices
separately, so a session is judged only once it exited before the *cutoff*

    cutoff = least(billing watermark of parking_sessions, of invoices) - settle delay

(watermarks from sync_state, else the newest updated_at copied; `BILLING_SETTLE_MINUTES`). The job keeps
the cutoff it judged up to (sync_state, source `classify-billing`); each run also judges the site-hours
with exits in [that cutoff, the new cutoff). The first run judges every exit before the cutoff at once,
and an explicit window (a backfill) judges the hours [start, end).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, text

from collectors.compute.windows import align, judged_until, mark_judged
from revwatch.rules import billing_judgment, shadow_rating
from revwatch.runlog import RunStats, recorded_run, try_job_lock

JOB = "classify-billing"
TARGET = "billing_findings"
COUNTS = "billing_correct"
CLASSES = billing_judgment.CLASSES
DEFAULT_SETTLE = timedelta(hours=2)
# What one run may use: the first run hashes every session's invoices at once (~250 MB at 2 M sessions,
# sorted on disk otherwise); JIT compiles for longer than the statement then saves (issue 17). Sorts
# off: the planner sizes each group of the stored judgment at 8 kB (array_agg's state, gathering the
# findings of the few groups that have any), and past ~1 M sessions it sorted every judged session on
# disk to group them (99 s at 10 M, against 67 s hashed).
SETTINGS = ("SET LOCAL work_mem = '1GB'", "SET LOCAL jit = off", "SET LOCAL enable_sort = off")

_WATERMARK = """
    SELECT least(
        coalesce((SELECT watermark FROM sync_state WHERE source = 'billing' AND table_name = 'parking_sessions'),
                 (SELECT max(updated_at) FROM parking_sessions)),
        coalesce((SELECT watermark FROM sync_state WHERE source = 'billing' AND table_name = 'invoices'),
                 (SELECT max(updated_at) FROM invoices))) AS watermark"""

_HOUR = "date_trunc('hour', {0}, 'UTC')"

# The site-hours of exits a change to a billing table makes stale, over ingest's stage `s` joined with
# our copy `t` ({joined}: `t` NULL when the row is new) where {differs} (new, changed, or for a table
# copied whole, gone from the source: `s` NULL).
# Tax rates are by local date: the sessions entered from a day before to two days after the range
# cover every zone's day.
TOUCHED = {
    "parking_sessions": f"""
        SELECT v.site_id, {_HOUR.format('v.exited_at')} FROM {{joined}}
        CROSS JOIN LATERAL (VALUES (s.site_id, s.exited_at), (t.site_id, t.exited_at)) v (site_id, exited_at)
        WHERE ({{differs}}) AND v.exited_at IS NOT NULL""",
    "invoices": f"""
        SELECT p.site_id, {_HOUR.format('p.exited_at')} FROM {{joined}}
        CROSS JOIN LATERAL (VALUES (s.session_id), (t.session_id)) v (session_id)
        JOIN parking_sessions p ON p.session_id = v.session_id
        WHERE ({{differs}}) AND p.exited_at IS NOT NULL""",
    "rate_plans": f"""
        SELECT p.site_id, {_HOUR.format('p.exited_at')} FROM {{joined}}
        CROSS JOIN LATERAL (VALUES (s.site_id, s.effective_from, s.effective_to),
                                   (t.site_id, t.effective_from, t.effective_to)) v (site_id, lo, hi)
        JOIN parking_sessions p ON p.site_id = v.site_id AND p.entered_at >= v.lo
                               AND (v.hi IS NULL OR p.entered_at < v.hi)
        WHERE ({{differs}}) AND p.exited_at IS NOT NULL""",
    "tax_rates": f"""
        SELECT p.site_id, {_HOUR.format('p.exited_at')} FROM {{joined}}
        CROSS JOIN LATERAL (VALUES (s.jurisdiction, s.effective_from, s.effective_to),
                                   (t.jurisdiction, t.effective_from, t.effective_to)) v (jurisdiction, lo, hi)
        JOIN sites st ON st.tax_jurisdiction = v.jurisdiction
        JOIN parking_sessions p ON p.site_id = st.site_id AND p.entered_at >= v.lo - interval '1 day'
                               AND (v.hi IS NULL OR p.entered_at < v.hi + interval '2 days')
        WHERE ({{differs}}) AND p.exited_at IS NOT NULL""",
    "sites": f"""
        SELECT p.site_id, {_HOUR.format('p.exited_at')} FROM {{joined}}
        JOIN parking_sessions p ON p.site_id IN (s.site_id, t.site_id)
        WHERE ({{differs}}) AND p.exited_at IS NOT NULL""",
}

# The sessions of the site-hours taken for this run (temp table `judge_site_hours`), exited before :cut;
# one (site_id, exited_at) index range a site-hour (LATERAL, kept apart by OFFSET 0: joined plainly, the
# planner sizes it as a scan of every session)
_IN_SITE_HOURS = """SELECT p.session_id, p.site_id, p.entered_at, p.exited_at
    FROM judge_site_hours b
    CROSS JOIN LATERAL (
        SELECT x.session_id, x.site_id, x.entered_at, x.exited_at FROM parking_sessions x
        WHERE x.site_id = b.site_id AND x.exited_at >= b.hour AND x.exited_at < b.hour + interval '1 hour'
          AND x.exited_at < :cut
        OFFSET 0) p"""


def _store_sql(sessions: str, every_invoice: bool = False) -> str:
    """Judge the sessions `sessions` selects and store the answer; one row: (sessions rated, rows written).

    One pass groups the judged sessions by the counts' keys: a group counts its correct sessions and
    gathers its other sessions as whole findings rows (`ROW(...)::billing_findings`, whose columns are
    billing_judgment.COLUMNS in order). Nothing the size of the sessions is kept: a finding's columns
    are built only for a finding (issue 17: keeping every judged row for the two inserts cost a quarter
    of the run)."""
    cols = ", ".join(billing_judgment.COLUMNS)
    keys = "site_id, hour, local_date, rate_plan_id, currency"
    return f"""
    WITH grouped AS MATERIALIZED (
        SELECT {keys}, count(*) AS sessions, count(*) FILTER (WHERE class = 'correct') AS correct,
               array_agg(ROW({cols})::{TARGET}) FILTER (WHERE class <> 'correct') AS found
        FROM ({billing_judgment.judgment_sql(sessions, every_invoice)}) j
        GROUP BY {keys}),
    findings AS (
        INSERT INTO {TARGET} AS f ({cols})
        SELECT x.* FROM grouped CROSS JOIN LATERAL unnest(grouped.found) x WHERE grouped.found IS NOT NULL
        ON CONFLICT (session_id) DO UPDATE SET
            {", ".join(f"{c} = excluded.{c}" for c in billing_judgment.COLUMNS if c != "session_id")}
        RETURNING 1),
    counted AS (
        INSERT INTO {COUNTS} ({keys}, sessions)
        SELECT {keys}, correct FROM grouped WHERE correct > 0
        RETURNING 1)
    SELECT coalesce((SELECT sum(sessions) FROM grouped), 0) AS rated,
           (SELECT count(*) FROM findings) + (SELECT count(*) FROM counted) AS written"""


_STORE_RANGE = _store_sql(shadow_rating.EXITED_IN)
_STORE_ALL = _store_sql(shadow_rating.EXITED_IN, every_invoice=True)
_STORE_SITE_HOURS = _store_sql(_IN_SITE_HOURS)


def cutoff(conn: Connection, delay: timedelta) -> datetime | None:
    """Sessions that exited before this instant are judged; None while billing has no data."""
    wm = conn.execute(text(_WATERMARK)).one().watermark
    return None if wm is None else wm - delay


def queue_touched(conn: Connection, table: str, joined: str, differs: str, consumers: Sequence[str] = (JOB,)) -> None:
    """Ingest's half: queue for `consumers` the site-hours the change of `table` makes stale, from
    `joined` (stage `s` beside the copy `t`) where `differs` (see TOUCHED)."""
    if table not in TOUCHED or not consumers:
        return
    # most runs change no site, plan or tax rate: asked first, as a join of every session to a stage that
    # turns out unchanged can be planned as a scan of every session
    if not conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {joined} WHERE {differs})")).scalar_one():
        return
    conn.execute(text(f"""
        INSERT INTO pending_site_hours (consumer, site_id, hour)
        SELECT c, x.site_id, x.hour FROM (SELECT DISTINCT * FROM ({TOUCHED[table].format(joined=joined, differs=differs)}) q (site_id, hour)) x
        CROSS JOIN unnest(CAST(:c AS text[])) c
        ON CONFLICT DO NOTHING"""), {"c": list(consumers)})


def replace_window(conn: Connection, start: datetime, end: datetime, cut: datetime | None,
                   every_invoice: bool = False) -> tuple[int, int]:
    """Judge again the sessions exited in the hours [start, end) (before the cutoff), replacing those
    hours' findings and counts; return (sessions rated, rows written). `every_invoice`: the window holds
    every exit (the first run), so every invoice is summed at once (billing_judgment.judgment_sql)."""
    start, end = align(start, end)
    judge_end = start if cut is None else max(start, min(end, cut))
    for table in (TARGET, COUNTS):
        conn.execute(text(f"DELETE FROM {table} WHERE hour >= :start AND hour < :end"), {"start": start, "end": end})
    got = conn.execute(text(_STORE_ALL if every_invoice else _STORE_RANGE), {"start": start, "end": judge_end, "session_id": None}).one()
    return int(got.rated), int(got.written)


def replace_site_hours(conn: Connection, judged: datetime, cut: datetime) -> tuple[int, int, datetime | None,
                                                                              datetime | None]:
    """Take the queued site-hours and those with exits in [judged, cut), and judge their sessions exited
    before `cut` again, replacing their findings and counts; return (sessions rated, rows written, first
    hour, last hour)."""
    conn.execute(text("CREATE TEMP TABLE judge_site_hours (site_id text, hour timestamptz, PRIMARY KEY (site_id, hour))"
                      " ON COMMIT DROP"))
    conn.execute(text(f"""
        WITH taken AS (DELETE FROM pending_site_hours WHERE consumer = :job RETURNING site_id, hour)
        INSERT INTO judge_site_hours
        SELECT site_id, hour FROM taken
        UNION
        SELECT DISTINCT site_id, {_HOUR.format('exited_at')} FROM parking_sessions
        WHERE exited_at >= :judged AND exited_at < :cut"""), {"job": JOB, "judged": judged, "cut": cut})
    span = conn.execute(text("SELECT min(hour), max(hour), count(*) FROM judge_site_hours")).one()
    if not span[2]:
        return 0, 0, None, None
    conn.execute(text("ANALYZE judge_site_hours"))
    for table in (TARGET, COUNTS):
        conn.execute(text(f"DELETE FROM {table} f USING judge_site_hours b WHERE f.site_id = b.site_id AND f.hour = b.hour"))
    got = conn.execute(text(_STORE_SITE_HOURS), {"cut": cut}).one()
    return int(got.rated), int(got.written), span[0], span[1]


def run_job(engine: Engine, start: datetime | None = None, end: datetime | None = None,
            delay: timedelta = DEFAULT_SETTLE) -> RunStats:
    """Judge the sessions exited in the hours [start, end); with no window, the site-hours ingest queued
    and those the cutoff passed since the last run (on the first run, every exit before the cutoff)."""
    with recorded_run(engine, JOB) as stats, engine.begin() as conn:
        try_job_lock(conn, JOB)
        for setting in SETTINGS:
            conn.execute(text(setting))
        cut, judged = cutoff(conn, delay), judged_until(conn, JOB, TARGET)
        if start is not None and end is not None:
            stats.window_start, stats.window_end = align(start, end)
            stats.rows_read, stats.rows_written = replace_window(conn, start, end, cut)
            return stats
        if cut is None:
            return stats  # billing has no data yet
        if judged is None:  # first run: every exit before the cutoff; nothing queued is left to do
            conn.execute(text(f"DELETE FROM {TARGET}; DELETE FROM {COUNTS}"))
            conn.execute(text("DELETE FROM pending_site_hours WHERE consumer = :job"), {"job": JOB})
            first = conn.execute(text("SELECT min(exited_at) FROM parking_sessions")).scalar() or cut
            stats.window_start, stats.window_end = align(min(first, cut), cut)
            stats.rows_read, stats.rows_written = replace_window(conn, first, cut, cut, every_invoice=True)
        else:  # what was queued, and what the cutoff passed; a cutoff that went back judges no less than before
            stats.rows_read, stats.rows_written, first_hour, last_hour = replace_site_hours(conn, judged, max(cut, judged))
            if first_hour is not None and last_hour is not None:
                stats.window_start, stats.window_end = first_hour, last_hour + timedelta(hours=1)
        mark_judged(conn, JOB, TARGET, max(cut, judged) if judged else cut)
    return stats
