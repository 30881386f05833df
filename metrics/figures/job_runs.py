"""Finished runs of each job, per outcome: counts, rows, durations in histogram buckets and the
newest start and success, the figures of the exporter's job families.

`job_runs` is kept forever (a few rows a minute), so it is never scanned again after the first
read: `JobRunTally` aggregates it once in SQL and then keeps the totals in memory, reading each
time only the runs after a frontier (primary-key range) plus the runs it saw still running (by
key); the newest `settle_seconds` of runs are re-read until they settle.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Connection, text

# partial: the run did all it was allowed to (a gateway refused an object type: collectors/ingest/gateway_access.py)
OUTCOMES = ("succeeded", "failed", "skipped", "abandoned", "partial")
DONE = ("succeeded", "partial")  # runs that brought data: their end is a success for freshness
TIMED_OUTCOMES = ("succeeded", "failed", "skipped", "partial")  # runs that ended by themselves: the duration histogram
BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 5, 15, 60, 300, 900)  # and +Inf


@dataclass(frozen=True)
class RunAgg:
    """Finished runs of one job and outcome: count, rows, timed runs, Σ seconds, bucket counts
    (cumulative, one per finite bound) and the newest finished_at (unix seconds)."""

    runs: int = 0
    rows_read: int = 0
    rows_written: int = 0
    timed: int = 0
    seconds: float = 0.0
    buckets: tuple[int, ...] = (0,) * len(BUCKETS)
    last_finished: float | None = None

    def __add__(self, other: RunAgg) -> RunAgg:
        last = [x for x in (self.last_finished, other.last_finished) if x is not None]
        return RunAgg(self.runs + other.runs, self.rows_read + other.rows_read, self.rows_written + other.rows_written,
                    self.timed + other.timed, self.seconds + other.seconds,
                    tuple(a + b for a, b in zip(self.buckets, other.buckets, strict=True)), max(last) if last else None)


@dataclass(frozen=True)
class JobTotals:
    """What the job families show: per (job, outcome) `RunAgg`, per job the newest started_at."""

    by_outcome: Mapping[tuple[str, str], RunAgg] = field(default_factory=dict)
    last_started: Mapping[str, float] = field(default_factory=dict)

    def merged(self, other: JobTotals) -> JobTotals:
        by = dict(self.by_outcome)
        for key, agg in other.by_outcome.items():
            by[key] = by.get(key, RunAgg()) + agg
        last = dict(self.last_started)
        for job, ts in other.last_started.items():
            last[job] = max(ts, last.get(job, ts))
        return JobTotals(by, last)


FOLD_TIMEOUT_MS = 300_000
_BUCKET_COLUMNS = ", ".join(f"count(*) FILTER (WHERE d.secs <= {le})" for le in BUCKETS)
_RUN_COLUMNS = ("run_id, job, outcome, started_at, finished_at, rows_read, rows_written,"
                " extract(epoch FROM finished_at - started_at)::float8 AS secs")
# The runs after the frontier (primary-key range) and the pending ones (by key). `upto`, the new
# frontier: just before the first run of the last `settle` seconds (found through the (job,
# started_at) index), else the newest run there is.
_JOB_RUNS_DELTA = f"""
    WITH d AS (
        SELECT {_RUN_COLUMNS} FROM job_runs WHERE run_id > :frontier
        UNION ALL
        SELECT {_RUN_COLUMNS} FROM job_runs WHERE run_id = ANY(CAST(:pending AS bigint[])) AND run_id <= :frontier
    ), lim AS (
        SELECT coalesce((SELECT min(run_id) - 1 FROM job_runs
                         WHERE job = ANY(CAST(:jobs AS text[])) AND started_at >= CAST(:now AS timestamptz) - make_interval(secs => :settle)
                           AND run_id > :frontier),
                        (SELECT max(run_id) FROM job_runs), :frontier) AS upto
    )
    SELECT d.run_id <= lim.upto AS settled, d.job, d.outcome, count(*) AS runs,
           coalesce(sum(d.rows_read), 0)::bigint, coalesce(sum(d.rows_written), 0)::bigint,
           count(d.secs), coalesce(sum(d.secs), 0)::float8, {_BUCKET_COLUMNS},
           extract(epoch FROM max(d.started_at))::float8, extract(epoch FROM max(d.finished_at))::float8,
           CASE WHEN d.outcome = 'running' THEN d.run_id END AS running_id, lim.upto
    FROM d CROSS JOIN lim
    WHERE d.job = ANY(CAST(:jobs AS text[]))
    GROUP BY 1, 2, 3, running_id, lim.upto"""  # a running run is a group of its own (few): no array_agg


@dataclass(frozen=True)
class JobRunTally:
    """Totals of `job_runs` kept in memory, so a scrape reads only what changed.

    `settled` holds every run with run_id <= `frontier` except `pending` (runs that were still
    running when passed; their rows are re-read by key until they finish, then folded once). Runs
    after the frontier are re-read each scrape and counted for that scrape only; the frontier moves
    past them once they started more than `settle_seconds` ago (a run's row is committed the moment
    it starts, so by then no smaller run_id can still appear). The first scrape folds the whole
    table in one GROUP BY; a table emptied and restarted (max(run_id) below the frontier) is folded
    again from scratch. Immutable: a refresh that fails keeps the previous tally."""

    jobs: tuple[str, ...]
    settle_seconds: float = 300.0
    frontier: int = 0
    pending: frozenset[int] = frozenset()
    settled: JobTotals = field(default_factory=JobTotals)

    def advance(self, conn: Connection, now: datetime) -> tuple[JobTotals, JobRunTally]:
        """(totals to show at `now`, the tally to keep), reading only runs after the frontier or pending."""
        tally = self
        top = conn.execute(text("SELECT max(run_id) FROM job_runs")).scalar()
        if tally.frontier and (top is None or top < tally.frontier):
            tally = JobRunTally(self.jobs, self.settle_seconds)
        if tally.frontier == 0:  # the one full read of the table (~0.1 s per 100 k runs) may outlast a scrape's timeout
            conn.execute(text(f"SET LOCAL statement_timeout = {FOLD_TIMEOUT_MS}"))
        rows = conn.execute(text(_JOB_RUNS_DELTA), {
            "frontier": tally.frontier, "pending": sorted(tally.pending), "jobs": list(tally.jobs),
            "settle": float(tally.settle_seconds), "now": now}).all()
        folded: defaultdict[tuple[str, str], RunAgg] = defaultdict(RunAgg)
        transient: defaultdict[tuple[str, str], RunAgg] = defaultdict(RunAgg)
        started: dict[str, float] = {}
        pending: set[int] = set()
        upto = tally.frontier
        for row in rows:
            settled, job, outcome, runs, rows_read, rows_written, timed, seconds = row[:8]
            bucket_counts = tuple(int(n) for n in row[8:8 + len(BUCKETS)])
            last_started, last_finished, running_id, row_upto = row[8 + len(BUCKETS):]
            upto = max(upto, int(row_upto))
            started[job] = max(last_started, started.get(job, last_started))
            if outcome == "running":
                if settled:
                    pending.add(int(running_id))
                continue
            if outcome not in OUTCOMES:
                continue  # a final outcome outside the label domain: only its start time shows
            agg = RunAgg(int(runs), int(rows_read), int(rows_written), int(timed), float(seconds), bucket_counts,
                       last_finished)
            target = folded if settled else transient
            target[(job, outcome)] = target[(job, outcome)] + agg
        # started_at never changes, so every start seen can be kept, settled or not
        settled_totals = tally.settled.merged(JobTotals(dict(folded), started))
        kept = replace(tally, frontier=upto, pending=frozenset(pending), settled=settled_totals)
        return settled_totals.merged(JobTotals(dict(transient), {})), kept
