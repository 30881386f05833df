"""Job health: is each job of the catalogue running, succeeding, and recent enough for its interval?

Everything reads the run log (`job_runs`) through its index (`job_runs (job, started_at)`), so the
page costs the same at a million runs as at a hundred: per-job figures are LATERAL index scans
bounded by a LIMIT or a time range, never a scan of the whole log. Times are judged against an
explicit `as_of` (the page passes now), so tests get exact figures.

The job list is the job catalogue (revwatch/schedule.py), the follow-ups the configuration enables (the
auto-explain rules after the work queue, judged against its interval), then the weekly report's scheduled job (REPORT_JOB, a
cron job of kind "report", judged against a week), then any other job the run log names ("not in catalogue").
"Stale" is one definition (metrics.catalogue.STALE_AFTER_INTERVALS): the last success is older than
that many of the job's configured intervals (revwatch.schedule.intervals), the CollectorStale
alert's condition. Each job's observed interval (median gap between recent starts) is shown beside.
The worker as a whole is "stuck" when no job at all started for that many of the smallest interval
(`worker_activity`, the WorkerStuck alert's condition).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from metrics.catalogue import STALE_AFTER_INTERVALS
from metrics.figures.job_runs import DONE
from metrics.figures.query import Db, read_frame, read_rows
from revwatch.schedule import (
    CATALOGUE,
    EXPIRED_REQUEST,
    FOLLOW_UPS,
    REPORT_JOB,
    RUN_REQUEST_EXPIRES,
    judged_intervals,
)
from revwatch.settings import load_settings

if TYPE_CHECKING:
    import pandas as pd

OUTCOMES = ("running", "succeeded", "failed", "skipped", "abandoned", "partial")
FAILED = ("failed", "abandoned")  # a run that did not finish its work (abandoned: its worker died)
# A run that did all it was allowed to: its data is fresh (last success, staleness, durations). Partial:
# a source refused part of it (an object type a restricted key may not read): status "partial".
DURATION_SAMPLE = 50              # p50/p95 and the observed interval over this many recent runs
FAILURE_LOOKBACK = timedelta(days=30)  # the last failure is looked for this far back (bounded index scan)
REPORT_KIND = "report"  # the weekly report's job: scheduled by cron (REPORT_CRON), not on an interval
REPORT_SECONDS = 7 * 86400  # what the report's staleness is judged against: it runs once a week

_ALL_JOBS = """
    WITH RECURSIVE seen(job) AS (  -- the distinct jobs of the run log, one index probe each
        (SELECT job FROM job_runs ORDER BY job LIMIT 1)
        UNION ALL
        SELECT (SELECT r.job FROM job_runs r WHERE r.job > s.job ORDER BY r.job LIMIT 1) FROM seen s
        WHERE s.job IS NOT NULL),
    catalogue AS (
        SELECT c.job, c.kind, c.pos FROM unnest(CAST(:jobs AS text[]), CAST(:kinds AS text[]))
            WITH ORDINALITY AS c(job, kind, pos)),
    all_jobs AS (
        SELECT job, kind, pos FROM catalogue
        UNION ALL
        SELECT s.job, NULL, NULL FROM seen s
        WHERE s.job IS NOT NULL AND s.job NOT IN (SELECT job FROM catalogue))"""


def _catalogue_params(schedule: Collection[str] = tuple(FOLLOW_UPS)) -> dict[str, Any]:
    """The jobs the product runs, in order: the catalogue's, the follow-ups `schedule` judges (of their leader's
    kind; by default every follow-up, as the run log lists them), then the weekly report's."""
    follow = {name: CATALOGUE[after].kind for name, after in FOLLOW_UPS.items() if name in schedule}
    return {"jobs": [*CATALOGUE, *follow, REPORT_JOB],
            "kinds": [*(spec.kind for spec in CATALOGUE.values()), *follow.values(), REPORT_KIND]}


@dataclass(frozen=True)
class LastRun:
    run_id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    rows_read: int
    rows_written: int
    error: str | None

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass(frozen=True)
class JobHealth:
    """One job as the run log shows it at `as_of`. Durations in seconds; p50/p95 over the
    last `sampled_runs` succeeded or partial runs (DONE) (continuous percentiles, as numpy's default)."""

    job: str
    kind: str | None               # ingest | compute | report (REPORT_JOB); None: in the run log but not scheduled
    as_of: datetime
    last: LastRun | None           # the newest run started by as_of
    last_success_at: datetime | None  # finished_at of the newest succeeded (or partial: DONE) run
    last_failure_at: datetime | None  # started_at of the newest failed/abandoned run (FAILURE_LOOKBACK)
    last_failure_error: str | None
    runs_24h: int                  # runs started in (as_of - 24 h, as_of]
    failures_24h: int              # of which failed or abandoned
    p50_seconds: float | None
    p95_seconds: float | None
    sampled_runs: int
    observed_interval_seconds: float | None  # median gap between the starts of its recent non-skipped runs
    interval_seconds: int | None = None  # configured (WORKER_SCHEDULE or the catalogue's default); None: not scheduled

    @property
    def success_age(self) -> timedelta | None:
        return self.as_of - self.last_success_at if self.last_success_at else None

    @property
    def stale(self) -> bool:
        """Last success older than STALE_AFTER_INTERVALS configured intervals: CollectorStale's condition
        (the alert fires once it held 10 minutes). Never for a job without a success or an interval."""
        age = self.success_age
        return (age is not None and self.interval_seconds is not None
                and age > timedelta(seconds=STALE_AFTER_INTERVALS * self.interval_seconds))

    @property
    def status(self) -> str:
        """never run | first run | running | failing | skipped | no success | stale | partial | ok.

        "first run": running and never succeeded (a first load), never ok: nothing it brings is in yet;
        "running": running after an earlier success that is still recent."""
        if self.last is None:
            return "never run"
        if self.last.outcome == "running":
            if self.last_success_at is None:
                return "first run"
            return "stale" if self.stale else "running"
        if self.last.outcome in FAILED:
            return "failing"
        if self.last_success_at is None:
            return "skipped" if self.last.outcome == "skipped" else "no success"
        if self.stale:
            return "stale"
        if self.last.outcome == "partial":
            return "partial"  # neither ok nor failing: some of it was refused, the rest is fresh
        return "skipped" if self.last.outcome == "skipped" else "ok"


def job_health(db: Db, as_of: datetime, schedule: Mapping[str, int] | None = None,
               sample: int = DURATION_SAMPLE) -> tuple[JobHealth, ...]:
    """Every catalogue job (never run ones too), then any other job of the run log, by name.

    `schedule`: each job's configured seconds between runs (`revwatch.schedule.judged_intervals(cfg)`); None
    reads them from the environment's settings, as the worker does."""
    if schedule is None:
        schedule = judged_intervals(load_settings())
    sql = _ALL_JOBS + """
        SELECT a.job, a.kind,
               l.run_id, l.started_at, l.finished_at, l.outcome, l.rows_read, l.rows_written, l.error,
               ok.finished_at, bad.started_at, bad.error,
               coalesce(c.runs, 0), coalesce(c.failures, 0),
               d.p50, d.p95, coalesce(d.n, 0), g.gap
        FROM all_jobs a
        LEFT JOIN LATERAL (
            SELECT run_id, started_at, finished_at, outcome, rows_read, rows_written, error FROM job_runs r
            WHERE r.job = a.job AND r.started_at <= :as_of ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) l ON true
        LEFT JOIN LATERAL (
            SELECT finished_at FROM job_runs r
            WHERE r.job = a.job AND r.started_at <= :as_of AND r.outcome = ANY(CAST(:done AS text[]))
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) ok ON true
        LEFT JOIN LATERAL (
            SELECT started_at, error FROM job_runs r
            WHERE r.job = a.job AND r.started_at <= :as_of AND r.started_at > :failure_since
              AND r.outcome = ANY(CAST(:failed AS text[]))
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) bad ON true
        LEFT JOIN LATERAL (
            SELECT count(*) AS runs, count(*) FILTER (WHERE r.outcome = ANY(CAST(:failed AS text[]))) AS failures
            FROM job_runs r WHERE r.job = a.job AND r.started_at > :day_ago AND r.started_at <= :as_of) c ON true
        LEFT JOIN LATERAL (
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s.secs) AS p50,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY s.secs) AS p95, count(*) AS n
            FROM (SELECT extract(epoch FROM r.finished_at - r.started_at)::float8 AS secs FROM job_runs r
                  WHERE r.job = a.job AND r.started_at <= :as_of AND r.outcome = ANY(CAST(:done AS text[]))
                    AND r.finished_at IS NOT NULL
                  ORDER BY r.started_at DESC, r.run_id DESC LIMIT :sample) s) d ON true
        LEFT JOIN LATERAL (
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY y.gap) AS gap
            FROM (SELECT extract(epoch FROM x.started_at - lag(x.started_at) OVER (ORDER BY x.started_at))::float8 AS gap
                  FROM (SELECT r.started_at FROM job_runs r
                        WHERE r.job = a.job AND r.started_at <= :as_of AND r.outcome <> 'skipped'
                        ORDER BY r.started_at DESC, r.run_id DESC LIMIT :sample) x) y
            WHERE y.gap IS NOT NULL) g ON true
        ORDER BY a.pos NULLS LAST, a.job"""
    params = {**_catalogue_params(schedule), "as_of": as_of, "day_ago": as_of - timedelta(hours=24),
              "failure_since": as_of - FAILURE_LOOKBACK, "failed": list(FAILED), "done": list(DONE), "sample": sample}
    out = []
    for (job, kind, run_id, started, finished, outcome, read, written, error, ok_at, bad_at, bad_error,
         runs, failures, p50, p95, n, gap) in read_rows(db, sql, params)[1]:
        last = LastRun(run_id, started, finished, outcome, read, written, error) if run_id is not None else None
        interval = REPORT_SECONDS if kind == REPORT_KIND else schedule.get(job)
        out.append(JobHealth(job, kind, as_of, last, ok_at, bad_at, bad_error, int(runs), int(failures),
                             p50, p95, int(n), gap, interval))
    return tuple(out)


@dataclass(frozen=True)
class WorkerActivity:
    """Is the worker starting jobs at all? The newest start of a run of any scheduled job by `as_of`, against the
    smallest configured interval: "stuck" when none started for STALE_AFTER_INTERVALS of it (a worker alive
    but idle, or no worker), the WorkerStuck alert's condition; /metrics carries the same newest start."""

    as_of: datetime
    last_start: datetime | None    # started_at of the newest run of a scheduled job (None: none ever ran)
    last_job: str | None           # that run's job
    interval_seconds: int | None   # the smallest configured interval (None: nothing scheduled)

    @property
    def idle(self) -> timedelta | None:
        return self.as_of - self.last_start if self.last_start is not None else None

    @property
    def stuck_after(self) -> timedelta | None:
        return None if self.interval_seconds is None else timedelta(seconds=STALE_AFTER_INTERVALS * self.interval_seconds)

    @property
    def status(self) -> str:
        """never run | stuck | ok"""
        if self.idle is None:
            return "never run"
        return "stuck" if self.stuck_after is not None and self.idle > self.stuck_after else "ok"


def worker_activity(db: Db, as_of: datetime, schedule: Mapping[str, int] | None = None) -> WorkerActivity:
    """The newest run started by `as_of` of a job of `schedule` (`revwatch.schedule.judged_intervals(cfg)`; None reads
    the environment's settings): one index probe per job on job_runs (job, started_at)."""
    if schedule is None:
        schedule = judged_intervals(load_settings())
    rows = read_rows(db, """
        SELECT l.job, l.started_at FROM unnest(CAST(:jobs AS text[])) AS c(job)
        CROSS JOIN LATERAL (
            SELECT r.job, r.started_at FROM job_runs r WHERE r.job = c.job AND r.started_at <= :as_of
            ORDER BY r.started_at DESC LIMIT 1) l
        ORDER BY l.started_at DESC, l.job LIMIT 1""", {"jobs": list(schedule), "as_of": as_of})[1]
    job, started = rows[0] if rows else (None, None)
    return WorkerActivity(as_of, started, job, min(schedule.values()) if schedule else None)


def known_jobs(db: Db) -> list[str]:
    """The catalogue's jobs, its follow-ups, then any other job of the run log."""
    return [j for (j,) in read_rows(db, _ALL_JOBS + " SELECT job FROM all_jobs ORDER BY pos NULLS LAST, job",
                                _catalogue_params())[1]]


BUCKETS = (300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)  # seconds
MAX_POINTS = 200  # per job on the duration chart


def bucket_seconds(days: int) -> int:
    """The smallest bucket that keeps `days` within MAX_POINTS buckets."""
    return next((b for b in BUCKETS if days * 86400 / b <= MAX_POINTS), BUCKETS[-1])


def run_durations(db: Db, as_of: datetime, days: int = 7) -> pd.DataFrame:
    """job, bucket (start, UTC), runs, failures, p50_seconds, max_seconds: the finished, not
    skipped runs started in the last `days` days, per job and time bucket (`bucket_seconds`), so
    the chart has at most MAX_POINTS points per job however often the jobs run."""
    sql = _ALL_JOBS + """
        SELECT a.job, to_timestamp(floor(extract(epoch FROM r.started_at) / :bucket) * :bucket) AS bucket,
               count(*)::bigint AS runs,
               count(*) FILTER (WHERE r.outcome = ANY(CAST(:failed AS text[])))::bigint AS failures,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.finished_at - r.started_at)) AS p50_seconds,
               max(extract(epoch FROM r.finished_at - r.started_at))::float8 AS max_seconds
        FROM all_jobs a
        CROSS JOIN LATERAL (
            SELECT started_at, finished_at, outcome FROM job_runs r
            WHERE r.job = a.job AND r.started_at > :since AND r.started_at <= :as_of
              AND r.finished_at IS NOT NULL AND r.outcome <> 'skipped') r
        GROUP BY a.job, a.pos, 2
        ORDER BY 2, a.pos NULLS LAST, a.job"""
    return read_frame(db, sql, {**_catalogue_params(), "as_of": as_of, "since": as_of - timedelta(days=days),
                            "bucket": bucket_seconds(days), "failed": list(FAILED)})


RUN_LOG_COLUMNS = ["run_id", "job", "started_at", "finished_at", "seconds", "outcome", "rows_read", "rows_written",
                   "window_start", "window_end", "error"]


RUN_LOG_SHOWN = 500  # runs the Health page lists; its download carries all of them


def run_log(db: Db, jobs: tuple[str, ...] = (), outcomes: tuple[str, ...] = (),
            limit: int | None = RUN_LOG_SHOWN) -> pd.DataFrame:
    """The newest `limit` runs (None: every run) of the chosen jobs (empty: all) with the chosen outcomes (empty:
    all), newest first; each job's runs read through its (job, started_at) index."""
    sql = _ALL_JOBS + """
        SELECT r.run_id, a.job, r.started_at, r.finished_at,
               extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds, r.outcome,
               r.rows_read, r.rows_written, r.window_start, r.window_end, r.error
        FROM all_jobs a
        CROSS JOIN LATERAL (
            SELECT * FROM job_runs r
            WHERE r.job = a.job
              AND (cardinality(CAST(:outcomes AS text[])) = 0 OR r.outcome = ANY(CAST(:outcomes AS text[])))
            ORDER BY r.started_at DESC, r.run_id DESC LIMIT :limit) r
        WHERE cardinality(CAST(:chosen AS text[])) = 0 OR a.job = ANY(CAST(:chosen AS text[]))
        ORDER BY r.started_at DESC, r.run_id DESC LIMIT :limit"""
    return read_frame(db, sql, {**_catalogue_params(), "chosen": list(jobs), "outcomes": list(outcomes), "limit": limit})


def run_log_count(db: Db, jobs: tuple[str, ...] = (), outcomes: tuple[str, ...] = ()) -> int:
    """How many runs `run_log` has for these jobs and outcomes without a limit (the "of M" of "first N of M"):
    one count per job through its (job, started_at) index."""
    sql = _ALL_JOBS + """
        SELECT coalesce(sum(n), 0)::bigint FROM all_jobs a
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM job_runs r
            WHERE r.job = a.job
              AND (cardinality(CAST(:outcomes AS text[])) = 0 OR r.outcome = ANY(CAST(:outcomes AS text[])))) r
        WHERE cardinality(CAST(:chosen AS text[])) = 0 OR a.job = ANY(CAST(:chosen AS text[]))"""
    return int(read_rows(db, sql, {**_catalogue_params(), "chosen": list(jobs), "outcomes": list(outcomes)})[1][0][0])


@dataclass(frozen=True)
class RunRequest:
    """A request to run a job now (metrics/actions/job_requests.py) that no worker has taken, or that waited longer
    than RUN_REQUEST_EXPIRES and was dropped (`expired`: by a worker that found it late, or by the clock)."""

    job: str
    requested_by: str
    requested_at: datetime
    expired: bool = False


def waiting_requests(db: Db, as_of: datetime) -> dict[str, RunRequest]:
    """Per job, its newest request to run now of the last day that no worker ran: waiting, or dropped because no
    worker took it in time (the page says so: a request is never silently lost). A job asked for again shows the
    new request."""
    _, rows = read_rows(db, """
        SELECT job, requested_by, requested_at, taken_at IS NOT NULL OR requested_at <= :cutoff AS expired
        FROM (SELECT DISTINCT ON (job) job, requested_by, requested_at, taken_at, taken_by FROM job_run_requests
              WHERE requested_at > :since ORDER BY job, request_id DESC) newest
        WHERE taken_at IS NULL OR taken_by = :expired ORDER BY job""",
                        {"expired": EXPIRED_REQUEST, "cutoff": as_of - RUN_REQUEST_EXPIRES,
                         "since": as_of - timedelta(days=1)})
    return {r[0]: RunRequest(*r) for r in rows}
