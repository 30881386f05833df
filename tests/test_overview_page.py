"""The Overview page, run headless through Streamlit's AppTest against real PostgreSQL.

The figures on the cards must be the ones plain SQL over the raw tables gives (references
from tests/worlds/references.py), before and after a sidebar filter changes.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from revwatch import clock
from revwatch.money import format_money
from tests.worlds.references import reference_payments, reference_range, reference_revenue, reference_sessions

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

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
    assert any("revwatch demo" in i.value and "revwatch collect" in i.value for i in at.info)
    shown = [w.value.replace("\\", "") for w in at.warning]  # the Markdown source, its escapes taken out
    assert any("ingest-billing" in w and "connection refused" in w for w in shown)
    freshness = " ".join(c.value for c in at.caption)
    assert "ingest-stripe: last success never (running, started 5 min ago)" in freshness
    assert "ingest-adyen: not configured" in freshness
    assert not at.metric
    assert not at.get("plotly_chart")


def test_invalid_settings_are_shown_not_raised(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://somewhere/db")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("DATABASE_URL" in e.value and "PostgreSQL" in e.value for e in at.error)
    assert not at.title
