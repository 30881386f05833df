"""The run log: every ingest or compute run is recorded (job, window, rows, outcome, error).

The 'running' row is committed before the work starts, in its own transaction, so a run that
dies half-way still leaves a trace; the work itself happens in the caller's transaction. The
finishing transaction also appends a `job.run` entry to the audit log (revwatch/audit.py); when its
connection is lost (a database restart) it is tried again for FINISH_RETRY_SECONDS, so a run the
restart cut off is recorded `failed` with the driver's reason. A run left 'running' by a process that
died is closed as 'abandoned' by the next run of any kind (a worker, `revwatch collect`:
collectors/runlocks.py), once no one holds its locks.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from revwatch import audit, clock


@dataclass
class RunStats:
    """Counters a job fills in while it works."""

    rows_read: int = 0
    rows_written: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    outcome: str = "succeeded"  # or "partial": the run did all it was allowed to, `detail` says what it was not
    detail: str | None = None  # recorded as the run's error when the run itself raised none
    locked: bool = False  # skipped because another process held the job's lock (JobLocked)


class JobSkipped(Exception):
    """This run does nothing and says so (its source is not configured, or another process holds its lock)."""


class JobLocked(JobSkipped):
    """Another process holds the job's lock (try_job_lock): the run is recorded skipped, with RunStats.locked set."""


@contextmanager
def recorded_run(engine: Engine, job: str, start: datetime | None = None, end: datetime | None = None) -> Iterator[RunStats]:
    stats = RunStats(window_start=start, window_end=end)
    with engine.begin() as conn:
        run_id = conn.execute(
            text("INSERT INTO job_runs (job, started_at, window_start, window_end) VALUES (:job, :at, :s, :e)"
                 " RETURNING run_id"),
            {"job": job, "at": clock.now(), "s": start, "e": end},
        ).scalar_one()
    error = None
    try:
        yield stats
        error = stats.detail
    except JobSkipped as exc:
        stats.outcome, error, stats.locked = "skipped", str(exc), isinstance(exc, JobLocked)
    except BaseException as exc:
        stats.outcome = "failed"
        cause = getattr(exc, "orig", None) or exc  # the driver's own message, without SQLAlchemy's echo of the SQL
        error = f"{type(cause).__name__}: {cause}".strip()
        raise
    finally:
        _finish(engine, job, run_id, stats, error)


# A run whose finishing write meets a lost connection (the database restarting) tries it again this long
# before giving up; a run still 'running' after that is closed as abandoned by the next sweep.
FINISH_RETRY_SECONDS = 30.0


def _finish(engine: Engine, job: str, run_id: int, stats: RunStats, error: str | None) -> None:
    """Record the run's end (and its audit entry) in one transaction, again while the connection is lost."""
    deadline, pause = time.monotonic() + FINISH_RETRY_SECONDS, 0.25
    while True:
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE job_runs SET finished_at = :at, outcome = :o, error = :err,"
                        " rows_read = :r, rows_written = :w, window_start = :s, window_end = :e WHERE run_id = :id"
                    ),
                    {"at": clock.now(), "o": stats.outcome, "err": error, "r": stats.rows_read,
                     "w": stats.rows_written, "s": stats.window_start, "e": stats.window_end, "id": run_id},
                )
                audit.append(conn, audit.SYSTEM_ACTOR, "job.run", job, {
                    "run_id": run_id, "outcome": stats.outcome, "rows_read": stats.rows_read,
                    "rows_written": stats.rows_written, "window_start": _iso(stats.window_start),
                    "window_end": _iso(stats.window_end), "error": error})
            return
        except DBAPIError as exc:
            lost = isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated
            if not lost or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 4.0)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# The advisory lock key of a job's work (bind :j to the job's name).
JOB_LOCK_KEY = "hashtext('revwatch.job'), hashtext(:j)"
# Why a run nobody finishes is closed: its process was stopped or killed, or its connection cut (a
# database restart), before it finished; its transaction rolled back whole.
ABANDONED = "its process or database connection ended before the run finished; its work was rolled back"


def try_job_lock(conn, job: str) -> None:
    """Take the job's advisory lock for this transaction, so concurrent workers run it once."""
    got = conn.execute(text(f"SELECT pg_try_advisory_xact_lock({JOB_LOCK_KEY})"), {"j": job}).scalar_one()
    if not got:
        raise JobLocked(f"{job} is already running in another process")


def mark_abandoned(conn, job: str, since: datetime | None = None) -> int:
    """Close the job's runs still marked running (started at or after `since`) as abandoned.

    Only for runs nobody is doing any more: the caller holds the job's locks (or knows that the
    process doing them is about to end). Returns how many runs were closed.
    """
    recent = "" if since is None else " AND started_at >= :since"  # (job, started_at) is indexed
    return conn.execute(
        text("UPDATE job_runs SET outcome = 'abandoned', finished_at = :at, error = :err"
             f" WHERE job = :j AND finished_at IS NULL{recent}"),
        {"at": clock.now(), "j": job, "err": ABANDONED, "since": since},
    ).rowcount
