"""The payout-level pieces of a trace: payout → (its entries) → bank credit(s) → journal(s), the
journals of any reference, and a sample of a payout's charges. Links from S2 (payout), S3
(bank credit) and S4 (journal)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from metrics.figures.query import Db
from metrics.figures.trace.hops import SAMPLE, Hop, as_int, dicts, link
from revwatch.recon_keys import bank_key, parse_bank_key, payout_key, payout_reference, split_refs


def payout_hops(db: Db, gw: str, ref: str, items: dict, parent: str | None = None,
                 with_entries: bool = False) -> list[Hop]:
    """payout → (entries) → bank credit(s) → journal(s) for one payout, links from S2/S3/S4."""
    pkey = payout_key(gw, ref)
    bref = payout_reference(gw, ref)
    hops: list[Hop] = []
    if gw == "stripe":
        p = dicts(db, """SELECT id, created, status, amount, currency, arrival_date, balance_transaction
                          FROM stripe_payouts WHERE id = :r""", r=ref)
        rec = p[0] if p else None
        hops.append(Hop("payout", ref, (rec["arrival_date"] or rec["created"]) if rec else None,
                        as_int(rec["amount"]) if rec else None, rec["currency"] if rec else None,
                        rec["status"] if rec else None, parent=parent, present=bool(rec),
                        record=rec or {}, note="Stripe payout (arrival date)", **link(items, "S2", pkey)))
        if with_entries:
            e = dicts(db, """SELECT count(*) AS n, sum(amount) AS gross, sum(fee) AS fee, sum(net) AS net,
                                     min(currency) AS currency
                              FROM stripe_balance_transactions WHERE payout = :r AND type <> 'payout'""", r=ref)[0]
    else:
        b = int(ref) if ref.isdigit() else -1
        p = dicts(db, """SELECT batch_number, line_number, created_at, type, psp_reference, merchant_account,
                                 net_currency, net_debit_minor, net_credit_minor
                          FROM adyen_settlement_lines WHERE batch_number = :b AND type = 'MerchantPayout'""", b=b)
        rec = p[0] if p else None
        amount = (rec["net_debit_minor"] or rec["net_credit_minor"]) if rec else None
        hops.append(Hop("payout", bref, rec["created_at"] if rec else None, as_int(amount),
                        rec["net_currency"] if rec else None, "paid" if rec else None, parent=parent,
                        present=bool(rec), record=rec or {},
                        note="Adyen MerchantPayout line of the batch", **link(items, "S2", pkey)))
        if with_entries:
            e = dicts(db, """SELECT count(*) AS n, sum(coalesce(gross_credit_minor, 0) - coalesce(gross_debit_minor, 0))
                                     AS gross,
                                     sum(coalesce(commission_minor, 0) + coalesce(markup_minor, 0)
                                         + coalesce(scheme_fees_minor, 0) + coalesce(interchange_minor, 0)) AS fee,
                                     sum(coalesce(net_credit_minor, 0) - coalesce(net_debit_minor, 0)) AS net,
                                     min(net_currency) AS currency
                              FROM adyen_settlement_lines WHERE batch_number = :b AND type <> 'MerchantPayout'""", b=b)[0]
    if with_entries:
        hops.insert(0, Hop("entries", f"{e['n']} entries", None, as_int(e["net"]), e["currency"], None, parent=parent,
                           note=f"gross {as_int(e['gross'])}, fees {as_int(e['fee'])}, net {as_int(e['net'])} (minor units)",
                           record={k: as_int(v) if k != "currency" else v for k, v in e.items()}))
    pay = hops[-1]
    s3 = link(items, "S3", pkey)
    s3item = items.get(("S3", pkey)) or {}
    bank_keys = split_refs(s3item.get("right_ref"))
    bank = bank_lines(db, bank_keys) if bank_keys else []
    if bank:
        for bl in bank:
            hops.append(Hop("bank", bank_key(bl["file_sha256"], bl["line_number"]), bl["bank_date"],
                            as_int(bl["amount_minor"]), bl["currency"], bl["direction"], parent=pay.id,
                            record=bl, note=bl.get("text"), **s3))
    else:
        hops.append(Hop("bank", None, None, None, pay.currency, "missing" if s3 else "not found", parent=pay.id,
                        present=False, note="no bank credit for this payout", **s3))
    s4 = link(items, "S4", pkey)
    hops.extend(journals(db, [bref], "journal", s4, parent=pay.id, currency=pay.currency, main=True))
    return hops


def bank_lines(db: Db, keys: list[str]) -> list[dict[str, Any]]:
    """Bank lines by their item keys (`bank:<sha256>:<line>`)."""
    parsed = [k for k in map(parse_bank_key, keys) if k is not None]
    if not parsed:
        return []
    return dicts(db, """SELECT file_sha256, line_number, bank_date, value_date, account, type_code, direction,
                                amount_minor, currency, bank_reference, customer_reference, text, payout_refs
                         FROM bank_lines WHERE (file_sha256, line_number) IN
                              (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:l AS int[])))
                         ORDER BY bank_date, line_number""",
                 s=[k.file_sha256 for k in parsed], l=[k.line_number for k in parsed])


def gl_lines(db: Db, references: list[str]) -> list[dict[str, Any]]:
    if not references:
        return []
    return dicts(db, """SELECT journal_id, line, posted_date, account, account_name, debit_minor, credit_minor,
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


def journals(db: Db, references: list[str], kind: str, link: dict, parent: str | None, currency: str | None,
              main: bool = False, branch: str = "main", lines: list[dict] | None = None) -> list[Hop]:
    lines = gl_lines(db, references) if lines is None else lines
    hops = _journal_hops(lines, kind, link, parent, branch)
    if not hops:
        hops = [Hop(kind, references[0] if references else None, None, None, currency,
                    "missing" if link else "not found", branch=branch, parent=parent, present=False,
                    note="no journal with this reference", **link)]
    return hops



def payout_sample(db: Db, gw: str, ref: str, n: int = SAMPLE) -> pd.DataFrame:
    if gw == "stripe":
        rows = dicts(db, """SELECT t.source AS charge, a.attempt_id, a.invoice_id, i.session_id, t.amount AS amount_minor,
                                    t.fee AS fee_minor, t.net AS net_minor, t.currency
                             FROM (SELECT * FROM stripe_balance_transactions WHERE payout = :r AND type <> 'payout'
                                   ORDER BY created, id LIMIT :n) t
                             LEFT JOIN payment_attempts a ON a.gateway_reference = t.source
                             LEFT JOIN invoices i ON i.invoice_id = a.invoice_id ORDER BY t.created, t.id""", r=ref, n=n)
    else:
        rows = dicts(db, """SELECT l.psp_reference AS charge, a.attempt_id, a.invoice_id, i.session_id,
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
        df[c] = pd.array([as_int(v) for v in df[c]], dtype="Int64")
    return df

