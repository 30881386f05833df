"""The Overview page, run headless through Streamlit's AppTest against real PostgreSQL.

The figures on the cards must be the ones plain SQL over the raw tables gives (references
from tests/worlds/references.py), before and after a sidebar filter changes.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from metrics.figures import health
from metrics.figures.readiness import jobs_of
from revwatch import clock
from revwatch.money import format_money
from tests.worlds.references import reference_payments, reference_range, reference_revenue, reference_sessions

OVERVIEW_JOBS = jobs_of("overview")
APP = Path(__file__).resolve().parent.parent / "app.py"


@pytest.fixture
def app_for(monkeypatch):
    """An AppTest of app.py (router + Overview) pointed at a world's database, caches cleared."""

    def make(world) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", world.url)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(APP), default_timeout=60)
        return at.run()

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.2f}%"


def _expected_revenue(world, regions=()) -> list[dict[str, str]]:
    """What the revenue cards may show: computed just before and just after the run, so an
    hour boundary passing in between cannot make the test flaky."""
    now = clock.now()
    return [{f"{label} · {cur}": format_money(total, cur) for (period, cur), (total, *_) in
             reference_revenue(world, t, regions=regions).items()
             for p, label in (("today", "Today"), ("wtd", "Week to date"), ("mtd", "Month to date")) if p == period}
            for t in (now, now + timedelta(minutes=1))]


def _check_figures(at: AppTest, world, regions=()) -> None:
    assert not at.exception, [e.value for e in at.exception]
    first, last = reference_range(world)
    start = max(first, last - timedelta(days=29))
    shown = _metrics(at)
    assert shown["Sessions"] == f"{reference_sessions(world, start, last, regions=regions):,}"
    pay = reference_payments(world, start, last, regions=regions)
    assert shown["Payment success rate"] == _pct(pay.succeeded / pay.attempts)
    assert shown["First-attempt success rate"] == _pct(pay.first_succeeded / pay.first_attempts)
    assert shown["Failed attempts"] == f"{pay.failed:,}"
    money = {k: v for k, v in shown.items() if " · " in k}
    assert money, "revenue cards are shown"
    expected = _expected_revenue(world, regions)  # cards absent from the reference must show zero
    assert any(set(e) <= set(money) and all(v == e.get(k, format_money(0, k.split(" · ")[1])) for k, v in money.items())
               for e in expected), (money, expected)


def test_overview_shows_the_sql_figures_and_follows_the_region_filter(demo_world, app_for):
    at = app_for(demo_world)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Overview"
    _check_figures(at, demo_world)
    before = _metrics(at)

    region = demo_world.sql("SELECT region FROM sites ORDER BY region LIMIT 1")[0][0]
    at.sidebar.multiselect(key="regions").set_value([region]).run()
    _check_figures(at, demo_world, regions=(region,))
    assert _metrics(at)["Sessions"] != before["Sessions"]
    region_sites = {r[0] for r in demo_world.sql("SELECT site_id FROM sites WHERE region = %s", (region,))}
    assert set(at.sidebar.multiselect(key="sites").options) == {
        f"{n} ({s})" for s, n in demo_world.sql("SELECT site_id, name FROM sites") if s in region_sites}
    assert len(at.get("plotly_chart")) >= 4


def _layouts(at: AppTest) -> list[dict]:
    """The layout of each Plotly chart, in page order: revenue, sessions, failure rate, failure codes, site hours."""
    return [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]


def _day_ticks(layout: dict) -> list[dict]:
    return [v for k, v in layout.items() if k.startswith("xaxis")]


@pytest.mark.dates  # the selected days, counted back from revwatch.clock's now: run again as of awkward instants
def test_a_shorter_range_is_compared_with_the_days_before(demo_world, app_for):
    at = app_for(demo_world)
    _, last = reference_range(demo_world)
    start, prev = last - timedelta(days=4), (last - timedelta(days=9), last - timedelta(days=5))
    at.sidebar.date_input(key="days").set_value((start, last)).run()
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label: m for m in at.metric}
    sessions = reference_sessions(demo_world, start, last)
    delta = sessions - reference_sessions(demo_world, *prev)
    assert cards["Sessions"].value == f"{sessions:,}"
    assert cards["Sessions"].delta == (f"{delta:+,}" if delta else "0")
    now, before = reference_payments(demo_world, start, last), reference_payments(demo_world, *prev)
    change = (now.succeeded / now.attempts - before.succeeded / before.attempts) * 100
    assert cards["Payment success rate"].delta == f"{change:+.2f} pp"
    assert not any(m.delta and "-0.0%" in str(m.delta) for m in at.metric)


@pytest.mark.dates  # the selected days, counted back from revwatch.clock's now: run again as of awkward instants
def test_charts_span_exactly_the_selected_days_with_day_ticks(demo_world, app_for):
    """Issue 16: the failure chart began nine days before a range (the max annotation widened the axis), and two
    selected days gave the daily bars "12:00 / 00:00" ticks. Each chart's x-axis is the selected days; a daily
    chart ticks days, whatever the range."""
    at = app_for(demo_world)
    _, last = reference_range(demo_world)
    for start in (last - timedelta(days=1), last - timedelta(days=9)):
        at.sidebar.date_input(key="days").set_value((start, last)).run()
        assert not at.exception, [e.value for e in at.exception]
        revenue, sessions, failure, _codes, site_hours = _layouts(at)
        for daily in (revenue, sessions, site_hours):
            for axis in _day_ticks(daily):
                assert axis["tickformat"] == "%d %b" and axis["dtick"] % 86_400_000 == 0, axis
                assert axis["range"] == [f"{start - timedelta(days=1)}T12:00:00", f"{last}T12:00:00"], axis
        assert all(a["dtick"] == 86_400_000 for a in _day_ticks(sessions)) or start < last - timedelta(days=1)
        lo, hi = (datetime.fromisoformat(x) for x in failure["xaxis"]["range"])
        # the selected days in UTC hours, widened only by the hours the sites' local days reach past midnight UTC
        assert datetime.combine(start, time()) - timedelta(hours=14) <= lo <= datetime.combine(start, time()), lo
        assert datetime.combine(last + timedelta(days=1), time()) <= hi, hi
        assert hi <= datetime.combine(last + timedelta(days=1), time()) + timedelta(hours=14), hi


def test_empty_database_renders_an_info_box(make_world, app_for):
    world = make_world()
    with psycopg.connect(world.libpq) as conn:  # a collector that failed: the page says so
        now = clock.now()
        conn.execute("INSERT INTO job_runs (job, started_at, finished_at, outcome, error) VALUES"
                     " ('ingest-billing', %s, %s, 'failed', 'OperationalError: connection refused')", (now, now))
        conn.execute("INSERT INTO job_runs (job, started_at, outcome) VALUES ('ingest-stripe', %s, 'running'),"
                     " ('ingest-adyen', %s, 'skipped')", (now - timedelta(minutes=5), now))
    at = app_for(world)
    assert not at.exception, [e.value for e in at.exception]
    # not "run revwatch demo" while the billing ingest is failing: what is being waited for, and why
    assert any("Not computed yet" in i.value and "ingest-billing" in i.value and "connection refused" in i.value
               for i in at.info), [i.value for i in at.info]
    shown = [w.value.replace("\\", "") for w in at.warning]
    assert any("jobs not ok" in w and "ingest-billing failing" in w for w in shown), shown
    freshness = " · ".join(c.value for c in at.caption)
    assert "Data: not computed yet" in freshness and "jobs not ok" in freshness, freshness
    assert [p.proto.label for p in at.get("page_link")] == ["Health"]
    assert not at.metric
    assert not at.get("plotly_chart")


def test_freshness_is_one_line_not_a_wall_of_jobs(demo_world, app_for, pin_clock):
    """Issue 16: the freshness line named all 15 jobs. Now: data as of, the oldest source, how many jobs are not ok
    as the Health page counts them (just after the collection: those the demo never ran), and a link to Health."""
    (finished,) = demo_world.sql("SELECT max(finished_at) FROM job_runs")[0]
    now = pin_clock(finished + timedelta(seconds=30))
    at = app_for(demo_world)
    assert not at.exception, [e.value for e in at.exception]
    (line,) = [c.value for c in at.caption if c.value.startswith("Data as of")]
    (as_of,) = demo_world.sql("SELECT min(t) FROM (SELECT max(finished_at) AS t FROM job_runs WHERE job = ANY(%s)"
                              " AND outcome IN ('succeeded', 'partial') GROUP BY job) x", (list(OVERVIEW_JOBS),))[0]
    assert line.startswith(f"Data as of {as_of:%d %b %H:%M} UTC · oldest source: bank statements "), line
    jobs = health.job_health(demo_world.engine, now)
    not_ok = [j.job for j in jobs if j.status not in ("ok", "running")]
    assert len(not_ok) < 3, not_ok  # the demo collects every job but the weekly report
    assert line.endswith(f" · {len(not_ok)} of {len(jobs)} jobs not ok" if not_ok else f" · all {len(jobs)} jobs ok")
    assert "ingest-" not in line and "rollup-" not in line, line
    warned = [w.value.replace("\\", "") for w in at.warning if "not ok" in w.value]
    assert len(warned) == (1 if not_ok else 0) and all(j.replace("-", "") in warned[0].replace("-", "") for j in not_ok)
    assert [p.proto.label for p in at.get("page_link")] == ["Health"]
    assert not any("Not computed yet" in w.value for w in at.warning)


def test_invalid_settings_are_shown_not_raised(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://somewhere/db")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("DATABASE_URL" in e.value and "PostgreSQL" in e.value for e in at.error)
    assert not at.title
