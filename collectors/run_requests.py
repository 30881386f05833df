"""The worker's side of "run now" (issue 18): take the requests people made on the Health page
(metrics/actions/job_requests.py writes them), each once, whichever worker sees them first."""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Container

from sqlalchemy import Engine, text

from collectors.watchdog import first_line
from revwatch import clock
from revwatch.schedule import EXPIRED_REQUEST as EXPIRED
from revwatch.schedule import RUN_REQUEST_EXPIRES

log = logging.getLogger("revwatch.worker")

# Each waiting request once; one older than RUN_REQUEST_EXPIRES is taken as 'expired', not run.
TAKE = """
    UPDATE job_run_requests r SET taken_at = :now,
        taken_by = CASE WHEN r.requested_at > :cutoff THEN :by ELSE :expired END
    FROM (SELECT request_id FROM job_run_requests WHERE taken_at IS NULL ORDER BY request_id
          FOR UPDATE SKIP LOCKED) w
    WHERE r.request_id = w.request_id
    RETURNING r.job, r.taken_by"""


def take_requests(engine: Engine) -> list[str]:
    """The jobs asked for since the last look, each once (two workers never take the same request); requests no
    worker took in time are dropped (and said), not run."""
    now = clock.now()
    with engine.begin() as conn:
        taken = conn.execute(text(TAKE), {"now": now, "cutoff": now - RUN_REQUEST_EXPIRES, "expired": EXPIRED,
                                          "by": f"{socket.gethostname()}:{os.getpid()}"}).all()
    for job, by in taken:
        if by == EXPIRED:
            log.warning("%s: a request to run now waited more than %s for a worker; dropped, not run", job,
                        RUN_REQUEST_EXPIRES)
    return sorted({job for job, by in taken if by != EXPIRED})


def run_requested(engine: Engine, jobs: Container[str], run_now: Callable[[str], None]) -> list[str]:
    """Take the waiting requests and `run_now` each job asked for that is in `jobs` (one not in them is taken and
    logged); the jobs taken. Never raises: with the database away the requests wait for the next look."""
    try:
        asked = take_requests(engine)
    except Exception as exc:
        log.debug("run requests: %s", first_line(exc))
        return []
    for name in asked:
        if name in jobs:
            log.info("%s: run now, as asked on the Health page", name)
            run_now(name)
        else:
            log.warning("%s was asked to run now but is not in this worker's catalogue", name)
    return asked
