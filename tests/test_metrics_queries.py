"""The Overview's read queries (over rollups) against plain SQL over the RAW product tables; the
Overview's payment series and failure codes are the Payments figures (metrics/figures/payments.py).

The references (raw tables read with plain SQL, periods worked out in Python):
tests/worlds/references.py. The demo manifest's incident counts pin the spike and the outage.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from metrics.figures import overview as q
from metrics.figures import payments
from metrics.figures.declines import GATEWAY_ERROR, classify
from metrics.figures.query import Filters
from tests.worlds.references import (
    RAW_ATTEMPTS,
    RAW_INVOICES,
    RAW_SESSIONS,
    raw_rows,
    reference_payments,
    reference_range,
    reference_revenue,
    reference_sessions,
)

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

HOUR = timedelta(hours=1)

def world_end(world) -> datetime:
    return datetime.fromisoformat(world.manifest["period"]["end"])


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def world(demo_world):
    return demo_world


@pytest.fixture(scope="module")
def full(world) -> Filters:
    first, last = reference_range(world)
    return Filters(first, last)


@pytest.fixture(scope="module")
def regions(world) -> list[str]:
    return [r[0] for r in world.sql("SELECT DISTINCT region FROM sites ORDER BY 1")]


# ---------------------------------------------------------------- tests
def test_filter_options_and_data_range(world, full):
    sites = q.filter_options(world.engine)
    raw = world.sql("SELECT site_id, name, region FROM sites ORDER BY region, name, site_id")
    assert [tuple(r) for r in sites.itertuples(index=False)] == [tuple(r) for r in raw]
    assert q.data_range(world.engine) == q.DataRange(full.start, full.end)


@pytest.mark.parametrize("hours_before_end", [0, 7, 30, 24 * 9 + 5])
def test_revenue_to_date_matches_raw_invoices(world, hours_before_end):
    as_of = world_end(world).replace(minute=0, second=0, microsecond=0) - hours_before_end * HOUR
    got = {(r.period, r.currency): (r.total_minor, r.previous_minor, r.previous_complete) for r in q.revenue_to_date(world.engine, _any(), as_of)}
    want = reference_revenue(world, as_of)
    assert got == want
    assert any(k[0] == "today" and v[0] > 0 for k, v in got.items()), "the world should have invoices today"
    # The world starts mid-month: last month's span has no data, and says so.
    assert all(not complete for (period, _), (_, _, complete) in got.items() if period == "mtd")


def test_revenue_excludes_void_invoices(world):
    as_of = world_end(world).replace(minute=0, second=0, microsecond=0)
    voids = world.sql("SELECT count(*) FROM invoices WHERE status = 'void'")[0][0]
    assert voids > 0, "the demo's duplicate invoices should leave some void ones"
    got = q.daily_revenue(world.engine, Filters(*reference_range(world)))
    raw = world.sql("SELECT currency, sum(total_minor) FROM invoices WHERE status <> 'void' GROUP BY 1")
    assert {c: int(v) for c, v in got.groupby("currency")["total_minor"].sum().items()} == {c: int(v) for c, v in raw}
    assert q.revenue_to_date(world.engine, _any(), as_of)  # and something is shown at all


def test_range_kpis_match_raw_attempts_and_sessions(world, full):
    last = full.end
    f = Filters(last - timedelta(days=4), last)
    got = q.range_kpis(world.engine, f)
    prev = f.previous()
    assert (prev.start, prev.end) == (last - timedelta(days=9), last - timedelta(days=5))
    assert got.payments == reference_payments(world, f.start, f.end)
    assert got.previous_payments == reference_payments(world, prev.start, prev.end)
    assert got.sessions == reference_sessions(world, f.start, f.end)
    assert got.previous_sessions == reference_sessions(world, prev.start, prev.end)
    p = got.payments
    assert 0 < p.success_rate < 1 and p.success_rate == p.succeeded / p.attempts
    assert p.first_attempt_success_rate == p.first_succeeded / p.first_attempts


def test_filters_by_region_and_site_narrow_results(world, full, regions):
    assert len(regions) >= 2
    per_region = {}
    for region in regions:
        f = Filters(full.start, full.end, regions=(region,))
        k = q.range_kpis(world.engine, f)
        assert k.sessions == reference_sessions(world, f.start, f.end, regions=(region,))
        assert k.payments == reference_payments(world, f.start, f.end, regions=(region,))
        per_region[region] = k
    total = q.range_kpis(world.engine, full)
    assert sum(k.sessions for k in per_region.values()) == total.sessions
    assert 0 < min(k.sessions for k in per_region.values()) < total.sessions

    site_id, region = world.sql("SELECT site_id, region FROM sites ORDER BY site_id LIMIT 1")[0]
    one = Filters(full.start, full.end, site_ids=(site_id,))
    assert q.range_kpis(world.engine, one).sessions == reference_sessions(world, full.start, full.end, site_ids=(site_id,))
    other = next(r for r in regions if r != region)
    nobody = Filters(full.start, full.end, regions=(other,), site_ids=(site_id,))
    assert q.range_kpis(world.engine, nobody) == q.RangeKpis()
    assert q.daily_sessions(world.engine, nobody).empty

    as_of = world_end(world).replace(minute=0, second=0, microsecond=0)
    got = {(r.period, r.currency): (r.total_minor, r.previous_minor, r.previous_complete)
           for r in q.revenue_to_date(world.engine, _any(regions=(region,)), as_of)}
    assert got == reference_revenue(world, as_of, regions=(region,))


def test_revenue_change_is_a_share_of_the_comparable_period():
    assert q.PeriodRevenue("today", "USD", 150, 100).change_rate == 0.5
    assert q.PeriodRevenue("wtd", "USD", 50, 100).change_rate == -0.5
    assert q.PeriodRevenue("mtd", "USD", 50, 0).change_rate is None  # nothing to compare with: no made-up "+∞ %"


def test_daily_series_match_raw(world, full):
    f = full
    sessions = q.daily_sessions(world.engine, f)
    raw = Counter(r.local_date for r in raw_rows(world, RAW_SESSIONS))
    assert dict(zip(sessions["local_date"], sessions["sessions"].astype(int), strict=True)) == dict(raw)

    revenue = q.daily_revenue(world.engine, f)
    want = defaultdict(lambda: [0, 0])
    for r in raw_rows(world, RAW_INVOICES, {"as_of": None}):
        if r.status != "void":
            want[(r.local_date, r.currency)][0] += 1
            want[(r.local_date, r.currency)][1] += r.total_minor
    got = {(d, c): [int(n), int(t)] for d, c, n, t in revenue.itertuples(index=False)}
    assert got == dict(want)

    daily = payments.success_series(world.engine, f, "day")
    want = defaultdict(lambda: [0, 0])
    for r in raw_rows(world, RAW_ATTEMPTS):
        want[(r.local_date, r.gateway)][0] += 1
        want[(r.local_date, r.gateway)][1] += r.status == "succeeded"
    got = {(d, g): [int(a), int(s)] for d, g, a, s in daily[["period", "gateway", "attempts", "succeeded"]].itertuples(index=False)}
    assert got == dict(want)
    assert (daily["success_rate"] == daily["succeeded"] / daily["attempts"]).all()


def test_top_failure_codes_match_raw(world, full):
    got = payments.failure_codes(world.engine, full, limit=5)
    raw = world.sql(
        "SELECT gateway, coalesce(failure_code, ''), count(*) FROM payment_attempts WHERE status = 'failed'"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 5")
    assert [(g, c, int(n)) for g, c, n in got[["gateway", "failure_code", "failed"]].itertuples(index=False)] == [
        tuple(r) for r in raw]
    assert all(lbl == classify(g, c).label for g, c, lbl in got[["gateway", "failure_code", "label"]].itertuples(index=False)
               if c)


def test_hourly_payments_show_the_processing_error_spike(world, full):
    spike = _incident(world, "processing_error_spike")
    start, end = _window(spike)
    expected = spike["expected"]
    hourly = payments.success_series(world.engine, full, "hour").rename(columns={"period": "hour"})

    # Every hour equals the raw attempts of that hour; gateway errors are the taxonomy's class.
    want = defaultdict(lambda: [0, 0, 0])
    for r in raw_rows(world, RAW_ATTEMPTS):
        key = (r.attempted_at.replace(minute=0, second=0, microsecond=0), r.gateway)
        want[key][0] += 1
        want[key][1] += r.status == "failed"
        want[key][2] += r.status == "failed" and classify(r.gateway, r.failure_code).decline_class == GATEWAY_ERROR
    got = {(h.to_pydatetime(), g): [int(a), int(f), int(p)]
           for h, g, a, f, p in hourly[["hour", "gateway", "attempts", "failed", "gateway_errors"]].itertuples(index=False)}
    assert got == dict(want)
    assert (hourly["failure_rate"] == hourly["failed"] / hourly["attempts"]).all()

    # The manifest's window holds exactly the attempts and gateway errors it counts...
    assert classify(expected["gateway"], expected["failure_code"]).decline_class == GATEWAY_ERROR
    in_window = hourly[(hourly["hour"] >= start) & (hourly["hour"] < end) & (hourly["gateway"] == expected["gateway"])]
    assert len(in_window) == 2
    assert int(in_window["attempts"].sum()) == expected["attempts"]
    assert int(in_window["gateway_errors"].sum()) == expected["failed_with_code"]
    # ...and stands out: its hours have the most failures, mostly gateway errors.
    others = hourly.drop(in_window.index)
    assert in_window["failed"].min() > others["failed"].max()
    assert (in_window["gateway_error_share"] > 0.5).all()
    # ...and, taken together, fails more than any busy hour (20+ attempts: a quiet hour of ten can
    # lose half by chance) outside the incidents that fail attempts on purpose
    busy = others["attempts"] >= 20
    for name in ("issuer_decline_spike", "unknown_attempts"):
        lo, hi = _window(_incident(world, name))
        busy &= ~((others["hour"] >= lo.replace(minute=0, second=0, microsecond=0)) & (others["hour"] < hi))
    window_rate = in_window["failed"].sum() / in_window["attempts"].sum()
    assert window_rate > others.loc[busy, "failure_rate"].max(), others.loc[busy].nlargest(3, "failure_rate")


def test_hourly_site_invoices_show_the_gate_sync_gap(world, full):
    outage = _incident(world, "gate_sync_outage")
    start, end = _window(outage)
    (site_id,) = outage["site_ids"]
    hours = q.hourly_site_invoices(world.engine, full, site_id)
    assert (hours["hour"].diff().dropna() == HOUR).all(), "every hour present, gaps as zero"
    raw = Counter(h for (h,) in world.sql(
        "SELECT date_trunc('hour', i.issued_at) FROM invoices i JOIN parking_sessions p USING (session_id)"
        " WHERE p.site_id = %s AND i.status <> 'void'", (site_id,)))
    got = {h.to_pydatetime(): int(n) for h, n in hours[["hour", "invoices"]].itertuples(index=False)}
    assert {h: n for h, n in got.items() if n} == {h: n for h, n in raw.items() if h in got}
    assert sum(got.values()) == sum(raw.values())
    # Invoices trail exits by up to 15 minutes: the hours wholly after the window's first are empty.
    gap = [n for h, n in got.items() if start + HOUR <= h and h + HOUR <= end]
    assert len(gap) >= 5 and not any(gap), "no invoices during the outage"
    day_before = [n for h, n in got.items() if start - timedelta(days=1) + HOUR <= h and h + HOUR <= end - timedelta(days=1)]
    assert sum(day_before) > 0, "the same hours the day before do have invoices"


def test_freshness_reports_last_success_and_failures(world, make_world):
    jobs = {j.job: j for j in q.freshness(world.engine)}
    assert jobs and all(j.last_outcome == "succeeded" and j.last_success_at is not None for j in jobs.values())
    assert "ingest-billing" in jobs

    empty = make_world()
    assert q.freshness(empty.engine) == ()
    assert q.data_range(empty.engine) is None
    t0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with empty.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, error) VALUES"
            " ('a', :t0, :t1, 'succeeded', NULL), ('a', :t2, :t3, 'failed', 'boom'), ('b', :t0, NULL, 'running', NULL)"),
            {"t0": t0, "t1": t0 + timedelta(minutes=1), "t2": t0 + HOUR, "t3": t0 + HOUR + timedelta(minutes=1)})
    got = q.freshness(empty.engine)
    assert got == (
        q.JobFreshness("a", t0 + timedelta(minutes=1), t0 + HOUR, "failed", "boom"),
        q.JobFreshness("b", None, t0, "running", None),
    )


def test_queries_bind_values_never_format_them(world, full):
    """A hostile filter value is data, not SQL."""
    evil = Filters(full.start, full.end, regions=("x'); DROP TABLE sites; --",))
    assert q.range_kpis(world.engine, evil) == q.RangeKpis()
    assert world.sql("SELECT count(*) FROM sites")[0][0] > 0


# ---------------------------------------------------------------- helpers
def _any(**kw) -> Filters:
    """Filters whose date range does not matter (revenue to date ignores it)."""
    return Filters(date(2000, 1, 1), date(2000, 1, 1), **kw)


def _incident(world, incident_id: str) -> dict:
    found = [i for i in world.manifest["incidents"] if i["id"] == incident_id]
    assert found, f"manifest has no {incident_id} incident"
    return found[0]


def _window(incident: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(incident["start"]), datetime.fromisoformat(incident["end"])
