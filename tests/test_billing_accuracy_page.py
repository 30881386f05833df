"""The Billing accuracy page, run headless through AppTest against real PostgreSQL.

Headline figures must equal plain SQL over `billing_findings`; each demo pricing incident's
class figure must equal the manifest (where the incident is past the settle delay); the
drill-down's expected total must equal `rate_session`'s.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from metrics.shadow_rating import Plan, TaxRate, rate_session
from revwatch.money import format_money

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGE = "pages/billing_accuracy.py"
SETTLE = timedelta(hours=2)


@pytest.fixture()
def page_for(monkeypatch):
    def make(world) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", world.url)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(APP), default_timeout=90).run()
        at.switch_page(PAGE).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _class_rows(at: AppTest) -> dict[tuple[str, str], dict]:
    table = next(t.value for t in at.dataframe if "net difference" in t.value.columns)
    return {(r["class"], r["currency"]): r for r in table.to_dict("records")}


def _cutoff(world):
    (wm,) = world.sql("SELECT min(watermark) FROM sync_state WHERE source = 'billing'")[0]
    return wm - SETTLE


def test_headline_equals_sql_and_drill_down_equals_rate_session(demo_world, page_for):
    at = page_for(demo_world)
    assert at.title[0].value == "Billing accuracy"
    start, end = at.sidebar.date_input(key="days").value
    billable, correct = demo_world.sql(
        "SELECT count(*) FILTER (WHERE billable), count(*) FILTER (WHERE class = 'correct') FROM billing_findings"
        " WHERE local_date BETWEEN %s AND %s", (start, end))[0]
    assert billable > 0
    shown = _metrics(at)
    assert shown["Billing accuracy"] == f"{correct / billable * 100:.2f}%"
    assert shown["Billable sessions"] == f"{billable:,}"
    for cur, leak, over in demo_world.sql(
            "SELECT currency, sum(greatest(-difference_minor, 0)), sum(greatest(difference_minor, 0))"
            " FROM billing_findings WHERE local_date BETWEEN %s AND %s AND currency IS NOT NULL GROUP BY 1",
            (start, end)):
        assert shown[f"Leakage · {cur}"] == format_money(int(leak), cur)
        assert shown[f"Overcharge · {cur}"] == format_money(int(over), cur)
    assert len(at.get("plotly_chart")) >= 2
    assert len(at.get("download_button")) >= 4

    # drill down to the first mis-billed session: the expected total is rate_session's
    drill = at.selectbox(key="drill_session")
    sid = drill.options[1].split(" · ")[0]
    drill.set_value(sid).run()
    assert not at.exception, [e.value for e in at.exception]
    (entered, exited, site_id, tz, cur, juris), = demo_world.sql(
        "SELECT p.entered_at, p.exited_at, p.site_id, s.timezone, s.currency, s.tax_jurisdiction"
        " FROM parking_sessions p JOIN sites s USING (site_id) WHERE p.session_id = %s", (sid,))
    plans = [Plan(*r) for r in demo_world.sql(
        "SELECT rate_plan_id, effective_from, effective_to, grace_minutes, increment_minutes, increment_price_minor,"
        " daily_max_minor FROM rate_plans WHERE site_id = %s", (site_id,))]
    taxes = [TaxRate(*r) for r in demo_world.sql(
        "SELECT jurisdiction, rate, effective_from, effective_to FROM tax_rates WHERE jurisdiction = %s", (juris,))]
    want = rate_session(entered, exited, tz, cur, plans, taxes)
    assert want.total_minor is not None
    assert _metrics(at)["Expected total"] == format_money(want.total_minor, cur)
    assert any(sid in m.value for m in at.markdown)


def test_demo_incidents_as_the_manifest_says(demo_world, page_for):
    at = page_for(demo_world)
    incidents = {i["id"]: i for i in demo_world.manifest["incidents"]}
    cutoff = _cutoff(demo_world)
    start, end = at.sidebar.date_input(key="days").value

    def past(inc, column) -> bool:
        lo, hi = datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"])
        (latest,) = demo_world.sql(
            f"SELECT max(coalesce(exited_at, '2999-01-01Z')) FROM parking_sessions WHERE site_id = ANY(%s)"
            f" AND {column} >= %s AND {column} < %s", (inc["site_ids"], lo, hi))[0]
        return latest is not None and latest < cutoff

    def sql_net(cls, cur, site_ids=None):
        (v,) = demo_world.sql(
            "SELECT coalesce(sum(difference_minor), 0) FROM billing_findings WHERE class = %s AND currency = %s"
            " AND local_date BETWEEN %s AND %s AND (%s::text[] IS NULL OR site_id = ANY(%s))",
            (cls, cur, start, end, site_ids, site_ids))[0]
        return int(v)

    checked = 0
    for key, cls, column in (("rate_plan_old_price", "under_billed", "entered_at"),
                             ("missed_tax_change", "tax_error", "entered_at"),
                             ("gate_sync_outage", "missing_invoice", "exited_at")):
        inc = incidents[key]
        exp = inc["expected"]
        cur = exp.get("currency") or demo_world.sql("SELECT currency FROM sites WHERE site_id = %s",
                                                    (inc["site_ids"][0],))[0][0]
        at.sidebar.multiselect(key="sites").set_value(list(inc["site_ids"])).run()
        assert not at.exception, [e.value for e in at.exception]
        row = _class_rows(at)[(cls, cur)]
        want = -exp["difference_minor"] if past(inc, column) else sql_net(cls, cur, list(inc["site_ids"]))
        checked += past(inc, column)
        assert row["net difference"] == format_money(want, cur), key
    at.sidebar.multiselect(key="sites").set_value([]).run()

    dup = incidents["duplicate_invoices"]
    rows = _class_rows(at)
    dup_past = datetime.fromisoformat(dup["end"]) < cutoff
    for cur, want in dup["expected"]["by_currency"].items():
        row = rows[("duplicate_invoice", cur)]
        total = want["total_minor"] if dup_past else sql_net("duplicate_invoice", cur)
        assert row["net difference"] == format_money(total, cur), cur
        if dup_past:
            assert row["sessions"] == want["invoices"], cur
    assert checked + dup_past >= 1, "at least one incident is past the settle delay"


def test_page_on_an_empty_database(make_world, page_for):
    at = page_for(make_world())
    assert any("revwatch collect" in i.value for i in at.info)
