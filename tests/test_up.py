"""`revwatch up` end to end: collectors once, dashboard served, Ctrl-C stops everything."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

from collectors.jobs import JOBS
from tests.conftest import SMALL_WORLD
from tests.test_browser import _free_port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_up_collects_serves_and_stops_on_ctrl_c(make_world):
    world = make_world(demo=SMALL_WORLD, collect=False)
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir),
               DASHBOARD_PORT=str(port))
    for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "ADYEN_REPORTS_DIR"):
        env.pop(name, None)
    up = subprocess.Popen([sys.executable, "-m", "revwatch.cli", "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not _healthy(f"http://127.0.0.1:{port}/_stcore/health"):
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() < deadline, "the dashboard never came up"
            time.sleep(0.5)
        # up runs billing ingest, the compute jobs, the gateway ingests, the compute jobs again
        compute = sum(job.kind == "compute" for job in JOBS.values())
        runs = len(JOBS) + compute
        while world.sql("SELECT count(*) FROM job_runs WHERE finished_at IS NOT NULL")[0][0] < runs:
            assert time.monotonic() < deadline, "the collectors never finished"
            time.sleep(0.5)
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the whole group
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    assert "Revwatch dashboard: http://127.0.0.1:" in output
    outcomes = dict(world.sql("SELECT job, outcome FROM job_runs WHERE outcome <> 'succeeded' OR job LIKE 'ingest-%%'"))
    errors = world.sql("SELECT job, error FROM job_runs WHERE outcome <> 'succeeded'")
    assert outcomes == {job: "succeeded" for job in ("ingest-billing", "ingest-stripe", "ingest-adyen", "ingest-bank",
                                                    "ingest-ledger", "ingest-fx")}, errors
    assert world.sql("SELECT count(*) FROM parking_sessions")[0][0] == world.manifest["totals"]["sessions"]
    assert not _healthy(f"http://127.0.0.1:{port}/_stcore/health")  # the dashboard is gone too
    assert "Traceback" not in output
