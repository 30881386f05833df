"""The trace's entry: what an identifier is, then the chain of the session, the payout, the
revenue day, the bank line or the journal it belongs to."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Engine

from metrics.figures.query import Db, snapshot
from metrics.figures.trace.hops import Hop, Trace, as_int, dicts, link, recon_items
from metrics.figures.trace.payout_chain import bank_lines, gl_lines, journals, payout_hops, payout_sample
from metrics.figures.trace.session_chain import session_trace
from revwatch.recon_keys import (
    ADYEN_PAYOUT_KEY_SQL,
    ADYEN_PREFIX,
    BANK_KEY_SQL,
    STRIPE_PAYOUT_KEY_SQL,
    ledger_key,
    parse_bank_key,
    parse_payout_key,
    parse_payout_reference,
    parse_revenue_reference,
    payout_key,
    revenue_key,
)

# Every branch an indexed probe: :x the identifier, :batch an Adyen batch number, :sha / :line a bank line.
# `sid` is the session a payment-side record belongs to; `payout` a payout key, a payout or GL reference.
RESOLVE = f"""
        SELECT 'session' AS found_as, session_id AS sid, NULL AS payout FROM parking_sessions WHERE session_id = :x
        UNION ALL SELECT 'invoice', session_id, NULL FROM invoices WHERE invoice_id = :x
        UNION ALL SELECT 'attempt', i.session_id, NULL FROM payment_attempts a
                  JOIN invoices i ON i.invoice_id = a.invoice_id WHERE a.attempt_id = :x
        UNION ALL SELECT CASE a.gateway WHEN 'stripe' THEN 'Stripe charge' ELSE 'Adyen PSP reference' END,
                         i.session_id, NULL FROM payment_attempts a
                  JOIN invoices i ON i.invoice_id = a.invoice_id WHERE a.gateway_reference = :x
        UNION ALL SELECT 'Stripe charge', i.session_id, NULL FROM stripe_charges c
                  JOIN invoices i ON i.invoice_id = c.invoice_id WHERE c.id = :x
        UNION ALL SELECT 'refund', i.session_id, NULL FROM refunds r
                  JOIN invoices i ON i.invoice_id = r.invoice_id WHERE r.refund_id = :x
        UNION ALL SELECT 'Stripe refund', i.session_id, NULL FROM stripe_refunds r
                  JOIN stripe_charges c ON c.id = r.charge JOIN invoices i ON i.invoice_id = c.invoice_id WHERE r.id = :x
        UNION ALL SELECT 'Stripe dispute', i.session_id, NULL FROM stripe_disputes d
                  JOIN stripe_charges c ON c.id = d.charge JOIN invoices i ON i.invoice_id = c.invoice_id WHERE d.id = :x
        UNION ALL SELECT 'Adyen ' || l.type || ' line', i.session_id, NULL FROM adyen_settlement_lines l
                  JOIN payment_attempts a ON a.gateway_reference = l.psp_reference AND a.gateway = 'adyen'
                  JOIN invoices i ON i.invoice_id = a.invoice_id
                  WHERE l.psp_reference = :x AND l.type <> 'MerchantPayout'
        UNION ALL SELECT 'Adyen refund line', i.session_id, NULL FROM adyen_settlement_lines l
                  JOIN refunds r ON r.refund_id = l.merchant_reference JOIN invoices i ON i.invoice_id = r.invoice_id
                  WHERE l.merchant_reference = :x
        UNION ALL SELECT 'balance transaction', i.session_id, t.payout FROM stripe_balance_transactions t
                  LEFT JOIN stripe_charges c ON c.id = t.source
                  LEFT JOIN stripe_refunds r ON r.id = t.source
                  LEFT JOIN stripe_disputes d ON d.id = t.source
                  LEFT JOIN stripe_charges c2 ON c2.id = coalesce(r.charge, d.charge)
                  LEFT JOIN invoices i ON i.invoice_id = coalesce(c.invoice_id, c2.invoice_id)
                  WHERE t.id = :x
        UNION ALL SELECT 'Stripe payout', NULL, {STRIPE_PAYOUT_KEY_SQL} FROM stripe_payouts p WHERE p.id = :x
        UNION ALL (SELECT 'Adyen batch', NULL, {ADYEN_PAYOUT_KEY_SQL} FROM adyen_settlement_lines
                   WHERE batch_number = CAST(:batch AS int) AND type = 'MerchantPayout' LIMIT 1)
        UNION ALL SELECT 'bank line', NULL, b.payout_refs[1] FROM bank_lines b
                  WHERE b.file_sha256 = CAST(:sha AS text) AND b.line_number = CAST(:line AS int)
        UNION ALL SELECT 'GL journal', NULL, min(reference) FROM gl_lines WHERE journal_id = :x
                  HAVING count(*) > 0
        UNION ALL (SELECT 'GL reference', NULL, reference FROM gl_lines WHERE reference = :x LIMIT 1)
"""
# a bare bank reference (bank_lines has no index on it: a small table)
RESOLVE_BANK_REFERENCE = f"""
    SELECT 'bank line' AS found_as, NULL AS sid, payout_refs[1] AS payout, {BANK_KEY_SQL} AS bank_key
    FROM bank_lines WHERE bank_reference = :x OR customer_reference = :x ORDER BY bank_date LIMIT 1"""
# a credit matched on amount and date: the S3 payout item naming it (S3 slice of the primary key)
PAYOUT_OF_BANK_LINE = """
    SELECT item_key FROM recon_items WHERE stage = 'S3' AND item_key LIKE 'payout:%'
    AND position(:k IN coalesce(right_ref, '')) > 0 LIMIT 1"""


class Found(NamedTuple):
    """What an identifier is (`found_as`), the scope of its chain, and the key of that scope: a
    session id, a payout key, a revenue or GL reference, or a bank line key."""

    found_as: str
    scope: str
    key: str


def _adyen_batch(ident: str) -> int | None:
    """The Adyen batch an identifier names: a bare batch number or `ADYEN-<batch>` (any case)."""
    if ident.isdigit() and len(ident) < 10:
        return int(ident)
    upper = ident.upper()
    payout = parse_payout_reference(upper) if upper.startswith(ADYEN_PREFIX) else None
    return int(payout.ref) if payout else None


def resolve(db: Db, ident: str) -> Found | None:
    """What `ident` is, and the chain to build for it; None when nothing has that identifier."""
    bank = parse_bank_key(ident)
    rows = dicts(db, RESOLVE, x=ident, batch=_adyen_batch(ident), sha=bank.file_sha256 if bank else None,
                 line=bank.line_number if bank else None)
    if not rows and bank is None:
        rows = dicts(db, RESOLVE_BANK_REFERENCE, x=ident)
    if not rows:
        return None
    for r in rows:
        if r["sid"]:
            return Found(r["found_as"], "session", r["sid"])
    r = rows[0]
    found_as, payout = r["found_as"], r["payout"]
    if found_as == "bank line" and not payout:
        key = r.get("bank_key") or ident
        hit = dicts(db, PAYOUT_OF_BANK_LINE, k=key)
        return Found(found_as, "payout", hit[0]["item_key"]) if hit else Found(found_as, "bank", key)
    if not payout:
        return None
    if parse_payout_key(payout):
        return Found(found_as, "payout", payout)
    if named := parse_payout_reference(payout):
        return Found(found_as, "payout", payout_key(named.gateway, named.ref))
    if parse_revenue_reference(payout):
        return Found(found_as, "revenue", payout)
    if found_as in ("GL journal", "GL reference"):  # a refund id, perhaps
        again = resolve(db, payout) if payout != ident else None
        if again and again.scope == "session":
            return Found(found_as, "session", again.key)
        return Found(found_as, "journal", payout)
    return None


def trace(db: Db, identifier: str) -> Trace | None:
    """The chain behind `identifier` (see the package docstring); None when nothing has that id."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return trace(conn, identifier)
    ident = (identifier or "").strip()
    found = resolve(db, ident) if ident else None
    if found is None:
        return None
    found_as, scope, key = found
    if scope == "session":
        hops = session_trace(db, key)
        return Trace(ident, found_as, "session", tuple(hops)) if hops else None
    if scope == "payout" and (payout := parse_payout_key(key)):
        items = recon_items(db, [(s, key) for s in ("S2", "S3", "S4")])
        hops = payout_hops(db, payout.gateway, payout.ref, items, with_entries=True)
        return Trace(ident, found_as, "payout", tuple(hops), payout_sample(db, payout.gateway, payout.ref))
    if scope == "revenue" and (day := parse_revenue_reference(key)):
        lines = gl_lines(db, [key])
        cur = lines[0]["currency"] if lines else None
        rkey = revenue_key(day.site_id, day.local_date, cur) if cur else None
        items = recon_items(db, [("S4", rkey)]) if rkey else {}
        hops = journals(db, [key], "revenue_journal", link(items, "S4", rkey) if rkey else {}, None, cur,
                        branch="revenue", lines=lines)
        return Trace(ident, found_as, "revenue", tuple(hops))
    # a bank line or a journal nothing else explains: itself, with its S3 / S4 item
    if scope == "bank":
        items = recon_items(db, [("S3", key)])
        hops = [Hop("bank", key, b["bank_date"], as_int(b["amount_minor"]), b["currency"], b["direction"], record=b,
                    note=b.get("text"), **link(items, "S3", key)) for b in bank_lines(db, [key])]
        return Trace(ident, found_as, "bank", tuple(hops))
    items = recon_items(db, [("S4", ledger_key(key))])
    hops = journals(db, [key], "journal", link(items, "S4", ledger_key(key)), None, None)
    return Trace(ident, found_as, "journal", tuple(hops))
