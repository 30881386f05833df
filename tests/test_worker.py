"""`revwatch worker`: one job catalogue (revwatch/schedule.py) bound to its run functions, the schedule
(parsed, persisted, shared), each run once across workers, runs nobody finishes closed as abandoned,
misfires coalesced, the weekly report's job as the CLI wires it, SIGTERM, /metrics."""
from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from datetime import timedelta
from itertools import pairwise

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from collectors.compute.payment_rollups import PAYMENT_ROLLUPS
from collectors.compute.rollups import ROLLUPS
from collectors.jobs import JOBS, RUNS, Job, bind
from collectors.scheduler import REQUEST_POLL_SECONDS, REQUESTS_JOB, Worker, abandon_dead_runs
from revwatch import clock
from revwatch.cli import main
from revwatch.runlog import ABANDONED, RunStats, recorded_run, try_job_lock
from revwatch.schedule import CATALOGUE, COMPUTE_SECONDS, REPORT_CRON, REPORT_JOB, intervals
from revwatch.settings import SettingsError, load_settings
from tests.processes import ROOT, free_port, wait_for
from tests.worlds.demo import SMALL_WORLD


def _job(name: str, sleep: float = 0.0) -> Job:
    """A catalogue entry shaped like the real ones: recorded, under the job's own lock, sleeping a while."""
    def run(engine, cfg, start, end):
        with recorded_run(engine, name) as stats, engine.begin() as conn:
            try_job_lock(conn, name)
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": sleep})
        return stats

    return Job(name, "compute", f"sleeps {sleep} s", run)


def _cfg(world, schedule: str):
    return world.cfg.model_copy(update={"worker_schedule": schedule})


# advisory locks held in this world's database (other test runs share the server)
OWN_ADVISORY_LOCKS = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                      " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")



def _runs(world, job: str) -> list[tuple]:
    return world.sql("SELECT started_at, finished_at, outcome, error FROM job_runs WHERE job = %s ORDER BY run_id", (job,))


def _outcomes(world, job: str) -> list[str]:
    """The outcomes so far; a run still going says 'running', so wait on what it ends as, not on its row."""
    return [outcome for _, _, outcome, _ in _runs(world, job)]


# ------------------------------------------------------------------ the one catalogue
def test_every_catalogue_job_is_bound_to_its_run_function():
    assert list(JOBS) == list(CATALOGUE)  # the catalogue's order: ingest before the compute over it
    for name, job in JOBS.items():
        spec = CATALOGUE[name]
        assert (job.name, job.kind, job.description, job.every) == (spec.name, spec.kind, spec.description, spec.every)
        assert job.run is RUNS[name]
    assert {spec.kind for spec in CATALOGUE.values()} == {"ingest", "compute"}
    assert REPORT_JOB not in CATALOGUE  # a cron job of its own (REPORT_CRON), not an interval
    assert REPORT_CRON == {"day_of_week": "mon", "hour": 7, "minute": 0}


def test_a_name_on_one_side_only_fails_the_binding():
    runs = dict(RUNS)
    del runs["reconcile"]
    with pytest.raises(RuntimeError, match="no run function for reconcile"):
        bind(CATALOGUE, runs)
    with pytest.raises(RuntimeError, match="not in the catalogue: export-ledger"):
        bind(CATALOGUE, {**RUNS, "export-ledger": RUNS["reconcile"]})


def test_each_rollup_job_is_described_by_its_tables():
    for rollup in (*ROLLUPS, *PAYMENT_ROLLUPS):
        assert CATALOGUE[rollup.name].description == f"hourly rollup of {rollup.source_table} into {rollup.target}"


# ------------------------------------------------------------------ the schedule
def test_schedule_defaults_and_overrides():
    default = intervals(load_settings(worker_schedule=""))
    assert default == {name: spec.every for name, spec in CATALOGUE.items()}
    assert list(default) == list(JOBS)
    assert default["ingest-billing"] == 60
    assert {default[j] for j in ("ingest-stripe", "ingest-adyen", "ingest-bank", "ingest-ledger", "ingest-fx")} == {300}
    assert {default[name] for name, job in JOBS.items() if job.kind == "compute" and name != "reconcile"} == {120}
    assert default["reconcile"] == 300

    every = intervals(load_settings(worker_schedule=" *=5 , reconcile=600"))
    assert every == {name: 600 if name == "reconcile" else 5 for name in JOBS}
    assert intervals(load_settings(worker_schedule="ingest-fx=3600"))["ingest-fx"] == 3600
    # a test's own job, without an interval of its own: its kind's default; WORKER_SCHEDULE still applies
    own = {"tick": _job("tick")}
    assert intervals(load_settings(worker_schedule=""), own) == {"tick": COMPUTE_SECONDS}
    assert intervals(load_settings(worker_schedule="tick=7"), own) == {"tick": 7}
    assert Worker(None, load_settings(worker_schedule="*=9")).intervals == dict.fromkeys(CATALOGUE, 9)


@pytest.mark.parametrize("bad", ["ingest-billing", "ingest-billing=soon", "ingest-billing=0", "=60",
                                 "ingest-fx=60,ingest-fx=90", "*=-5"])
def test_a_bad_schedule_names_the_variable(bad):
    with pytest.raises(SettingsError, match="WORKER_SCHEDULE"):
        load_settings(worker_schedule=bad)


def test_unknown_jobs_in_the_schedule_are_named(make_world):
    with pytest.raises(SettingsError, match="WORKER_SCHEDULE: unknown job\\(s\\) ingest-bilin, rollup-x"):
        intervals(load_settings(worker_schedule="ingest-bilin=5,rollup-x=9,ingest-fx=60"))
    world = make_world()
    env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir), "WORKER_SCHEDULE": "ingest-bilin=5"}
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 1 and "WORKER_SCHEDULE" in result.output and "ingest-bilin" in result.output
    assert world.sql("SELECT count(*) FROM job_runs") == [(0,)]  # checked before anything runs


def test_once_runs_every_job_in_catalogue_order_and_fails_when_one_failed(make_world):
    world = make_world()  # no billing schema: ingest-billing fails, the others still run
    env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir), "METRICS_PORT": "0"}
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR", "BANK_STATEMENTS_DIR", "GL_EXPORTS_DIR",
                 "FX_RATES_PATH", "WORKER_SCHEDULE"):
        env[name] = None
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 1 and "failed: ingest-billing" in result.output, result.output
    assert [job for job, in world.sql("SELECT job FROM job_runs ORDER BY run_id")] == list(JOBS)
    assert world.sql("SELECT count(*) FROM job_runs WHERE finished_at IS NULL") == [(0,)]


def test_the_schedule_is_persisted_and_shared_by_workers(make_world):
    world = make_world()
    jobs = {"tick": _job("tick"), "tock": _job("tock")}
    cfg = _cfg(world, "tick=90,tock=60")
    first = Worker(world.engine, cfg, jobs)
    first.start()
    second = None
    try:
        # new jobs run at once (the more frequent first), then every interval
        wait_for(lambda: world.sql("SELECT count(*) FROM job_runs WHERE outcome = 'succeeded'")[0][0] == 2, 15, "no first runs")
        assert world.sql("SELECT job FROM job_runs ORDER BY run_id") == [("tock",), ("tick",)]
        wait_for(lambda: all(t > clock.wall() + timedelta(seconds=50) for t in first.next_run_times().values()),
              5, "next runs not rescheduled")
        persisted = first.next_run_times()
        assert sorted(persisted) == ["tick", "tock"]
        assert sorted(world.sql("SELECT id FROM apscheduler_jobs")) == [(REQUESTS_JOB,), ("tick",), ("tock",)]

        second = Worker(world.engine, cfg, jobs)  # another worker (or a restart) on the same database
        second.start()
        assert second.next_run_times() == persisted  # the same jobs, the same next run times: not pushed back
        time.sleep(1)
        assert world.sql("SELECT count(*) FROM job_runs") == [(2,)]  # and nothing ran again
    finally:
        first.stop(10)
        if second:
            second.stop(10)

    # a changed interval takes effect at the next start, a job the catalogue dropped leaves the schedule
    third = Worker(world.engine, _cfg(world, "tick=5"), {"tick": jobs["tick"]})
    third.start()
    try:
        assert sorted(world.sql("SELECT id FROM apscheduler_jobs")) == [(REQUESTS_JOB,), ("tick",)]
        assert third.next_run_times()["tick"] <= clock.wall() + timedelta(seconds=5)
    finally:
        third.stop(10)


# ------------------------------------------------------------------ each run once
def test_two_workers_never_run_one_job_at_once(make_world):
    world = make_world()
    jobs = {"slow": _job("slow", 1.0)}
    cfg = _cfg(world, "*=1")
    workers = [Worker(world.engine, cfg, jobs), Worker(world.engine, cfg, jobs)]
    for w in workers:
        w.start()
    try:
        # besides their schedules racing, ask the second worker outright until it finds the job taken
        wait_for(lambda: workers[1].run("slow").outcome == "skipped", 10, "never found the job running", poll=0.05)
        time.sleep(5)
    finally:
        for w in workers:
            assert w.stop(10)
    runs = _runs(world, "slow")
    done = sorted((s, f) for s, f, outcome, _ in runs if outcome == "succeeded")
    assert len(done) >= 3
    for (_, finished), (started, _) in pairwise(done):
        assert started >= finished, "two succeeded runs of one job overlap"
    skipped = [e for _, _, outcome, e in runs if outcome == "skipped"]
    assert skipped and all("already running in another" in e for e in skipped)
    assert {outcome for *_, outcome, _ in runs} <= {"succeeded", "skipped"}


# ------------------------------------------------------------------ abandoned runs, shutdown
def test_runs_left_running_are_abandoned_only_once_nobody_holds_them(make_world):
    world = make_world()
    world.sql("INSERT INTO job_runs (job) VALUES ('tick'), ('tock')")  # two runs of workers that died
    with world.engine.connect() as other:  # ...but 'tock' is still being run by someone
        other.execute(text("SELECT pg_advisory_lock(hashtext('revwatch.job'), hashtext('tock'))"))
        assert abandon_dead_runs(world.engine) == 1
        assert _outcomes(world, "tick") == ["abandoned"]
        assert _outcomes(world, "tock") == ["running"]
        other.execute(text("SELECT pg_advisory_unlock(hashtext('revwatch.job'), hashtext('tock'))"))
    (_, finished, _, error), = _runs(world, "tick")
    assert finished is not None and error == ABANDONED
    # a worker about to run a job closes what it finds of it left running first
    worker = Worker(world.engine, _cfg(world, ""), {"tock": _job("tock")})
    assert worker.run("tock").outcome == "succeeded"
    assert _outcomes(world, "tock") == ["abandoned", "succeeded"]


# A worker process with one slow job that writes a mark in its transaction, then sleeps.
SLOW_WORKER = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from collectors.jobs import Job
    from revwatch.runlog import recorded_run, try_job_lock
    from collectors.scheduler import Worker
    from revwatch.cli.supervise import run_scheduled, stop_on_signals
    from revwatch.db import engine_for
    from revwatch.settings import load_settings

    url, sleep, shutdown = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

    def slow(engine, cfg, start, end):
        with recorded_run(engine, "slow") as stats, engine.begin() as conn:
            try_job_lock(conn, "slow")
            conn.execute(text("SET LOCAL client_connection_check_interval = '100ms'"))  # a killed client is noticed
            conn.execute(text("INSERT INTO marks VALUES (1)"))
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": sleep})
        return stats

    cfg = load_settings(database_url=url, worker_schedule="*=600", worker_shutdown_seconds=shutdown, metrics_port=0)
    engine = engine_for(url, pooled=False)
    work = Worker(engine, cfg, {"slow": Job("slow", "compute", "slow", slow)})
    with stop_on_signals(work.stopping):
        run_scheduled(work, cfg, engine, work.intervals)
""")


def _slow_worker(world, sleep: float, shutdown: int) -> subprocess.Popen:
    world.sql("CREATE TABLE IF NOT EXISTS marks (n int)")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WORKER, world.url, str(sleep), str(shutdown)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: _runs(world, "slow") or proc.poll() is not None, 20, "the slow job never started")
    assert proc.poll() is None, proc.stdout.read()
    time.sleep(0.5)  # inside its transaction by now
    return proc


def test_a_killed_worker_s_run_is_abandoned_at_the_next_start_and_its_work_rolled_back(make_world):
    world = make_world()
    proc = _slow_worker(world, sleep=60, shutdown=30)
    proc.kill()  # SIGKILL: no chance to record anything
    proc.communicate(timeout=10)
    assert _outcomes(world, "slow") == ["running"]
    wait_for(lambda: world.sql(OWN_ADVISORY_LOCKS) == [(0,)], 10,
          "the killed worker's locks were never released")
    nxt = Worker(world.engine, _cfg(world, "*=600"), {"slow": _job("slow")})
    nxt.start()  # (its schedule is the killed worker's: the next run is ten minutes after the killed one began)
    assert nxt.stop(10)
    (_, finished, outcome, error), = _runs(world, "slow")
    assert (outcome, error) == ("abandoned", ABANDONED) and finished is not None
    assert world.sql("SELECT count(*) FROM marks") == [(0,)]  # its transaction rolled back whole


def test_sigterm_lets_the_current_run_commit(make_world):
    world = make_world()
    proc = _slow_worker(world, sleep=2, shutdown=30)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert _outcomes(world, "slow") == ["succeeded"]
    assert world.sql("SELECT count(*) FROM marks") == [(1,)]
    assert "worker stopped" in output and "Traceback" not in output


def test_sigterm_abandons_a_run_that_outlasts_the_shutdown_time(make_world):
    world = make_world()
    proc = _slow_worker(world, sleep=60, shutdown=1)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "abandoned" in output
    (_, finished, outcome, error), = _runs(world, "slow")
    assert (outcome, error) == ("abandoned", ABANDONED) and finished is not None
    wait_for(lambda: world.sql(OWN_ADVISORY_LOCKS) == [(0,)], 10, "locks held")
    assert world.sql("SELECT count(*) FROM marks") == [(0,)]  # rolled back, not half-done


def test_a_misfire_is_coalesced_into_one_run(make_world):
    world = make_world()
    jobs = {"tick": _job("tick")}
    cfg = _cfg(world, "*=60")
    first = Worker(world.engine, cfg, jobs)
    first.start()
    wait_for(lambda: _outcomes(world, "tick") == ["succeeded"], 10, "no first run")
    # the worker is away for five and a half intervals
    first.scheduler.pause()
    now = clock.wall()
    first.scheduler.modify_job("tick", next_run_time=now - timedelta(seconds=330))
    assert len(first.scheduler.get_job("tick")._get_run_times(now)) == 6  # six runs missed
    assert first.stop(10)

    second = Worker(world.engine, cfg, jobs)
    second.start()
    try:
        wait_for(lambda: _outcomes(world, "tick") == ["succeeded", "succeeded"], 20, "the catch-up run")
        time.sleep(2)
        assert _outcomes(world, "tick") == ["succeeded", "succeeded"]  # one run for the six
        upcoming = second.next_run_times()["tick"]
        assert now < upcoming <= now + timedelta(seconds=60)
    finally:
        assert second.stop(10)


# ------------------------------------------------------------------ the weekly report's job
def test_the_report_job_is_the_callable_given_and_runs_on_the_worker(make_world):
    world = make_world()
    cfg = _cfg(world, "tick=3600").model_copy(update={"report_timezone": "America/Edmonton"})
    calls: list[tuple] = []
    ran = threading.Event()

    def report(engine, cfg):
        calls.append((engine, cfg))
        ran.set()
        return RunStats()

    worker = Worker(world.engine, cfg, {"tick": _job("tick")}, report_job=report)
    worker.start()
    try:
        assert sorted(world.sql("SELECT id FROM apscheduler_jobs")) == [(REQUESTS_JOB,), ("tick",), (REPORT_JOB,)]
        assert worker.scheduler.get_job(REPORT_JOB).func.__module__ == "collectors.scheduler"  # by reference
        worker.scheduler.modify_job(REPORT_JOB, next_run_time=clock.wall())  # due now
        assert ran.wait(15), "the report job never ran"
        assert calls == [(world.engine, cfg)]
    finally:
        assert worker.stop(10)
    plain = Worker(world.engine, cfg, {"tick": _job("tick")})  # without one: the report leaves the schedule
    plain.start()
    try:
        assert sorted(world.sql("SELECT id FROM apscheduler_jobs")) == [(REQUESTS_JOB,), ("tick",)]
    finally:
        assert plain.stop(10)


def test_after_run_is_called_after_each_run_that_succeeded(make_world):
    world = make_world()

    def fails(engine, cfg, start, end):
        with recorded_run(engine, "broken"):
            raise RuntimeError("no")

    called: list[str] = []
    jobs = {"tick": _job("tick"), "broken": Job("broken", "compute", "fails", fails)}
    worker = Worker(world.engine, _cfg(world, ""), jobs, after_run=called.append)
    assert [worker.run(name).outcome for name in ("tick", "broken", "tick")] == ["succeeded", "failed", "succeeded"]
    assert called == ["tick", "tick"]


def test_the_cli_wires_the_weekly_report_into_the_worker():
    """The worker command passes the report job; collectors never import metrics themselves."""
    from metrics.faces import weekly_report
    from revwatch.cli.supervise import report_job

    assert report_job() is weekly_report.run_job
    tree = ast.parse((ROOT / "collectors" / "scheduler.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "collectors.jobs" in imported and not {m for m in imported if m.split(".")[0] == "metrics"}


# ------------------------------------------------------------------ the command
def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return 0, ""


def test_worker_runs_the_catalogue_serves_metrics_and_stops_on_sigterm(make_world):
    world = make_world(demo=SMALL_WORLD, collect=False)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir),
               WORKER_SCHEDULE="*=2", METRICS_PORT=str(port), PYTHONUNBUFFERED="1")
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR", "BANK_STATEMENTS_DIR", "GL_EXPORTS_DIR",
                 "FX_RATES_PATH", "METRICS_HOST"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "revwatch.cli", "worker"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def every_job_ran_and_billing_twice():
            assert proc.poll() is None, proc.stdout.read()
            done = dict(world.sql("SELECT job, count(*) FROM job_runs WHERE outcome = 'succeeded' GROUP BY job"))
            return set(done) == set(JOBS) and done["ingest-billing"] >= 2

        wait_for(every_job_ran_and_billing_twice, 25, "the worker did not run every job, and billing again")
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and ("process_" in body or "revwatch_" in body)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert f"Revwatch metrics: http://127.0.0.1:{port}/metrics" in output and "worker stopped" in output
    assert world.sql("SELECT count(*) FROM job_runs WHERE finished_at IS NULL") == [(0,)]
    # lanes run at once: a compute job may find its input's first load still running, and wait for it
    assert world.sql("SELECT job, outcome, error FROM job_runs WHERE outcome <> 'succeeded'"
                     " AND NOT (outcome = 'skipped' AND error LIKE 'waiting for the first load of %%')") == []
    assert world.sql("SELECT count(*) FROM parking_sessions")[0][0] == world.manifest["totals"]["sessions"]
    # the command keeps the /metrics figure sections after the jobs that feed them (metrics/faces/exporter_snapshot.py)
    from metrics.faces.exporter_snapshot import SECTION_JOBS

    assert [r[0] for r in world.sql("SELECT section FROM figure_snapshots ORDER BY 1")] == sorted(SECTION_JOBS)
    assert _get(f"http://127.0.0.1:{port}/metrics")[0] == 0  # no longer served
    assert "Traceback" not in output


# ------------------------------------------------------------------ lanes
def test_every_catalogue_job_has_a_lane_shared_with_the_ingest_it_reads():
    from revwatch.schedule import LANES

    assert {spec.lane for spec in CATALOGUE.values()} == set(LANES)
    for name, spec in CATALOGUE.items():
        assert JOBS[name].lane == spec.lane
        if spec.kind == "compute" and len(spec.inputs) == 1:  # the computes over one source run in its lane
            assert spec.lane == CATALOGUE[spec.inputs[0]].lane, name
    # reconcile, over every source and minutes long, has a lane of its own; the Stripe API's first load too
    assert [n for n, spec in CATALOGUE.items() if spec.lane == "reconcile"] == ["reconcile"]
    assert [n for n, spec in CATALOGUE.items() if spec.kind == "ingest" and spec.lane == "stripe"] == ["ingest-stripe"]


def test_a_long_run_in_one_lane_does_not_hold_back_another(make_world):
    """Issue 17: the single worker thread ran the Stripe first load and skipped the billing ingest for 15 minutes."""
    world = make_world()
    slow = Job("slow", "ingest", "a first load", _job("slow", 6.0).run, lane="stripe")
    tick = Job("tick", "ingest", "the billing ingest", _job("tick").run, lane="billing")
    worker = Worker(world.engine, _cfg(world, "slow=600,tick=1"), {"slow": slow, "tick": tick})
    worker.start()
    try:
        wait_for(lambda: len(_runs(world, "tick")) >= 3, 20, "tick to run three times")
        assert _outcomes(world, "slow") == ["running"]  # all while the first load went on
    finally:
        worker.stop(timeout=15)


def test_a_compute_job_waits_for_its_input_s_first_load(make_world):
    """A first load drops and rebuilds its table's indexes; a compute job of another lane reading those tables
    meanwhile could deadlock with it. It is recorded skipped, saying why, and runs once the load is in."""
    world = make_world()
    worker = Worker(world.engine, _cfg(world, ""), {"classify-billing": _job("classify-billing")})
    world.sql("INSERT INTO job_runs (job, started_at) VALUES ('ingest-billing', %s)", (clock.now(),))  # the first load, running
    assert worker.run("classify-billing").outcome == "skipped"
    assert _runs(world, "classify-billing")[-1][2:] == (
        "skipped", "waiting for the first load of ingest-billing: classify-billing runs once its data is in")
    assert worker.run("classify-billing").outcome == "skipped"  # still waiting: said once in the run log
    assert len(_runs(world, "classify-billing")) == 1
    world.sql("UPDATE job_runs SET outcome = 'succeeded', finished_at = %s WHERE job = 'ingest-billing'", (clock.now(),))
    world.sql("INSERT INTO job_runs (job, started_at) VALUES ('ingest-billing', %s)", (clock.now(),))  # a later run: no wait
    assert worker.run("classify-billing").outcome == "succeeded"


def test_a_job_that_waited_for_a_first_load_tries_again_within_seconds(make_world):
    from collectors import runlocks

    world = make_world()
    world.sql("INSERT INTO job_runs (job, started_at) VALUES ('ingest-billing', %s)", (clock.now(),))  # the first load, running
    worker = Worker(world.engine, _cfg(world, "classify-billing=600"), {"classify-billing": _job("classify-billing")})
    with runlocks.lock_session(world.engine) as held:  # its runner holds its lock: the start does not abandon it
        assert runlocks.try_lock(held, runlocks.WORKER_LOCK_KEY, "ingest-billing")
        worker.start()
    try:
        wait_for(lambda: _outcomes(world, "classify-billing") == ["skipped"], 10, "classify-billing to run at the start")
        world.sql("UPDATE job_runs SET outcome = 'succeeded', finished_at = %s WHERE job = 'ingest-billing'", (clock.now(),))
        # its interval is ten minutes; it comes back within WAIT_RETRY_SECONDS
        wait_for(lambda: _outcomes(world, "classify-billing")[1:] not in ([], ["running"]), 20, "classify-billing to try again")
        assert _outcomes(world, "classify-billing") == ["skipped", "succeeded"]
    finally:
        worker.stop(timeout=15)


def test_a_job_asked_for_on_the_health_page_runs_at_once(make_world):
    """Issue 18: a request in job_run_requests (metrics/actions/job_requests.py writes it) is taken by the worker
    within seconds and the job runs once, though its interval is an hour away."""
    world = make_world()
    worker = Worker(world.engine, _cfg(world, "tick=3600"), {"tick": _job("tick")})
    worker.start()
    try:
        wait_for(lambda: world.sql("SELECT count(*) FROM job_runs WHERE job = 'tick'")[0][0] == 1, 15, "no first run")
        world.sql("INSERT INTO job_run_requests (job, requested_by, requested_at) VALUES ('tick', 'ed', %s)",
                  (clock.now(),))
        wait_for(lambda: world.sql("SELECT count(*) FROM job_runs WHERE job = 'tick'")[0][0] == 2, 30,
                 "the job asked for did not run")
        (taken_at, taken_by), = world.sql("SELECT taken_at, taken_by FROM job_run_requests")
        assert taken_at is not None and taken_by.endswith(f":{os.getpid()}")
        time.sleep(REQUEST_POLL_SECONDS + 1)
        assert world.sql("SELECT count(*) FROM job_runs WHERE job = 'tick'")[0][0] == 2  # each request once
    finally:
        worker.stop(10)
