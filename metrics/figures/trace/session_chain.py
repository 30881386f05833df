"""The session-level trace: session → billing finding → invoice(s) → attempt(s) → gateway object
(Stripe charge / Adyen `Settled` line) → balance entry (fee, net) → payout → bank credit → payout
journal, plus each invoice's revenue-day journal (the local day decided in SQL), refunds (billing
→ gateway refund → refund journal) and disputes / chargebacks. Every read is one statement by
indexed keys; the reconciliation items of the whole chain are read at once."""
from __future__ import annotations

from typing import Any

from metrics.figures.billing_accuracy import judged_session
from metrics.figures.query import Db
from metrics.figures.trace.hops import Hop, as_int, dicts, distinct, link, recon_items
from metrics.figures.trace.payout_chain import gl_lines, journals, payout_hops
from revwatch.recon_keys import (
    attempt_key,
    gateway_key,
    payout_key,
    refund_key,
    revenue_key,
    revenue_reference,
    txn_key,
)
from revwatch.rules import site_zones


def session_trace(db: Db, sid: str) -> list[Hop]:
    s = dicts(db, """SELECT p.session_id, p.site_id, p.entered_at, p.exited_at, p.customer_id IS NOT NULL AS has_customer,
                             t.name AS site_name, t.timezone, t.currency
                      FROM parking_sessions p LEFT JOIN sites t ON t.site_id = p.site_id WHERE p.session_id = :s""", s=sid)
    if not s:
        return []
    sess = s[0]
    hops = [Hop("session", sid, sess["exited_at"] or sess["entered_at"], None, sess["currency"],
                "exited" if sess["exited_at"] else "parked", record=sess,
                note=f"site {sess['site_id']}, entered {sess['entered_at']:%Y-%m-%d %H:%M} UTC")]
    judged = judged_session(db, sid)
    finding = [judged] if judged else []
    invoices = dicts(db, f"""SELECT i.invoice_id, i.session_id, i.status, i.currency, i.subtotal_minor, i.tax_minor,
                                    i.total_minor, i.issued_at, {site_zones.local_date("i.issued_at", "t")} AS local_date
                             FROM invoices i JOIN parking_sessions p ON p.session_id = i.session_id
                             LEFT JOIN ({site_zones.SQL}) t ON t.site_id = p.site_id
                             WHERE i.session_id = :s ORDER BY i.issued_at, i.invoice_id""", s=sid)
    inv_ids = [i["invoice_id"] for i in invoices]
    attempts = dicts(db, """SELECT attempt_id, invoice_id, attempt_number, gateway, gateway_reference, status,
                                    failure_code, payment_method_type, amount_minor, currency, attempted_at
                             FROM payment_attempts WHERE invoice_id = ANY(CAST(:i AS text[]))
                             ORDER BY attempted_at, attempt_id""", i=inv_ids)
    refunds = dicts(db, """SELECT refund_id, invoice_id, attempt_id, gateway, gateway_reference, status, reason,
                                   amount_minor, currency, created_at
                            FROM refunds WHERE invoice_id = ANY(CAST(:i AS text[])) ORDER BY created_at, refund_id""",
                     i=inv_ids)
    s_refs = distinct(a["gateway_reference"] for a in attempts if a["gateway"] == "stripe")
    y_refs = distinct(a["gateway_reference"] for a in attempts if a["gateway"] == "adyen")
    att_ids = [a["attempt_id"] for a in attempts]
    charges = dicts(db, """SELECT id, created, status, amount, amount_refunded, currency, failure_code, outcome_type,
                                   attempt_id, invoice_id, balance_transaction
                            FROM stripe_charges WHERE id = ANY(CAST(:r AS text[]))
                            UNION
                            SELECT id, created, status, amount, amount_refunded, currency, failure_code, outcome_type,
                                   attempt_id, invoice_id, balance_transaction
                            FROM stripe_charges WHERE attempt_id = ANY(CAST(:a AS text[]))
                            UNION  -- charges naming the invoice with no attempt of billing's: double charges
                            SELECT id, created, status, amount, amount_refunded, currency, failure_code, outcome_type,
                                   attempt_id, invoice_id, balance_transaction
                            FROM stripe_charges WHERE invoice_id = ANY(CAST(:i AS text[]))
                            ORDER BY created, id""", r=s_refs, a=att_ids, i=inv_ids)
    ch_ids = [c["id"] for c in charges]
    adyen = dicts(db, """SELECT batch_number, line_number, created_at, type, psp_reference, merchant_reference,
                                 modification_reference, payment_method, gross_currency, gross_debit_minor,
                                 gross_credit_minor, net_currency, net_debit_minor, net_credit_minor, commission_minor,
                                 markup_minor, scheme_fees_minor, interchange_minor
                          FROM adyen_settlement_lines
                          WHERE psp_reference = ANY(CAST(:p AS text[])) OR merchant_reference = ANY(CAST(:m AS text[]))
                          ORDER BY created_at, batch_number, line_number""",
                  p=y_refs, m=att_ids + [r["refund_id"] for r in refunds])
    s_refunds = dicts(db, """SELECT id, created, charge, status, amount, currency, reason, balance_transaction
                              FROM stripe_refunds WHERE charge = ANY(CAST(:c AS text[])) ORDER BY created, id""", c=ch_ids)
    disputes = dicts(db, """SELECT id, created, charge, status, amount, currency, reason
                             FROM stripe_disputes WHERE charge = ANY(CAST(:c AS text[])) ORDER BY created, id""", c=ch_ids)
    sources = ch_ids + [r["id"] for r in s_refunds] + [d["id"] for d in disputes]
    txns = dicts(db, """SELECT id, created, type, reporting_category, source, amount, fee, net, currency, status,
                                available_on, payout
                         FROM stripe_balance_transactions WHERE source = ANY(CAST(:s AS text[])) ORDER BY created, id""",
                  s=sources)
    txn_by_source: dict[str, list[dict]] = {}
    for t in txns:
        txn_by_source.setdefault(t["source"], []).append(t)
    batches = distinct(ln["batch_number"] for ln in adyen)
    payouts = [("stripe", p) for p in distinct(t["payout"] for t in txns)] + [("adyen", str(b)) for b in batches]
    rev_refs = distinct(revenue_reference(sess["site_id"], i["local_date"]) for i in invoices if i["status"] != "void")
    rev_keys = distinct(revenue_key(sess["site_id"], i["local_date"], i["currency"]) for i in invoices if i["status"] != "void")
    keys = ([("S1", attempt_key(a)) for a in att_ids] + [("S1", refund_key(r["refund_id"])) for r in refunds]
            + [("S1", gateway_key("stripe", c)) for c in ch_ids] + [("S1", gateway_key("adyen", p)) for p in y_refs]
            + [("S2", txn_key(t["id"])) for t in txns]
            + [(st, payout_key(g, r)) for g, r in payouts for st in ("S2", "S3", "S4")]
            + [("S4", k) for k in rev_keys] + [("S4", refund_key(r["refund_id"])) for r in refunds])
    items = recon_items(db, keys)
    gl = gl_lines(db, rev_refs + [r["refund_id"] for r in refunds])

    if finding:
        f = finding[0]
        diff = f["difference_minor"]
        fl: dict[str, Any] = {"link": "matched" if f["class"] == "correct" else "break", "stage": "billing"}
        if f["class"] != "correct":
            fl.update(break_type=f["class"], break_amount_minor=None if diff is None else abs(int(diff)))
        hops.append(Hop("finding", sid, f["exited_at"], as_int(f["expected_total_minor"]), f["currency"], f["class"],
                        branch="finding", parent=sid, record=f,
                        note=f"expected {as_int(f['expected_total_minor'])}, billed {as_int(f['billed_total_minor'])}", **fl))
    for inv in invoices:
        hops.append(Hop("invoice", inv["invoice_id"], inv["issued_at"], as_int(inv["total_minor"]), inv["currency"],
                        inv["status"], parent=sid, record=inv,
                        note=f"subtotal {inv['subtotal_minor']} + tax {inv['tax_minor']}"))
    charge_by_id = {c["id"]: c for c in charges}
    settled: dict[str, list[dict[str, Any]]] = {}
    for ln in adyen:
        if ln["type"] == "Settled":
            settled.setdefault(ln["psp_reference"], []).append(ln)
    payout_seen: set[tuple[str, str]] = set()
    for a in attempts:
        hops.append(Hop("attempt", a["attempt_id"], a["attempted_at"], as_int(a["amount_minor"]), a["currency"], a["status"],
                        parent=a["invoice_id"], record=a,
                        note=f"{a['gateway']} #{a['attempt_number']} {a['payment_method_type']}"
                             + (f", {a['failure_code']}" if a["failure_code"] else "")))
        s1 = link(items, "S1", attempt_key(a["attempt_id"]))
        gref = a["gateway_reference"]
        gw_hops: list[Hop] = []
        if a["gateway"] == "stripe":
            c = charge_by_id.get(gref) or next((c for c in charges if c["attempt_id"] == a["attempt_id"]), None)
            if c:
                gw_hops.append(Hop("stripe_charge", c["id"], c["created"], as_int(c["amount"]), c["currency"], c["status"],
                                   parent=a["attempt_id"], record=c, **s1))
                for t in txn_by_source.get(c["id"], []):
                    gw_hops.append(Hop("balance", t["id"], t["created"], as_int(t["amount"]), t["currency"], t["status"],
                                       parent=c["id"], record=t, note=f"fee {t['fee']}, net {t['net']}",
                                       **link(items, "S2", txn_key(t["id"]))))
                    if t["payout"]:
                        payout_seen.add(("stripe", t["payout"]))
                        gw_hops.extend(payout_hops(db, "stripe", t["payout"], items, parent=t["id"]))
        else:
            for ln in settled.get(gref, []):
                fee = sum(int(ln[k] or 0) for k in ("commission_minor", "markup_minor", "scheme_fees_minor",
                                                       "interchange_minor"))
                lid = f"{ln['psp_reference']} (batch {ln['batch_number']})"
                gw_hops.append(Hop("adyen_settled", ln["psp_reference"], ln["created_at"], as_int(ln["gross_credit_minor"]),
                                   ln["gross_currency"], "settled", parent=a["attempt_id"], record=ln, **s1))
                gw_hops.append(Hop("balance", lid, ln["created_at"], as_int(ln["gross_credit_minor"]), ln["net_currency"],
                                   "settled", parent=ln["psp_reference"], record=ln,
                                   note=f"fee {fee}, net {as_int(ln['net_credit_minor'])}"))
                payout_seen.add(("adyen", str(ln["batch_number"])))
                gw_hops.extend(payout_hops(db, "adyen", str(ln["batch_number"]), items, parent=lid))
        if not gw_hops and (s1 or a["status"] == "succeeded"):
            gw_hops.append(Hop("stripe_charge" if a["gateway"] == "stripe" else "adyen_settled", gref, None, None,
                               a["currency"], "not found", parent=a["attempt_id"], present=False,
                               note="no gateway object for this attempt", **s1))
        hops.extend(gw_hops)
    # gateway objects naming the invoice that billing has no attempt for (double charges) are S1 gateway items
    for c in charges:
        if c["id"] not in s_refs and c["attempt_id"] not in att_ids:
            hops.append(Hop("stripe_charge", c["id"], c["created"], as_int(c["amount"]), c["currency"], c["status"],
                            parent=c["invoice_id"], record=c, note="charge with no billing attempt",
                            **link(items, "S1", gateway_key("stripe", c["id"]))))
    # revenue-day journal(s) of the invoices' site and local day
    for inv in invoices:
        if inv["status"] == "void":
            continue
        rkey = revenue_key(sess["site_id"], inv["local_date"], inv["currency"])
        rref = revenue_reference(sess["site_id"], inv["local_date"])
        if any(h.kind == "revenue_journal" and h.record.get("reference", h.id) == rref for h in hops):
            continue
        hops.extend(journals(db, [rref], "revenue_journal", link(items, "S4", rkey), parent=inv["invoice_id"],
                              currency=inv["currency"], branch="revenue",
                              lines=[g for g in gl if g["reference"] == rref]))
    # refunds: billing → gateway refund (+ balance entry) → refund journal
    s_ref_by_id = {r["id"]: r for r in s_refunds}
    for r in refunds:
        hops.append(Hop("refund", r["refund_id"], r["created_at"], as_int(r["amount_minor"]), r["currency"], r["status"],
                        branch="refund", parent=r["invoice_id"], record=r, note=r["reason"]))
        s1 = link(items, "S1", refund_key(r["refund_id"]))
        gw = []
        if r["gateway"] == "stripe" and r["gateway_reference"] in s_ref_by_id:
            g = s_ref_by_id[r["gateway_reference"]]
            gw.append(Hop("gateway_refund", g["id"], g["created"], as_int(g["amount"]), g["currency"], g["status"],
                          branch="refund", parent=r["refund_id"], record=g, **s1))
            for t in txn_by_source.get(g["id"], []):
                gw.append(Hop("balance", t["id"], t["created"], as_int(t["amount"]), t["currency"], t["status"],
                              branch="refund", parent=g["id"], record=t, note=f"payout {t['payout'] or '—'}",
                              **link(items, "S2", txn_key(t["id"]))))
        elif r["gateway"] == "adyen":
            for ln in adyen:
                if ln["type"] == "Refunded" and ln["merchant_reference"] == r["refund_id"]:
                    gw.append(Hop("gateway_refund", ln["modification_reference"] or ln["psp_reference"],
                                  ln["created_at"], as_int(ln["gross_debit_minor"]), ln["gross_currency"], "refunded",
                                  branch="refund", parent=r["refund_id"], record=ln,
                                  note=f"Adyen batch {ln['batch_number']}", **s1))
        if not gw and (s1 or r["status"] == "succeeded"):
            gw.append(Hop("gateway_refund", r["gateway_reference"], None, None, r["currency"], "not found",
                          branch="refund", parent=r["refund_id"], present=False, **s1))
        hops.extend(gw)
        if r["status"] == "succeeded" or ("S4", refund_key(r["refund_id"])) in items:
            hops.extend(journals(db, [r["refund_id"]], "refund_journal", link(items, "S4", refund_key(r["refund_id"])),
                                  parent=r["refund_id"], currency=r["currency"], branch="refund",
                                  lines=[g for g in gl if g["reference"] == r["refund_id"]]))
    # disputes and chargebacks
    for d in disputes:
        hops.append(Hop("dispute", d["id"], d["created"], as_int(d["amount"]), d["currency"], d["status"], branch="dispute",
                        parent=d["charge"], record=d, note=d["reason"]))
        for t in txn_by_source.get(d["id"], []):
            hops.append(Hop("balance", t["id"], t["created"], as_int(t["amount"]), t["currency"], t["status"],
                            branch="dispute", parent=d["id"], record=t, note=f"payout {t['payout'] or '—'}",
                            **link(items, "S2", txn_key(t["id"]))))
    for ln in adyen:
        if ln["type"] in ("Chargeback", "ChargebackReversed"):
            hops.append(Hop("dispute", ln["psp_reference"], ln["created_at"],
                            as_int(ln["gross_debit_minor"] or ln["gross_credit_minor"]), ln["gross_currency"],
                            ln["type"], branch="dispute", parent=ln["psp_reference"], record=ln,
                            note=f"Adyen batch {ln['batch_number']}"))
    return hops
