"""Each rollup equals an independent plain-SQL computation over the raw rows; windows are
replaced atomically; late changes are absorbed; a killed job leaves the old answer."""
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import psycopg
import pytest

from collectors.jobs import JOBS
from revwatch import clock
from tests.worlds.demo import SMALL_WORLD

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

# Independent computations: no rollup SQL reused, local dates decided here again.
RAW_SESSIONS = """
    SELECT p.site_id, (p.entered_at AT TIME ZONE s.timezone)::date, count(*), count(p.exited_at),
           coalesce(sum(ceil(extract(epoch FROM p.exited_at - p.entered_at) / 60)), 0)::bigint
    FROM parking_sessions p JOIN sites s USING (site_id) GROUP BY 1, 2"""
ROLLUP_SESSIONS = """
    SELECT site_id, local_date, sum(sessions)::bigint, sum(closed_sessions)::bigint, sum(parked_minutes)::bigint
    FROM rollup_sessions GROUP BY 1, 2"""
RAW_INVOICES = """
    SELECT p.site_id, (i.issued_at AT TIME ZONE s.timezone)::date, i.currency, i.status,
           count(*), sum(i.subtotal_minor)::bigint, sum(i.tax_minor)::bigint, sum(i.total_minor)::bigint
    FROM invoices i JOIN parking_sessions p USING (session_id) JOIN sites s USING (site_id) GROUP BY 1, 2, 3, 4"""
ROLLUP_INVOICES = """
    SELECT site_id, local_date, currency, status, sum(invoices)::bigint, sum(subtotal_minor)::bigint,
           sum(tax_minor)::bigint, sum(total_minor)::bigint
    FROM rollup_invoices GROUP BY 1, 2, 3, 4"""
RAW_PAYMENTS = """
    SELECT date_trunc('hour', a.attempted_at AT TIME ZONE 'UTC'), a.gateway, a.currency, a.payment_method_type,
           coalesce(a.card_brand, ''), a.status, coalesce(a.failure_code, ''), a.attempt_number > 1,
           count(*), sum(a.amount_minor)::bigint
    FROM payment_attempts a GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
ROLLUP_PAYMENTS = """
    SELECT hour AT TIME ZONE 'UTC', gateway, currency, payment_method_type, card_brand, status, failure_code, is_retry,
           sum(attempts)::bigint, sum(amount_minor)::bigint
    FROM rollup_payments GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""
PAIRS = {
    "sessions": (RAW_SESSIONS, ROLLUP_SESSIONS),
    "invoices": (RAW_INVOICES, ROLLUP_INVOICES),
    "payments": (RAW_PAYMENTS, ROLLUP_PAYMENTS),
}


def _collect(world, *names, start=None, end=None):
    return [JOBS[n].run(world.engine, world.cfg, start, end) for n in (names or JOBS)]


def _snapshot(world, table):
    return sorted(world.sql(f"SELECT * FROM {table}"))


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(demo=SMALL_WORLD)


@pytest.mark.parametrize("name", PAIRS)
def test_rollup_equals_plain_sql_over_raw_rows(world, name):
    raw, rolled = PAIRS[name]
    expected = sorted(world.sql(raw))
    assert expected and sorted(world.sql(rolled)) == expected


def test_processing_error_spike_and_unknown_attempts_match_the_manifest(world):
    incidents = {i["id"]: i for i in world.manifest["incidents"]}
    spike = incidents["processing_error_spike"]
    exp = spike["expected"]
    failed = world.sql(
        "SELECT coalesce(sum(attempts), 0) FROM rollup_payments WHERE gateway = %s AND failure_code = %s"
        " AND hour >= %s AND hour < %s",
        (exp["gateway"], exp["failure_code"], spike["start"], spike["end"]),
    )[0][0]
    assert failed == exp["failed_with_code"] > 0
    unknown = incidents["unknown_attempts"]["expected"]
    rows = dict(world.sql("SELECT currency, sum(amount_minor)::bigint FROM rollup_payments WHERE status = 'unknown' GROUP BY 1"))
    counts = world.sql("SELECT sum(attempts)::bigint FROM rollup_payments WHERE status = 'unknown'")[0][0]
    assert counts == unknown["attempts"]
    assert rows == {c: int(v) for c, v in unknown["amount_minor"].items() if v}


def test_rerunning_a_window_changes_nothing(world):
    before = {t: _snapshot(world, t) for t in ("rollup_sessions", "rollup_invoices", "rollup_payments")}
    end = datetime.fromisoformat(world.manifest["period"]["end"])
    results = _collect(world, "rollup-sessions", "rollup-invoices", "rollup-payments", start=end - timedelta(days=5), end=end)
    assert all(r.outcome == "succeeded" and r.rows_written > 0 for r in results)
    assert {t: _snapshot(world, t) for t in before} == before
    assert all(r.rows_written == 0 for r in _collect(world, "rollup-sessions", "rollup-invoices", "rollup-payments")
               if r.window_start is None)


def test_late_source_change_flows_into_the_rollups(world):
    now = clock.now()  # the source changes rows now: its updated_at moves on from the world's
    with psycopg.connect(world.libpq) as conn:
        conn.execute(
            "UPDATE billing.payment_attempts SET status = 'failed', failure_code = 'late_reversal', updated_at = %s"
            " WHERE attempt_id IN (SELECT attempt_id FROM billing.payment_attempts WHERE status = 'succeeded'"
            " ORDER BY attempted_at LIMIT 3)", (now,)
        )
        conn.execute("UPDATE billing.invoices SET status = 'void', updated_at = %s"
                     " WHERE invoice_id = (SELECT min(invoice_id) FROM billing.invoices WHERE status = 'paid')", (now,))
    results = dict(zip(JOBS, _collect(world), strict=True))
    assert results["rollup-payments"].window_start is not None  # only the touched hours, not history
    assert results["rollup-payments"].window_end - results["rollup-payments"].window_start < timedelta(days=14)
    assert world.sql("SELECT sum(attempts) FROM rollup_payments WHERE failure_code = 'late_reversal'")[0][0] == 3
    for raw, rolled in PAIRS.values():
        assert sorted(world.sql(rolled)) == sorted(world.sql(raw))
    assert world.sql("SELECT count(*) FROM pending_windows")[0][0] == 0


def test_half_hour_time_zone_splits_an_hour_across_local_dates(make_world):
    world = make_world(demo=dict(days=7, sites=2, scale=0.02, seed=3))
    # St. John's is UTC-3:30 (UTC-2:30 in summer): its local midnight falls at half past a UTC hour, so
    # ten minutes before and ten after it are one UTC hour and two local dates. Two days before the
    # world's end, whatever day the clock says.
    day = (datetime.fromisoformat(world.manifest["period"]["end"]) - timedelta(days=2)).date()
    midnight = datetime.combine(day, clock_time(0), ZoneInfo("America/St_Johns")).astimezone(UTC)
    before, after = midnight - timedelta(minutes=10), midnight + timedelta(minutes=10)
    assert before.replace(minute=0) == after.replace(minute=0)
    with psycopg.connect(world.libpq) as conn:
        conn.execute("INSERT INTO billing.sites VALUES ('NL1', 'St. John''s Harbour', 'ca-east', 'America/St_Johns', 'CAD', 'CA-NL')")
        conn.execute("INSERT INTO billing.parking_sessions VALUES ('nl-a', 'NL1', %s, %s, NULL, %s), ('nl-b', 'NL1', %s, NULL, NULL, %s)",
                     (before, before + timedelta(minutes=50), clock.now(), after, clock.now()))
    _collect(world)
    rows = world.sql("SELECT hour, local_date, sessions FROM rollup_sessions WHERE site_id = 'NL1' ORDER BY 2")
    hour = before.replace(minute=0)
    assert rows == [(hour, day - timedelta(days=1), 1), (hour, day, 1)]


def test_job_killed_mid_window_leaves_the_previous_result(world):
    before = _snapshot(world, "rollup_invoices")
    end = datetime.fromisoformat(world.manifest["period"]["end"])
    start = end - timedelta(days=3)
    env = dict(os.environ, DATABASE_URL=world.url, REVWATCH_DATA_DIR=str(world.cfg.revwatch_data_dir))
    with psycopg.connect(world.libpq) as blocker:
        blocker.execute("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE")  # the job will stop inside its window
        job = subprocess.Popen(
            [sys.executable, "-m", "revwatch.cli", "collect", "rollup-invoices",
             "--from", start.strftime("%Y-%m-%d %H:%M:%S"), "--to", end.strftime("%Y-%m-%d %H:%M:%S")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                waiting = world.sql(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    " AND query LIKE '%%rollup_invoices%%'"  # this world's job: other runs share the server
                )
                if waiting:
                    break
                assert time.monotonic() < deadline, "the job never reached its window"
                time.sleep(0.1)
            # it has already deleted the window's rows in its transaction; now it dies
            job.send_signal(signal.SIGKILL)
            job.wait(timeout=30)
            world.sql("SELECT pg_terminate_backend(%s)", (waiting[0][0],))
        finally:
            if job.poll() is None:
                job.kill()
    assert _snapshot(world, "rollup_invoices") == before
    last = world.sql("SELECT outcome, finished_at FROM job_runs WHERE job = 'rollup-invoices' ORDER BY run_id DESC LIMIT 1")[0]
    assert last == ("running", None)  # the log shows a run that never finished
    _collect(world, "rollup-invoices", start=start, end=end)
    assert _snapshot(world, "rollup_invoices") == before


def test_queued_hours_far_apart_recompute_those_hours_not_the_days_between(world):
    """Issue 17: a late change days back and the newest hour were one window spanning the days between."""
    from collectors.compute.windows import queue_recompute

    first, last = world.sql("SELECT min(attempted_at), max(attempted_at) FROM payment_attempts")[0]
    with world.engine.begin() as conn:
        for at in (first, last):
            queue_recompute(conn, "payment_attempts", ["rollup-payments"], at, at)
    stats = JOBS["rollup-payments"].run(world.engine, world.cfg, None, None)
    hours = [t.replace(minute=0, second=0, microsecond=0) for t in (first, last)]
    (in_those_hours,), = world.sql("SELECT count(*) FROM payment_attempts WHERE date_trunc('hour', attempted_at, 'UTC') = ANY(%s)",
                                   (hours,))
    assert stats.rows_read == in_those_hours > 0
    assert (stats.window_start, stats.window_end) == (hours[0], hours[1] + timedelta(hours=1))
    assert sorted(world.sql(ROLLUP_PAYMENTS)) == sorted(world.sql(RAW_PAYMENTS))
    assert world.sql("SELECT count(*) FROM pending_windows WHERE consumer = 'rollup-payments'")[0][0] == 0


def test_merge_ranges_gives_the_fewest_disjoint_ranges():
    from collectors.compute.windows import merge_ranges

    t = datetime(2026, 3, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    assert merge_ranges([]) == []
    assert merge_ranges([(t + 5 * h, t + 6 * h), (t, t + h), (t + h, t + 2 * h), (t + 4 * h, t + 6 * h)]) == [
        (t, t + 2 * h), (t + 4 * h, t + 6 * h)]
    assert merge_ranges([(t, t + 9 * h), (t + h, t + 2 * h)]) == [(t, t + 9 * h)]
    nights = [(t, t + 2 * h), (t + 8 * h, t + 9 * h), (t + 16 * h, t + 17 * h)]  # gaps of 6 and 7 hours
    assert merge_ranges(nights, bridge=6 * h) == [(t, t + 9 * h), (t + 16 * h, t + 17 * h)]
