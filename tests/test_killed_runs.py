"""Killed runs (issue 15, point 8): a run killed by `kill -9` under `revwatch collect` is closed as abandoned by
the next run of any kind once its lock is free (collect too, not only a worker's start); a re-run that finds the
job's lock held by a killed client's backend waits for it, or says so and exits non-zero: never `skipped`
with exit code 0 and nothing done; and collect's own connections let a killed run's locks go within seconds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from revwatch.cli import main
from revwatch.runlog import ABANDONED
from tests.processes import ROOT, wait_for

# A `revwatch collect reconcile` as it looks to the database: the run lock, a 'running' row, then the job's own
# lock in a transaction busy in one long statement. Its connections carry collect's application name; only with
# `checked` do they ask PostgreSQL to notice a gone client (as collect's own do): without it, the backend of a
# killed client holds the job's lock until its statement ends, as the did.
KILLABLE = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from collectors.jobs import Job
    from collectors.runlocks import name_connections, run_locked
    from revwatch.db import engine_for, sqlalchemy_url
    from revwatch.runlog import recorded_run, try_job_lock
    from revwatch.settings import load_settings

    url, sleep, checked = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "checked"

    def slow(engine, cfg, start, end):
        with recorded_run(engine, "reconcile") as stats, engine.begin() as conn:
            try_job_lock(conn, "reconcile")
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": sleep})
        return stats

    if checked:
        engine = engine_for(url, pooled=False)
        name_connections(engine, "collect")
    else:
        import os, socket
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool
        name = f"revwatch collect {os.getpid()}@{socket.gethostname()[:40]}"
        engine = create_engine(sqlalchemy_url(url), poolclass=NullPool, connect_args={"application_name": name})
    run_locked(engine, Job("reconcile", "compute", "slow", slow), load_settings(database_url=url), None, None, 0)
""")


@pytest.fixture
def world(make_world, monkeypatch):
    world = make_world()
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR", "BANK_STATEMENTS_DIR", "GL_EXPORTS_DIR",
                 "FX_RATES_PATH", "WORKER_SCHEDULE", "BILLING_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return world



def _job_lock_held(world) -> bool:
    return bool(world.sql("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                          " AND classid = CAST(hashtext('revwatch.job') AS oid)"
                          " AND objid = CAST(hashtext('reconcile') AS oid)"
                          " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))


def _killed_run(world, sleep: float, checked: bool = False) -> int:
    """A `reconcile` run in its long statement, killed with SIGKILL; the pid of the killed process."""
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, world.url, str(sleep), "checked" if checked else "-"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    def in_its_statement():
        return world.sql("SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                         " AND query LIKE 'SELECT pg_sleep%%' AND state = 'active'")

    wait_for(lambda: in_its_statement() or proc.poll() is not None, 20, "the run never got to its statement")
    assert _job_lock_held(world)
    assert proc.poll() is None, proc.stdout.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert world.sql("SELECT outcome FROM job_runs WHERE job = 'reconcile'") == [("running",)]
    return proc.pid


def _collect(*args: str):
    return CliRunner().invoke(main, ["collect", *args])


def test_a_killed_collect_run_is_abandoned_by_the_next_collect_of_any_job(world):
    _killed_run(world, sleep=3)
    wait_for(lambda: not _job_lock_held(world), 20, "the killed run's backend never let its lock go")
    result = _collect("rollup-refunds")  # another job: the killed run is closed all the same
    assert result.exit_code == 0, result.output
    assert world.sql("SELECT outcome, error FROM job_runs WHERE job = 'reconcile'") == [("abandoned", ABANDONED)]
    assert world.sql("SELECT job, outcome FROM job_runs WHERE job <> 'reconcile'") == [("rollup-refunds", "succeeded")]


def test_a_rerun_waits_for_a_killed_client_s_backend_then_runs(world):
    _killed_run(world, sleep=4)
    assert _job_lock_held(world)  # the backend is still in its statement
    started = time.monotonic()
    result = _collect("reconcile", "--wait", "60")
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output and "reconcile" in result.output
    assert time.monotonic() - started < 30
    assert world.sql("SELECT outcome FROM job_runs WHERE job = 'reconcile' ORDER BY run_id") == [
        ("abandoned",), ("succeeded",)]


def test_a_rerun_that_cannot_wait_long_enough_says_who_holds_the_lock_and_fails(world):
    pid = _killed_run(world, sleep=120)
    try:
        result = _collect("reconcile", "--wait", "1")
        assert result.exit_code == 1, result.output
        assert "skipped" not in result.output
        assert "reconcile not run" in result.output and "backend pid" in result.output, result.output
        assert f"whose process {pid} is gone" in result.output, result.output
        assert world.sql("SELECT outcome FROM job_runs WHERE job = 'reconcile'") == [("running",)]  # still held
    finally:
        world.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                  " AND application_name LIKE 'revwatch collect%%' AND pid <> pg_backend_pid()")
    wait_for(lambda: not _job_lock_held(world), 20, "the backend did not end")
    assert _collect("reconcile").exit_code == 0
    assert world.sql("SELECT outcome FROM job_runs WHERE job = 'reconcile' ORDER BY run_id") == [
        ("abandoned",), ("succeeded",)]


def test_collect_s_connections_let_a_killed_run_s_locks_go_within_seconds(world):
    """With collect's own connection settings (collectors.runlocks.name_connections) PostgreSQL notices the
    gone client while the statement runs, ends the backend, and the job's lock is free long before it ends."""
    _killed_run(world, sleep=120, checked=True)
    started = time.monotonic()
    wait_for(lambda: not _job_lock_held(world), 15, "the killed client's backend kept the lock")
    assert time.monotonic() - started < 15
    result = _collect("reconcile")
    assert result.exit_code == 0 and "skipped" not in result.output, result.output
