"""Break workflow (metrics/actions/break_workflow.py) against real PostgreSQL: every action writes one
event with its actor and time and updates recon_breaks as it says; senseless actions are refused
and write nothing; the event log refuses UPDATE, DELETE and TRUNCATE."""
from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text

from metrics.actions import break_workflow as wf
from revwatch import clock
from tests.people import ANA, CARL, DANA, person
from tests.worlds.recon import add_break, add_item, t

KIM = person("kim", "controller")
pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants


@pytest.fixture
def world(make_world):
    w = make_world()
    with w.engine.begin() as conn:
        add_item(conn, "S1", "attempt:a3", "payment", "break", "USD", 500, t("2026-10-01"), break_type="missing",
                 break_amount_minor=500, fingerprint="fp-a3-v1")
        add_item(conn, "S1", "attempt:a1", "payment", "matched", "USD", 1000, t("2026-10-02"))
        w.open_id = add_break(conn, "S1", "attempt:a3", "open")
        w.cleared_id = add_break(conn, "S1", "attempt:a1", "cleared")
        w.gone_id = add_break(conn, "S1", "attempt:gone", "open")  # its item is no longer listed
    return w


def _events(w, break_id: int) -> list[tuple]:
    return w.sql("SELECT actor, action, note, detail, at FROM recon_break_events WHERE break_id = %s"
                 " ORDER BY event_id", (break_id,))


def _break(w, break_id: int) -> dict:
    cols = ("state", "assignee", "resolution_reason", "resolved_by", "resolved_at", "resolved_fingerprint")
    rows = w.sql(f"SELECT {', '.join(cols)} FROM recon_breaks WHERE break_id = %s", (break_id,))
    return dict(zip(cols, rows[0], strict=True)) if rows else {}


def _act(w, fn, *args):
    with w.engine.begin() as conn:
        return fn(conn, *args)


def test_every_action_writes_its_event_with_actor_and_time(world):
    w, bid = world, world.open_id
    before = clock.now() - timedelta(seconds=1)

    e = _act(w, wf.assign, bid, ANA, "dana")
    assert (e.action, e.actor, e.break_id) == ("assigned", ANA.actor, bid)
    assert _break(w, bid)["assignee"] == "dana"

    e = _act(w, wf.comment, bid, DANA, "  asked Stripe support  ")
    assert (e.action, e.note) == ("commented", "asked Stripe support")

    e = _act(w, wf.resolve, bid, DANA, wf.Reason("timing", "charge arrived on 3 Oct"))
    b = _break(w, bid)
    assert (b["state"], b["resolved_by"], b["resolution_reason"]) == ("resolved", DANA.actor, "timing: charge arrived on 3 Oct")
    assert b["resolved_fingerprint"] == "fp-a3-v1" and b["resolved_at"] == e.at

    e = _act(w, wf.reopen, bid, KIM, "not the same charge")
    b = _break(w, bid)
    assert b["state"] == "open" and b["resolved_by"] is None and b["resolution_reason"] is None
    assert b["resolved_fingerprint"] is None and b["assignee"] == "dana"

    e = _act(w, wf.write_off, bid, KIM, "immaterial: five dollars, not worth chasing")
    b = _break(w, bid)
    assert (b["state"], b["resolved_by"], b["resolution_reason"]) == (
        "written_off", KIM.actor, "immaterial: five dollars, not worth chasing")

    events = _events(w, bid)
    assert [(a, act) for a, act, *_ in events] == [
        ("reconcile", "opened"), (ANA.actor, "assigned"), (DANA.actor, "commented"), (DANA.actor, "resolved"),
        (KIM.actor, "reopened"), (KIM.actor, "written_off")]
    after = clock.now() + timedelta(seconds=1)
    assert all(before <= at <= after for *_, at in events[1:])
    details = {act: (note, detail) for _, act, note, detail, _ in events}
    assert details["assigned"] == (None, {"assignee": "dana", "previous": None})
    assert details["resolved"][0] == "charge arrived on 3 Oct"
    assert details["resolved"][1]["category"] == "timing" and details["resolved"][1]["fingerprint"] == "fp-a3-v1"
    assert details["reopened"] == ("not the same charge", {"from_state": "resolved",
                                                           "previous_reason": "timing: charge arrived on 3 Oct",
                                                           "previous_resolved_by": DANA.actor,
                                                           "previous_approved_by": None})
    assert details["written_off"][1]["category"] == "immaterial"


def _refused(w, bid, fn, *args, match: str):
    state, n = _break(w, bid), len(_events(w, bid))
    with pytest.raises(wf.ActionRefused, match=match):
        _act(w, fn, bid, *args)
    assert _break(w, bid) == state and len(_events(w, bid)) == n  # nothing written


def test_senseless_actions_are_refused_and_write_nothing(world):
    w, bid = world, world.open_id
    _refused(w, bid, wf.resolve, ANA, wf.Reason("because", "x"), match="category 'because' is not one of")
    _refused(w, bid, wf.resolve, ANA, "no category here", match="is not one of")
    _refused(w, bid, wf.resolve, ANA, wf.Reason("timing", " "), match="reason text is required")
    _refused(w, bid, wf.write_off, CARL, wf.Reason("immaterial", "  "), match="reason text is required")
    _refused(w, bid, wf.write_off, CARL, "immaterial", match="reason text is required")
    _refused(w, bid, wf.comment, ANA, "", match="comment is empty")
    _refused(w, bid, wf.assign, ANA, " ", match="assignee name is required")
    _refused(w, bid, wf.reopen, ANA, "why not", match="already open")
    _refused(w, 987654, wf.comment, ANA, "hello", match="no such break")

    _refused(w, w.cleared_id, wf.resolve, ANA, wf.Reason("timing", "x"), match="cleared: the data matches")
    _refused(w, w.cleared_id, wf.write_off, CARL, wf.Reason("immaterial", "x"), match="cleared")
    _refused(w, w.cleared_id, wf.reopen, ANA, "x", match="cleared")
    _refused(w, w.cleared_id, wf.assign, ANA, "dana", match="cleared")
    _act(w, wf.comment, w.cleared_id, ANA, "fine now")  # commenting is always possible

    _refused(w, w.gone_id, wf.resolve, ANA, wf.Reason("timing", "x"), match="no longer in recon_items")

    _act(w, wf.assign, bid, ANA, "dana")
    _refused(w, bid, wf.assign, ANA, "dana", match="already assigned to dana")
    _act(w, wf.write_off, bid, CARL, "immaterial: small")
    _refused(w, bid, wf.write_off, KIM, "immaterial: again", match="already written off by carl@example.com")
    _refused(w, bid, wf.resolve, KIM, "timing", match="written off; reopen it first")
    _refused(w, bid, wf.assign, KIM, "kim", match="only open breaks are assigned")
    _refused(w, bid, wf.reopen, KIM, "", match="say why")
    _act(w, wf.reopen, bid, KIM, "bank says otherwise")
    _refused(w, bid, wf.resolve, KIM, "data_fix", match="reason text is required")  # a category alone explains nothing
    _refused(w, bid, wf.resolve, KIM, "bank_fee: wire fee", match="'bank fee deducted' does not explain a missing break")
    _act(w, wf.resolve, bid, KIM, "data_fix: billing corrected the attempt")
    assert _break(w, bid)["resolution_reason"] == "data_fix: billing corrected the attempt"
    _refused(w, bid, wf.resolve, KIM, "data_fix: again", match="already resolved by kim@example.com")
    _refused(w, bid, wf.write_off, KIM, "immaterial: x", match="resolved; reopen it first")


def test_a_refusal_inside_a_transaction_leaves_earlier_actions_to_the_caller(world):
    """The caller owns the transaction: a refused action raises before writing, and rolling back
    the caller's transaction takes its earlier actions away with it."""
    w, bid = world, world.open_id

    def assign_then_reopen() -> None:
        with w.engine.begin() as conn:
            wf.assign(conn, bid, ANA, "dana")
            wf.reopen(conn, bid, ANA, "x")  # refused: the break is open

    with pytest.raises(wf.ActionRefused):
        assign_then_reopen()
    assert _break(w, bid)["assignee"] is None and len(_events(w, bid)) == 1


def test_allowed_actions_and_reasons():
    assert wf.allowed_actions("open") == ("assign", "comment", "resolve", "write_off")
    assert wf.allowed_actions("open", awaiting_approval=True) == ("assign", "comment", "approve", "reject", "withdraw")
    assert wf.allowed_actions("resolved") == ("comment", "reopen")
    assert wf.allowed_actions("written_off") == ("comment", "reopen")
    assert wf.allowed_actions("cleared") == ("comment",)
    assert wf.allowed_actions("cleared", awaiting_approval=True) == ("comment",)
    assert wf.fitting_categories("duplicate") == ("duplicate_posting", "gateway_error", "data_fix", "immaterial", "other")
    assert "timing" not in wf.fitting_categories("duplicate") and "bank_fee" in wf.fitting_categories("amount_mismatch")
    assert wf.fitting_categories(None) == tuple(wf.CATEGORIES)
    assert wf.parse_reason("bank_fee: wire fee 25") == wf.Reason("bank_fee", "wire fee 25")
    assert wf.parse_reason(("gateway_error", " x ")) == wf.Reason("gateway_error", "x")
    assert str(wf.Reason("other", "see ticket 12")) == "other: see ticket 12"
    assert set(wf.CATEGORIES) == {"timing", "bank_fee", "duplicate_posting", "gateway_error", "data_fix", "immaterial",
                                  "other"}


def test_the_event_log_refuses_update_delete_and_truncate(world):
    w = world
    _act(w, wf.comment, w.open_id, ANA, "keep me")
    n = w.sql("SELECT count(*) FROM recon_break_events")[0][0]
    for statement in ("UPDATE recon_break_events SET actor = 'mallory'", "DELETE FROM recon_break_events",
                      "TRUNCATE recon_break_events"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            w.sql(statement)
        assert w.sql("SELECT count(*) FROM recon_break_events")[0][0] == n, statement
    assert (ANA.actor, "commented", "keep me") in [(a, act, note) for a, act, note, *_ in _events(w, w.open_id)]
    with pytest.raises(Exception, match="append-only"), w.engine.begin() as conn:
        conn.execute(text("UPDATE recon_break_events SET note = 'edited' WHERE actor = 'ana'"))


def test_each_action_refuses_a_person_whose_roles_lack_it_and_writes_nothing(world):
    """Issue 18: the page offers only what a role allows; the action functions refuse the rest themselves."""
    from revwatch.identity import NotPermitted
    from tests.people import ED, VERA

    w, bid = world, world.open_id

    def refused(fn, who, *args, match):
        state, n = _break(w, bid), len(_events(w, bid))
        with pytest.raises(NotPermitted, match=match):
            _act(w, fn, bid, who, *args)
        assert _break(w, bid) == state and len(_events(w, bid)) == n

    for who in (VERA, ED, person("nobody")):
        for fn, args in ((wf.assign, ("dana",)), (wf.comment, ("hi",)), (wf.resolve, ("timing: x",)),
                         (wf.write_off, ("immaterial: x",)), (wf.reopen, ("x",))):
            refused(fn, who, *args, match=f"{who.display} .* may not {fn.__name__.replace('_', ' ')} break {bid}")
    for fn in (wf.approve, wf.reject):
        refused(fn, ANA, "x", match=rf"\(analyst\) may not {fn.__name__} .* \(controller, admin\)")
    e = _act(w, wf.write_off, bid, CARL, "immaterial: small")  # a controller writes off
    assert e.actor == CARL.actor == "carl@example.com <https://idp.test/realms/revwatch|sub-carl>"
    (actor, action, target), = w.sql("SELECT actor, action, target FROM audit_log WHERE action LIKE 'break.%'")
    assert (actor, action, target) == (CARL.actor, "break.write_off", f"break:{bid}")
