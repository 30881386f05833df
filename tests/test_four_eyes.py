"""Four eyes on big decisions (issue 18, metrics/actions/break_workflow.py) against real PostgreSQL: at or above
the approval threshold (in the reporting currency, or with no rate to tell) a resolution or write-off is a
request; a controller other than the requester approves or rejects it; the break stays open meanwhile and the
break list says so; a reason must fit the break type; local mode cannot approve."""
from __future__ import annotations

import pytest

from metrics.actions import break_workflow as wf
from metrics.figures import reconciliation as q
from revwatch.identity import NotPermitted, local_identity
from tests.people import ANA, CARL, DANA, person
from tests.worlds.recon import add_break, add_item, add_rate, t

KIM = person("kim", "controller")
POLICY = wf.ApprovalPolicy(1_000_000, "USD")  # USD 10,000.00


@pytest.fixture
def world(make_world):
    w = make_world()
    with w.engine.begin() as conn:
        # the case: a duplicate payout journal of USD 246,338.42
        add_item(conn, "S4", "journal:JE-77", "payout", "break", "USD", 24_633_842, t("2026-10-05"),
                 break_type="duplicate", break_amount_minor=24_633_842, fingerprint="fp-je77")
        add_item(conn, "S1", "attempt:small", "payment", "break", "USD", 500, t("2026-10-01"), break_type="missing",
                 break_amount_minor=500, fingerprint="fp-small")
        add_item(conn, "S1", "attempt:eur", "payment", "break", "EUR", 2_000, t("2026-10-02"), break_type="missing",
                 break_amount_minor=2_000, fingerprint="fp-eur")
        w.big = add_break(conn, "S4", "journal:JE-77")
        w.small = add_break(conn, "S1", "attempt:small")
        w.eur = add_break(conn, "S1", "attempt:eur")
    return w


def _act(w, fn, *args, **kw):
    with w.engine.begin() as conn:
        return fn(conn, *args, **kw)


def _state(w, bid) -> tuple:
    return w.sql("SELECT state, resolution_reason, resolved_by, approved_by FROM recon_breaks WHERE break_id = %s",
                 (bid,))[0]


def _requests(w, bid) -> list[tuple]:
    return w.sql("SELECT action, category, reason, requested_by, decision, decided_by, decision_note"
                 " FROM recon_break_requests WHERE break_id = %s ORDER BY request_id", (bid,))


def _listed(w, bid) -> dict:
    df = q.breaks(w.engine, q.BreakFilters(states=(), limit=None), "USD")
    return df[df.break_id == bid].iloc[0].to_dict()


def _refused(w, bid, fn, *args, match: str, error=wf.ActionRefused):
    before = (_state(w, bid), _requests(w, bid), w.sql("SELECT count(*) FROM recon_break_events")[0][0],
              w.sql("SELECT count(*) FROM audit_log")[0][0])
    with pytest.raises(error, match=match):
        _act(w, fn, bid, *args)
    after = (_state(w, bid), _requests(w, bid), w.sql("SELECT count(*) FROM recon_break_events")[0][0],
             w.sql("SELECT count(*) FROM audit_log")[0][0])
    assert after == before  # nothing written


def test_a_big_resolution_is_a_request_a_different_controller_approves(world):
    w, bid = world, world.big
    # the attempt: a duplicate resolved as "timing" with an unrelated reason is refused outright
    _refused(w, bid, wf.resolve, ANA, "timing: month end", POLICY,
             match="'timing difference: it will match later' does not explain a duplicate break")
    _refused(w, bid, wf.resolve, ANA, "immaterial: rounding", POLICY, match="USD 246,338.42 at stake is not immaterial")

    e = _act(w, wf.resolve, bid, ANA, "duplicate_posting: JE-77 posted twice by the import", POLICY)
    assert (e.action, e.actor) == ("approval_requested", ANA.actor)
    assert e.detail["why_approval"] == ("USD 246,338.42 at stake is at or above the approval threshold of USD 10,000.00")
    assert _state(w, bid) == ("open", None, None, None)  # nothing resolved yet
    listed = _listed(w, bid)
    assert (listed["state"], listed["awaiting_approval"], listed["requested_by"]) == ("open", "resolve", ANA.actor)
    awaiting = q.breaks(w.engine, q.BreakFilters(awaiting_approval=True), "USD")
    assert list(awaiting.break_id) == [bid]
    assert q.breaks_total(w.engine, q.BreakFilters(awaiting_approval=True)) == 1

    # while it waits: no second request, no direct resolution; comments and assignment go on
    _refused(w, bid, wf.resolve, DANA, "data_fix: x", POLICY, match="awaiting approval by a controller .asked by ana")
    _refused(w, bid, wf.write_off, CARL, "duplicate_posting: x", POLICY, match="awaiting approval by a controller")
    _act(w, wf.comment, bid, DANA, "the import log agrees")
    # who may decide: not an analyst, not the requester, not a stranger to the request
    _refused(w, bid, wf.approve, DANA, "", match=r"\(analyst\) may not approve", error=NotPermitted)
    _refused(w, bid, wf.withdraw, DANA, "", match="only ana@example.com .* who asked, may withdraw it")

    e = _act(w, wf.approve, bid, CARL, "checked the journal")
    assert (e.action, e.actor, e.detail["resolution"], e.detail["requested_by"]) == (
        "approved", CARL.actor, "resolved", ANA.actor)
    assert _state(w, bid) == ("resolved", "duplicate_posting: JE-77 posted twice by the import", ANA.actor, CARL.actor)
    assert _requests(w, bid) == [("resolve", "duplicate_posting", "JE-77 posted twice by the import", ANA.actor,
                                  "approved", CARL.actor, "checked the journal")]
    listed = _listed(w, bid)
    assert (listed["state"], listed["awaiting_approval"], listed["approved_by"]) == ("resolved", None, CARL.actor)
    assert q.breaks_total(w.engine, q.BreakFilters(awaiting_approval=True)) == 0
    events = w.sql("SELECT actor, action FROM recon_break_events WHERE break_id = %s ORDER BY event_id", (bid,))
    assert events == [("reconcile", "opened"), (ANA.actor, "approval_requested"), (DANA.actor, "commented"),
                      (CARL.actor, "approved")]
    audit = w.sql("SELECT actor, action FROM audit_log WHERE target = %s ORDER BY seq", (f"break:{bid}",))
    assert audit == [(ANA.actor, "break.request"), (DANA.actor, "break.comment"), (CARL.actor, "break.approve")]

    # a manual reopen clears the approval from the break (the history keeps it)
    e = _act(w, wf.reopen, bid, DANA, "JE-77 was not a duplicate after all")
    assert e.detail["previous_approved_by"] == CARL.actor and _state(w, bid) == ("open", None, None, None)


def test_a_controller_cannot_approve_their_own_request_and_a_rejection_keeps_the_break_open(world):
    w, bid = world, world.big
    _act(w, wf.write_off, bid, CARL, "duplicate_posting: the second copy cannot be recovered", POLICY)
    assert _state(w, bid)[0] == "open"  # a controller's big write-off needs a second controller too
    _refused(w, bid, wf.approve, CARL, "", match="you asked for it: a different controller decides")
    _refused(w, bid, wf.reject, CARL, "changed my mind", match="you asked for it")
    _refused(w, bid, wf.reject, KIM, "  ", match="say why it is rejected")
    e = _act(w, wf.reject, bid, KIM, "recover it from the bank first")
    assert (e.action, e.note, e.detail["requested"]) == ("rejected", "recover it from the bank first", "write_off")
    assert _state(w, bid) == ("open", None, None, None)
    assert _requests(w, bid)[0][4:] == ("rejected", KIM.actor, "recover it from the bank first")
    _refused(w, bid, wf.approve, KIM, "", match="no request awaits approval on it")
    # asked again, then withdrawn by the one who asked
    _act(w, wf.write_off, bid, CARL, "duplicate_posting: bank refused the recall", POLICY)
    e = _act(w, wf.withdraw, bid, CARL, "")
    assert e.action == "withdrawn" and [r[4] for r in _requests(w, bid)] == ["rejected", "withdrawn"]
    assert wf.allowed_actions(_state(w, bid)[0]) == ("assign", "comment", "resolve", "write_off")


def test_below_the_threshold_an_analyst_resolves_and_a_controller_writes_off_directly(world):
    w = world
    e = _act(w, wf.resolve, w.small, ANA, "timing: charge arrived on 3 Oct", POLICY)
    assert e.action == "resolved" and _state(w, w.small) == ("resolved", "timing: charge arrived on 3 Oct",
                                                             ANA.actor, None)
    _act(w, wf.reopen, w.small, ANA, "it did not")
    # an analyst's write-off is always a request: writing off is a controller's decision
    e = _act(w, wf.write_off, w.small, ANA, "immaterial: five dollars", POLICY)
    assert (e.action, e.detail["why_approval"]) == ("approval_requested", "a write-off is a controller's decision")
    _act(w, wf.approve, w.small, CARL)
    assert _state(w, w.small) == ("written_off", "immaterial: five dollars", ANA.actor, CARL.actor)
    _act(w, wf.reopen, w.small, CARL, "bank found it")
    e = _act(w, wf.write_off, w.small, CARL, "immaterial: five dollars", POLICY)
    assert e.action == "written_off" and _state(w, w.small)[3] is None  # no second person needed
    # the threshold is inclusive: at exactly the amount at stake, it is a request
    _act(w, wf.reopen, w.small, CARL, "again")
    e = _act(w, wf.resolve, w.small, ANA, "timing: arrived", wf.ApprovalPolicy(500, "USD"))
    assert e.action == "approval_requested"


def test_without_a_rate_the_amount_is_unknown_so_it_needs_approval(world):
    w = world
    e = _act(w, wf.resolve, w.eur, ANA, "timing: arrives Monday", POLICY)
    assert e.action == "approval_requested"
    assert e.detail["why_approval"] == ("EUR 20.00 at stake has no EUR to USD rate to compare with the approval "
                                        "threshold of USD 10,000.00")
    assert e.detail["at_stake_reporting_minor"] is None
    _act(w, wf.withdraw, w.eur, ANA)
    with w.engine.begin() as conn:
        add_rate(conn, t("2026-10-01").date(), "EUR", "1.10")
    e = _act(w, wf.resolve, w.eur, ANA, "timing: arrives Monday", POLICY)
    assert e.action == "resolved"  # EUR 20.00 = USD 22.00, below the threshold


def test_an_approval_of_changed_data_is_refused(world):
    w, bid = world, world.big
    _act(w, wf.resolve, bid, ANA, "duplicate_posting: posted twice", POLICY)
    w.sql("UPDATE recon_items SET fingerprint = 'fp-je77-v2', break_amount_minor = 30000000 WHERE item_key = 'journal:JE-77'")
    _refused(w, bid, wf.approve, CARL, "", match="its data changed since the request was made: reject it")
    _act(w, wf.reject, bid, CARL, "the amount moved to 300,000.00")
    assert _state(w, bid)[0] == "open"


def test_local_mode_cannot_satisfy_four_eyes(world):
    w, bid, me = world, world.big, local_identity()
    e = _act(w, wf.resolve, bid, me, "duplicate_posting: posted twice", POLICY)
    assert e.action == "approval_requested" and e.actor.endswith(f"<local|{me.subject}>")
    _refused(w, bid, wf.approve, me, "", match="approvals need a configured identity provider")
    _refused(w, bid, wf.reject, me, "no", match="you asked for it")
    _act(w, wf.withdraw, bid, me, "")  # what one person can do: take it back
    assert _state(w, bid)[0] == "open"


def test_approval_needed_is_a_pure_rule():
    stake = q.AtStake("USD", 999_999, "USD", 999_999)
    assert wf.approval_needed("resolve", ANA, stake, POLICY) is None
    assert wf.approval_needed("write_off", CARL, stake, POLICY) is None
    assert wf.approval_needed("write_off", ANA, stake, POLICY) == "a write-off is a controller's decision"
    assert "at or above" in wf.approval_needed("resolve", CARL, stake._replace(reporting_minor=1_000_000), POLICY)
    assert "no GBP to USD rate" in wf.approval_needed("resolve", CARL, q.AtStake("GBP", 5, "USD", None), POLICY)
