"""The revenue work queue (issue 19): the work-queue job (collectors/compute/work_queue.py) gathers what needs a person
into work_items, the queue (metrics/figures/work_queue.py) lists it beside the open breaks with due times, and the
actions (metrics/actions/work_item_actions.py) work it.

A hand-built world, as of Friday 4 December 2026 15:00 UTC, states every amount and due time exactly; the demo
world's incidents (their manifest) say which items must appear, with which money."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from collectors.compute import work_queue as job
from metrics.actions import work_item_actions as act
from metrics.actions.break_refusal import ActionRefused
from metrics.figures.work_queue import UNASSIGNED, QueueFilters, counts_by_type, queue
from revwatch.identity import NotPermitted
from revwatch.work_items import service_levels
from tests.people import ANA, CARL, VERA
from tests.worlds.work_queue import NOW, PENDING, build


def sync(world, now: datetime = NOW) -> dict[str, int]:
    with world.engine.begin() as conn:
        return job.sync(conn, now, PENDING)


def items(world) -> dict[tuple[str, str], tuple]:
    rows = world.sql("SELECT work_type, source_key, state, amount_minor, customer_minor, company_minor, deadline"
                     " FROM work_items")
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def events(world, source_key: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in world.sql(
        "SELECT e.action, e.actor FROM work_item_events e JOIN work_items w USING (item_id)"
        " WHERE w.source_key = %(k)s ORDER BY e.event_id", {"k": source_key})]


@pytest.fixture
def world(make_world):
    w = make_world()
    build(w)
    return w


def test_the_job_finds_every_kind_with_its_money_and_the_gateway_s_due_date(world):
    counts = sync(world)
    assert counts == {"found": 9, "opened": 9, "reopened": 0, "updated": 0, "cleared": 0}
    assert items(world) == {
        ("under_billed", "ses_short"): ("open", 300, 0, 300, None),
        ("under_billed", "ses_missing"): ("open", 1250, 0, 1250, None),
        ("over_billed", "ses_dup"): ("open", 900, 900, 0, None),
        ("over_billed", "ses_tax_over"): ("open", 13, 13, 0, None),
        ("unrecorded_charge", "stripe:ch_unrecorded"): ("open", 2524, 2524, 0, None),
        ("dispute_evidence", "dp_due"): ("open", 4316, 0, 4316, world.due_by),
        ("dispute_evidence", "dp_no_date"): ("open", 794, 0, 794, None),
        ("refund_stuck", "re_failed"): ("open", 664, 664, 0, None),
        ("refund_stuck", "re_slow"): ("open", 500, 500, 0, None),
    }
    assert events(world, "ses_short") == [("opened", "work-queue")]
    assert sync(world) == {"found": 9, "opened": 0, "reopened": 0, "updated": 0, "cleared": 0}  # idempotent


def test_the_queue_lists_breaks_and_items_by_due_time_then_money(world):
    sync(world)
    with world.engine.connect() as conn:
        q = queue(conn, QueueFilters(), service_levels(), "USD", "UTC", NOW)
    rows = {(r.work_type, r.source_key): r for r in q.items.itertuples()}
    assert q.total == 10
    brk = rows[("break", "S3:payout:po_1")]  # 10 days from its opening 11 days ago: a day overdue
    assert (brk.amount_minor, brk.company_minor, brk.due_at, brk.overdue, brk.trace_id, brk.team) == (
        75, 75, NOW - timedelta(days=1), True, "po_1", "finance")
    # found Friday 15:00: 5 business days is the Friday after; the dispute by the gateway's own date
    assert rows[("over_billed", "ses_dup")].due_at == datetime(2026, 12, 11, 15, tzinfo=UTC)
    assert rows[("over_billed", "ses_dup")].amount_reporting_minor == 675  # CAD 9.00 at 0.75
    assert rows[("under_billed", "ses_short")].due_at == NOW + timedelta(days=10)
    assert rows[("dispute_evidence", "dp_due")].due_at == world.due_by
    assert rows[("dispute_evidence", "dp_no_date")].due_at is None  # the gateway gave none: not known, not "never"
    # by due time, then money at stake in USD; no due time last
    assert list(q.items["source_key"]) == ["S3:payout:po_1", "dp_due", "stripe:ch_unrecorded", "ses_dup", "re_failed",
                                           "re_slow", "ses_tax_over", "ses_missing", "ses_short", "dp_no_date"]
    # the same Friday item under a 3-business-day level, and business days counted where the office is
    with world.engine.connect() as conn:
        tight = queue(conn, QueueFilters(types=("over_billed",)), service_levels({"over_billed": "3bd"}), "USD",
                      "UTC", NOW)
    assert set(tight.items["due_at"]) == {datetime(2026, 12, 9, 15, tzinfo=UTC)}
    assert q.overdue == 1
    by_type = {c.work_type: c for c in counts_by_type(q)}
    assert (by_type["break"].open, by_type["break"].overdue, by_type["break"].oldest_age) == (1, 1, timedelta(days=11))
    assert (by_type["refund_stuck"].open, by_type["refund_stuck"].overdue) == (2, 0)


def test_filters_by_type_team_owner_site_and_currency(world):
    sync(world)

    def keys(**f):
        with world.engine.connect() as conn:
            return set(queue(conn, QueueFilters(**f), service_levels(), "USD", "UTC", NOW).items["source_key"])

    assert keys(types=("refund_stuck",)) == {"re_failed", "re_slow"}
    assert keys(teams=("billing operations",)) == {"ses_short", "ses_missing", "ses_dup", "ses_tax_over"}
    assert keys(currencies=("CAD",)) == {"ses_dup"}
    assert keys(site_ids=("S2",)) == {"ses_dup"}
    with world.engine.begin() as conn:
        act.assign_many(conn, [("refund_stuck", _id(world, "re_failed")), ("break", _break(world))], ANA, "dana")
    assert keys(owners=("dana",)) == {"re_failed", "S3:payout:po_1"}
    assert len(keys(owners=(UNASSIGNED,))) == 8
    with pytest.raises(ValueError, match="unknown work type"):
        keys(types=("refunds",))


def _id(world, key: str) -> int:
    return world.sql("SELECT item_id FROM work_items WHERE source_key = %(k)s", {"k": key})[0][0]


def _break(world) -> int:
    return world.sql("SELECT break_id FROM recon_breaks")[0][0]


def test_an_item_clears_by_itself_comes_back_and_a_resolution_holds_until_its_data_changes(world):
    sync(world)
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE refunds SET status = 'succeeded' WHERE refund_id = 're_failed'"))
        conn.execute(text("UPDATE billing_findings SET billed_total_minor = 800, difference_minor = -200"
                          " WHERE session_id = 'ses_short'"))
    assert sync(world) == {"found": 8, "opened": 0, "reopened": 0, "updated": 1, "cleared": 1}
    assert items(world)[("refund_stuck", "re_failed")][0] == "cleared"
    assert items(world)[("under_billed", "ses_short")][:2] == ("open", 200)
    assert events(world, "re_failed") == [("opened", "work-queue"), ("cleared", "work-queue")]
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE refunds SET status = 'failed' WHERE refund_id = 're_failed'"))
        act.resolve(conn, _id(world, "ses_dup"), ANA, "refunded CAD 9.00 on re_77")
    assert sync(world)["reopened"] == 1
    assert items(world)[("over_billed", "ses_dup")][0] == "resolved"  # its data did not change: done stays done
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE billing_findings SET billed_total_minor = 2700, difference_minor = 1800"
                          " WHERE session_id = 'ses_dup'"))  # a third invoice since
    sync(world)
    assert items(world)[("over_billed", "ses_dup")][:2] == ("open", 1800)
    assert events(world, "ses_dup") == [("opened", "work-queue"), ("resolved", ANA.actor), ("reopened", "work-queue")]
    assert world.sql("SELECT action, actor FROM audit_log WHERE action LIKE 'work_item.%'") == [
        ("work_item.resolve", ANA.actor)]


def test_actions_refuse_without_the_role_or_out_of_state_and_a_bulk_assignment_says_what_it_skipped(world):
    sync(world)
    item = _id(world, "re_slow")
    with world.engine.begin() as conn, pytest.raises(NotPermitted):
        act.assign(conn, item, VERA, "dana")
    with world.engine.begin() as conn, pytest.raises(ActionRefused, match="say what was done"):
        act.resolve(conn, item, CARL, "  ")
    with world.engine.begin() as conn:
        act.resolve(conn, item, CARL, "paid by bank transfer")
    with world.engine.begin() as conn, pytest.raises(ActionRefused, match=r"work item \d+: it is resolved"):
        act.resolve(conn, item, ANA, "again")
    with world.engine.begin() as conn:
        done = act.assign_many(conn, [("refund_stuck", item), ("refund_stuck", _id(world, "re_failed"))], ANA, "dana")
    assert done.assigned == 1 and len(done.refused) == 1 and "it is resolved" in done.refused[0]
    with world.engine.begin() as conn:
        act.reopen(conn, item, ANA, "the transfer bounced")
    assert items(world)[("refund_stuck", "re_slow")][0] == "open"
    assert world.sql("SELECT count(*) FROM work_item_events")[0][0] == 9 + 3  # opened; resolved, assigned, reopened
    with world.engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM work_item_events"))


def test_the_paging_alert_names_exactly_the_customer_impact_types():
    import re
    from pathlib import Path

    import yaml

    from revwatch.work_items import WORK_TYPES

    rules = yaml.safe_load((Path(__file__).parent.parent / "alerts" / "alerting_rules.yml").read_text())
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "CustomerImpactOverdue")
    named = re.search(r'work_type=~"([^"]+)"', rule["expr"])
    assert named is not None
    assert set(named[1].split("|")) == {t.name for t in WORK_TYPES if t.customer_impact}


def test_on_the_demo_world_every_kind_of_item_appears_with_the_incident_s_money(demo_world):
    """The demo's incidents (its manifest, written by the generator) say which items must be in the queue."""
    incidents = {i["id"]: i["expected"] for i in demo_world.manifest["incidents"]}
    with demo_world.engine.connect() as conn:
        q = queue(conn, QueueFilters(), service_levels(), "USD")
    df = q.items
    assert set(df["work_type"]) == {"break", "under_billed", "over_billed", "unrecorded_charge", "dispute_evidence",
                                    "refund_stuck"}

    def of(work_type, cls=None):
        rows = df[df["work_type"] == work_type]
        return rows if cls is None else rows[[d["class"] == cls for d in rows["detail"]]]

    dup = incidents["duplicate_invoices"]  # each duplicate invoice is a customer charged twice: refund it
    for currency, want in dup["by_currency"].items():
        mine = of("over_billed", "duplicate_invoice")
        mine = mine[mine["currency"] == currency]
        assert (len(mine), int(mine["customer_minor"].sum())) == (want["invoices"], want["total_minor"])
    old_price = incidents["rate_plan_old_price"]  # billed at last year's price: re-invoice the difference
    short = of("under_billed", "under_billed")
    assert (len(short), int(short["company_minor"].sum())) == (old_price["sessions"], old_price["difference_minor"])
    charges = of("unrecorded_charge")
    unrecorded, double = incidents["unrecorded_success"], incidents["gateway_double_charge"]
    want_minor = sum(c["amount_minor"] for inc in (unrecorded, double) for g in inc["by_gateway"].values()
                     for c in g["by_currency"].values())
    assert (len(charges), int(charges["customer_minor"].sum())) == (unrecorded["attempts"] + double["charges"], want_minor)
    assert set(unrecorded["attempt_ids"]) <= {d["attempt_id"] for d in charges["detail"]}
    disputes = of("dispute_evidence")
    surge = incidents["dispute_surge"]["by_gateway"]["stripe"]["USD"]  # the surge's disputes all await evidence
    needing = demo_world.sql("SELECT id, amount, (raw #>> '{evidence_details,due_by}')::bigint FROM stripe_disputes"
                             " WHERE status IN ('needs_response', 'warning_needs_response')")
    assert sorted(zip(disputes["source_key"], disputes["company_minor"], (int(d.timestamp()) for d in disputes["due_at"]),
                      strict=True)) == sorted(needing)
    assert len(disputes) >= surge["disputes"] and int(disputes["company_minor"].sum()) >= surge["amount_minor"]
    stuck = demo_world.sql("SELECT refund_id, amount_minor FROM billing.refunds WHERE status = 'failed'"
                           " OR (status = 'pending' AND created_at < %s)", (q.as_of - PENDING,))
    assert sorted(zip(of("refund_stuck")["source_key"], of("refund_stuck")["customer_minor"], strict=True)) == sorted(stuck)
    assert len(of("break")) == demo_world.sql("SELECT count(*) FROM recon_breaks WHERE state = 'open'")[0][0] > 0
