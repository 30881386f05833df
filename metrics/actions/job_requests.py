"""An engineer asks for a job to run now, from the Health page (issue 18): a row in `job_run_requests` that the
worker takes within seconds (collectors/scheduler.py) and runs once, under the job's run lock like any run. The
request names its person (Identity.actor) and is in the audit log; one request a job waits at a time."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from revwatch import audit, clock
from revwatch.identity import Identity, Permission, require
from revwatch.schedule import CATALOGUE, RUN_REQUEST_EXPIRES


class RunRefused(ValueError):
    """The job cannot be asked for now; nothing was written."""

    def __init__(self, job: str, why: str) -> None:
        self.job, self.why = job, why
        super().__init__(f"cannot run {job} now: {why}")


def request_run(conn: Connection, job: str, who: Identity, now: datetime | None = None) -> int:
    """Ask for `job` to run now as `who` (a role that may operate jobs); the request's id. Refused for a job not in
    the catalogue, and while a request for it still waits for a worker (one older than RUN_REQUEST_EXPIRES no longer
    waits: no worker will run it)."""
    require(who, Permission.OPERATE, f"run {job} now")
    if job not in CATALOGUE:
        raise RunRefused(job, f"it is not a job; the jobs are {', '.join(CATALOGUE)}")
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('job_run_requests'), hashtext(:job))"), {"job": job})
    at = now or clock.now()
    waiting = conn.execute(text("SELECT requested_by, requested_at FROM job_run_requests WHERE job = :job"
                                " AND taken_at IS NULL AND requested_at > :cutoff ORDER BY request_id LIMIT 1"),
                           {"job": job, "cutoff": at - RUN_REQUEST_EXPIRES}).first()
    if waiting is not None:
        raise RunRefused(job, f"{waiting.requested_by} asked for it at {waiting.requested_at:%H:%M:%S} UTC and it "
                              "waits for a worker to take it")
    request_id = conn.execute(text("INSERT INTO job_run_requests (job, requested_by, requested_at) VALUES"
                                   " (:job, :actor, :at) RETURNING request_id"),
                              {"job": job, "actor": who.actor, "at": at}).scalar_one()
    audit.append(conn, who.actor, "job.run_now", f"job:{job}", {"request_id": request_id})
    return int(request_id)
