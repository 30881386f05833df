"""Health, /metrics and the alerts say the worker is stuck when no job at all has started for
STALE_AFTER_INTERVALS of the smallest configured interval (issue 15, "Survive the database"): the figure
(metrics.figures.health.jobs.worker_activity) on a hand-written run log, the Health page's banner, and the
WorkerStuck alert's expression agreeing with the figure a second either side of the threshold (promtool)."""
from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
import yaml

from metrics.catalogue import STALE_AFTER_INTERVALS
from metrics.figures.health.jobs import WorkerActivity, worker_activity
from revwatch import clock
from revwatch.schedule import intervals
from revwatch.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/health.py"
SCHEDULE = {"ingest-billing": 60, "reconcile": 300}


def _run(world, job: str, started: datetime, outcome: str = "succeeded") -> None:
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome) VALUES (%s, %s, %s, %s)",
              (job, started, None if outcome == "running" else started + timedelta(seconds=1), outcome))


def test_the_newest_start_of_any_scheduled_job_against_two_of_the_smallest_interval(make_world):
    world = make_world()
    now = clock.now().replace(microsecond=0)
    with world.engine.connect() as conn:
        assert worker_activity(conn, now, SCHEDULE).status == "never run"
    _run(world, "reconcile", now - timedelta(minutes=30))
    _run(world, "ingest-billing", now - timedelta(minutes=10), "failed")  # a start is a start, whatever its outcome
    _run(world, "legacy-export", now - timedelta(minutes=1))  # not scheduled: not the worker's
    _run(world, "ingest-billing", now + timedelta(minutes=1))  # after as_of: not seen
    with world.engine.connect() as conn:
        activity = worker_activity(conn, now, SCHEDULE)
        assert (activity.last_job, activity.last_start) == ("ingest-billing", now - timedelta(minutes=10))
        assert activity.interval_seconds == 60 and activity.stuck_after == timedelta(seconds=STALE_AFTER_INTERVALS * 60)
        assert activity.idle == timedelta(minutes=10) and activity.status == "stuck"
        assert worker_activity(conn, now - timedelta(minutes=9), SCHEDULE).status == "ok"
        # a skipped or running run counts too: another worker holds the job, the worker is not idle
        _run(world, "reconcile", now - timedelta(seconds=30), "running")
        assert worker_activity(conn, now, SCHEDULE).status == "ok"
    # without a schedule it reads WORKER_SCHEDULE as the worker does
    with world.engine.connect() as conn:
        assert worker_activity(conn, now).interval_seconds == min(intervals(load_settings()).values())


@pytest.mark.parametrize("interval", [2, 60, 300])
def test_stuck_means_more_than_n_of_the_smallest_interval(interval):
    start = datetime(2026, 11, 2, 12, tzinfo=UTC)
    threshold = start + timedelta(seconds=STALE_AFTER_INTERVALS * interval)
    states = [WorkerActivity(threshold + timedelta(seconds=d), start, "ingest-billing", interval).status
              for d in (-1, 0, 1)]
    assert states == ["ok", "ok", "stuck"]


def test_the_page_says_the_worker_is_stuck(make_world, page_for, monkeypatch):
    monkeypatch.setenv("WORKER_SCHEDULE", "*=60")
    world = make_world()
    _run(world, "ingest-billing", clock.now() - timedelta(minutes=30))
    at = page_for(world, PAGE)
    errors = [e.value for e in at.error]
    assert any("The worker is stuck" in e and "ingest\\-billing" in e for e in errors), errors  # escaped Markdown
    _run(world, "rollup-sessions", clock.now() - timedelta(seconds=10))
    st.cache_data.clear()  # the page caches its figures for 30 s
    at.run()
    assert not [e.value for e in at.error if "The worker is stuck" in e.value]


def _worker_stuck_rule() -> dict:
    rules = yaml.safe_load((ROOT / "alerts" / "alerting_rules.yml").read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "WorkerStuck"]
    return rule


def test_the_alert_uses_the_catalogue_s_factor_over_the_smallest_interval():
    expr = " ".join(_worker_stuck_rule()["expr"].split())
    assert expr == (f"time() - max(revwatch_job_last_run_timestamp_seconds) > {STALE_AFTER_INTERVALS}"
                    " * min(revwatch_job_interval_seconds)")


def test_health_and_the_alert_agree_around_the_threshold(tmp_path):
    """worker_activity's status and WorkerStuck's expression (as promtool evaluates it) for a worker whose last
    job started at 60 s, a second before, at, and a second after N of the smallest interval."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        pytest.fail("promtool is not installed: `sudo apt-get install prometheus`", pytrace=False)
    rule = _worker_stuck_rule()
    last = 60
    tests, states = [], []
    for interval in (60, 300):
        threshold = last + STALE_AFTER_INTERVALS * interval
        for at in (threshold - 1, threshold, threshold + 1):
            status = WorkerActivity(datetime.fromtimestamp(at, UTC), datetime.fromtimestamp(last, UTC),
                                    "ingest-billing", interval).status
            states.append(status)
            samples = at // 60 + 10
            tests.append({"interval": "1m", "input_series": [
                {"series": 'revwatch_job_last_run_timestamp_seconds{job="ingest-billing"}', "values": f"{last}+0x{samples}"},
                {"series": 'revwatch_job_last_run_timestamp_seconds{job="reconcile"}', "values": f"0+0x{samples}"},
                {"series": 'revwatch_job_interval_seconds{job="ingest-billing"}', "values": f"{interval}+0x{samples}"},
                {"series": 'revwatch_job_interval_seconds{job="reconcile"}', "values": f"{interval * 5}+0x{samples}"}],
                "promql_expr_test": [{"expr": rule["expr"], "eval_time": f"{at}s", "exp_samples": (
                    [{"labels": "{}", "value": at - last}] if status == "stuck" else [])}]})
    assert states == ["ok", "ok", "stuck"] * 2
    path = tmp_path / "worker_stuck_agreement.yml"
    path.write_text(yaml.safe_dump({"evaluation_interval": "1m", "tests": tests}))
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
