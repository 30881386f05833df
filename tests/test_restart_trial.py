"""The restart trial (issue 15, "Survive the database"): a real worker process (`revwatch worker`, every job
every 2 s, a small demo world) on a PostgreSQL of its own, and that server restarted (`pg_ctl restart -m
fast`, every fourth time a stop, a pause of 1-5 s and a start) at least 20 times at random moments of the
worker's cycle: half just as a run starts (a batch start, where the issue's worker died), half after a random
pause. After each restart:

- the worker resumes: a run that started after the restart succeeds within RESUME_SECONDS;
- the runs the restart cut off are closed (failed with the reason, or abandoned) by the next sweep, never
  left `running`;
- no run record is lost: every run id seen before is still there, and the count never goes down.

It prints its figures (trials, resumed, lost, slowest resume, time). Marked `trial` (excluded from the
default run): `.venv/bin/python -m pytest -m trial -p no:cacheprovider tests/test_restart_trial.py -s`.
REVWATCH_TRIALS sets the number of restarts (at least 20 by default).

The server is private (pgserver's binaries, a data folder in tmp, a Unix socket there): the shared test
server other tests use is never restarted.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.private_postgres import PrivatePostgres
from tests.processes import ROOT

pytestmark = [pytest.mark.trial, pytest.mark.timeout(1800)]

TRIALS = max(int(os.environ.get("REVWATCH_TRIALS", "20")), 1)
RESUME_SECONDS = 60
SCHEDULE = "*=2"


def _rows(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def _until(condition, timeout: float, poll: float = 0.25):
    """condition()'s first truthy value within `timeout` s (a database still starting counts as not yet), else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except psycopg.OperationalError:
            value = None
        if value:
            return value
        time.sleep(poll)
    return None


def test_the_worker_survives_twenty_restarts_of_its_database(tmp_path: Path):
    rng = random.Random(int(os.environ.get("REVWATCH_TRIAL_SEED", "15")))
    with PrivatePostgres() as pg:
        url = pg.create_database("revwatch")
        data = tmp_path / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "ADYEN_", "BANK_", "GL_", "FX_"))}
        env.update(DATABASE_URL=url, REVWATCH_DATA_DIR=str(data), WORKER_SCHEDULE=SCHEDULE, METRICS_PORT="0",
                   PYTHONUNBUFFERED="1")
        env.pop("BILLING_DATABASE_URL", None)
        demo = subprocess.run([sys.executable, "-m", "revwatch.cli", "demo", "--days", "7", "--sites", "2", "--scale",
                               "0.05", "--seed", "5"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
                              check=False)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        log_path = tmp_path / "worker.log"
        with log_path.open("w") as log:
            worker = subprocess.Popen([sys.executable, "-m", "revwatch.cli", "worker"], env=env, cwd=ROOT,
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            figures = _trials(pg, worker, rng, log_path)
        finally:
            worker.terminate()
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        output = log_path.read_text()
    print(f"\nrestart trial: trials {figures['trials']}, resumed {figures['resumed']}, lost {figures['lost']},"
          f" cut-off runs {figures['cut_off']} (closed {figures['closed']}: {figures['outcomes']}),"
          f" slowest resume {figures['slowest']:.1f} s, time {figures['time']:.0f} s;"
          f" the worker's log: {output.count('the job store failed')} job store retries,"
          f" {output.count('restarting the scheduler')} scheduler restarts")
    assert figures["trials"] >= min(TRIALS, 20) and figures["resumed"] == figures["trials"], figures
    assert figures["lost"] == 0 and figures["closed"] == figures["cut_off"], figures
    assert "Exception in thread" not in output, output[-5000:]


def _trials(pg: PrivatePostgres, worker: subprocess.Popen, rng: random.Random, log_path: Path) -> dict:
    url = pg.url("revwatch")
    started = time.monotonic()

    def succeeded_after(run_id: int):
        assert worker.poll() is None, f"the worker exited with {worker.returncode}:\n{log_path.read_text()[-5000:]}"
        return _rows(url, "SELECT min(run_id) FROM job_runs WHERE run_id > %s AND outcome = 'succeeded'", (run_id,))[0][0]

    assert _until(lambda: succeeded_after(0), 120), f"the worker never ran a job:\n{log_path.read_text()[-5000:]}"
    seen: set[int] = set()
    lost: set[int] = set()
    figures = {"trials": 0, "resumed": 0, "lost": 0, "cut_off": 0, "closed": 0, "slowest": 0.0, "outcomes": {}}
    for trial in range(TRIALS):
        # a random moment of the cycle: just as a run starts (a batch start), or after a random pause
        newest = _rows(url, "SELECT coalesce(max(run_id), 0) FROM job_runs")[0][0]
        if trial % 2 == 0:
            _until(lambda newest=newest: _rows(url, "SELECT max(run_id) FROM job_runs")[0][0] > newest, 10, poll=0.02)
        else:
            time.sleep(rng.uniform(0, 4))
        before = {run_id for run_id, in _rows(url, "SELECT run_id FROM job_runs")}
        lost |= seen - before
        seen |= before
        if trial % 4 == 3:  # now and then the server stays down a few seconds
            pg.stop()
            time.sleep(rng.uniform(1, 5))
            pg.start()
        else:
            pg.restart()
        figures["trials"] += 1
        restarted = time.monotonic()
        after = _until(lambda: _rows(url, "SELECT coalesce(max(run_id), 0) FROM job_runs")[0][0], 30)
        assert after, "the database did not come back"
        cut_off = {run_id for run_id, in _rows(url, "SELECT run_id FROM job_runs WHERE finished_at IS NULL"
                                                    " AND run_id <= %s", (after,))}
        resumed = _until(lambda after=after: succeeded_after(after), RESUME_SECONDS)
        if resumed:
            figures["resumed"] += 1
            figures["slowest"] = max(figures["slowest"], time.monotonic() - restarted)
        # the runs cut off are closed by the next sweep (each job's next run), well within the minute
        if cut_off:
            _until(lambda cut_off=cut_off: not _rows(url, "SELECT 1 FROM job_runs WHERE finished_at IS NULL"
                                                          " AND run_id = ANY(%s)", (list(cut_off),)), RESUME_SECONDS)
            for outcome, n in _rows(url, "SELECT outcome, count(*) FROM job_runs WHERE run_id = ANY(%s)"
                                         " AND finished_at IS NOT NULL GROUP BY outcome", (list(cut_off),)):
                figures["outcomes"][outcome] = figures["outcomes"].get(outcome, 0) + n
                figures["closed"] += n
            figures["cut_off"] += len(cut_off)
        now = {run_id for run_id, in _rows(url, "SELECT run_id FROM job_runs")}
        lost |= seen - now
        seen |= now
        figures["lost"] = len(lost)
        if not resumed:
            print(f"trial {trial}: no run succeeded within {RESUME_SECONDS} s of the restart")
    figures["time"] = time.monotonic() - started
    return figures
