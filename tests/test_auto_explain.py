"""Rules that explain work-queue items by themselves (issue 19; metrics/actions/auto_explain.py): each rule's dry run
lists exactly what it then resolves, the resolved items carry the rule (name and version) as actor in their history
and in the audit log, a controller can undo a rule (its items reopen), and the items it resolved count as resolved
without a person."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from collectors.compute import work_queue as job
from metrics.actions import auto_explain as ae
from metrics.figures import work_history as wh
from revwatch.identity import NotPermitted
from revwatch.settings import Settings
from revwatch.work_items import RULE_NAMES, parse_auto_explain
from tests.people import ANA, CARL
from tests.worlds.recon import add_item
from tests.worlds.work_queue import NOW, PENDING, finding

FEES = {"CAD": [1500], "USD": [1000, 2500]}


def payout_break(conn, key: str, currency: str, payout: int, deposited: int) -> int:
    add_item(conn, "S3", f"payout:adyen:{key}", "payout", "break", currency, payout, NOW - timedelta(days=3),
             break_type="amount_mismatch", counter_amount_minor=deposited, break_amount_minor=payout - deposited,
             left_ref=f"ADYEN-{key}", gateway="adyen")
    break_id = conn.execute(text("INSERT INTO recon_breaks (stage, item_key, state, opened_at) VALUES ('S3', :k, 'open', :at)"
                                 " RETURNING break_id"), {"k": f"payout:adyen:{key}", "at": NOW - timedelta(days=2)}
                            ).scalar_one()
    conn.execute(text("INSERT INTO recon_break_events (break_id, at, actor, action) VALUES (:b, :at, 'reconcile', 'opened')"),
                 {"b": break_id, "at": NOW - timedelta(days=2)})
    return break_id


def invoice(conn, invoice_id: str, session: str, status: str) -> None:
    conn.execute(text("""
        INSERT INTO invoices (invoice_id, session_id, currency, subtotal_minor, tax_minor, total_minor, issued_at,
                              status, updated_at)
        VALUES (:i, :s, 'USD', 900, 0, 900, :at, :status, :at)"""), {"i": invoice_id, "s": session, "at": NOW,
                                                                     "status": status})


@pytest.fixture
def world(make_world, pin_clock):
    pin_clock(NOW)
    w = make_world()
    with w.engine.begin() as conn:
        w.fee = payout_break(conn, "13", "CAD", 126198, 124698)  # short by the CAD fee
        w.usd_fee = payout_break(conn, "14", "USD", 50000, 47500)  # short by the second USD fee
        payout_break(conn, "15", "CAD", 126198, 124699)  # short by 1,499: no fee
        asked = payout_break(conn, "16", "CAD", 9000, 7500)  # a fee, but a person asked a controller about it
        conn.execute(text("""
            INSERT INTO recon_break_requests (break_id, action, category, reason, why_approval, reporting_currency,
                threshold_minor, fingerprint, requested_by, requested_issuer, requested_subject, requested_at)
            VALUES (:b, 'write_off', 'bank_fee', 'fee', 'analyst', 'USD', 1000000, 'f', 'ana', 'i', 's', :at)"""),
                     {"b": asked, "at": NOW})
        finding(conn, "ses_voided", "duplicate_invoice", 900, 1800)
        finding(conn, "ses_still_twice", "duplicate_invoice", 900, 1800)
        for inv, session, status in (("inv_1", "ses_voided", "paid"), ("inv_2", "ses_voided", "void"),
                                     ("inv_3", "ses_still_twice", "paid"), ("inv_4", "ses_still_twice", "open")):
            invoice(conn, inv, session, status)
        job.sync(conn, NOW - timedelta(hours=5), PENDING)
    w.voided = w.sql("SELECT item_id FROM work_items WHERE source_key = 'ses_voided'")[0][0]
    return w


def _apply(world, rule, params):
    with world.engine.begin() as conn:
        return ae.apply(conn, rule, params)


def test_each_dry_run_equals_what_the_rule_then_resolves_with_the_rule_as_actor(world):
    rules = ae.RULES
    with world.engine.connect() as conn:
        fee_dry = ae.dry_run(conn, rules["bank_fee"], FEES)
        dup_dry = ae.dry_run(conn, rules["duplicate_voided"], {})
    assert [(m.item_ref, m.currency, m.amount_minor) for m in fee_dry] == [(world.fee, "CAD", 1500),
                                                                          (world.usd_fee, "USD", 2500)]
    assert [(m.work_type, m.item_ref) for m in dup_dry] == [("over_billed", world.voided)]
    assert world.sql("SELECT count(*) FROM auto_explanations")[0][0] == 0  # a dry run writes nothing
    assert _apply(world, rules["bank_fee"], FEES) == fee_dry
    assert _apply(world, rules["duplicate_voided"], {}) == dup_dry
    resolved = world.sql("SELECT break_id, resolved_by FROM recon_breaks WHERE state = 'resolved' ORDER BY break_id")
    assert resolved == [(world.fee, "rule:bank_fee@1"), (world.usd_fee, "rule:bank_fee@1")]
    # resolved on the item's data as it is now: reconcile reopens the break only if that data changes
    assert world.sql("SELECT count(*) FROM recon_breaks b JOIN recon_items i USING (stage, item_key)"
                     " WHERE b.state = 'resolved' AND b.resolved_fingerprint = i.fingerprint") == [(2,)]
    assert world.sql("SELECT state, resolved_by FROM work_items WHERE item_id = %s", (world.voided,)) == [
        ("resolved", "rule:duplicate_voided@1")]
    assert world.sql("SELECT actor FROM recon_break_events WHERE action = 'resolved' ORDER BY break_id") == [
        ("rule:bank_fee@1",), ("rule:bank_fee@1",)]
    assert world.sql("SELECT actor, action, target FROM audit_log ORDER BY seq") == [
        ("rule:bank_fee@1", "rule.resolve", f"break:{world.fee}"), ("rule:bank_fee@1", "rule.resolve", f"break:{world.usd_fee}"),
        ("rule:duplicate_voided@1", "rule.resolve", f"work_item:{world.voided}")]
    assert ae.explained_fees(world.engine) == {"CAD": 1500, "USD": 2500}  # the fee figure
    assert _apply(world, rules["bank_fee"], FEES) == []  # applied again: nothing more
    with world.engine.begin() as conn:  # the work-queue job keeps a rule's resolution while the data holds
        job.sync(conn, NOW, PENDING)
    assert world.sql("SELECT state FROM work_items WHERE item_id = %s", (world.voided,)) == [("resolved",)]


def test_a_rule_is_undone_by_a_controller_and_its_items_reopen(world):
    _apply(world, ae.RULES["bank_fee"], FEES)
    with world.engine.begin() as conn, pytest.raises(NotPermitted):
        ae.undo(conn, ae.RULES["bank_fee"], ANA, "wrong fee")
    with world.engine.begin() as conn:
        assert ae.undo(conn, ae.RULES["bank_fee"], CARL, "the bank refunded its fee") == 2
    assert world.sql("SELECT count(*) FROM recon_breaks WHERE state = 'open'")[0][0] == 4
    assert world.sql("SELECT actor, note FROM recon_break_events WHERE action = 'reopened' AND break_id = %s",
                     (world.fee,)) == [(CARL.actor, "the bank refunded its fee")]
    assert ae.explained_fees(world.engine) == {}
    assert [m.item_ref for m in _apply(world, ae.RULES["bank_fee"], FEES)] == [world.fee, world.usd_fee]  # again


def test_items_a_rule_resolved_count_as_resolved_without_a_person(world):
    _apply(world, ae.RULES["bank_fee"], FEES)
    with world.engine.connect() as conn:
        r = wh.resolution_report(conn, NOW)
    (breaks,) = [g.stats for g in r.by_type if g.work_type == "break"]
    assert (breaks.items, breaks.resolved, breaks.automatic, breaks.automatic_share) == (4, 2, 2, 1.0)


def test_the_enabled_rules_come_from_configuration_and_a_wrong_one_stops_the_start(world):
    assert set(ae.RULES) == set(RULE_NAMES)
    with world.engine.begin() as conn:
        assert ae.apply_enabled(conn, '{"duplicate_voided": {}}') == {"duplicate_voided": 1}
        assert ae.apply_enabled(conn, "") == {}
    assert parse_auto_explain('{"bank_fee": {"CAD": [1500]}}') == {"bank_fee": {"CAD": [1500]}}
    for bad, says in (('{"bank_fees": {}}', "unknown rule"), ('{"bank_fee": {"CAD": 1500}}', "fee amounts"),
                      ('{"bank_fee": {"CAD": [15.0]}}', "fee amounts"), ("[1]", "JSON object")):
        with pytest.raises(ValueError, match=says):  # pydantic's ValidationError: load_settings says it as one line
            Settings(auto_explain_rules=bad)


def test_on_the_demo_world_the_bank_fee_rule_finds_the_deposit_short_by_its_fee(demo_world):
    incident = next(i["expected"] for i in demo_world.manifest["incidents"] if i["id"] == "deposit_short_bank_fee")
    fee = {incident["currency"]: [incident["bank_fee_minor"]]}
    with demo_world.engine.connect() as conn:
        (m,) = ae.dry_run(conn, ae.RULES["bank_fee"], fee)
    assert (m.currency, m.amount_minor) == (incident["currency"], incident["bank_fee_minor"])
    assert m.explanation.endswith("by the bank's fee") and incident["payout_reference"].split("-")[1] in m.detail["item_key"]


def test_the_worker_applies_the_enabled_rules_after_each_work_queue_run_and_a_failure_is_on_health(world, monkeypatch):
    """The rules' run is a run of its own in job_runs: Health and /metrics judge it against the work queue's
    interval, and a failure of the rules is "failing" there (CollectorFailing), never only a log line."""
    from prometheus_client import CollectorRegistry

    from metrics.faces.exporter import register
    from metrics.figures.health import job_health
    from revwatch.cli.supervise import after_job
    from revwatch.schedule import intervals, judged_intervals
    from revwatch.settings import load_settings

    def health(cfg) -> dict:
        return {j.job: j for j in job_health(world.engine, NOW, judged_intervals(cfg))}

    def runs(cfg, outcome: str) -> float | None:
        registry = CollectorRegistry()
        register(registry, world.engine, cfg)
        return registry.get_sample_value("revwatch_job_runs_total", {"job": "auto-explain", "outcome": outcome})

    assert "auto-explain" not in health(load_settings(database_url=world.url))  # no rule enabled: not a job
    monkeypatch.setenv("AUTO_EXPLAIN_RULES", '{"bank_fee": {"CAD": [1500]}}')
    cfg = load_settings(database_url=world.url)
    after = after_job(world.engine, cfg)
    after("reconcile")  # another job: no rule runs
    assert world.sql("SELECT count(*) FROM auto_explanations")[0][0] == 0
    assert health(cfg)["auto-explain"].status == "never run"
    after("work-queue")
    assert world.sql("SELECT rule, item_ref, resolved FROM auto_explanations") == [("bank_fee", world.fee, True)]
    assert world.sql("SELECT outcome, rows_written FROM job_runs WHERE job = 'auto-explain'") == [("succeeded", 1)]
    done = health(cfg)["auto-explain"]
    assert (done.status, done.kind, done.interval_seconds) == ("ok", "compute", intervals(cfg)["work-queue"])

    world.sql("ALTER TABLE recon_breaks RENAME TO recon_breaks_gone")  # what the rules read is missing
    after("work-queue")  # says so and returns: the work queue's run stands
    (error,) = world.sql("SELECT error FROM job_runs WHERE job = 'auto-explain' AND outcome = 'failed'")[0]
    assert "recon_breaks" in error
    failing = health(cfg)["auto-explain"]
    assert (failing.status, failing.last_failure_error) == ("failing", error)
    assert (runs(cfg, "failed"), runs(cfg, "succeeded")) == (1.0, 1.0)


def test_the_page_shows_each_rule_s_dry_run_and_a_controller_undoes_one(world, page_for, monkeypatch):
    monkeypatch.setenv("AUTO_EXPLAIN_RULES", '{"bank_fee": {"CAD": [1500], "USD": [1000, 2500]}}')
    at = page_for(world, "pages/work_queue.py")
    labels = [e.label for e in at.expander]
    assert "bank_fee (version 1, enabled): would explain 2 now · nothing done yet" in labels
    assert "duplicate_voided (version 1, not enabled): would explain 1 now · nothing done yet" in labels
    opened = _open_items(at)
    _apply(world, ae.RULES["bank_fee"], FEES)
    at = page_for(world, "pages/work_queue.py")
    assert _open_items(at) == opened - 2
    assert "bank_fee (version 1, enabled): would explain 0 now · 2 resolved so far" in [e.label for e in at.expander]
    assert any("Bank fees explained by the bank_fee rule: " in c.value for c in at.caption)
    at.text_input(key="undo_note_bank_fee").input("the bank refunded it").run()
    at.button(key="undo_bank_fee").click().run()  # local mode: the machine's user holds every role
    assert any("Undone bank_fee: 2 item(s) reopened." in s.value for s in at.success)
    assert world.sql("SELECT count(*) FROM recon_breaks WHERE state = 'open'")[0][0] == 4
    # read again at once, not a minute later: the dry run finds the two again, the queue lists them
    assert "bank_fee (version 1, enabled): would explain 2 now · 0 resolved so far, 2 undone" in [e.label for e in at.expander]
    assert _open_items(at) == opened


def _open_items(at) -> int:
    return int({m.label: m.value for m in at.metric}["Open items"].replace(",", ""))


def test_the_page_says_when_the_rules_were_last_applied_and_a_failure_with_its_reason(world, page_for, monkeypatch):
    from revwatch.cli.supervise import after_job
    from revwatch.runlog import recorded_run
    from revwatch.settings import load_settings

    monkeypatch.setenv("AUTO_EXPLAIN_RULES", '{"bank_fee": {"CAD": [1500]}}')
    at = page_for(world, "pages/work_queue.py")
    assert any("No rule applied yet" in i.value for i in at.info)
    after_job(world.engine, load_settings(database_url=world.url))("work-queue")
    at = page_for(world, "pages/work_queue.py")
    assert any("Last applied 04 Dec 2026 15:00 UTC (ok on Health): 1 item(s) explained." in c.value for c in at.caption)
    with pytest.raises(RuntimeError), recorded_run(world.engine, "auto-explain"):
        raise RuntimeError("the rules' read timed out")
    at = page_for(world, "pages/work_queue.py")
    (error,) = [e.value for e in at.error if "last application failed" in e.value]
    assert "nothing was applied: RuntimeError" in error and "the rules' read timed out." in error  # markdown-escaped


def test_the_gateway_incident_rule_groups_the_items_inside_an_incident_and_resolves_none(make_world):
    from metrics.figures import payments
    from metrics.figures.query import Filters
    from metrics.figures.work_queue import QueueFilters, configured_queue
    from revwatch import clock
    from tests.worlds.demo import SMALL_WORLD

    w = make_world(demo=SMALL_WORLD)
    today = clock.today()
    incident = payments.episodes(payments.worst_hours(w.engine, Filters(today - timedelta(days=29), today)))[0]
    inside, outside = incident.start + (incident.end - incident.start) / 2, incident.end + timedelta(hours=1)
    with w.engine.begin() as conn:
        for key, at in (("ch_inside", inside), ("ch_outside", outside)):
            conn.execute(text("""
                INSERT INTO work_items (work_type, source_key, state, gateway, currency, amount_minor, customer_minor,
                                        company_minor, occurred_at, opened_at, trace_id, detail, fingerprint)
                VALUES ('unrecorded_charge', :k, 'open', :g, 'USD', 500, 500, 0, :at, :at, :k, '{}', 'f')"""),
                         {"k": key, "g": incident.gateway, "at": at})
    rule = ae.RULES["gateway_incident"]
    with w.engine.connect() as conn:
        dry = ae.dry_run(conn, rule, {})
    grouped = {m.item_ref for m in dry if m.work_type == "unrecorded_charge"}
    inside_id = w.sql("SELECT item_id FROM work_items WHERE source_key = 'ch_inside'")[0][0]
    assert inside_id in grouped and w.sql("SELECT item_id FROM work_items WHERE source_key = 'ch_outside'")[0][0] not in grouped
    assert _apply(w, rule, {}) == dry
    assert w.sql("SELECT count(*) FROM auto_explanations WHERE resolved")[0][0] == 0
    assert w.sql("SELECT state FROM work_items WHERE item_id = %s", (inside_id,)) == [("open",)]  # grouped, still open
    with w.engine.connect() as conn:
        q = configured_queue(conn, QueueFilters(types=("unrecorded_charge",)), w.cfg)
    said = q.items.set_index("source_key")["explained"]
    assert said["ch_inside"].startswith(f"inside the gateway incident {incident.gateway} ") and said.isna()["ch_outside"]
