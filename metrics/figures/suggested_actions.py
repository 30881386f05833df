"""The action that resolves each open work item, with the figures it needs (issue 19). Revwatch does not move money:
it prepares the action and exports it, one CSV per action type, for the system that does.

Action types (ACTIONS), from the queue figure (metrics/figures/work_queue.py) and the records it points at:
- `refund_customer` (over-billed): the amount to give back, the invoice it was charged on and the attempt that
  charged it (none: the invoice is unpaid, so it is credited rather than refunded);
- `reinvoice` (under-billed): the amount to bill again, with what was expected and what was billed;
- `record_payment` (a gateway success billing records as failed): the attempt to mark paid, with the gateway's
  reference; `refund_double_charge` (a gateway charge billing has no attempt for): the charge to refund;
- `retry_refund` (a failed or stuck refund); `submit_evidence` (a dispute, by the gateway's due date);
- `post_journal` (a ledger break, stage S4): the journal lines that would bring the ledger to what the payouts,
  the revenue days and the refunds say (account, debit, credit, reference), one line per account that differs,
  balanced; `investigate_break` (every other break): its sides and amounts.
Money in integer minor units with its currency; a CSV row never carries card data.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from metrics.figures.query import Db, read_frame
from metrics.figures.work_queue import Queue

ACTIONS: dict[str, str] = {
    "refund_customer": "Refund (or credit) the customer what they were over-billed",
    "reinvoice": "Bill the customer the difference",
    "record_payment": "Record the payment the gateway took as paid in billing",
    "refund_double_charge": "Refund the charge billing has no attempt for",
    "retry_refund": "Retry the refund, or pay it another way",
    "submit_evidence": "Submit the dispute's evidence to the gateway",
    "post_journal": "Post the journal lines that correct the ledger",
    "investigate_break": "Investigate the break: its sides do not agree",
}

# each action type's money column (a journal's: its debits, which equal its credits)
MONEY = {"refund_customer": "refund_minor", "reinvoice": "reinvoice_minor", "record_payment": "amount_minor",
         "refund_double_charge": "refund_minor", "retry_refund": "amount_minor", "submit_evidence": "amount_minor",
         "post_journal": "debit_minor", "investigate_break": "amount_minor"}

_CHARGED = """
    SELECT DISTINCT ON (i.session_id) i.session_id, i.invoice_id, i.status AS invoice_status, a.attempt_id,
           a.gateway, a.gateway_reference
    FROM invoices i
    LEFT JOIN LATERAL (SELECT attempt_id, gateway, gateway_reference FROM payment_attempts p
                       WHERE p.invoice_id = i.invoice_id AND p.status = 'succeeded'
                       ORDER BY p.attempted_at DESC LIMIT 1) a ON true
    WHERE i.session_id = ANY(CAST(:sessions AS text[])) AND i.status <> 'void'
    ORDER BY i.session_id, i.issued_at DESC, i.invoice_id DESC"""

_LEDGER = """
    SELECT b.break_id, i.item_type, i.break_type, i.currency, i.amount_minor, i.left_ref, i.right_ref, i.detail
    FROM recon_breaks b JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
    WHERE b.break_id = ANY(CAST(:ids AS bigint[]))"""


def _rows(items: pd.DataFrame, work_type: str, **where: Any) -> pd.DataFrame:
    rows = items[items["work_type"] == work_type]
    for key, value in where.items():
        rows = rows[[d.get(key) == value for d in rows["detail"]]]
    return rows


def _refunds(db: Db, items: pd.DataFrame) -> pd.DataFrame:
    over = _rows(items, "over_billed")
    charged = {r["session_id"]: r for r in read_frame(db, _CHARGED, {"sessions": list(over["source_key"])})
               .to_dict("records")}
    out = []
    for r in over.itertuples():
        c: dict[str, Any] = charged.get(r.source_key, {})
        paid = isinstance(c.get("attempt_id"), str)
        out.append(dict(item_ref=r.item_ref, session_id=r.source_key, reason=r.detail.get("class"),
                        how="refund" if paid else "credit note", invoice_id=c.get("invoice_id"),
                        attempt_id=c["attempt_id"] if paid else None, gateway=c["gateway"] if paid else None,
                        gateway_reference=c["gateway_reference"] if paid else None, currency=r.currency,
                        refund_minor=int(r.customer_minor), due_at=r.due_at))
    return pd.DataFrame(out, columns=["item_ref", "session_id", "reason", "how", "invoice_id", "attempt_id", "gateway",
                                      "gateway_reference", "currency", "refund_minor", "due_at"])


def _simple(items: pd.DataFrame, work_type: str, columns: Mapping[str, Any], where: Mapping[str, Any] | None = None
            ) -> pd.DataFrame:
    """One row per item of `work_type`: each column a function of the queue row (its detail as `d`)."""
    rows = _rows(items, work_type, **(where or {}))
    return pd.DataFrame([{name: f(r, r.detail) for name, f in columns.items()} for r in rows.itertuples()],
                        columns=list(columns))


# the GL accounts each ledger item posts to, as (setting, the side its balance is on); in posting order
_POSTINGS = {
    "revenue_day": (("gl_account_clearing", "debit", "amount_minor", "gl_clearing_minor"),
                    ("gl_account_revenue", "credit", "subtotal_minor", "gl_revenue_minor"),
                    ("gl_account_tax", "credit", "tax_minor", "gl_tax_minor")),
    "payout_journal": (("gl_account_cash", "debit", "amount_minor", "cash_minor"),
                       ("gl_account_fees", "debit", "expected_fees_minor", "fees_minor"),
                       ("gl_account_clearing", "credit", "payout_and_fees_minor", "clearing_minor")),
    "refund_journal": (("gl_account_refunds", "debit", "amount_minor", "refunds_minor"),
                       ("gl_account_clearing", "credit", "amount_minor", "clearing_minor")),
}


def journal_lines(item: Mapping[str, Any], cfg: Any) -> list[dict[str, Any]]:
    """The lines that take the ledger from what it holds for `item` (its detail's gl figures; none when missing) to
    what it should: per account, the difference on the side it falls. Empty: nothing a journal can say."""
    d = dict(item.get("detail") or {})
    target = {**d, "amount_minor": item["amount_minor"],
              "payout_and_fees_minor": item["amount_minor"] + int(d.get("expected_fees_minor") or 0)}
    if item["item_type"] == "revenue_day":
        target["amount_minor"] = int(d.get("subtotal_minor") or 0) + int(d.get("tax_minor") or 0)
    lines = []
    for setting, side, should, holds in _POSTINGS.get(item["item_type"], ()):
        diff = int(target.get(should) or 0) - int(d.get(holds) or 0)
        if diff:
            debit = diff if side == "debit" else -diff
            lines.append({"account": getattr(cfg, setting), "debit_minor": max(debit, 0),
                          "credit_minor": max(-debit, 0)})
    return lines


def _journals(db: Db, items: pd.DataFrame, cfg: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    breaks = _rows(items, "break")
    found = read_frame(db, _LEDGER, {"ids": [int(b) for b in breaks["item_ref"]]})
    journal, other = [], []
    for b in found.to_dict("records"):
        lines = journal_lines(b, cfg) if b["break_type"] != "currency_mismatch" else []
        reference = b["left_ref"]
        for n, line in enumerate(lines, start=1):
            journal.append(dict(item_ref=b["break_id"], line=n, reference=reference, currency=b["currency"], **line,
                                memo=f"Revwatch break {b['break_id']}: {b['item_type']} {b['break_type']}"))
        if not lines:
            other.append(dict(item_ref=b["break_id"], item_type=b["item_type"], break_type=b["break_type"],
                              currency=b["currency"], amount_minor=b["amount_minor"], left_ref=b["left_ref"],
                              right_ref=b["right_ref"]))
    return (pd.DataFrame(journal, columns=["item_ref", "line", "reference", "account", "debit_minor", "credit_minor",
                                           "currency", "memo"]),
            pd.DataFrame(other, columns=["item_ref", "item_type", "break_type", "currency", "amount_minor", "left_ref",
                                         "right_ref"]))


def suggestions(db: Db, q: Queue, cfg: Any) -> dict[str, pd.DataFrame]:
    """Every action type (ACTIONS order), each a frame of the queue's items it applies to (empty when none)."""
    items = q.items
    journal, other = _journals(db, items, cfg)
    return {
        "refund_customer": _refunds(db, items),
        "reinvoice": _simple(items, "under_billed", {
            "item_ref": lambda r, d: r.item_ref, "session_id": lambda r, d: r.source_key,
            "reason": lambda r, d: d.get("class"), "currency": lambda r, d: r.currency,
            "reinvoice_minor": lambda r, d: int(r.company_minor), "expected_total_minor": lambda r, d: d.get(
                "expected_total_minor"), "billed_total_minor": lambda r, d: d.get("billed_total_minor")}),
        "record_payment": _simple(items, "unrecorded_charge", {
            "item_ref": lambda r, d: r.item_ref, "attempt_id": lambda r, d: d.get("attempt_id"),
            "invoice_id": lambda r, d: d.get("invoice_id"), "gateway": lambda r, d: r.gateway,
            "gateway_reference": lambda r, d: r.trace_id, "currency": lambda r, d: r.currency,
            "amount_minor": lambda r, d: int(r.amount_minor), "billing_status": lambda r, d: d.get("billing_status")},
            {"kind": "unrecorded_success"}),
        "refund_double_charge": _simple(items, "unrecorded_charge", {
            "item_ref": lambda r, d: r.item_ref, "gateway": lambda r, d: r.gateway,
            "gateway_reference": lambda r, d: r.trace_id, "invoice_id": lambda r, d: d.get("invoice_id"),
            "currency": lambda r, d: r.currency, "refund_minor": lambda r, d: int(r.amount_minor)},
            {"kind": "no_internal_attempt"}),
        "retry_refund": _simple(items, "refund_stuck", {
            "item_ref": lambda r, d: r.item_ref, "refund_id": lambda r, d: r.source_key,
            "status": lambda r, d: d.get("status"), "invoice_id": lambda r, d: d.get("invoice_id"),
            "attempt_id": lambda r, d: d.get("attempt_id"), "gateway": lambda r, d: r.gateway,
            "currency": lambda r, d: r.currency, "amount_minor": lambda r, d: int(r.amount_minor)}),
        "submit_evidence": _simple(items, "dispute_evidence", {
            "item_ref": lambda r, d: r.item_ref, "dispute_id": lambda r, d: r.source_key,
            "charge": lambda r, d: d.get("charge"), "invoice_id": lambda r, d: d.get("invoice_id"),
            "reason": lambda r, d: d.get("reason"), "currency": lambda r, d: r.currency,
            "amount_minor": lambda r, d: int(r.amount_minor), "due_at": lambda r, d: r.due_at}),
        "post_journal": journal,
        "investigate_break": other,
    }


@dataclass(frozen=True)
class ActionTotal:
    """One action type's items, all and per currency, with their money per currency (never summed across)."""

    action: str
    items: int
    per_currency: dict[str, tuple[int, int]]  # currency -> (items, minor units)


def totals(found: Mapping[str, pd.DataFrame]) -> list[ActionTotal]:
    """What `suggestions` found, per action type in ACTIONS order (a type with no item: 0, no currency)."""
    out = []
    for kind, df in found.items():
        per = {str(cur): (int(part["item_ref"].nunique()), int(part[MONEY[kind]].sum()))
               for cur, part in df.groupby("currency")} if len(df) else {}
        out.append(ActionTotal(kind, int(df["item_ref"].nunique()) if len(df) else 0, per))
    return out
