"""The Trace: any identifier followed from the parking session to the general ledger, on the shared
demo world (read-only), with the reconciliation incidents of its manifest showing where the chain
breaks; and the Trace page highlighting a broken hop."""
from __future__ import annotations

import pytest

from metrics.figures.trace import trace
from revwatch.money import format_money

PAGE = "pages/trace.py"


def _incidents(world) -> dict[str, dict]:
    return {i["id"]: i["expected"] for i in world.manifest["incidents"]}


def _normal_stripe_payment(world) -> tuple[str, str, str, str, str]:
    """(session, invoice, attempt, charge, payout) of a paid Stripe invoice no incident touches: a
    paid-out charge, one attempt, no refund or dispute, on a payout and a site-day no incident names."""
    inc = _incidents(world)
    payouts = [e["payout_reference"] for e in inc.values() if isinstance(e, dict) and "payout_reference" in e]
    rev = inc.get("revenue_day_missing") or {}
    rows = world.sql("""
        SELECT i.session_id, i.invoice_id, a.attempt_id, a.gateway_reference, t.payout
        FROM payment_attempts a JOIN invoices i ON i.invoice_id = a.invoice_id
        JOIN parking_sessions p ON p.session_id = i.session_id JOIN sites s ON s.site_id = p.site_id
        JOIN stripe_balance_transactions t ON t.source = a.gateway_reference
        JOIN stripe_payouts po ON po.id = t.payout AND po.status = 'paid'
        WHERE a.gateway = 'stripe' AND a.status = 'succeeded' AND i.status = 'paid'
          AND (SELECT count(*) FROM payment_attempts x WHERE x.invoice_id = i.invoice_id) = 1
          AND (SELECT count(*) FROM invoices x WHERE x.session_id = i.session_id) = 1
          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.invoice_id = i.invoice_id)
          AND NOT EXISTS (SELECT 1 FROM stripe_disputes d WHERE d.charge = a.gateway_reference)
          AND NOT (t.payout = ANY(%s))
          AND NOT (p.site_id = %s AND (i.issued_at AT TIME ZONE s.timezone)::date::text = %s)
          -- judged correct: counted in its site-hour, no finding of its own
          AND EXISTS (SELECT 1 FROM billing_correct c WHERE c.site_id = p.site_id
                      AND c.hour = date_trunc('hour', p.exited_at, 'UTC'))
          AND NOT EXISTS (SELECT 1 FROM billing_findings f WHERE f.session_id = i.session_id)
          AND EXISTS (SELECT 1 FROM recon_items r WHERE r.stage = 'S3' AND r.item_key = 'payout:stripe:' || t.payout
                      AND r.status = 'matched')
        ORDER BY a.attempted_at, a.attempt_id LIMIT 1""",
                     (payouts, rev.get("site_id", ""), rev.get("local_date", "")))
    assert rows, "the demo world has no plain paid Stripe payment"
    return rows[0]


def _payout_trace_of(world, reference: str):
    t = trace(world.engine, reference)
    assert t is not None and t.scope == "payout", reference
    return t


def test_a_normal_paid_invoice_is_traced_from_session_to_ledger_all_matched(demo_world):
    session, invoice, attempt, charge, payout = _normal_stripe_payment(demo_world)
    t = trace(demo_world.engine, invoice)
    assert t is not None and t.found_as == "invoice" and t.scope == "session"
    main = [h for h in t.hops if h.branch == "main"]
    assert [h.kind for h in main] == ["session", "invoice", "attempt", "stripe_charge", "balance", "payout", "bank",
                                      "journal"]
    by = {h.kind: h for h in main}
    assert by["session"].id == session and by["invoice"].id == invoice and by["attempt"].id == attempt
    assert by["stripe_charge"].id == charge and by["payout"].id == payout
    # the payment's amount is the same from the invoice to the balance entry; the payout's from the payout to the bank
    inv = by["invoice"]
    for k in ("attempt", "stripe_charge", "balance"):
        assert (by[k].amount_minor, by[k].currency) == (inv.amount_minor, inv.currency), k
    assert (by["bank"].amount_minor, by["bank"].currency) == (by["payout"].amount_minor, by["payout"].currency)
    assert by["journal"].record["reference"] == payout
    cash = [ln for ln in by["journal"].record["lines"] if ln["account"] == demo_world.cfg.gl_account_cash]
    assert [int(ln["debit_minor"]) for ln in cash] == [by["payout"].amount_minor]
    # every reconciled link is matched: S1 on the charge, S2 on the entry and payout, S3 bank, S4 journals
    assert [(h.kind, h.stage, h.link) for h in t.hops if h.link is not None] == [
        ("finding", "billing", "matched"), ("stripe_charge", "S1", "matched"), ("balance", "S2", "matched"),
        ("payout", "S2", "matched"), ("bank", "S3", "matched"), ("journal", "S4", "matched"),
        ("revenue_journal", "S4", "matched")]
    assert not t.breaks and all(h.present for h in t.hops)
    finding = t.of("finding")[0]
    assert finding.status == "correct" and finding.amount_minor == inv.amount_minor


def test_different_identifiers_of_one_chain_give_the_same_chain(demo_world):
    session, invoice, attempt, charge, payout = _normal_stripe_payment(demo_world)
    chains = {i: trace(demo_world.engine, i) for i in (session, invoice, attempt, charge)}
    assert {c.found_as for c in chains.values()} == {"session", "invoice", "attempt", "Stripe charge"}
    first = chains[session].hops
    assert all(c.hops == first for c in chains.values()), "one chain whatever the starting identifier"
    # the payout, its bank line and its journal all give the payout-level chain
    by_payout = _payout_trace_of(demo_world, payout)
    bank = by_payout.of("bank")[0].id
    journal = by_payout.of("journal")[0].id
    for other in (bank, journal):
        t = trace(demo_world.engine, other)
        assert t is not None and t.scope == "payout" and t.hops == by_payout.hops, other
    # the payout chain is the session chain's tail, with its entries and a sample of its charges
    tail = [(h.kind, h.id, h.amount_minor, h.link) for h in chains[session].hops if h.kind in ("payout", "bank", "journal")]
    assert tail == [(h.kind, h.id, h.amount_minor, h.link) for h in by_payout.hops if h.kind != "entries"]
    entries = by_payout.of("entries")[0]
    assert entries.amount_minor == by_payout.of("payout")[0].amount_minor  # its entries' nets make the payout
    assert charge in set(trace(demo_world.engine, payout).sample["charge"]) or len(by_payout.sample) == 20


def test_the_payout_missing_in_the_bank_breaks_at_the_bank_hop(demo_world):
    e = _incidents(demo_world)["payout_missing_in_bank"]
    t = _payout_trace_of(demo_world, e["payout_reference"])
    bank = t.of("bank")
    assert len(bank) == 1 and not bank[0].present
    assert (bank[0].link, bank[0].stage, bank[0].break_type, bank[0].break_amount_minor) == (
        "break", "S3", "missing", e["amount_minor"])
    assert t.of("journal")[0].link == "matched" and t.of("payout")[0].link == "matched"
    assert [h.kind for h in t.breaks] == ["bank"]


def test_the_short_deposit_shows_the_bank_fee_as_an_amount_mismatch(demo_world):
    e = _incidents(demo_world)["deposit_short_bank_fee"]
    t = _payout_trace_of(demo_world, e["payout_reference"])
    (bank,) = t.of("bank")
    assert bank.present and bank.amount_minor == e["deposited_minor"]
    assert (bank.link, bank.break_type, bank.break_amount_minor, bank.currency) == (
        "break", "amount_mismatch", e["bank_fee_minor"], e["currency"])
    assert t.of("payout")[0].amount_minor == e["payout_minor"]


def test_the_refund_not_booked_shows_its_journal_missing(demo_world):
    e = _incidents(demo_world)["refund_not_booked"]
    t = trace(demo_world.engine, e["refund_id"])
    assert t is not None and t.found_as == "refund"
    refund = [h for h in t.hops if h.kind == "refund" and h.id == e["refund_id"]]
    assert refund and refund[0].amount_minor == e["amount_minor"]
    (journal,) = [h for h in t.of("refund_journal") if h.parent == e["refund_id"]]
    assert not journal.present
    assert (journal.link, journal.stage, journal.break_type, journal.break_amount_minor) == (
        "break", "S4", "missing", e["amount_minor"])
    gateway = [h for h in t.of("gateway_refund") if h.parent == e["refund_id"]]
    assert gateway and gateway[0].link == "matched"  # the refund did happen at the gateway
    # the gateway's own id of the refund leads to the same chain
    if gateway[0].id and gateway[0].id.startswith("re_"):
        assert trace(demo_world.engine, gateway[0].id).hops == t.hops


def test_an_unrecorded_success_breaks_at_the_gateway_hop(demo_world):
    ids = _incidents(demo_world)["unrecorded_success"]["attempt_ids"]
    assert ids
    for attempt in ids:
        t = trace(demo_world.engine, attempt)
        assert t is not None and t.found_as == "attempt"
        (a,) = [h for h in t.of("attempt") if h.id == attempt]
        assert a.status == "failed"
        (gw,) = [h for h in t.hops if h.kind in ("stripe_charge", "adyen_settled") and h.parent == attempt]
        assert gw.present and gw.status in ("succeeded", "settled")
        assert (gw.link, gw.stage, gw.break_type, gw.break_amount_minor) == ("break", "S1", "status_mismatch",
                                                                             a.amount_minor)


def test_a_double_charge_is_found_from_the_session_and_breaks_in_s1(demo_world):
    stripe = _incidents(demo_world)["gateway_double_charge"]["by_gateway"]["stripe"]
    assert stripe["references"]
    for charge in stripe["references"][:5]:
        (invoice, session) = demo_world.sql("SELECT c.invoice_id, i.session_id FROM stripe_charges c"
                                            " JOIN invoices i USING (invoice_id) WHERE c.id = %s", (charge,))[0]
        t = trace(demo_world.engine, session)
        assert t is not None and t.found_as == "session"
        (extra,) = [h for h in t.hops if h.id == charge]  # the second charge, though billing has no attempt for it
        assert extra.kind == "stripe_charge" and extra.parent == invoice and extra.note == "charge with no billing attempt"
        assert (extra.link, extra.stage, extra.break_type) == ("break", "S1", "missing")
        assert [h.id for h in t.of("invoice")] and any(h.kind == "stripe_charge" and h.id != charge for h in t.hops)


@pytest.mark.parametrize("unknown", ["nope", "ses_doesnotexist", "po_nothing", "ADYEN-999999", "JE-999999",
                                     "bank:abc:1", ""])
def test_an_unknown_identifier_is_none(demo_world, unknown):
    assert trace(demo_world.engine, unknown) is None


def test_the_trace_page_highlights_the_broken_hop(demo_world, page_for):
    e = _incidents(demo_world)["deposit_short_bank_fee"]
    at = page_for(demo_world, PAGE)
    assert any("Enter an identifier" in i.value for i in at.info)
    at.text_input(key="trace_id").set_value(e["payout_reference"]).run()
    assert not at.exception, [x.value for x in at.exception]
    fee = format_money(e["bank_fee_minor"], e["currency"])
    broken = [x.value for x in at.error if "amount_mismatch" in x.value]
    assert broken and any(fee in v and "Bank credit" in v for v in broken), [x.value for x in at.error]
    assert any("Payout" in s.value for s in at.success)  # the matched hops are green
    # issue 16: "is a attempt"; hop icons were emoji, empty boxes where the system has no emoji font
    attempt = _normal_stripe_payment(demo_world)[2]
    at.text_input(key="trace_id").set_value(attempt).run()
    assert any("is an attempt; the chain of its parking session" in c.value for c in at.caption), [
        c.value for c in at.caption]
    hops = [e.value for kind in ("success", "error", "markdown") for e in getattr(at, kind)
            if "**" in e.value and " · " in e.value]
    assert len(hops) >= 8 and all(":material/" in h for h in hops), hops
    shown = " ".join(e.value for kind in ("success", "error", "markdown", "caption") for e in getattr(at, kind))
    assert not [ch for ch in shown if ord(ch) > 0x2FFF], "no emoji: Material icons or plain text"
    at.text_input(key="trace_id").set_value(e["payout_reference"]).run()
    assert at.query_params.get("id") in (e["payout_reference"], [e["payout_reference"]])
    at.text_input(key="trace_id").set_value("no-such-id").run()
    assert any("Not found" in w.value for w in at.warning)
    # an identifier holding Markdown is shown as typed, not as a live link (issue 15, point 11)
    from markdown_it import MarkdownIt

    link = "x` [Reset your password](https://evil.example/reset) `"
    at.text_input(key="trace_id").set_value(link).run()
    shown = [MarkdownIt("commonmark").renderInline(w.value) for w in at.warning if "Not found" in w.value]
    assert shown and not any("<a " in h for h in shown), shown
