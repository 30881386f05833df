"""The Billing accuracy page, run headless through AppTest against real PostgreSQL.

Headline figures must equal plain SQL over `billing_findings` and `billing_correct`; each demo pricing incident's
class figure must equal the manifest to the cent (judged with no settle delay, so that every
incident is past it); the drill-down's expected price is the classify job's (the finding's expected
total, the same SQL run for one session) and, step by step, the Python reference's `rate_session`.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from collectors.compute import billing_classification as bc
from metrics.figures.billing_accuracy import CLASS_LABELS
from revwatch.money import format_money
from tests.reference.shadow_rating import Plan, TaxRate, rate_session
from tests.worlds.billing import EVERY_JUDGED
from tests.worlds.demo import SMALL_WORLD

PAGE = "pages/billing_accuracy.py"


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}



def _csv_rows(download) -> list[dict]:
    data = download()
    return list(csv.DictReader(io.StringIO(data.decode() if isinstance(data, bytes) else data)))


def _values(v) -> list:
    """A Plotly array as the spec carries it: a list, or typed binary ({"dtype", "bdata"})."""
    if isinstance(v, dict) and "bdata" in v:
        return list(np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]))
    return list(v)


def _class_rows(at: AppTest) -> dict[tuple[str, str], dict]:
    """The class table's rows by (class code, currency); the table names each class once, by its label."""
    table = next(t.value for t in at.dataframe if "net difference" in t.value.columns)
    code = {v: k for k, v in CLASS_LABELS.items()}
    return {(code[r["class"]], r["currency"]): r for r in table.to_dict("records")}


def test_headline_equals_sql_and_drill_down_equals_rate_session(demo_world, page_for):
    at = page_for(demo_world, PAGE)
    assert at.title[0].value == "Billing accuracy"
    start, end = at.sidebar.date_input(key="days").value
    billable, correct = demo_world.sql(
        "SELECT sum(n) FILTER (WHERE billable), sum(n) FILTER (WHERE class = 'correct') FROM " + EVERY_JUDGED
        + " WHERE local_date BETWEEN %s AND %s", (start, end))[0]
    assert billable > 0
    shown = _metrics(at)
    assert shown["Billing accuracy"] == f"{correct / billable * 100:.2f}%"
    assert shown["Billable sessions"] == f"{billable:,}"
    for cur, leak, over in demo_world.sql(
            "SELECT currency, sum(greatest(-difference_minor, 0)), sum(greatest(difference_minor, 0))"
            " FROM " + EVERY_JUDGED + " WHERE local_date BETWEEN %s AND %s AND currency IS NOT NULL GROUP BY 1",
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
    # the price the job judged by: the finding's expected total, from the same SQL
    (judged,), = demo_world.sql("SELECT expected_total_minor FROM billing_findings WHERE session_id = %s", (sid,))
    assert _metrics(at)["Expected total"] == format_money(judged, cur)
    steps = dict(next(t.value for t in at.dataframe if "step" in t.value.columns).itertuples(index=False))
    assert {k: steps[k] for k in ("rate plan", "minutes", "grace minutes", "within grace", "full days",
                                  "remainder minutes", "blocks", "blocks amount", "subtotal", "local entry date",
                                  "tax", "total")} == {
        "rate plan": want.rate_plan_id, "minutes": str(want.minutes), "grace minutes": str(want.grace_minutes),
        "within grace": str(want.within_grace), "full days": str(want.full_days),
        "remainder minutes": str(want.remainder_minutes), "blocks": str(want.blocks),
        "blocks amount": format_money(want.blocks_minor, cur), "subtotal": format_money(want.subtotal_minor, cur),
        "local entry date": str(want.local_entry_date), "tax": format_money(want.tax_minor, cur),
        "total": format_money(want.total_minor, cur)}
    assert steps["tax rate"] == f"{want.tax_rate * 100:.4g}%" and "problem" not in steps


@pytest.fixture(scope="module")
def settled_world(make_world):
    """A demo world judged as if every source had settled: every exit up to the world's last instant, so every
    incident must match the manifest exactly. (With BILLING_SETTLE_MINUTES=0 the job still stops before the
    newest copied change, rightly, as more rows of that instant may come: a session of an incident site that
    exited at that very instant, the world's last, was left out, which depended on the time the test ran.)"""
    world = make_world(demo=SMALL_WORLD)
    far = datetime(2100, 1, 1, tzinfo=UTC)
    with world.engine.begin() as conn:
        bc.replace_window(conn, datetime(2000, 1, 1, tzinfo=UTC), far, far)
    return world


def test_demo_incidents_as_the_manifest_says_to_the_cent(settled_world, page_for):
    world = settled_world
    at = page_for(world, PAGE)
    incidents = {i["id"]: i for i in world.manifest["incidents"]}
    for key, cls in (("rate_plan_old_price", "under_billed"), ("missed_tax_change", "tax_error"),
                     ("gate_sync_outage", "missing_invoice")):
        exp = incidents[key]["expected"]
        at.sidebar.multiselect(key="sites").set_value(list(incidents[key]["site_ids"])).run()
        assert not at.exception, [e.value for e in at.exception]
        row = _class_rows(at)[(cls, exp["currency"])]
        assert row["net difference"] == format_money(-exp["difference_minor"], exp["currency"]), key
        assert row["sessions"] == exp["sessions"], key
    at.sidebar.multiselect(key="sites").set_value([]).run()

    rows = _class_rows(at)
    for cur, want in incidents["duplicate_invoices"]["expected"]["by_currency"].items():
        row = rows[("duplicate_invoice", cur)]
        assert row["net difference"] == format_money(want["total_minor"], cur), cur
        assert row["sessions"] == want["invoices"], cur


def test_page_on_an_empty_database(make_world, page_for):
    at = page_for(make_world(), PAGE)  # nothing has run: what is being waited for
    assert any("Not computed yet" in i.value and "ingest-billing has not run yet" in i.value for i in at.info)


def test_money_in_major_units_classes_once_and_every_mis_billed_session(demo_world, page_for, deferred_downloads):
    """Issue 16: the leakage chart was in minor units; each class was shown twice ("correct / Correct"); the
    mis-billed list stopped at 500 rows without saying so."""
    at = page_for(demo_world, PAGE)
    start, end = at.sidebar.date_input(key="days").value
    money = next(spec for spec in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                 if any(t.get("name") == "leakage" for t in spec["data"]))
    layout = money["layout"]
    titles = [str(v.get("title", {}).get("text", "")) for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
    assert not [t for t in titles if "minor" in t.lower()], titles
    facets = {a["text"] for a in layout.get("annotations", [])}
    leak = demo_world.sql("SELECT currency, local_date, sum(greatest(-difference_minor, 0)) FROM billing_findings"
                          " WHERE local_date BETWEEN %s AND %s AND currency IS NOT NULL GROUP BY 1, 2", (start, end))
    assert facets == {c for c, _, _ in leak}  # one chart per currency, named by it
    drawn = {(str(d)[:10], round(float(y), 2)) for t in money["data"] if t["name"] == "leakage"
             for d, y in zip(_values(t["x"]), _values(t["y"]), strict=True)}
    for cur, day, minor in leak:
        assert (str(day), float(minor) / 100) in drawn, (cur, day, minor)  # the demo's currencies have cents
    for axis in (v for k, v in layout.items() if k.startswith("xaxis")):  # the selected days, ticked by day
        assert axis["tickformat"] == "%d %b" and axis["range"] == [
            str(datetime.combine(start, time()) - timedelta(hours=12)).replace(" ", "T"),
            str(datetime.combine(end, time()) + timedelta(hours=12)).replace(" ", "T")]

    classes = next(t.value for t in at.dataframe if "net difference" in t.value.columns)
    assert "label" not in classes.columns and set(classes["class"]) <= set(CLASS_LABELS.values())
    assert not any(c.endswith("_minor") for t in at.dataframe for c in t.value.columns)

    (total,) = demo_world.sql("SELECT count(*) FROM billing_findings WHERE class <> 'correct'"
                              " AND local_date BETWEEN %s AND %s", (start, end))[0]
    assert total > 500, "the demo world lists more mis-billed sessions than the page shows"
    assert f"First 500 of {total:,} mis-billed sessions: the download gives all of them." in [c.value for c in at.caption]
    listed = next(t.value for t in at.dataframe if "expected" in t.value.columns and "billed" in t.value.columns)
    assert len(listed) == 500 and not [c for c in listed.columns if listed[c].isna().any()]
    rows = _csv_rows(deferred_downloads["mis_billed_sessions.csv"])
    assert len(rows) == total and {"expected_total_minor", "billed_total_minor"} <= set(rows[0])
