"""What every runner of a job shares (a worker, `revwatch collect`): the run lock, closing runs nobody finishes,
and saying who holds a lock.

- **Two locks.** A runner holds the job's *run lock* (session advisory lock `revwatch.worker`, job) across the
  whole run, run-log rows included; inside, the job takes its own transaction lock (`revwatch.job`, job:
  revwatch.runlog.try_job_lock). Two runs of one job never overlap, whoever starts them.
- **Runs nobody finishes.** A run left `running` (its process killed, crashed, or its connection cut by a
  database restart) is closed as `abandoned` (revwatch.runlog.ABANDONED) by the next runner that gets both
  locks: a worker at its start and before each run, `revwatch collect` at its start and before each job.
- **A killed client's backend** keeps its locks until PostgreSQL notices the client is gone: at once for an
  idle connection, but only when its statement ends for a busy one. Runners' connections therefore ask
  PostgreSQL to check for a gone client every CLIENT_CHECK while a statement runs, and carry an
  application_name with the runner's pid and host, so a runner that finds a lock taken can say by whom.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, event, text

from revwatch import clock
from revwatch.runlog import JOB_LOCK_KEY, JobLocked, RunStats, mark_abandoned, recorded_run
from revwatch.settings import Settings

if TYPE_CHECKING:
    from collectors.jobs import Job

log = logging.getLogger("revwatch.worker")

# A runner's lock on a job for a whole run (bind :j); a different key from the job's own lock.
WORKER_LOCK_KEY = "hashtext('revwatch.worker'), hashtext(:j)"
RUN_LOCK, WORK_LOCK = "revwatch.worker", "revwatch.job"  # the first keys of the two (holders are looked up by them)
RECENT = timedelta(days=7)  # the sweep before each run looks this far back; a runner's start looks at all
CLIENT_CHECK = "2s"  # client_connection_check_interval of runners' connections
POLL_SECONDS = 0.5   # how often a runner waiting for a lock tries again


_named: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()  # engines name_connections set up


class LockHeld(Exception):
    """A job's lock stayed taken for as long as the runner would wait: the job did not run (says who holds it)."""


@contextmanager
def lock_session(engine: Engine) -> Iterator[Connection]:
    """A connection of its own in autocommit, for session advisory locks: no transaction stays open."""
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        yield conn
    finally:
        conn.close()


def try_lock(conn: Connection, key: str, job: str) -> bool:
    return bool(conn.execute(text(f"SELECT pg_try_advisory_lock({key})"), {"j": job}).scalar_one())


def unlock(conn: Connection, key: str, job: str) -> None:
    try:
        conn.execute(text(f"SELECT pg_advisory_unlock({key})"), {"j": job})
    except Exception:
        conn.invalidate()  # never hand a connection that may still hold the lock back to the pool
        raise


def sweep(conn: Connection, job: str, since: datetime | None) -> int:
    """With the run lock on `job` held: close its runs left 'running' if the job's own lock is free too."""
    if not try_lock(conn, JOB_LOCK_KEY, job):
        return 0  # someone is running it right now (or a killed client's backend still holds it)
    try:
        closed = mark_abandoned(conn, job, since)
    finally:
        unlock(conn, JOB_LOCK_KEY, job)
    if closed:
        log.warning("%s: %d run(s) left running by a process that stopped marked abandoned", job, closed)
    return closed


def record_skipped(engine: Engine, job: str, why: str) -> RunStats:
    """A `skipped` run of `job` in the run log (another process holds its run lock), saying why."""
    with recorded_run(engine, job) as stats:
        raise JobLocked(why)
    return stats


def first_loads_running(engine: Engine, jobs: tuple[str, ...]) -> list[str]:
    """Those of `jobs` (ingests) whose first load is running now (a run in progress and none succeeded yet) or
    stopped half way (load_progress unfinished: its copies may lack their indexes until it resumes)."""
    if not jobs:
        return []
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT j FROM unnest(CAST(:jobs AS text[])) j"
            " WHERE EXISTS (SELECT 1 FROM job_runs r WHERE r.job = j AND r.finished_at IS NULL)"
            " AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job = j AND r.outcome = 'succeeded')"
            " OR EXISTS (SELECT 1 FROM load_progress p WHERE p.job = j AND p.finished_at IS NULL)"),
            {"jobs": list(jobs)}).scalars())


def last_run(engine: Engine, job: str) -> tuple[str, str | None] | None:
    """(outcome, error) of `job`'s newest run, None before its first."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT outcome, error FROM job_runs WHERE job = :j ORDER BY started_at DESC, run_id DESC"
                                " LIMIT 1"), {"j": job}).first()
    return None if row is None else (row[0], row[1])


def abandon_dead_runs(engine: Engine) -> int:
    """Close every run left 'running' whose job nobody holds a lock on (a runner's start)."""
    closed = 0
    with lock_session(engine) as conn:
        names = conn.execute(text("SELECT DISTINCT job FROM job_runs WHERE finished_at IS NULL")).scalars().all()
        for name in names:
            if try_lock(conn, WORKER_LOCK_KEY, name):
                try:
                    closed += sweep(conn, name, None)
                finally:
                    unlock(conn, WORKER_LOCK_KEY, name)
    return closed


def holders(conn: Connection, job: str) -> str:
    """Who holds `job`'s run or work lock, in words (backend pid, application, state and since when)."""
    rows = conn.execute(text("""
        SELECT DISTINCT a.pid, coalesce(nullif(a.application_name, ''), 'no application name'), a.state,
               a.state_change, a.backend_start
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.objid = CAST(hashtext(:j) AS oid)
          AND l.classid IN (CAST(hashtext(:run) AS oid), CAST(hashtext(:work) AS oid))
        ORDER BY a.pid"""), {"j": job, "run": RUN_LOCK, "work": WORK_LOCK}).all()
    if not rows:
        return "a process that let it go just now"
    now = clock.now()
    return "; ".join(f"backend pid {pid} ({app}, {state or 'unknown state'} for {_age(now, since)}{_client(app)})"
                     for pid, app, state, since, _ in rows)


def _age(now: datetime, since: datetime | None) -> str:
    return "?" if since is None else f"{max((now - since).total_seconds(), 0):.0f} s"


def _client(application: str) -> str:
    """', whose process is gone' when the application name is a runner's on this host whose pid no longer runs."""
    parts = application.split()
    if len(parts) < 3 or parts[0] != "revwatch" or "@" not in parts[2]:
        return ""
    pid, _, host = parts[2].partition("@")
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return ""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f", whose process {pid} is gone: PostgreSQL ends it when it notices"
    except PermissionError:
        pass
    return ""


def _wait_for(conn: Connection, key: str, job: str, deadline: float) -> bool:
    while not try_lock(conn, key, job):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def run_locked(engine: Engine, job: Job, cfg: Settings, start: datetime | None, end: datetime | None, wait: float) -> RunStats:
    """Run `job` once, as `revwatch collect` does: under the run lock workers take, waiting up to `wait` s for
    it and for the job's own lock (a killed client's backend may hold it a while), its runs left running
    closed first. LockHeld, naming the holder, when a lock stays taken: the job did not run."""
    deadline = time.monotonic() + wait
    waited = time.monotonic()
    with lock_session(engine) as conn:
        if not _wait_for(conn, WORKER_LOCK_KEY, job.name, deadline):
            raise LockHeld(f"{job.name} not run: after {wait:.0f} s it is still being run by {holders(conn, job.name)}")
        try:
            if not _wait_for(conn, JOB_LOCK_KEY, job.name, deadline):
                raise LockHeld(f"{job.name} not run: after {wait:.0f} s its lock is still held by"
                               f" {holders(conn, job.name)}")
            try:
                closed = mark_abandoned(conn, job.name, clock.now() - RECENT)
            finally:
                unlock(conn, JOB_LOCK_KEY, job.name)
            if closed:
                log.warning("%s: %d run(s) left running by a process that stopped marked abandoned", job.name, closed)
            if time.monotonic() - waited > 1:
                log.info("%s: waited %.0f s for its lock", job.name, time.monotonic() - waited)
            return job.run(engine, cfg, start, end)
        finally:
            unlock(conn, WORKER_LOCK_KEY, job.name)


def name_connections(engine: Engine, role: str) -> None:
    """Runners' connections: application_name `revwatch <role> <pid>@<host>`, and PostgreSQL checks for a gone
    client every CLIENT_CHECK while a statement runs (so a killed runner's locks are let go within seconds)."""
    if _named.get(engine) == role:
        return
    name = f"revwatch {role} {os.getpid()}@{socket.gethostname()[:40]}"[:63]

    def on_connect(dbapi_connection, _record) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("SELECT set_config('application_name', %s, false)", (name,))
            dbapi_connection.execute(f"SET client_connection_check_interval = '{CLIENT_CHECK}'")
        except Exception as exc:  # a server or platform without the check: the name alone still helps
            log.debug("client_connection_check_interval not set: %s", exc)
        finally:
            dbapi_connection.autocommit = autocommit

    event.listen(engine, "connect", on_connect)
    _named[engine] = role
    engine.dispose()  # connections made before this point lack both
