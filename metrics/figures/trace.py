"""The Trace page's query: any identifier, followed from the parking session to the general ledger.

`trace(db, identifier)` finds what the identifier is (session, invoice, attempt, Stripe charge,
billing or Stripe refund, Stripe dispute or Adyen chargeback PSP reference, payout id /
`ADYEN-<batch>` / batch number, bank line key `bank:<sha>:<line>` or bank reference, GL journal
id or GL reference, Stripe balance transaction), then builds the chain as ordered hops:

- from a payment-side identifier (session scope): session → billing finding → invoice(s) →
  attempt(s) → gateway object (Stripe charge / Adyen `Settled` line) → balance entry (fee, net)
  → payout → bank credit → payout journal, plus the invoice's revenue-day journal
  (`REV-<site>-<local date>`, the local day decided in SQL), refunds (billing → gateway refund
  → refund journal) and disputes / chargebacks;
- from a payout, a bank line or a payout journal (payout scope, many sessions): payout → its
  entries (count and sum) → bank credit → journal, with a sample of its charges.

Each hop carries the reconciliation status of the link *into* it from `recon_items` (S1 on the
gateway object, S2 on the balance entry and the payout, S3 on the bank credit, S4 on the
journals), so a broken link (`link == 'break'`, with its break type and amount) shows where the
chain breaks; a link whose far side is absent becomes a placeholder hop (`present=False`).

Every read is one set-based statement by indexed keys (primary keys, `session_id`,
`invoice_id`, `gateway_reference`, `attempt_id`, `source`, `payout`, `charge`,
`psp_reference`, `merchant_reference`, `batch_number`, `reference`, `recon_items`' primary
key); the two look-ups without an index of their own (a bare bank reference, a bank line
matched on amount and date) read only the bank lines / the S3 slice of `recon_items`.
Money: integer minor units with their currency, never added across currencies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import Db, read_rows
from metrics.figures.reconciliation import bank_reference, refs

SAMPLE = 20
KIND_LABELS = {
    "session": "Parking session", "finding": "Billing finding", "invoice": "Invoice", "attempt": "Payment attempt",
    "stripe_charge": "Stripe charge", "adyen_settled": "Adyen Settled line", "balance": "Balance entry",
    "payout": "Payout", "entries": "Payout entries", "bank": "Bank credit", "journal": "GL journal",
    "revenue_journal": "Revenue-day journal", "refund": "Billing refund", "gateway_refund": "Gateway refund",
    "refund_journal": "Refund journal", "dispute": "Dispute / chargeback",
}


@dataclass(frozen=True)
class Hop:
    """One record of the chain. `link` is the reconciliation status of the link into this hop
    (matched, expected, break; None where nothing reconciles it), `stage`/`item_key` the
    recon item it comes from. `present` is False for the placeholder of a record that should
    be there and is not. `branch`: main, refund, dispute, revenue, finding. `record` is the raw row."""

    kind: str
    id: str | None
    time: datetime | date | None
    amount_minor: int | None
    currency: str | None
    status: str | None
    branch: str = "main"
    parent: str | None = None
    link: str | None = None
    stage: str | None = None
    item_key: str | None = None
    break_type: str | None = None
    break_amount_minor: int | None = None
    missing_side: str | None = None
    present: bool = True
    note: str | None = None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class Trace:
    """The chain for `identifier`, found as `found_as`; `scope` is 'session' or 'payout'.
    `sample`: for a payout, some of its charges (charge, attempt, invoice, session, amounts)."""

    identifier: str
    found_as: str
    scope: str
    hops: tuple[Hop, ...]
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def breaks(self) -> list[Hop]:
        return [h for h in self.hops if h.link == "break"]

    def of(self, kind: str) -> list[Hop]:
        return [h for h in self.hops if h.kind == kind]

    def table(self) -> pd.DataFrame:
        """One row per hop (the page's fallback table); money as minor units and currency."""
        return pd.DataFrame([{"step": h.label, "branch": h.branch, "id": h.id, "time": h.time,
                              "amount_minor": h.amount_minor, "currency": h.currency, "status": h.status,
                              "link": h.link, "stage": h.stage, "break_type": h.break_type,
                              "break_amount_minor": h.break_amount_minor, "present": h.present}
                             for h in self.hops]).astype({"amount_minor": "Int64", "break_amount_minor": "Int64"})


# ---------------------------------------------------------------- reads
def _dicts(db: Db, sql: str, **params: Any) -> list[dict[str, Any]]:
    cols, rows = read_rows(db, sql, params)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _arr(values) -> list:
    return sorted({v for v in values if v is not None and v == v})


def _resolve(db: Db, ident: str) -> tuple[str, str, str] | None:
    """What `ident` is: (found_as, scope, key). Scope 'session' keys a session id; 'payout' keys
    'stripe:<po>' / 'adyen:<batch>'; 'revenue' keys a REV-… reference. One statement, every
    branch an indexed probe."""
    batch = None
    if ident.isdigit() and len(ident) < 10:
        batch = int(ident)
    elif ident.upper().startswith("ADYEN-") and ident[6:].isdigit() and len(ident[6:]) < 10:
        batch = int(ident[6:])
    bank_sha, bank_line = None, None
    parts = ident.split(":")
    if len(parts) == 3 and parts[0] == "bank" and parts[2].isdigit():
        bank_sha, bank_line = parts[1], int(parts[2])
    rows = _dicts(db, """
        SELECT 'session' AS found_as, session_id AS sid, NULL AS payout FROM parking_sessions WHERE session_id = :x
        UNION ALL SELECT 'invoice', session_id, NULL FROM invoices WHERE invoice_id = :x
        UNION ALL SELECT 'attempt', i.session_id, NULL FROM payment_attempts a
                  JOIN invoices i ON i.invoice_id = a.invoice_id WHERE a.attempt_id = :x
        UNION ALL SELECT CASE a.gateway WHEN 'stripe' THEN 'stripe charge' ELSE 'Adyen PSP reference' END,
                         i.session_id, NULL FROM payment_attempts a
                  JOIN invoices i ON i.invoice_id = a.invoice_id WHERE a.gateway_reference = :x
        UNION ALL SELECT 'stripe charge', i.session_id, NULL FROM stripe_charges c
                  JOIN invoices i ON i.invoice_id = c.invoice_id WHERE c.id = :x
        UNION ALL SELECT 'refund', i.session_id, NULL FROM refunds r
                  JOIN invoices i ON i.invoice_id = r.invoice_id WHERE r.refund_id = :x
        UNION ALL SELECT 'stripe refund', i.session_id, NULL FROM stripe_refunds r
                  JOIN stripe_charges c ON c.id = r.charge JOIN invoices i ON i.invoice_id = c.invoice_id WHERE r.id = :x
        UNION ALL SELECT 'stripe dispute', i.session_id, NULL FROM stripe_disputes d
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
        UNION ALL SELECT 'stripe payout', NULL, 'stripe:' || id FROM stripe_payouts WHERE id = :x
        UNION ALL (SELECT 'Adyen batch', NULL, 'adyen:' || batch_number FROM adyen_settlement_lines
                   WHERE batch_number = CAST(:batch AS int) AND type = 'MerchantPayout' LIMIT 1)
        UNION ALL SELECT 'bank line', NULL, b.payout_refs[1] FROM bank_lines b
                  WHERE b.file_sha256 = CAST(:sha AS text) AND b.line_number = CAST(:line AS int)
        UNION ALL SELECT 'GL journal', NULL, min(reference) FROM gl_lines WHERE journal_id = :x
                  HAVING count(*) > 0
        UNION ALL (SELECT 'GL reference', NULL, reference FROM gl_lines WHERE reference = :x LIMIT 1)
        """, x=ident, batch=batch, sha=bank_sha, line=bank_line)
    if not rows and bank_sha is None:  # a bare bank reference (bank_lines has no index on it: a small table)
        rows = _dicts(db, """SELECT 'bank line' AS found_as, NULL AS sid, payout_refs[1] AS payout,
                                    'bank:' || file_sha256 || ':' || line_number AS bank_key
                             FROM bank_lines WHERE bank_reference = :x OR customer_reference = :x
                             ORDER BY bank_date LIMIT 1""", x=ident)
    if not rows:
        return None
    for r in rows:
        if r["sid"]:
            return r["found_as"], "session", r["sid"]
    r = rows[0]
    payout = r["payout"]
    if r["found_as"] == "bank line" and not payout:
        key = r.get("bank_key") or ident
        # a credit matched on amount and date: the S3 payout item naming it (S3 slice of the primary key)
        hit = _dicts(db, """SELECT item_key FROM recon_items WHERE stage = 'S3' AND item_key LIKE 'payout:%'
                            AND position(:k IN coalesce(right_ref, '')) > 0 LIMIT 1""", k=key)
        if hit:
            return r["found_as"], "payout", hit[0]["item_key"].split(":", 1)[1]
        return r["found_as"], "bank", key
    if not payout:
        return None
    if payout.startswith("stripe:") or payout.startswith("adyen:"):
        return r["found_as"], "payout", payout
    if payout.startswith("po_"):
        return r["found_as"], "payout", f"stripe:{payout}"
    if payout.startswith("ADYEN-") and payout[6:].isdigit():
        return r["found_as"], "payout", f"adyen:{payout[6:]}"
    if payout.startswith("REV-"):
        return r["found_as"], "revenue", payout
    if r["found_as"] in ("GL journal", "GL reference"):  # a refund id, perhaps
        again = _resolve(db, payout) if payout != ident else None
        if again and again[1] == "session":
            return r["found_as"], "session", again[2]
        return r["found_as"], "journal", payout
    return None


def _items(db: Db, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = _dicts(db, """SELECT stage, item_key, item_type, status, break_type, missing_side, currency, amount_minor,
                                counter_amount_minor, break_amount_minor, left_ref, right_ref, match_rule, due_at, detail
                         FROM recon_items
                         WHERE (stage, item_key) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:k AS text[])))""",
                  s=[k[0] for k in keys], k=[k[1] for k in keys])
    return {(r["stage"], r["item_key"]): r for r in rows}


def _link(items: dict, stage: str, key: str) -> dict[str, Any]:
    it = items.get((stage, key))
    if not it:
        return {}
    out = {"link": it["status"], "stage": stage, "item_key": key}
    if it["status"] == "break":
        amount = it["break_amount_minor"] if it["break_amount_minor"] is not None else it["amount_minor"]
        out.update(break_type=it["break_type"], break_amount_minor=None if amount is None else abs(int(amount)),
                   missing_side=it["missing_side"])
    return out


def _missing_side(link: dict, side: str) -> bool:
    return link.get("link") == "break" and (link.get("break_type") == "missing" and link.get("missing_side") in (side, None))


def _i(v: Any) -> int | None:
    return None if v is None else int(v)


# ---------------------------------------------------------------- payout-level pieces
def _payout_hops(db: Db, gw: str, ref: str, items: dict, parent: str | None = None,
                 with_entries: bool = False) -> list[Hop]:
    """payout → (entries) → bank credit(s) → journal(s) for one payout, links from S2/S3/S4."""
    pkey = f"payout:{gw}:{ref}"
    bref = bank_reference(gw, ref)
    hops: list[Hop] = []
    if gw == "stripe":
        p = _dicts(db, """SELECT id, created, status, amount, currency, arrival_date, balance_transaction
                          FROM stripe_payouts WHERE id = :r""", r=ref)
        rec = p[0] if p else None
        hops.append(Hop("payout", ref, (rec["arrival_date"] or rec["created"]) if rec else None,
                        _i(rec["amount"]) if rec else None, rec["currency"] if rec else None,
                        rec["status"] if rec else None, parent=parent, present=bool(rec),
                        record=rec or {}, note="Stripe payout (arrival date)", **_link(items, "S2", pkey)))
        if with_entries:
            e = _dicts(db, """SELECT count(*) AS n, sum(amount) AS gross, sum(fee) AS fee, sum(net) AS net,
                                     min(currency) AS currency
                              FROM stripe_balance_transactions WHERE payout = :r AND type <> 'payout'""", r=ref)[0]
    else:
        b = int(ref) if ref.isdigit() else -1
        p = _dicts(db, """SELECT batch_number, line_number, created_at, type, psp_reference, merchant_account,
                                 net_currency, net_debit_minor, net_credit_minor
                          FROM adyen_settlement_lines WHERE batch_number = :b AND type = 'MerchantPayout'""", b=b)
        rec = p[0] if p else None
        amount = (rec["net_debit_minor"] or rec["net_credit_minor"]) if rec else None
        hops.append(Hop("payout", bref, rec["created_at"] if rec else None, _i(amount),
                        rec["net_currency"] if rec else None, "paid" if rec else None, parent=parent,
                        present=bool(rec), record=rec or {},
                        note="Adyen MerchantPayout line of the batch", **_link(items, "S2", pkey)))
        if with_entries:
            e = _dicts(db, """SELECT count(*) AS n, sum(coalesce(gross_credit_minor, 0) - coalesce(gross_debit_minor, 0))
                                     AS gross,
                                     sum(coalesce(commission_minor, 0) + coalesce(markup_minor, 0)
                                         + coalesce(scheme_fees_minor, 0) + coalesce(interchange_minor, 0)) AS fee,
                                     sum(coalesce(net_credit_minor, 0) - coalesce(net_debit_minor, 0)) AS net,
                                     min(net_currency) AS currency
                              FROM adyen_settlement_lines WHERE batch_number = :b AND type <> 'MerchantPayout'""", b=b)[0]
    if with_entries:
        hops.insert(0, Hop("entries", f"{e['n']} entries", None, _i(e["net"]), e["currency"], None, parent=parent,
                           note=f"gross {_i(e['gross'])}, fees {_i(e['fee'])}, net {_i(e['net'])} (minor units)",
                           record={k: _i(v) if k != "currency" else v for k, v in e.items()}))
    pay = hops[-1]
    s3 = _link(items, "S3", pkey)
    s3item = items.get(("S3", pkey)) or {}
    bank_keys = refs(s3item.get("right_ref"))
    bank = _bank(db, bank_keys) if bank_keys else []
    if bank:
        for bl in bank:
            hops.append(Hop("bank", f"bank:{bl['file_sha256']}:{bl['line_number']}", bl["bank_date"],
                            _i(bl["amount_minor"]), bl["currency"], bl["direction"], parent=pay.id,
                            record=bl, note=bl.get("text"), **s3))
    else:
        hops.append(Hop("bank", None, None, None, pay.currency, "missing" if s3 else "not found", parent=pay.id,
                        present=False, note="no bank credit for this payout", **s3))
    s4 = _link(items, "S4", pkey)
    hops.extend(_journals(db, [bref], "journal", s4, parent=pay.id, currency=pay.currency, main=True))
    return hops


def _bank(db: Db, keys: list[str]) -> list[dict[str, Any]]:
    shas, lines = [], []
    for k in keys:
        parts = k.split(":")
        if len(parts) == 3 and parts[0] == "bank" and parts[2].isdigit():
            shas.append(parts[1])
            lines.append(int(parts[2]))
    if not shas:
        return []
    return _dicts(db, """SELECT file_sha256, line_number, bank_date, value_date, account, type_code, direction,
                                amount_minor, currency, bank_reference, customer_reference, text, payout_refs
                         FROM bank_lines WHERE (file_sha256, line_number) IN
                              (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:l AS int[])))
                         ORDER BY bank_date, line_number""", s=shas, l=lines)


def _gl_lines(db: Db, references: list[str]) -> list[dict[str, Any]]:
    if not references:
        return []
    return _dicts(db, """SELECT journal_id, line, posted_date, account, account_name, debit_minor, credit_minor,
                                currency, memo, reference
                         FROM gl_lines WHERE reference = ANY(CAST(:r AS text[])) ORDER BY journal_id, line""",
                  r=sorted(set(references)))


def _journal_hops(lines: list[dict[str, Any]], kind: str, link: dict, parent: str | None, branch: str) -> list[Hop]:
    by_journal: dict[str, list[dict]] = {}
    for ln in lines:
        by_journal.setdefault(ln["journal_id"], []).append(ln)
    hops = []
    for jid, jl in by_journal.items():
        debit = sum(int(x["debit_minor"] or 0) for x in jl)
        accounts = ", ".join(f"{x['account_name'] or x['account']} {'Dr' if x['debit_minor'] else 'Cr'} "
                             f"{int(x['debit_minor'] or x['credit_minor'] or 0)}" for x in jl)
        hops.append(Hop(kind, jid, jl[0]["posted_date"], debit, jl[0]["currency"], "posted", branch=branch,
                        parent=parent, note=f"{jl[0]['reference']}: {accounts}",
                        record={"reference": jl[0]["reference"], "lines": jl}, **link))
    return hops


def _journals(db: Db, references: list[str], kind: str, link: dict, parent: str | None, currency: str | None,
              main: bool = False, branch: str = "main", lines: list[dict] | None = None) -> list[Hop]:
    lines = _gl_lines(db, references) if lines is None else lines
    hops = _journal_hops(lines, kind, link, parent, branch)
    if not hops:
        hops = [Hop(kind, references[0] if references else None, None, None, currency,
                    "missing" if link else "not found", branch=branch, parent=parent, present=False,
                    note="no journal with this reference", **link)]
    return hops


# ---------------------------------------------------------------- session chain
def _session_trace(db: Db, sid: str) -> list[Hop]:
    s = _dicts(db, """SELECT p.session_id, p.site_id, p.entered_at, p.exited_at, p.customer_id IS NOT NULL AS has_customer,
                             t.name AS site_name, t.timezone, t.currency
                      FROM parking_sessions p LEFT JOIN sites t ON t.site_id = p.site_id WHERE p.session_id = :s""", s=sid)
    if not s:
        return []
    sess = s[0]
    hops = [Hop("session", sid, sess["exited_at"] or sess["entered_at"], None, sess["currency"],
                "exited" if sess["exited_at"] else "parked", record=sess,
                note=f"site {sess['site_id']}, entered {sess['entered_at']:%Y-%m-%d %H:%M} UTC")]
    finding = _dicts(db, """SELECT * FROM billing_findings WHERE session_id = :s""", s=sid)
    invoices = _dicts(db, """SELECT i.invoice_id, i.session_id, i.status, i.currency, i.subtotal_minor, i.tax_minor,
                                    i.total_minor, i.issued_at, (i.issued_at AT TIME ZONE t.timezone)::date AS local_date
                             FROM invoices i JOIN parking_sessions p ON p.session_id = i.session_id
                             LEFT JOIN sites t ON t.site_id = p.site_id
                             WHERE i.session_id = :s ORDER BY i.issued_at, i.invoice_id""", s=sid)
    inv_ids = [i["invoice_id"] for i in invoices]
    attempts = _dicts(db, """SELECT attempt_id, invoice_id, attempt_number, gateway, gateway_reference, status,
                                    failure_code, payment_method_type, amount_minor, currency, attempted_at
                             FROM payment_attempts WHERE invoice_id = ANY(CAST(:i AS text[]))
                             ORDER BY attempted_at, attempt_id""", i=inv_ids)
    refunds = _dicts(db, """SELECT refund_id, invoice_id, attempt_id, gateway, gateway_reference, status, reason,
                                   amount_minor, currency, created_at
                            FROM refunds WHERE invoice_id = ANY(CAST(:i AS text[])) ORDER BY created_at, refund_id""",
                     i=inv_ids)
    s_refs = _arr(a["gateway_reference"] for a in attempts if a["gateway"] == "stripe")
    y_refs = _arr(a["gateway_reference"] for a in attempts if a["gateway"] == "adyen")
    att_ids = [a["attempt_id"] for a in attempts]
    charges = _dicts(db, """SELECT id, created, status, amount, amount_refunded, currency, failure_code, outcome_type,
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
    adyen = _dicts(db, """SELECT batch_number, line_number, created_at, type, psp_reference, merchant_reference,
                                 modification_reference, payment_method, gross_currency, gross_debit_minor,
                                 gross_credit_minor, net_currency, net_debit_minor, net_credit_minor, commission_minor,
                                 markup_minor, scheme_fees_minor, interchange_minor
                          FROM adyen_settlement_lines
                          WHERE psp_reference = ANY(CAST(:p AS text[])) OR merchant_reference = ANY(CAST(:m AS text[]))
                          ORDER BY created_at, batch_number, line_number""",
                  p=y_refs, m=att_ids + [r["refund_id"] for r in refunds])
    s_refunds = _dicts(db, """SELECT id, created, charge, status, amount, currency, reason, balance_transaction
                              FROM stripe_refunds WHERE charge = ANY(CAST(:c AS text[])) ORDER BY created, id""", c=ch_ids)
    disputes = _dicts(db, """SELECT id, created, charge, status, amount, currency, reason
                             FROM stripe_disputes WHERE charge = ANY(CAST(:c AS text[])) ORDER BY created, id""", c=ch_ids)
    sources = ch_ids + [r["id"] for r in s_refunds] + [d["id"] for d in disputes]
    txns = _dicts(db, """SELECT id, created, type, reporting_category, source, amount, fee, net, currency, status,
                                available_on, payout
                         FROM stripe_balance_transactions WHERE source = ANY(CAST(:s AS text[])) ORDER BY created, id""",
                  s=sources)
    txn_by_source: dict[str, list[dict]] = {}
    for t in txns:
        txn_by_source.setdefault(t["source"], []).append(t)
    batches = _arr(ln["batch_number"] for ln in adyen)
    payouts = [("stripe", p) for p in _arr(t["payout"] for t in txns)] + [("adyen", str(b)) for b in batches]
    rev_refs = _arr(f"REV-{sess['site_id']}-{i['local_date']}" for i in invoices if i["status"] != "void")
    rev_keys = _arr(f"rev:{sess['site_id']}:{i['local_date']}:{i['currency']}" for i in invoices if i["status"] != "void")
    keys = ([("S1", f"attempt:{a}") for a in att_ids] + [("S1", f"refund:{r['refund_id']}") for r in refunds]
            + [("S1", f"stripe:{c}") for c in ch_ids] + [("S1", f"adyen:{p}") for p in y_refs]
            + [("S2", f"txn:{t['id']}") for t in txns]
            + [(st, f"payout:{g}:{r}") for g, r in payouts for st in ("S2", "S3", "S4")]
            + [("S4", k) for k in rev_keys] + [("S4", f"refund:{r['refund_id']}") for r in refunds])
    items = _items(db, keys)
    gl = _gl_lines(db, rev_refs + [r["refund_id"] for r in refunds])

    if finding:
        f = finding[0]
        diff = f["difference_minor"]
        fl: dict[str, Any] = {"link": "matched" if f["class"] == "correct" else "break", "stage": "billing"}
        if f["class"] != "correct":
            fl.update(break_type=f["class"], break_amount_minor=None if diff is None else abs(int(diff)))
        hops.append(Hop("finding", sid, f["exited_at"], _i(f["expected_total_minor"]), f["currency"], f["class"],
                        branch="finding", parent=sid, record=f,
                        note=f"expected {_i(f['expected_total_minor'])}, billed {_i(f['billed_total_minor'])}", **fl))
    for inv in invoices:
        hops.append(Hop("invoice", inv["invoice_id"], inv["issued_at"], _i(inv["total_minor"]), inv["currency"],
                        inv["status"], parent=sid, record=inv,
                        note=f"subtotal {inv['subtotal_minor']} + tax {inv['tax_minor']}"))
    charge_by_id = {c["id"]: c for c in charges}
    settled: dict[str, list[dict[str, Any]]] = {}
    for ln in adyen:
        if ln["type"] == "Settled":
            settled.setdefault(ln["psp_reference"], []).append(ln)
    payout_seen: set[tuple[str, str]] = set()
    for a in attempts:
        hops.append(Hop("attempt", a["attempt_id"], a["attempted_at"], _i(a["amount_minor"]), a["currency"], a["status"],
                        parent=a["invoice_id"], record=a,
                        note=f"{a['gateway']} #{a['attempt_number']} {a['payment_method_type']}"
                             + (f", {a['failure_code']}" if a["failure_code"] else "")))
        s1 = _link(items, "S1", f"attempt:{a['attempt_id']}")
        gref = a["gateway_reference"]
        gw_hops: list[Hop] = []
        if a["gateway"] == "stripe":
            c = charge_by_id.get(gref) or next((c for c in charges if c["attempt_id"] == a["attempt_id"]), None)
            if c:
                gw_hops.append(Hop("stripe_charge", c["id"], c["created"], _i(c["amount"]), c["currency"], c["status"],
                                   parent=a["attempt_id"], record=c, **s1))
                for t in txn_by_source.get(c["id"], []):
                    gw_hops.append(Hop("balance", t["id"], t["created"], _i(t["amount"]), t["currency"], t["status"],
                                       parent=c["id"], record=t, note=f"fee {t['fee']}, net {t['net']}",
                                       **_link(items, "S2", f"txn:{t['id']}")))
                    if t["payout"]:
                        payout_seen.add(("stripe", t["payout"]))
                        gw_hops.extend(_payout_hops(db, "stripe", t["payout"], items, parent=t["id"]))
        else:
            for ln in settled.get(gref, []):
                fee = sum(int(ln[k] or 0) for k in ("commission_minor", "markup_minor", "scheme_fees_minor",
                                                       "interchange_minor"))
                lid = f"{ln['psp_reference']} (batch {ln['batch_number']})"
                gw_hops.append(Hop("adyen_settled", ln["psp_reference"], ln["created_at"], _i(ln["gross_credit_minor"]),
                                   ln["gross_currency"], "settled", parent=a["attempt_id"], record=ln, **s1))
                gw_hops.append(Hop("balance", lid, ln["created_at"], _i(ln["gross_credit_minor"]), ln["net_currency"],
                                   "settled", parent=ln["psp_reference"], record=ln,
                                   note=f"fee {fee}, net {_i(ln['net_credit_minor'])}"))
                payout_seen.add(("adyen", str(ln["batch_number"])))
                gw_hops.extend(_payout_hops(db, "adyen", str(ln["batch_number"]), items, parent=lid))
        if not gw_hops and (s1 or a["status"] == "succeeded"):
            gw_hops.append(Hop("stripe_charge" if a["gateway"] == "stripe" else "adyen_settled", gref, None, None,
                               a["currency"], "not found", parent=a["attempt_id"], present=False,
                               note="no gateway object for this attempt", **s1))
        hops.extend(gw_hops)
    # gateway objects naming the invoice that billing has no attempt for (double charges) are S1 gateway items
    for c in charges:
        if c["id"] not in s_refs and c["attempt_id"] not in att_ids:
            hops.append(Hop("stripe_charge", c["id"], c["created"], _i(c["amount"]), c["currency"], c["status"],
                            parent=c["invoice_id"], record=c, note="charge with no billing attempt",
                            **_link(items, "S1", f"stripe:{c['id']}")))
    # revenue-day journal(s) of the invoices' site and local day
    for inv in invoices:
        if inv["status"] == "void":
            continue
        rkey = f"rev:{sess['site_id']}:{inv['local_date']}:{inv['currency']}"
        rref = f"REV-{sess['site_id']}-{inv['local_date']}"
        if any(h.kind == "revenue_journal" and h.record.get("reference", h.id) == rref for h in hops):
            continue
        hops.extend(_journals(db, [rref], "revenue_journal", _link(items, "S4", rkey), parent=inv["invoice_id"],
                              currency=inv["currency"], branch="revenue",
                              lines=[g for g in gl if g["reference"] == rref]))
    # refunds: billing → gateway refund (+ balance entry) → refund journal
    s_ref_by_id = {r["id"]: r for r in s_refunds}
    for r in refunds:
        hops.append(Hop("refund", r["refund_id"], r["created_at"], _i(r["amount_minor"]), r["currency"], r["status"],
                        branch="refund", parent=r["invoice_id"], record=r, note=r["reason"]))
        s1 = _link(items, "S1", f"refund:{r['refund_id']}")
        gw = []
        if r["gateway"] == "stripe" and r["gateway_reference"] in s_ref_by_id:
            g = s_ref_by_id[r["gateway_reference"]]
            gw.append(Hop("gateway_refund", g["id"], g["created"], _i(g["amount"]), g["currency"], g["status"],
                          branch="refund", parent=r["refund_id"], record=g, **s1))
            for t in txn_by_source.get(g["id"], []):
                gw.append(Hop("balance", t["id"], t["created"], _i(t["amount"]), t["currency"], t["status"],
                              branch="refund", parent=g["id"], record=t, note=f"payout {t['payout'] or '—'}",
                              **_link(items, "S2", f"txn:{t['id']}")))
        elif r["gateway"] == "adyen":
            for ln in adyen:
                if ln["type"] == "Refunded" and ln["merchant_reference"] == r["refund_id"]:
                    gw.append(Hop("gateway_refund", ln["modification_reference"] or ln["psp_reference"],
                                  ln["created_at"], _i(ln["gross_debit_minor"]), ln["gross_currency"], "refunded",
                                  branch="refund", parent=r["refund_id"], record=ln,
                                  note=f"Adyen batch {ln['batch_number']}", **s1))
        if not gw and (s1 or r["status"] == "succeeded"):
            gw.append(Hop("gateway_refund", r["gateway_reference"], None, None, r["currency"], "not found",
                          branch="refund", parent=r["refund_id"], present=False, **s1))
        hops.extend(gw)
        if r["status"] == "succeeded" or ("S4", f"refund:{r['refund_id']}") in items:
            hops.extend(_journals(db, [r["refund_id"]], "refund_journal", _link(items, "S4", f"refund:{r['refund_id']}"),
                                  parent=r["refund_id"], currency=r["currency"], branch="refund",
                                  lines=[g for g in gl if g["reference"] == r["refund_id"]]))
    # disputes and chargebacks
    for d in disputes:
        hops.append(Hop("dispute", d["id"], d["created"], _i(d["amount"]), d["currency"], d["status"], branch="dispute",
                        parent=d["charge"], record=d, note=d["reason"]))
        for t in txn_by_source.get(d["id"], []):
            hops.append(Hop("balance", t["id"], t["created"], _i(t["amount"]), t["currency"], t["status"],
                            branch="dispute", parent=d["id"], record=t, note=f"payout {t['payout'] or '—'}",
                            **_link(items, "S2", f"txn:{t['id']}")))
    for ln in adyen:
        if ln["type"] in ("Chargeback", "ChargebackReversed"):
            hops.append(Hop("dispute", ln["psp_reference"], ln["created_at"],
                            _i(ln["gross_debit_minor"] or ln["gross_credit_minor"]), ln["gross_currency"],
                            ln["type"], branch="dispute", parent=ln["psp_reference"], record=ln,
                            note=f"Adyen batch {ln['batch_number']}"))
    return hops


def _payout_sample(db: Db, gw: str, ref: str, n: int = SAMPLE) -> pd.DataFrame:
    if gw == "stripe":
        rows = _dicts(db, """SELECT t.source AS charge, a.attempt_id, a.invoice_id, i.session_id, t.amount AS amount_minor,
                                    t.fee AS fee_minor, t.net AS net_minor, t.currency
                             FROM (SELECT * FROM stripe_balance_transactions WHERE payout = :r AND type <> 'payout'
                                   ORDER BY created, id LIMIT :n) t
                             LEFT JOIN payment_attempts a ON a.gateway_reference = t.source
                             LEFT JOIN invoices i ON i.invoice_id = a.invoice_id ORDER BY t.created, t.id""", r=ref, n=n)
    else:
        rows = _dicts(db, """SELECT l.psp_reference AS charge, a.attempt_id, a.invoice_id, i.session_id,
                                    coalesce(l.gross_credit_minor, -l.gross_debit_minor) AS amount_minor,
                                    coalesce(l.commission_minor, 0) + coalesce(l.markup_minor, 0)
                                      + coalesce(l.scheme_fees_minor, 0) + coalesce(l.interchange_minor, 0) AS fee_minor,
                                    coalesce(l.net_credit_minor, -l.net_debit_minor) AS net_minor, l.net_currency AS currency
                             FROM (SELECT * FROM adyen_settlement_lines WHERE batch_number = :b AND type <> 'MerchantPayout'
                                   ORDER BY line_number LIMIT :n) l
                             LEFT JOIN payment_attempts a ON a.gateway_reference = l.psp_reference AND a.gateway = 'adyen'
                             LEFT JOIN invoices i ON i.invoice_id = a.invoice_id ORDER BY l.line_number""",
                      b=int(ref) if ref.isdigit() else -1, n=n)
    df = pd.DataFrame(rows, columns=["charge", "attempt_id", "invoice_id", "session_id", "amount_minor", "fee_minor",
                                     "net_minor", "currency"])
    for c in ("amount_minor", "fee_minor", "net_minor"):
        df[c] = pd.array([_i(v) for v in df[c]], dtype="Int64")
    return df


def trace(db: Db, identifier: str) -> Trace | None:
    """The chain behind `identifier` (see the module docstring); None when nothing has that id."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return trace(conn, identifier)
    ident = (identifier or "").strip()
    if not ident:
        return None
    found = _resolve(db, ident)
    if found is None:
        return None
    found_as, scope, key = found
    if scope == "session":
        hops = _session_trace(db, key)
        return Trace(ident, found_as, "session", tuple(hops)) if hops else None
    if scope == "payout":
        gw, ref = key.split(":", 1)
        pkey = f"payout:{gw}:{ref}"
        items = _items(db, [(s, pkey) for s in ("S2", "S3", "S4")])
        hops = _payout_hops(db, gw, ref, items, with_entries=True)
        return Trace(ident, found_as, "payout", tuple(hops), _payout_sample(db, gw, ref))
    if scope == "revenue":  # REV-<site>-<YYYY-MM-DD>
        body = key[4:]
        site, day = body[:-11], body[-10:]
        lines = _gl_lines(db, [key])
        cur = lines[0]["currency"] if lines else None
        items = _items(db, [("S4", f"rev:{site}:{day}:{cur}")]) if cur else {}
        hops = _journals(db, [key], "revenue_journal", _link(items, "S4", f"rev:{site}:{day}:{cur}"), None, cur,
                         branch="revenue", lines=lines)
        return Trace(ident, found_as, "revenue", tuple(hops))
    # a bank line or a journal nothing else explains: itself, with its S3 / S4 item
    if scope == "bank":
        bank = _bank(db, [key])
        items = _items(db, [("S3", key)])
        hops = [Hop("bank", key, b["bank_date"], _i(b["amount_minor"]), b["currency"], b["direction"], record=b,
                    note=b.get("text"), **_link(items, "S3", key)) for b in bank]
        return Trace(ident, found_as, "bank", tuple(hops))
    items = _items(db, [("S4", f"gl:{key}")])
    hops = _journals(db, [key], "journal", _link(items, "S4", f"gl:{key}"), None, None)
    return Trace(ident, found_as, "journal", tuple(hops))
