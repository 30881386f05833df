"""The compute-job pattern: a job owns a window and replaces its output for that window in
one transaction, recording the run. A crash leaves the previous answer; a re-run gives the
same answer; late data is absorbed because ingest queues the windows its changes touched."""
from __future__ import annotations

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


def run_rollup(engine: Engine, rollup: Rollup, start: datetime | None = None, end: datetime | None = None) -> RunStats:
    """Recompute `rollup` over [start, end), or, with no window, over what ingest queued for it."""
    with recorded_run(engine, rollup.name) as stats, engine.begin() as conn:
        try_job_lock(conn, rollup.name)
        consumed: list[int] = []
        if start is None or end is None:
            start, end, consumed = pending_span(conn, rollup.name)
            if start is None or end is None:
                return stats  # nothing changed since the last run
        if rollup.widen_sql:
            earliest = conn.execute(text(rollup.widen_sql), {"start": start, "end": end}).scalar()
            start = min(start, earliest) if earliest is not None else start
        start, end = align(start, end)
        stats.window_start, stats.window_end = start, end
        stats.rows_read, stats.rows_written = replace_window(conn, rollup, start, end)
        consume_pending(conn, consumed)
    return stats
