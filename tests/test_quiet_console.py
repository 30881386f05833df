"""A quiet console: a run that outlasts its interval (a first load) is said once, at INFO, not APScheduler's
"maximum number of running instances reached" WARNING at every interval (collectors/scheduler.py)."""
from __future__ import annotations

import logging
import time

from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from sqlalchemy import text

from collectors.jobs import Job
from collectors.scheduler import MAX_INSTANCES_TEXT, Worker
from revwatch.runlog import recorded_run, try_job_lock
from tests.processes import wait_for


def _job(name: str, sleep: float) -> Job:
    """A catalogue entry shaped like the real ones: recorded, under the job's own lock, sleeping a while."""
    def run(engine, cfg, start, end):
        with recorded_run(engine, name) as stats, engine.begin() as conn:
            try_job_lock(conn, name)
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": sleep})
        return stats

    return Job(name, "compute", f"sleeps {sleep} s", run)


def _cfg(world, schedule: str):
    return world.cfg.model_copy(update={"worker_schedule": schedule})


def _runs(world, job: str) -> list[tuple]:
    return world.sql("SELECT started_at, finished_at, outcome, error FROM job_runs WHERE job = %s ORDER BY run_id", (job,))


def test_a_run_that_outlasts_its_interval_is_said_once_at_info(make_world, caplog):
    world = make_world()
    caplog.set_level(logging.DEBUG, logger="revwatch.worker")  # APScheduler's WARNINGs pass at any level set
    worker = Worker(world.engine, _cfg(world, "*=1"), {"slow": _job("slow", 4.5)})
    skipped: list[object] = []
    worker.start()
    try:
        worker.scheduler.add_listener(skipped.append, EVENT_JOB_MAX_INSTANCES)
        wait_for(lambda: len(skipped) >= 3, 15, "the slow run was never found still running")
        wait_for(lambda: any(o == "succeeded" for _, _, o, _ in _runs(world, "slow")), 15, "the slow run never ended")
        first_run_skips = len(skipped)
        # the second run outlasts its interval too: said once more
        wait_for(lambda: len(skipped) >= first_run_skips + 2, 15, "the second run was never found still running")
    finally:
        assert worker.stop(15)
    messages = [r.getMessage() for r in caplog.records]
    said = [r for r in caplog.records if "is still running" in r.getMessage()]
    assert not [m for m in messages if MAX_INSTANCES_TEXT in m], "APScheduler's WARNING every interval"
    assert len(said) == 2, [r.getMessage() for r in said]  # one line a run, though each skipped several runs
    assert {r.levelno for r in said} == {logging.INFO}
    assert said[0].getMessage().startswith("slow is still running (since ") and said[0].getMessage().endswith(
        " UTC): its next runs are skipped until it ends")


def test_a_run_within_its_interval_says_nothing(make_world, caplog):
    world = make_world()
    caplog.set_level(logging.DEBUG, logger="revwatch.worker")
    worker = Worker(world.engine, _cfg(world, "*=1"), {"quick": _job("quick", 0.0)})
    worker.start()
    try:
        time.sleep(2.5)
    finally:
        assert worker.stop(10)
    assert not [r for r in caplog.records if "is still running" in r.getMessage()]
