"""The compute-job pattern: a job owns a window and replaces its output for that window in
one transaction, recording the run. A crash leaves the previous answer; a re-run gives the
same answer; late data is absorbed because ingest queues the windows its changes touched."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from collectors.compute.rollups import Rollup
from revwatch.runlog import RunStats, recorded_run, try_job_lock
from revwatch.schema import Base

HOUR = timedelta(hours=1)


def align(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Widen [start, end) to whole UTC hours, the rollups' grain."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    lo = start.replace(minute=0, second=0, microsecond=0)
    hi = end.replace(minute=0, second=0, microsecond=0)
    return lo, hi + HOUR if hi < end else hi


BIG_CHANGE = 10_000  # rows written to one table past which its statistics are refreshed at once


def refresh_statistics(conn: Connection, table: str, changed: int) -> None:
    """ANALYZE a table after a big change: until autovacuum gets to it, a freshly loaded table
    looks nearly empty to the planner, and the next compute job picks nested loops over millions."""
    if changed > BIG_CHANGE:
        conn.execute(text(f'ANALYZE "{table}"'))


def queue_recompute(conn: Connection, table: str, consumers, lo: datetime | None, hi: datetime | None) -> None:
    """Ingest's half of the protocol: the compute jobs reading `table` must redo the hours [lo, hi]."""
    if lo is None or not consumers:
        return
    conn.execute(
        text(
            "INSERT INTO pending_windows (table_name, consumer, window_start, window_end)"
            " SELECT :t, c, date_trunc('hour', CAST(:lo AS timestamptz), 'UTC'),"
            " date_trunc('hour', CAST(:hi AS timestamptz), 'UTC') + interval '1 hour'"
            " FROM unnest(CAST(:c AS text[])) c"
        ),
        {"t": table, "lo": lo, "hi": hi, "c": list(consumers)},
    )


def queue_hours(conn: Connection, table: str, consumers, hours: Iterable[datetime]) -> None:
    """Ingest's half of the protocol, hour by hour: the compute jobs reading `table` must redo these UTC hours,
    queued as runs of consecutive hours (one late change a day back and the newest hour are two small windows,
    not the day between)."""
    runs = merge_ranges((h, h + HOUR) for h in hours)
    if not runs or not consumers:
        return
    conn.execute(
        text("INSERT INTO pending_windows (table_name, consumer, window_start, window_end)"
             " SELECT :t, c, r.lo, r.hi FROM unnest(CAST(:c AS text[])) c"
             " CROSS JOIN unnest(CAST(:lo AS timestamptz[]), CAST(:hi AS timestamptz[])) AS r(lo, hi)"),
        {"t": table, "c": list(consumers), "lo": [r[0] for r in runs], "hi": [r[1] for r in runs]},
    )


def merge_ranges(ranges: Iterable[tuple[datetime, datetime]], bridge: timedelta = timedelta(0)
                 ) -> list[tuple[datetime, datetime]]:
    """[start, end) ranges as the fewest disjoint ones covering the same instants, in order; with a `bridge`,
    ranges apart by no more than it are one (covering the gap too)."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + bridge:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def pending_ranges(conn: Connection, job: str) -> tuple[list[tuple[datetime, datetime]], list[int]]:
    """What ingest queued for `job`: the hours, as disjoint ranges (a late change days back and the newest
    hour are two small ranges, not the days between), and the ids to consume."""
    rows = conn.execute(text("SELECT pending_id, window_start, window_end FROM pending_windows WHERE consumer = :j"),
                        {"j": job}).all()
    return merge_ranges(align(r.window_start, r.window_end) for r in rows), [r.pending_id for r in rows]


def pending_span(conn: Connection, job: str) -> tuple[datetime | None, datetime | None, list[int]]:
    """Compute's half of the protocol: the span ingest queued for `job`, and the ids to consume."""
    row = conn.execute(
        text(
            "SELECT min(window_start), max(window_end), coalesce(array_agg(pending_id), '{}')"
            " FROM pending_windows WHERE consumer = :j"
        ),
        {"j": job},
    ).one()
    return row[0], row[1], list(row[2])


def consume_pending(conn: Connection, ids: list[int]) -> None:
    """The windows a job has just recomputed are done: drop them from the queue."""
    if ids:
        conn.execute(text("DELETE FROM pending_windows WHERE pending_id = ANY(:ids)"), {"ids": ids})


def judged_until(conn: Connection, job: str, table: str) -> datetime | None:
    """How far a settle-delayed job has judged its table (sync_state), None before its first run."""
    return conn.execute(text("SELECT watermark FROM sync_state WHERE source = :j AND table_name = :t"),
                        {"j": job, "t": table}).scalar()


def mark_judged(conn: Connection, job: str, table: str, cut: datetime) -> None:
    """Record that `job` has judged `table` up to `cut`; what lies after waits for its sources."""
    conn.execute(text("INSERT INTO sync_state (source, table_name, watermark) VALUES (:j, :t, :c)"
                      " ON CONFLICT (source, table_name) DO UPDATE SET watermark = excluded.watermark"),
                 {"j": job, "t": table, "c": cut})


def replace_window(conn: Connection, rollup: Rollup, start: datetime, end: datetime) -> tuple[int, int]:
    """Delete and rebuild the rollup rows of [start, end); return (source rows, rollup rows)."""
    cols = ", ".join(c.name for c in Base.metadata.tables[rollup.target].columns)
    conn.execute(text(f"DELETE FROM {rollup.target} WHERE hour >= :start AND hour < :end"), {"start": start, "end": end})
    row = conn.execute(
        text(
            f"WITH ins AS (INSERT INTO {rollup.target} AS r ({cols}) SELECT {cols} FROM ({rollup.select_sql}) q"
            f" RETURNING r.{rollup.count_column} AS n) SELECT coalesce(sum(n), 0), count(*) FROM ins"
        ),
        {"start": start, "end": end},
    ).one()
    return int(row[0]), int(row[1])


# Runs of queued hours this close are rebuilt as one window, the hours between too: an hour without new data costs
# a rollup little to redo (it reads the source by time), a statement per run costs ~40 ms (a quiet site's nights
# split a first load of two months into 140 runs: 6 s, not 0.3). A late change a day back stays apart from the newest hour.
ROLLUP_BRIDGE = timedelta(hours=6)


def run_rollup(engine: Engine, rollup: Rollup, start: datetime | None = None, end: datetime | None = None) -> RunStats:
    """Recompute `rollup` over the hours [start, end), or, with no window, over the hours ingest queued
    for it (and those its `touched_sql` names), each run of hours (ROLLUP_BRIDGE apart or less: one) replaced on its own."""
    with recorded_run(engine, rollup.name) as stats, engine.begin() as conn:
        try_job_lock(conn, rollup.name)
        consumed: list[int] = []
        if start is None or end is None:
            ranges, consumed = pending_ranges(conn, rollup.name)
        else:
            ranges = [align(start, end)]
        if rollup.touched_sql:
            ranges = merge_ranges([*ranges, *((h, h + HOUR) for lo, hi in ranges for h in _touched_hours(conn, rollup, lo, hi))])
        for lo, hi in merge_ranges(ranges, bridge=ROLLUP_BRIDGE):
            read, written = replace_window(conn, rollup, lo, hi)
            stats.rows_read, stats.rows_written = stats.rows_read + read, stats.rows_written + written
        if ranges:
            stats.window_start, stats.window_end = ranges[0][0], ranges[-1][1]
        consume_pending(conn, consumed)
    return stats


def _touched_hours(conn: Connection, rollup: Rollup, start: datetime, end: datetime) -> set[datetime]:
    """The UTC hours of the event times `rollup.touched_sql` finds for changes in [start, end)."""
    return {align(t, t)[0] for (t,) in conn.execute(text(rollup.touched_sql or ""), {"start": start, "end": end})}
