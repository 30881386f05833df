"""The worker survives its database (issue 15, point 1), fast and deterministic on the shared test server:
its connections cut (pg_terminate_backend of every backend of the world's database, new connections refused
for a moment, as a restart does), its job store failing half-way through a pass (the issue's
`get_next_run_time` → OperationalError that ended APScheduler's thread), its scheduler's thread dying anyway,
a schedule that starts nothing; and `revwatch up` starting a worker that exited non-zero again.
The many-restarts trial against a real PostgreSQL of its own is tests/test_restart_trial.py (`-m trial`)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from collectors import watchdog
from collectors.jobs import Job
from collectors.scheduler import Worker
from revwatch import clock
from revwatch.cli import supervise
from revwatch.runlog import recorded_run, try_job_lock
from revwatch.settings import load_settings
from tests.processes import ROOT, wait_for


def _job(name: str, sleep: float = 0.0) -> Job:
    def run(engine, cfg, start, end):
        with recorded_run(engine, name) as stats, engine.begin() as conn:
            try_job_lock(conn, name)
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": sleep})
        return stats

    return Job(name, "compute", f"sleeps {sleep} s", run)



def _runs(world, job: str) -> list[tuple]:
    return world.sql("SELECT run_id, outcome, error FROM job_runs WHERE job = %s ORDER BY run_id", (job,))


def _succeeded_after(world, job: str, run_id: int) -> bool:
    return bool(world.sql("SELECT 1 FROM job_runs WHERE job = %s AND run_id > %s AND outcome = 'succeeded'",
                          (job, run_id)))


def _cut_connections(world, down: float) -> int:
    """What a restart does to the world's database: every backend ended, new connections refused `down` s."""
    name = world.sql("SELECT current_database()")[0][0]
    admin = psycopg.conninfo.make_conninfo(world.libpq, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            ended = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                 " WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
            time.sleep(down)
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    return ended


def test_cut_connections_fail_the_run_with_the_reason_and_the_worker_runs_again(make_world):
    world = make_world()
    worker = Worker(world.engine, world.cfg.model_copy(update={"worker_schedule": "*=1"}), {"slow": _job("slow", 30)})
    worker.start()
    try:
        wait_for(lambda: world.sql("SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
                                " AND query LIKE 'SELECT pg_sleep%%'"), 20, "the slow run never started")
        (cut_id, outcome, _), = _runs(world, "slow")
        assert outcome == "running"
        count = len(world.sql("SELECT run_id FROM job_runs"))
        worker.jobs["slow"] = _job("slow", 0)  # the runs after this one are quick
        assert _cut_connections(world, down=2) >= 2  # the job's, its run lock's, the job store's
        # the cut-off run is recorded failed with the driver's reason (its finishing write waited for the database)
        wait_for(lambda: _runs(world, "slow")[0][1] != "running", 30, "the cut-off run stayed running")
        (_, outcome, error) = _runs(world, "slow")[0]
        assert outcome == "failed" and "terminating connection" in error, error
        # and the worker goes on
        wait_for(lambda: _succeeded_after(world, "slow", cut_id), 30, "the worker did not run the job again")
        assert worker.problem() is None and worker.scheduler._thread.is_alive()
        assert len(world.sql("SELECT run_id FROM job_runs")) >= count  # nothing lost
        assert world.sql("SELECT count(*) FROM job_runs WHERE outcome = 'running' AND run_id <= %s", (cut_id,)) == [(0,)]
    finally:
        assert worker.stop(10)


def test_a_job_store_failing_half_way_through_a_pass_does_not_end_the_scheduler(make_world):
    """The issue's traceback: `get_next_run_time` raising OperationalError after the due jobs were read."""
    world = make_world()
    worker = Worker(world.engine, world.cfg.model_copy(update={"worker_schedule": "*=1"}), {"tick": _job("tick")})
    worker.start()
    try:
        wait_for(lambda: _runs(world, "tick"), 15, "no first run")
        store = worker.scheduler._jobstores["default"]
        real, failures = store.get_next_run_time, []

        def failing():
            if len(failures) < 3:
                failures.append(1)
                raise OperationalError("SELECT apscheduler_jobs.next_run_time", {}, Exception("server closed the connection"))
            return real()

        store.get_next_run_time = failing
        worker.scheduler.wakeup()
        wait_for(lambda: len(failures) == 3, 15, "the job store was not asked")
        newest = _runs(world, "tick")[-1][0]
        wait_for(lambda: _succeeded_after(world, "tick", newest), 15, "no run after the job store failed")
        assert worker.scheduler._thread.is_alive() and worker.restarts == 0
    finally:
        assert worker.stop(10)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread this test ends
def test_the_watchdog_restarts_a_scheduler_whose_thread_died(make_world, monkeypatch):
    monkeypatch.setattr(watchdog, "WATCH_SECONDS", 0.2)
    world = make_world()
    worker = Worker(world.engine, world.cfg.model_copy(update={"worker_schedule": "*=1"}), {"tick": _job("tick")})
    worker.start()
    try:
        wait_for(lambda: _runs(world, "tick"), 15, "no first run")
        old = worker.scheduler

        def die(now):
            raise SystemExit  # anything that is not an Exception ends APScheduler's thread without a word

        thread = old._thread
        old._jobstores["default"].get_due_jobs = die
        old.wakeup()
        wait_for(lambda: not thread.is_alive(), 10, "the thread did not die")
        newest = _runs(world, "tick")[-1][0]
        wait_for(lambda: worker.restarts >= 1 and worker.scheduler is not old, 10, "the watchdog did not restart it")
        wait_for(lambda: _succeeded_after(world, "tick", newest), 15, "no run after the restart")
        assert worker.problem() is None and worker.gave_up is None
    finally:
        assert worker.stop(10)


def test_a_schedule_that_starts_nothing_is_restarted_then_given_up(make_world, monkeypatch):
    """No job started for `stall_after` s while none runs: restarted in place; when that does not help
    for GIVE_UP_SECONDS the worker gives up (`revwatch worker` then exits EXIT_STUCK for its supervisor)."""
    monkeypatch.setattr(watchdog, "WATCH_SECONDS", 0.2)
    monkeypatch.setattr(watchdog, "GIVE_UP_SECONDS", 3)
    world = make_world()
    worker = Worker(world.engine, world.cfg.model_copy(update={"worker_schedule": "*=60"}), {"tick": _job("tick")})
    worker.start()
    try:
        wait_for(lambda: _runs(world, "tick"), 15, "no first run")
        worker.scheduler.modify_job("tick", next_run_time=clock.wall() + timedelta(days=1))  # nothing will start
        worker.stall_after = 1
        wait_for(lambda: worker.restarts >= 1, 10, "never restarted")
        wait_for(lambda: worker.gave_up, 15, "never gave up")
        assert "no job started" in worker.gave_up and worker.stopping.is_set()
    finally:
        worker.stop(10)


# A worker process whose schedule starts nothing after its first run (every 10 minutes) and whose watchdog
# judges that quickly and gives up quickly.
STUCK_WORKER = textwrap.dedent("""
    import sys
    from sqlalchemy import text
    from collectors import watchdog
    from collectors.jobs import Job
    from collectors.scheduler import Worker
    from revwatch.cli.supervise import run_scheduled, stop_on_signals
    from revwatch.db import engine_for
    from revwatch.runlog import recorded_run
    from revwatch.settings import load_settings

    watchdog.WATCH_SECONDS, watchdog.GIVE_UP_SECONDS = 0.2, 2

    def tick(engine, cfg, start, end):
        with recorded_run(engine, "tick") as stats:
            pass
        return stats

    url = sys.argv[1]
    cfg = load_settings(database_url=url, worker_schedule="*=600", metrics_port=0)
    engine = engine_for(url, pooled=False)
    work = Worker(engine, cfg, {"tick": Job("tick", "compute", "tick", tick)})
    work.stall_after = 1
    with stop_on_signals(work.stopping):
        run_scheduled(work, cfg, engine, work.intervals)
""")


def test_a_worker_whose_watchdog_gives_up_exits_non_zero(make_world):
    world = make_world()
    proc = subprocess.run([sys.executable, "-c", STUCK_WORKER, world.url], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == supervise.EXIT_STUCK, proc.stdout + proc.stderr
    assert "worker stuck: no job started" in proc.stderr and "restarting the scheduler" in proc.stderr, proc.stderr
    assert world.sql("SELECT outcome FROM job_runs") == [("succeeded",)]


def test_up_starts_a_worker_that_exited_non_zero_again():
    exits = iter([1, 3, 0])  # a crash, the watchdog giving up, then a stop on purpose
    started: list[subprocess.Popen] = []

    def start():
        started.append(subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({next(exits)})"]))
        return started[-1]

    assert supervise.keep_running(start, lambda: True, 5, pauses=(0.1,)) == 2
    assert [p.returncode for p in started] == [1, 3, 0]
    # nothing is started once it is no longer wanted (the dashboard stopped, Ctrl-C)
    assert supervise.keep_running(start, lambda: False, 5) == 0 and len(started) == 3


SIGNAL_INSIDE_THE_EVENT = """
import signal, threading
from revwatch.cli.supervise import stop_on_signals
stopping = threading.Event()
with stop_on_signals(stopping):
    handler = signal.getsignal(signal.SIGTERM)
    with stopping._cond:  # where a signal may land: inside wait(), or inside the set() of a first signal
        handler(signal.SIGTERM, None)
        handler(signal.SIGINT, None)
    assert stopping.wait(5)
print("stopped")
"""


def test_a_signal_that_lands_while_the_event_s_lock_is_held_still_stops_the_worker():
    """Under load `revwatch up`'s Ctrl-C hung its worker: Ctrl-C reached it, then up's SIGTERM landed inside the
    first handler's `stopping.set()`, which took the event's lock again, for ever."""
    done = subprocess.run([sys.executable, "-c", SIGNAL_INSIDE_THE_EVENT], cwd=ROOT, capture_output=True, text=True,
                          timeout=20, check=False)
    assert done.stdout == "stopped\n", done.stderr


HANGS_ON_STOP = """
import faulthandler, signal, time
faulthandler.register(signal.SIGUSR1, all_threads=True)  # as `revwatch worker` does
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
def stuck_in_shutdown():
    time.sleep(60)
stuck_in_shutdown()
"""


def test_a_worker_that_does_not_stop_is_said_killed_after_its_stacks(capsys):
    """Ctrl-C on `revwatch up`: a worker still going after its stop time is killed, and the output says so, with
    where each of its threads was (a hung stop is found from the log, not guessed)."""
    proc = subprocess.Popen([sys.executable, "-c", HANGS_ON_STOP], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "ready\n"
    with supervise._child(proc, timeout=1, name="worker", dumps_stacks=True):
        pass
    assert proc.returncode == -9
    assert "the worker did not stop within 1 s; killing it" in capsys.readouterr().err
    stacks = proc.stderr.read()
    assert "in stuck_in_shutdown" in stacks and 'File "<string>"' in stacks, stacks


@pytest.mark.parametrize(("intervals", "expected"), [("*=2", 30), ("*=60,reconcile=600", 120), ("*=300", 600)])
def test_the_watchdog_waits_two_of_the_smallest_intervals(intervals, expected):
    from metrics.catalogue import STALE_AFTER_INTERVALS

    worker = Worker(None, load_settings(worker_schedule=intervals), {"tick": _job("tick"), "reconcile": _job("reconcile")})
    assert worker.stall_after == expected == max(watchdog.STALL_FLOOR_SECONDS,
                                                 STALE_AFTER_INTERVALS * min(worker.intervals.values()))
    assert watchdog.STALL_INTERVALS == STALE_AFTER_INTERVALS  # the watchdog acts when Health says stuck
