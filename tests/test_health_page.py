"""The Health page and its queries on a hand-built run log, sync state, source copies and
quarantine: every figure per job (last run, last success and its age, runs and failures in
24 h, p50/p95, observed interval, status) equals what the test works out from the rows it wrote,
never-run jobs are listed, each source's freshness badge follows its threshold, the quarantine
counts only the last 7 days, the run log filters, and the page names the tz database in use.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb
from streamlit.testing.v1 import AppTest

from metrics import health as h
from revwatch import clock

PAGE = "pages/health.py"
BILLING_ERROR = "OperationalError: connection to billing refused"
RECON_ERROR = "IntegrityError: duplicate key value violates unique constraint"


def pct(xs: list[float], p: float) -> float:
    """Continuous percentile (linear between closest ranks), as PostgreSQL's percentile_cont."""
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _run(job, started, seconds=None, outcome="succeeded", read=0, written=0, error=None):
    return (job, started, started + timedelta(seconds=seconds) if seconds is not None else None, outcome, read, written,
            error)


def build(world, now: datetime) -> dict:
    """The rows, and what the test expects of them."""
    runs = []
    # ingest-billing: every 5 minutes for an hour, the third newest failed; three more two days ago
    billing_ok = []
    for k in range(1, 13):
        started = now - timedelta(minutes=5 * k)
        if k == 3:
            runs.append(_run("ingest-billing", started, 1.5, "failed", error=BILLING_ERROR))
        else:
            secs = 2.0 + k * 0.5
            runs.append(_run("ingest-billing", started, secs, read=100 * k, written=10 * k))
            billing_ok.append(secs)
    for k in range(3):
        secs = 30.0 + k
        runs.append(_run("ingest-billing", now - timedelta(days=2, minutes=5 * k), secs))
        billing_ok.append(secs)
    # reconcile: hourly, the newest failed; the one before succeeded three hours ago
    runs.append(_run("reconcile", now - timedelta(hours=3), 40.0))
    runs.append(_run("reconcile", now - timedelta(hours=2), 41.0, "failed", error=RECON_ERROR))
    runs.append(_run("reconcile", now - timedelta(minutes=30), 42.0, "failed", error=RECON_ERROR))
    # rollup-sessions: one running now
    runs.append(_run("rollup-sessions", now - timedelta(minutes=9), 3.0))
    runs.append(_run("rollup-sessions", now - timedelta(minutes=1), None, "running"))
    # ingest-adyen: not configured, every run skipped
    for k in (1, 2):
        runs.append(_run("ingest-adyen", now - timedelta(minutes=10 * k), 0.1, "skipped",
                         error="ADYEN_REPORTS_DIR is not set: Adyen reports are not read"))
    # classify-billing: hourly until ten hours ago, then silence: stale
    classify_finish = now - timedelta(hours=10, seconds=20)
    for k in range(5):
        started = classify_finish - timedelta(seconds=4) - timedelta(hours=k)
        runs.append(_run("classify-billing", started, 4.0))
    # match-gateway-payments: an abandoned run (its worker died) counts as a failure
    runs.append(_run("match-gateway-payments", now - timedelta(hours=3), 7.0))
    runs.append(_run("match-gateway-payments", now - timedelta(hours=2), 600.0, "abandoned", error="worker lost"))
    runs.append(_run("match-gateway-payments", now - timedelta(hours=1), 8.0))
    # a job the catalogue does not know any more
    runs.append(_run("legacy-export", now - timedelta(days=3), 5.0))
    today = now.date()
    with psycopg.connect(world.libpq) as conn:
        conn.cursor().executemany(
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_read, rows_written, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)", runs)
        conn.execute("INSERT INTO sync_state (source, table_name, watermark) VALUES"
                     " ('billing', 'parking_sessions', %s), ('billing', 'invoices', %s),"
                     " ('classify-billing', 'billing_findings', %s)",
                     (now - timedelta(minutes=30), now - timedelta(hours=5), now - timedelta(hours=11)))
        conn.execute("INSERT INTO stripe_charges (id, created, currency, raw, amount, amount_refunded, status)"
                     " VALUES ('ch_1', %s, 'USD', %s, 700, 0, 'succeeded'), ('ch_0', %s, 'USD', %s, 500, 0, 'succeeded')",
                     (now - timedelta(hours=1), Jsonb({}), now - timedelta(hours=9), Jsonb({})))
        conn.execute("INSERT INTO stripe_payouts (id, created, currency, raw, amount, status)"
                     " VALUES ('po_1', %s, 'USD', %s, 27000, 'paid')", (now - timedelta(hours=20), Jsonb({})))
        conn.execute("INSERT INTO source_files (sha256, source, file_name, ingested_at, lines_read, lines_loaded,"
                     " lines_quarantined) VALUES ('a1', 'adyen', 'settlement_detail_report_batch_7.csv', %s, 3, 2, 1),"
                     " ('b1', 'bank', 'bai2_20261101.txt', %s, 9, 6, 3)",
                     (now - timedelta(hours=26), now - timedelta(days=6)))
        conn.execute("INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, created_at, type,"
                     " net_currency, batch_number) VALUES ('a1', 2, 'RevwatchPark', %s, 'Settled', 'EUR', 7),"
                     " ('a1', 3, 'RevwatchPark', %s, 'Settled', 'EUR', 7)",
                     (now - timedelta(hours=31), now - timedelta(hours=30)))
        conn.execute("INSERT INTO bank_lines (file_sha256, line_number, format, account, currency, bank_date, direction,"
                     " amount_minor, payout_candidate) VALUES ('b1', 4, 'bai2', '0975312468', 'USD', %s, 'credit', 2700,"
                     " true)", (today - timedelta(days=6),))
        conn.execute("INSERT INTO fx_rates (rate_date, currency, rate_to_reporting, file_sha256) VALUES"
                     " (%s, 'EUR', 1.09, 'f1'), (%s, 'CAD', 0.73, 'f1'), (%s, 'EUR', 1.08, 'f0')",
                     (today - timedelta(days=1), today - timedelta(days=1), today - timedelta(days=2)))
        conn.cursor().executemany(
            "INSERT INTO quarantine (source, file_name, file_sha256, line_number, reason, record, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [("bank", "bai2_20261101.txt", "b1", n, f"bad amount on line {n}", "16,165,x", now - timedelta(days=1, minutes=n))
             for n in (5, 6, 7)]
            + [("adyen", "settlement_detail_report_batch_7.csv", "a1", 4, "unknown currency XXX", "...",
                now - timedelta(days=10))])
    return {"billing_ok": billing_ok, "billing_last_finish": now - timedelta(minutes=5) + timedelta(seconds=2.5),
            "classify_finish": classify_finish}


@pytest.fixture
def world(make_world):
    w = make_world()
    w.now = clock.now().replace(microsecond=0)
    w.expect = build(w, w.now)
    return w


def test_catalogue_copy_equals_the_job_catalogue():
    from collectors.jobs import JOBS

    assert list(h.JOB_CATALOGUE) == [(j.name, j.kind) for j in JOBS.values()]


def test_job_figures_equal_the_rows(world):
    now, exp = world.now, world.expect
    with world.engine.connect() as conn:
        jobs = {j.job: j for j in h.job_health(conn, now)}
    # every catalogue job, in catalogue order, then the job only the run log knows
    assert list(jobs) == [name for name, _ in h.JOB_CATALOGUE] + ["legacy-export"]
    assert jobs["legacy-export"].kind is None and jobs["ingest-billing"].kind == "ingest"

    b = jobs["ingest-billing"]
    assert (b.last.started_at, b.last.outcome, b.last.rows_read, b.last.rows_written) == (
        now - timedelta(minutes=5), "succeeded", 100, 10)
    assert b.last.duration == timedelta(seconds=2.5)
    assert b.last_success_at == exp["billing_last_finish"]
    assert b.success_age == timedelta(minutes=5) - timedelta(seconds=2.5)
    assert (b.runs_24h, b.failures_24h) == (12, 1)  # the three of two days ago are outside 24 h
    assert (b.last_failure_at, b.last_failure_error) == (now - timedelta(minutes=15), BILLING_ERROR)
    assert b.sampled_runs == 14
    assert b.p50_seconds == pytest.approx(pct(exp["billing_ok"], 0.5))
    assert b.p95_seconds == pytest.approx(pct(exp["billing_ok"], 0.95))
    assert b.interval_seconds == pytest.approx(300)  # median gap: the two-day gap does not move it
    assert b.status == "ok"

    r = jobs["reconcile"]
    assert (r.status, r.failures_24h, r.runs_24h) == ("failing", 2, 3)
    assert r.last_success_at == now - timedelta(hours=3) + timedelta(seconds=40)
    assert (r.last_failure_at, r.last_failure_error) == (now - timedelta(minutes=30), RECON_ERROR)
    assert (r.p50_seconds, r.p95_seconds, r.sampled_runs) == (40.0, 40.0, 1)  # failed runs are not sampled

    assert jobs["rollup-sessions"].status == "running" and jobs["rollup-sessions"].last.duration is None
    assert jobs["ingest-adyen"].status == "skipped" and "ADYEN_REPORTS_DIR" in jobs["ingest-adyen"].last.error
    c = jobs["classify-billing"]
    assert c.success_age == timedelta(hours=10, seconds=20) and c.interval_seconds == pytest.approx(3600)
    assert c.status == "stale"  # 10 h since the last success of an hourly job
    m = jobs["match-gateway-payments"]
    assert (m.failures_24h, m.runs_24h, m.last_failure_error, m.status) == (1, 3, "worker lost", "ok")
    assert m.p95_seconds == pytest.approx(pct([7.0, 8.0], 0.95))
    with world.engine.connect() as conn:
        day = h.run_durations(conn, now, days=1)
    billing = day[day["job"] == "ingest-billing"]
    assert (int(billing["runs"].sum()), int(billing["failures"].sum())) == (12, 1)  # the hour's runs, none older
    assert billing["max_seconds"].max() == pytest.approx(8.0)  # the slowest of the hour: 2 + 12 × 0.5 s
    assert "ingest-adyen" not in set(day["job"])  # skipped runs are no duration
    assert (day.groupby("job").size() <= h.MAX_POINTS).all()
    for name in ("ingest-fx", "ingest-ledger", "rollup-refunds"):
        j = jobs[name]
        assert (j.last, j.last_success_at, j.runs_24h, j.p95_seconds, j.status) == (None, None, 0, None, "never run")


def test_freshness_quarantine_and_run_log(world):
    now = world.now
    with world.engine.connect() as conn:
        fresh = {(f.source, f.what): f for f in h.source_freshness(conn, now)}
        counts = h.quarantine_counts(conn, now)
        latest = h.latest_quarantined(conn)
        failed = h.run_log(conn, outcomes=("failed", "abandoned"))
        billing = h.run_log(conn, jobs=("ingest-billing",))
        everything = h.run_log(conn)
    assert fresh[("billing", "watermark parking_sessions")].badge == "ok"
    inv = fresh[("billing", "watermark invoices")]
    assert (inv.age, inv.badge) == (timedelta(hours=5), "stale")  # threshold 2 h
    st_ = fresh[("stripe", "newest object created")]
    assert (st_.newest, st_.detail, st_.badge) == (now - timedelta(hours=1), "charge", "ok")
    line = fresh[("adyen", "newest settlement line")]
    assert (line.newest, line.detail, line.badge) == (
        now - timedelta(hours=30), "settlement_detail_report_batch_7.csv line 3", "ok")
    assert fresh[("adyen", "newest report taken in")].detail == "settlement_detail_report_batch_7.csv"
    bank = fresh[("bank", "newest statement date")]
    assert (bank.newest, bank.age, bank.badge) == (now.date() - timedelta(days=6), timedelta(days=6), "stale")
    assert fresh[("gl", "newest posting date")].badge == "no data"
    fx = fresh[("fx", "newest rate date")]
    assert (fx.age, fx.detail, fx.badge) == (timedelta(days=1), "CAD, EUR", "ok")

    assert counts[["source", "lines", "files"]].to_dict("list") == {"source": ["bank"], "lines": [3], "files": [1]}
    assert list(zip(latest["file_name"], latest["line_number"], strict=True))[:4] == [
        ("bai2_20261101.txt", 5), ("bai2_20261101.txt", 6), ("bai2_20261101.txt", 7),
        ("settlement_detail_report_batch_7.csv", 4)]
    assert "record" not in latest.columns

    assert set(failed["outcome"]) == {"failed", "abandoned"} and len(failed) == 4
    assert set(billing["job"]) == {"ingest-billing"} and len(billing) == 15
    assert len(everything) == len(world.sql("SELECT 1 FROM job_runs"))
    assert list(everything["started_at"]) == sorted(everything["started_at"], reverse=True)


def test_tz_database_named_and_probes_agree_with_sql(world):
    with world.engine.connect() as conn:
        info = h.database_info(conn)
    assert info.server_version == world.sql("SHOW server_version")[0][0]
    # each probe's offset is what PostgreSQL says for that zone and instant, asked plainly
    for probe, got in zip(h.TZ_PROBES, info.postgres_tz.offsets, strict=True):
        known = world.sql("SELECT 1 FROM pg_timezone_names WHERE name = %s", (probe.zone,))
        want = world.sql("SELECT (%s::timestamptz AT TIME ZONE %s) - (%s::timestamptz AT TIME ZONE 'UTC')",
                         (probe.at, probe.zone, probe.at))[0][0] if known else None
        assert got == want, probe
    # the version read from the server's tzdata.zi (superuser here) and the probes agree
    pg = info.postgres_tz
    if pg.version:
        releases = [p.release for p in h.TZ_PROBES]
        assert pg.at_least is not None and pg.at_least <= pg.version
        if pg.version in releases:
            assert pg.at_least == pg.version
    assert pg.version or pg.at_least


def test_reflected_release_is_the_newest_unbroken_prefix():
    ok = tuple(p.offset for p in h.TZ_PROBES)
    assert h.reflected_release(ok) == h.TZ_PROBES[-1].release
    broken = (*ok[:3], None, *ok[4:])
    assert h.reflected_release(broken) == h.TZ_PROBES[2].release  # a later match does not count past a gap
    assert h.reflected_release((None, *ok[1:])) is None


def _table(at: AppTest, *columns: str):
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise KeyError(f"no table with {columns}; have {[list(d.value.columns)[:5] for d in at.dataframe]}")


def test_page_shows_the_figures(world, page_for):
    at = page_for(world, PAGE)
    assert at.title[0].value == "Health"
    jobs = _table(at, "job", "status", "p95 (s)").set_index("job")
    assert list(jobs.index) == [name for name, _ in h.JOB_CATALOGUE] + ["legacy-export"]
    b = jobs.loc["ingest-billing"]
    assert (b["runs 24h"], b["failures 24h"], b["last failure error"]) == (12, 1, BILLING_ERROR)
    assert b["p95 (s)"] == pytest.approx(pct(world.expect["billing_ok"], 0.95))
    assert jobs.loc["classify-billing", "success age"] == "10 h 0 min"
    assert jobs.loc["classify-billing", "status"] == "stale"
    for name in ("ingest-fx", "ingest-ledger", "rollup-refunds"):
        assert jobs.loc[name, "status"] == "never run" and jobs.loc[name, "success age"] == "never"
    assert jobs.loc["legacy-export", "kind"] == "not in catalogue"
    assert any("**reconcile**" in w.value and RECON_ERROR in w.value for w in at.warning)
    assert "ADYEN_REPORTS_DIR" in jobs.loc["ingest-adyen", "last note"]
    assert {m.label: m.value for m in at.metric}["Failing"] == "1"
    assert len(at.get("plotly_chart")) == 1

    fresh = {(r["source"], r["figure"]): r["badge"] for r in _table(at, "source", "figure", "badge").to_dict("records")}
    assert fresh[("billing", "watermark invoices")] == "stale"
    assert fresh[("bank", "newest statement date")] == "stale"
    assert fresh[("fx", "newest rate date")] == "ok" and fresh[("gl", "newest posting date")] == "no data"
    assert _table(at, "source", "lines", "files").to_dict("list")["lines"] == [3]
    assert ("settlement_detail_report_batch_7.csv", 4) in set(
        zip(*_table(at, "file_name", "line_number", "reason")[["file_name", "line_number"]].to_dict("list").values(), strict=True))

    tz = [m.value for m in at.markdown if "tz database in use" in m.value]
    info_side = world_tz(world)
    assert tz and (info_side.version or info_side.at_least) in tz[0]

    at.multiselect(key="log_outcomes").set_value(["failed"]).run()
    assert not at.exception
    log = _table(at, "run_id", "outcome", "rows_read")
    assert set(log["outcome"]) == {"failed"} and len(log) == 3
    at.multiselect(key="log_jobs").set_value(["reconcile"]).run()
    assert set(_table(at, "run_id", "outcome", "rows_read")["job"]) == {"reconcile"}
    assert "csv_runs" in {b.key for b in at.get("download_button")}


def world_tz(world) -> h.TzSide:
    with world.engine.connect() as conn:
        return h.database_info(conn).postgres_tz


def test_page_on_an_empty_database_lists_every_job_as_never_run(make_world, page_for):
    at = page_for(make_world(), PAGE)
    jobs = _table(at, "job", "status", "p95 (s)")
    assert len(jobs) == len(h.JOB_CATALOGUE) and set(jobs["status"]) == {"never run"}
    assert any("No run matches" in c.value for c in at.caption)
    assert any("tz database in use" in m.value for m in at.markdown)
