"""The worker's side of "run now" (issue 18): take the requests people made on the Health page
(metrics/actions/job_requests.py writes them), each once, whichever worker sees them first."""
from __future__ import annotations

import os
import socket

from sqlalchemy import Engine, text

from revwatch import clock

TAKE = """
    UPDATE job_run_requests r SET taken_at = :now, taken_by = :by
    FROM (SELECT request_id FROM job_run_requests WHERE taken_at IS NULL ORDER BY request_id
          FOR UPDATE SKIP LOCKED) w
    WHERE r.request_id = w.request_id
    RETURNING r.job"""


def take_requests(engine: Engine) -> list[str]:
    """The jobs asked for since the last look, each once (two workers never take the same request)."""
    with engine.begin() as conn:
        jobs = conn.execute(text(TAKE), {"now": clock.now(), "by": f"{socket.gethostname()}:{os.getpid()}"}).scalars()
        return sorted(set(jobs))
