"""`revwatch up` end to end: the worker runs every collector and serves /metrics, the dashboard is served,
Ctrl-C stops everything, and so does SIGTERM sent to `revwatch up` alone (a service manager's stop)."""
import contextlib
import os
import signal
import subprocess
import sys
import time

from collectors.jobs import JOBS
from tests.processes import answers, free_port
from tests.worlds.demo import SMALL_WORLD


def test_up_collects_serves_and_stops_on_ctrl_c(make_world):
    world = make_world(demo=SMALL_WORLD, collect=False)
    port = free_port()
    metrics_port = free_port()
    env = dict(os.environ, DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir),
               DASHBOARD_PORT=str(port), METRICS_PORT=str(metrics_port))
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR", "BANK_STATEMENTS_DIR", "GL_EXPORTS_DIR",
                 "FX_RATES_PATH", "WORKER_SCHEDULE", "METRICS_HOST"):
        env.pop(name, None)
    up = subprocess.Popen([sys.executable, "-m", "revwatch.cli", "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not answers(f"http://127.0.0.1:{port}/_stcore/health"):
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "the dashboard never came up"
            time.sleep(0.5)
        # up's worker runs every job at once (then on its schedule, minutes apart); a compute job that found its
        # input's first load running (another lane) tries again seconds later, not at its interval
        while world.sql("SELECT count(DISTINCT job) FROM job_runs WHERE outcome = 'succeeded'")[0][0] < len(JOBS):
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "the collectors never finished"
            time.sleep(0.5)
        assert answers(f"http://127.0.0.1:{metrics_port}/metrics")
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the whole group
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    assert "Revwatch dashboard: http://127.0.0.1:" in output
    assert f"Revwatch metrics: http://127.0.0.1:{metrics_port}/metrics" in output and "worker stopped" in output, output
    assert world.sql("SELECT count(*) FROM job_runs WHERE finished_at IS NULL") == [(0,)]
    waited = "outcome = 'skipped' AND error LIKE 'waiting for the first load of %%'"
    outcomes = dict(world.sql(f"SELECT job, outcome FROM job_runs WHERE NOT ({waited})"
                              " AND (outcome <> 'succeeded' OR job LIKE 'ingest-%%')"))
    errors = world.sql(f"SELECT job, error FROM job_runs WHERE outcome <> 'succeeded' AND NOT ({waited})")
    assert outcomes == dict.fromkeys(("ingest-billing", "ingest-stripe", "ingest-adyen", "ingest-bank", "ingest-ledger", "ingest-fx"), "succeeded"), errors
    assert world.sql("SELECT count(*) FROM parking_sessions")[0][0] == world.manifest["totals"]["sessions"]
    assert not answers(f"http://127.0.0.1:{port}/_stcore/health")  # the dashboard is gone too
    assert not answers(f"http://127.0.0.1:{metrics_port}/metrics")  # and the worker
    assert "Traceback" not in output


def test_sigterm_to_up_alone_stops_its_worker_and_dashboard(make_world):
    """A service manager (systemd, `docker stop`) sends SIGTERM to the main process only: its children stop
    with it, none is left serving."""
    world = make_world()
    port, metrics_port = free_port(), free_port()
    env = dict(os.environ, DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir),
               DASHBOARD_PORT=str(port), METRICS_PORT=str(metrics_port))
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR", "BANK_STATEMENTS_DIR", "GL_EXPORTS_DIR",
                 "FX_RATES_PATH", "WORKER_SCHEDULE", "METRICS_HOST", "BILLING_DATABASE_URL"):
        env.pop(name, None)
    up = subprocess.Popen([sys.executable, "-m", "revwatch.cli", "up", "--no-demo"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (answers(f"http://127.0.0.1:{port}/_stcore/health") and answers(f"http://127.0.0.1:{metrics_port}/metrics")):
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "the dashboard and the worker never came up"
            time.sleep(0.5)
        up.send_signal(signal.SIGTERM)  # to `revwatch up` alone, not its group
        output, _ = up.communicate(timeout=60)
        deadline = time.monotonic() + 30
        while answers(f"http://127.0.0.1:{port}/_stcore/health") or answers(f"http://127.0.0.1:{metrics_port}/metrics"):
            assert time.monotonic() < deadline, "a child of revwatch up kept serving after it stopped"
            time.sleep(0.5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(up.pid, signal.SIGKILL)  # whatever is left of the group, if the test failed
    assert "stopping…" in output and "worker stopped" in output and "Traceback" not in output
