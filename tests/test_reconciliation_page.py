"""The Reconciliation page, run headless through AppTest on the hand-built world of
tests/worlds/recon.py (October 2026 plus one November break): the funnel and the breaks are shown
with the figures worked out there, a resolve through the page writes its event with the signed-in
person as actor (local mode here: the operating-system user), the month close shows its verdict, and an empty database gets the notice."""
from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from revwatch.identity import local_identity
from revwatch.money import format_money
from tests.worlds.recon import AS_OF, october_world

PAGE = "pages/reconciliation.py"


@pytest.fixture
def world(make_world):
    return october_world(make_world)


@pytest.fixture(autouse=True)
def _as_of(pin_clock):
    """The page judges ages and the default close month as of the world's own instant."""
    pin_clock(AS_OF)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _table(at: AppTest, *columns: str):
    """The first table shown with all these columns."""
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise KeyError(f"no table with {columns}; have {[list(d.value.columns)[:6] for d in at.dataframe]}")


def test_funnel_and_breaks_shown_and_a_resolve_through_the_page(world, page_for):
    at = page_for(world, PAGE)
    _ok(at)
    assert at.title[0].value == "Reconciliation"
    assert len(at.get("plotly_chart")) >= 2

    fun = {(r["stage"], r["currency"]): r for r in _table(at, "stage", "matched_items", "at stake").to_dict("records")}
    s1 = fun[("S1", "USD")]
    assert (s1["items"], s1["matched_items"], s1["expected_items"], s1["break_items"]) == (5, 2, 1, 2)
    assert (s1["amount"], s1["at stake"]) == (format_money(5000, "USD"), format_money(500, "USD"))
    assert fun[("S1", "JPY")]["at stake"] == "JPY 700"  # the November break: both months are in the default range
    assert {m.label: m.value for m in at.metric}["S1 reconciled"] == "50.00%"  # 2 + 1 matched, 1 resolved of 8 items

    shown = _table(at, "break_id", "assignee", "age_days")
    ids = world.ids
    assert list(shown["break_id"]) == [ids["bank9"], ids["a3"], ids["a9"], ids["a5"]]  # open, biggest first
    a5 = shown[shown["break_id"] == ids["a5"]].iloc[0]
    assert (a5["break amount"], a5["assignee"]) == (format_money(50, "EUR"), "dana")

    # drill down: both sides' records and the history; in local mode (no identity provider) the OS user acts
    at.selectbox(key="drill_break").set_value(ids["a5"]).run()
    _ok(at)
    assert list(_table(at, "attempt_id", "attempt_number")["attempt_id"]) == ["a5"]
    assert list(_table(at, "psp_reference", "gross_credit_minor")["psp_reference"]) == ["PSP5"]
    assert list(_table(at, "event_id", "actor", "action")["action"]) == ["opened"]
    me = local_identity()
    assert not [t for t in at.sidebar.text_input if t.key == "actor"]  # no typed name anywhere

    # resolve
    at.selectbox(key="action").set_value("resolve").run()
    at.selectbox(key="category_0").set_value("gateway_error").run()
    at.text_area(key="reason_0").set_value("Adyen settled 6.50; billing charged 7.00").run()
    at.button(key="apply").click().run()
    _ok(at)
    ((actor, action, note, detail),) = world.sql(
        "SELECT actor, action, note, detail FROM recon_break_events WHERE break_id = %s AND actor <> 'reconcile'",
        (ids["a5"],))
    assert (actor, action, note, detail["category"]) == (me.actor, "resolved", "Adyen settled 6.50; billing charged 7.00",
                                                        "gateway_error")
    ((state, by, reason),) = world.sql("SELECT state, resolved_by, resolution_reason FROM recon_breaks WHERE break_id = %s",
                                       (ids["a5"],))
    assert (state, by, reason) == ("resolved", me.actor, "gateway_error: Adyen settled 6.50; billing charged 7.00")
    # the page read again: the break left the open list, its history shows the action, the flash says so
    assert ids["a5"] not in list(_table(at, "break_id", "assignee", "age_days")["break_id"])
    assert list(_table(at, "event_id", "actor", "action")["action"]) == ["opened", "resolved"]
    assert any(f"resolved by {me.display}" in s.value for s in at.success)
    # resolving again is not offered; a reopen is
    assert "resolve" not in at.selectbox(key="action").options and "Reopen" in at.selectbox(key="action").options


def test_month_close_payout_and_exports_on_the_page(world, page_for):
    at = page_for(world, PAGE)
    at.selectbox(key="close_month").set_value(date(2026, 10, 1)).run()
    _ok(at)
    (verdict,) = [e.value.replace("\\", "") for e in at.error]  # the Markdown source, its escapes taken out
    assert "Oct 2026 is not ready to close" in verdict and "S4 ledger: no items in 2026-10" in verdict
    assert "S1 billing ↔ gateway, USD: at least 99.9 % of items must be matched or explained; 60 % are (3 of 5)" \
        in verdict
    un = {r["currency"]: r for r in _table(at, "currency", "rate to USD").to_dict("records")}
    assert un["EUR"]["unreconciled"] == "EUR 0.50" and un["EUR"]["in USD"] == "USD 0.55"
    assert un["EUR"]["rate to USD"] == "1.09 of 2026-10-30 (not 2026-10-31: latest earlier)"
    assert {m.label: m.value for m in at.metric}["Unreconciled · USD"] == "USD 15.54"
    gaps = _table(at, "currency", "rate_date", "weekday")
    assert [(c, d) for c, d in zip(gaps["currency"], gaps["rate_date"], strict=True)] == [("EUR", date(2026, 10, 31))]

    at.selectbox(key="payout").set_value("payout:stripe:po_1").run()
    _ok(at)
    rec = dict(zip(*_table(at, "component", "amount").to_dict("list").values(), strict=True))
    assert (rec["gross"], rec["fees"], rec["reconstructed net"]) == ("USD 30.00", "USD 3.00", "USD 27.00")
    assert list(_table(at, "bank_date", "text")["amount_minor"]) == ["USD 27.00"]
    assert list(_table(at, "journal_id", "debit_minor")["debit_minor"]) == ["USD 27.00", "USD 3.00", "USD 0.00"]

    keys = {b.key for b in at.get("download_button")}
    assert {"xlsx", "csv_funnel", "csv_breaks", "csv_payouts", "csv_close_shares", "csv_close_unreconciled"} <= keys


def test_page_on_an_empty_database(make_world, page_for):
    """Nothing reconciled and nothing run: the page says which jobs have not run yet, never "nothing found"."""
    at = page_for(make_world(), PAGE)
    _ok(at)
    assert at.title[0].value == "Reconciliation"
    (info,) = [i.value for i in at.info]
    assert info.startswith("Not computed yet: ") and "reconcile has not run yet" in info
    assert not at.success


def test_every_break_and_payout_drills_down_and_a_refusal_is_shown(world, page_for):
    at = page_for(world, PAGE)
    at.multiselect(key="states").set_value([]).run()  # every state
    _ok(at)
    assert len(_table(at, "break_id", "assignee", "age_days")) == 7
    for bid in world.ids.values():
        at.selectbox(key="drill_break").set_value(bid).run()
        _ok(at)
        assert any(f"**Break #{bid}**" in m.value for m in at.markdown), bid
    for key in ("payout:stripe:po_1", "payout:adyen:7"):
        at.selectbox(key="payout").set_value(key).run()
        _ok(at)
        assert any(f"payout `{key.split(':')[-1]}`" in m.value for m in at.markdown), key
    at.radio(key="sort").set_value("age").run()
    at.selectbox(key="age").set_value("31–60 days").run()
    _ok(at)
    shown = _table(at, "break_id", "assignee", "age_days")
    want = world.sql("SELECT b.break_id FROM recon_breaks b JOIN recon_items i USING (stage, item_key)"
                     " WHERE floor(extract(epoch FROM %s - i.occurred_at) / 86400) BETWEEN 31 AND 60"
                     " ORDER BY i.occurred_at", (AS_OF,))
    assert want and list(shown["break_id"]) == [b for (b,) in want]  # oldest first, the page's clock

    # writing off without a reason text is refused on the page, and nothing is written
    at.selectbox(key="drill_break").set_value(world.ids["a3"]).run()
    at.selectbox(key="action").set_value("write_off").run()
    at.button(key="apply").click().run()
    _ok(at)
    assert any("a reason text is required" in e.value for e in at.error)
    assert world.sql("SELECT count(*) FROM recon_break_events WHERE actor <> 'reconcile'")[0][0] == 0


def test_a_month_is_signed_off_from_the_close_view_and_adjustments_show_after(world, page_for):
    """Issue 18: October is not ready; the sign-off asks why for each unmet check, stores the snapshot and says who
    signed; a break reopened afterwards shows as an after-close adjustment."""
    from metrics.actions import break_workflow as wf
    from tests.people import ANA
    from tests.worlds.recon import ran

    ran(world)
    at = page_for(world, PAGE)
    _ok(at)
    assert at.selectbox(key="close_month").value == date(2026, 10, 1)
    overrides = [t for t in at.text_input if t.key and t.key.startswith("override_")]
    assert overrides and all(t.label for t in overrides)  # one per unmet check, labelled with it
    at.button(key="sign_off").click().run()  # no reason given: refused, nothing stored
    _ok(at)
    assert any("say why for each unmet check" in e.value for e in at.error), [e.value for e in at.error]
    assert world.sql("SELECT count(*) FROM month_signoffs")[0][0] == 0
    for n, box in enumerate(overrides):
        at.text_input(key=box.key).input(f"accepted by the CFO, point {n + 1}")
    at.button(key="sign_off").click().run()
    _ok(at)
    me = local_identity()
    assert world.sql("SELECT signed_by, ready, jsonb_array_length(override) FROM month_signoffs") == [
        (me.actor, False, len(overrides))]
    signed = [i.value for i in at.info if i.value.startswith("**Signed off** by")]
    assert len(signed) == 1 and me.subject in signed[0] and "signed with an override of" in signed[0], signed
    assert any("None: nothing has changed in the month since it was signed off." in s.value for s in at.success)
    assert not [b for b in at.button if b.key == "sign_off"]  # signed, nothing to sign again

    with world.engine.begin() as conn:
        wf.reopen(conn, world.ids["ch_x"], ANA, "not re-keyed after all")
    from pages.common import recon_data as rd

    rd.forget_cached_figures()  # the page's figures are cached for a minute; a reopen elsewhere is seen after it
    at.run()
    _ok(at)
    adj = _table(at, "area", "where", "figure", "at sign-off", "now", "change")
    rows = {(r["where"], r["figure"]): (r["at sign-off"], r["now"], r["change"]) for r in adj.to_dict("records")}
    assert rows[(f"break {world.ids['ch_x']}", "state")] == ("resolved", "open", "–")
    assert rows[("USD", "unreconciled")] == ("USD 14.99", "USD 26.99", "USD 12.00")
    assert any("figures changed since the sign-off; unreconciled money moved by USD 12.00" in w.value
               for w in at.warning)
    assert [b for b in at.button if b.key == "sign_off"]  # it may be signed again, having seen them
