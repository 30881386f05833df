"""The Health page and its queries on a hand-built run log, sync state, source copies and
quarantine: every figure per job (last run, last success and its age, runs and failures in
24 h, p50/p95, observed and configured interval, status) equals what the test works out from the
rows it wrote, judged against the schedule the rows were written to (tests/worlds/ops.py SCHEDULE);
"stale" is the CollectorStale alert's condition; never-run jobs are listed, each source's freshness badge follows its threshold, the quarantine
counts only the last 7 days, the run log filters, and the page names the tz database in use.
The rows: tests/worlds/ops.py (build).
"""
from __future__ import annotations

import math
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from metrics.catalogue import STALE_AFTER_INTERVALS
from metrics.figures import health as h
from revwatch import clock
from revwatch.schedule import CATALOGUE, REPORT_JOB, intervals
from revwatch.settings import load_settings
from tests.worlds.ops import BILLING_ERROR, RECON_ERROR, SCHEDULE, build

PAGE = "pages/health.py"


def pct(xs: list[float], p: float) -> float:
    """Continuous percentile (linear between closest ranks), as PostgreSQL's percentile_cont."""
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@pytest.fixture
def world(make_world):
    w = make_world()
    w.now = clock.now().replace(microsecond=0)
    w.expect = build(w, w.now)
    return w


CONFIGURED = intervals(load_settings(worker_schedule=SCHEDULE))


def test_job_figures_equal_the_rows(world):
    now, exp = world.now, world.expect
    with world.engine.connect() as conn:
        jobs = {j.job: j for j in h.job_health(conn, now, CONFIGURED)}
    # every catalogue job, in catalogue order, the weekly report's job, then the job only the run log knows
    assert list(jobs) == [*CATALOGUE, REPORT_JOB, "legacy-export"]
    assert jobs["legacy-export"].kind is None and jobs["ingest-billing"].kind == "ingest"
    report = jobs[REPORT_JOB]
    assert (report.kind, report.status, report.interval_seconds) == ("report", "never run", 7 * 86400)

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
    assert b.observed_interval_seconds == pytest.approx(300)  # median gap: the two-day gap does not move it
    assert b.interval_seconds == 300 and b.stale is False  # configured (SCHEDULE); 5 min < 2 × 5 min
    assert b.status == "ok"

    r = jobs["reconcile"]
    assert (r.status, r.failures_24h, r.runs_24h) == ("failing", 2, 3)
    assert r.last_success_at == now - timedelta(hours=3) + timedelta(seconds=40)
    assert (r.last_failure_at, r.last_failure_error) == (now - timedelta(minutes=30), RECON_ERROR)
    assert (r.p50_seconds, r.p95_seconds, r.sampled_runs) == (40.0, 40.0, 1)  # failed runs are not sampled

    assert jobs["rollup-sessions"].status == "running" and jobs["rollup-sessions"].last.duration is None
    assert jobs["ingest-adyen"].status == "skipped" and "ADYEN_REPORTS_DIR" in jobs["ingest-adyen"].last.error
    c = jobs["classify-billing"]
    assert c.success_age == timedelta(hours=10, seconds=20) and c.observed_interval_seconds == pytest.approx(3600)
    assert c.interval_seconds == 3600 and c.stale
    assert c.status == "stale"  # 10 h since the last success of an hourly job
    m = jobs["match-gateway-payments"]
    assert (m.failures_24h, m.runs_24h, m.last_failure_error, m.status) == (1, 3, "worker lost", "ok")
    assert jobs["legacy-export"].interval_seconds is None and jobs["legacy-export"].status == "ok"  # not scheduled
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


def _succeeded(finished, as_of, interval: int | None) -> h.JobHealth:
    """A job whose last run succeeded at `finished`, judged at `as_of` against `interval` configured seconds."""
    last = h.LastRun(1, finished - timedelta(seconds=3), finished, "succeeded", 10, 1, None)
    return h.JobHealth("reconcile", "compute", as_of, last, finished, None, None, 1, 0, 3.0, 3.0, 1, None, interval)


@pytest.mark.parametrize("interval", [1, 60, 300, 86400])
def test_stale_means_older_than_n_configured_intervals(interval):
    finished = clock.now()
    limit = finished + timedelta(seconds=STALE_AFTER_INTERVALS * interval)
    second = timedelta(seconds=1)
    assert [_succeeded(finished, at, interval).status for at in (limit - second, limit, limit + second)] == [
        "ok", "ok", "stale"]  # strictly older, as the alert's `>`
    assert _succeeded(finished, limit + 1000 * second, None).status == "ok"  # not scheduled: never stale


def test_without_a_schedule_job_health_reads_worker_schedule(world, monkeypatch):
    monkeypatch.setenv("WORKER_SCHEDULE", SCHEDULE)
    with world.engine.connect() as conn:
        jobs = {j.job: j for j in h.job_health(conn, world.now)}
    assert {name: j.interval_seconds for name, j in jobs.items() if name in CATALOGUE} == CONFIGURED
    assert jobs["ingest-billing"].status == "ok"
    monkeypatch.delenv("WORKER_SCHEDULE")
    with world.engine.connect() as conn:
        billing = next(j for j in h.job_health(conn, world.now) if j.job == "ingest-billing")
    # the catalogue's default: every minute, so 5 minutes without a success is stale
    assert (billing.interval_seconds, billing.status) == (CATALOGUE["ingest-billing"].every, "stale") == (60, "stale")


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


def test_page_shows_the_figures(world, page_for, monkeypatch):
    monkeypatch.setenv("WORKER_SCHEDULE", SCHEDULE)
    at = page_for(world, PAGE)
    assert at.title[0].value == "Health"
    jobs = _table(at, "job", "status", "p95").set_index("job")
    assert list(jobs.index) == [*CATALOGUE, REPORT_JOB, "legacy-export"]
    b = jobs.loc["ingest-billing"]
    assert (b["runs 24h"], b["failures 24h"], b["last failure error"]) == (12, 1, BILLING_ERROR)
    p95 = pct(world.expect["billing_ok"], 0.95)
    assert 10 <= p95 < 120 and b["p95"] == f"{p95:.0f} s"  # rounded for people
    assert b["last duration"] == "2.5 s" and b["rows read"] == "100"
    assert b["last start"] == f"{world.now - timedelta(minutes=5):%Y-%m-%d %H:%M:%S} UTC"
    assert (jobs.loc[REPORT_JOB, "kind"], jobs.loc[REPORT_JOB, "interval"]) == ("report", "weekly, Mon 07:00 UTC")
    assert jobs.loc["rollup-sessions", "last duration"] == "–"  # running: no duration yet
    assert jobs.loc["classify-billing", "success age"] == "10 h"  # rounded for people: not "10 h 0 min"
    assert jobs.loc["classify-billing", "status"] == "stale"
    assert (jobs.loc["classify-billing", "interval"], jobs.loc["ingest-billing", "interval"]) == ("60 min", "5 min")
    assert jobs.loc["ingest-billing", "observed interval"] == "5 min"
    for name in ("ingest-fx", "ingest-ledger", "rollup-refunds"):
        assert jobs.loc[name, "status"] == "never run" and jobs.loc[name, "success age"] == "never"
    assert jobs.loc["legacy-export", "kind"] == "not in catalogue"
    from pages.common import markdown as md  # the job's error is source text: escaped in the page's Markdown

    assert any("**reconcile**" in w.value and md.text(RECON_ERROR) in w.value for w in at.warning)
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
    assert any(c.value == "All 3 runs." for c in at.caption)
    at.multiselect(key="log_jobs").set_value(["reconcile"]).run()
    assert set(_table(at, "run_id", "outcome", "rows_read")["job"]) == {"reconcile"}
    assert "csv_runs" in {b.key for b in at.get("download_button")}


def world_tz(world) -> h.TzSide:
    with world.engine.connect() as conn:
        return h.database_info(conn).postgres_tz


def test_page_on_an_empty_database_lists_every_job_as_never_run(make_world, page_for):
    at = page_for(make_world(), PAGE)
    jobs = _table(at, "job", "status", "p95")
    assert len(jobs) == len(CATALOGUE) + 1 and set(jobs["status"]) == {"never run"}
    assert set(jobs["p95"]) == set(jobs["last start"]) == {"–"}  # nothing to show, never "None"
    assert any("No run matches" in c.value for c in at.caption)
    assert any("tz database in use" in m.value for m in at.markdown)


def test_page_names_a_gateway_object_type_the_key_may_not_read(make_world, page_for):
    """A restricted key (issue 15, point 7): the run is partial and Health names the refused type."""
    world = make_world()
    now = clock.now()
    world.sql("INSERT INTO gateway_access (gateway, object_type, state, http_status, reason, since, checked_at)"
              " VALUES ('stripe', 'disputes', 'refused', 403, 'disputes refused (HTTP 403): the API key may not"
              " read them', %s, %s), ('stripe', 'payouts', 'read', NULL, NULL, %s, %s)", (now, now, now, now))
    at = page_for(world, PAGE)
    shown = [w.value.replace("\\", "") for w in at.warning]
    assert any("stripe disputes" in w and "HTTP 403" in w for w in shown), shown
    assert not any("payouts" in w for w in shown)


def _no_empty_cells(at: AppTest) -> None:
    """Every table of the page says something in every cell: "–" where there is nothing, never None/NaN."""
    for d in at.dataframe:
        df = d.value
        assert not df.isna().any().any(), df.columns[df.isna().any()].tolist()
        assert not df.astype(str).isin(["None", "nan", "NaT"]).any().any(), df


def test_page_has_no_empty_cells(world, page_for, monkeypatch):
    monkeypatch.setenv("WORKER_SCHEDULE", SCHEDULE)
    at = page_for(world, PAGE)
    _no_empty_cells(at)
    for expander in at.expander:  # the sync state and gateway access tables too
        for d in expander.dataframe:
            assert not d.value.isna().any().any()


def test_a_first_run_is_not_ok_until_it_succeeded(make_world, page_for):
    """A job running its first load (running, never succeeded) is "first run", never counted ok; once it has
    succeeded, a later run in progress is "running" (ok while its last success is recent)."""
    world = make_world()
    now = clock.now().replace(microsecond=0)
    world.sql("INSERT INTO job_runs (job, started_at, outcome) VALUES ('ingest-stripe', %s, 'running')",
              (now - timedelta(hours=2),))
    with world.engine.connect() as conn:
        stripe = next(j for j in h.job_health(conn, now, CONFIGURED) if j.job == "ingest-stripe")
    assert stripe.status == "first run"
    at = page_for(world, PAGE)
    assert {m.label: m.value for m in at.metric}["Jobs ok"] == f"0 of {len(CATALOGUE) + 1}"
    assert _table(at, "job", "status", "p95").set_index("job").loc["ingest-stripe", "status"] == "first run"
    _no_empty_cells(at)
    # it succeeded once; the next run is going: running, and ok
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome) VALUES ('ingest-stripe', %s, %s,"
              " 'succeeded')", (now - timedelta(hours=3), now - timedelta(minutes=3)))
    with world.engine.connect() as conn:
        stripe = next(j for j in h.job_health(conn, now, CONFIGURED) if j.job == "ingest-stripe")
    assert stripe.status == "running"
    with world.engine.connect() as conn:  # … unless that success is older than two intervals: stale
        later = next(j for j in h.job_health(conn, now + timedelta(hours=1), CONFIGURED) if j.job == "ingest-stripe")
    assert later.status == "stale"


def test_run_log_says_first_n_of_m_and_the_download_carries_all(make_world, page_for):
    world = make_world()
    now = clock.now().replace(microsecond=0)
    n = h.RUN_LOG_SHOWN + 20
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_read) SELECT 'ingest-fx',"
              " %s - k * interval '1 minute', %s - k * interval '1 minute' + interval '1.5 seconds', 'succeeded', k"
              " FROM generate_series(1, %s) AS k", (now, now, n))
    with world.engine.connect() as conn:
        assert len(h.run_log(conn)) == h.RUN_LOG_SHOWN and h.run_log_count(conn) == n
        assert len(h.run_log(conn, limit=None)) == n  # what the download carries
        assert h.run_log_count(conn, ("ingest-fx",), ("failed",)) == 0
    at = page_for(world, PAGE)
    log = _table(at, "run_id", "outcome", "rows_read")
    assert len(log) == h.RUN_LOG_SHOWN and set(log["duration"]) == {"1.5 s"}
    assert any(c.value == f"First {h.RUN_LOG_SHOWN} of {n:,} runs: the download gives all of them."
               for c in at.caption)
    assert "csv_runs" in {b.key for b in at.get("download_button")}


def test_an_engineer_asks_for_a_job_to_run_now_and_others_may_not(make_world):
    """Issue 18: request_run writes one waiting request with the person and an audit entry; the roles that may not
    operate jobs, a job outside the catalogue and a second request while one waits are refused, writing nothing."""
    from metrics.actions import job_requests as jr
    from revwatch.identity import NotPermitted
    from tests.people import ANA, ED, VERA

    world = make_world()

    def ask(who, job="reconcile"):
        with world.engine.begin() as conn:
            return jr.request_run(conn, job, who)

    for who in (VERA, ANA):
        with pytest.raises(NotPermitted, match=r"may not run reconcile now: .* \(engineer, admin\)"):
            ask(who)
    with pytest.raises(jr.RunRefused, match="cannot run nightly-magic now: it is not a job"):
        ask(ED, "nightly-magic")
    assert world.sql("SELECT count(*) FROM job_run_requests")[0][0] == 0
    request_id = ask(ED)
    with pytest.raises(jr.RunRefused, match=r"ed@example.com .* asked for it at .* waits for a worker"):
        ask(ED)
    assert world.sql("SELECT request_id, job, requested_by, taken_at FROM job_run_requests") == [
        (request_id, "reconcile", ED.actor, None)]
    assert world.sql("SELECT actor, action, target FROM audit_log") == [(ED.actor, "job.run_now", "job:reconcile")]
    assert list(h.waiting_requests(world.engine, clock.now())) == ["reconcile"]
    world.sql("UPDATE job_run_requests SET taken_at = %s, taken_by = 'w1:1'", (clock.now(),))  # a worker took it
    assert h.waiting_requests(world.engine, clock.now()) == {} and ask(ED) > request_id  # asked again once taken


def test_the_page_asks_for_a_run_and_says_it_waits_for_a_worker(make_world, page_for):
    from revwatch.identity import local_identity

    world = make_world()
    at = page_for(world, PAGE)
    assert not at.exception
    at.selectbox(key="run_now_job").set_value("reconcile").run()
    at.button(key="run_now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert world.sql("SELECT job, requested_by FROM job_run_requests") == [("reconcile", local_identity().actor)]
    assert any("reconcile: asked to run now by" in s.value for s in at.success)
    assert any(i.value.startswith("**reconcile**:") and "waits for a worker to take it" in i.value for i in at.info)
    at.button(key="run_now").click().run()  # asked twice: refused, said on the page
    assert any("waits for a worker to take it" in e.value for e in at.error)
