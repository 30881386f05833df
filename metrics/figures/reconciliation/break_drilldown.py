"""One break in full: its workflow row, its item, its event history, and the records on both sides,
looked up by the item's references per item type (the keys parsed by revwatch/recon_keys.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import Db, read_rows, snapshot
from metrics.figures.reconciliation import source_rows as src
from metrics.figures.reconciliation.scope import AT_STAKE, SIDES
from metrics.figures.reconciliation.source_rows import Source
from revwatch.recon_keys import (
    NO_REFERENCE,
    parse_payout_key,
    parse_payout_reference,
    parse_revenue_key,
    revenue_reference,
    split_key,
    split_refs,
)

Sides = tuple[tuple[Source, ...], tuple[Source, ...]]


@dataclass(frozen=True)
class BreakDetail:
    """One break: its workflow row, its item (None when the job no longer lists it), its
    event history (oldest first), the records on each side from the source copies, and its pending
    four-eyes request (recon_break_requests) if one awaits a controller."""

    brk: dict[str, Any]
    item: dict[str, Any] | None
    events: pd.DataFrame
    left_side: str
    right_side: str
    left: tuple[Source, ...] = ()
    right: tuple[Source, ...] = ()
    request: dict[str, Any] | None = None  # the four-eyes request awaiting a controller, if any


def _one_row(d: dict[str, Any] | None, title: str) -> Source:
    return Source(title, pd.DataFrame([d]) if d else pd.DataFrame())


def _s1_sides(db: Db, item: dict[str, Any]) -> Sides:
    left: tuple[Source, ...]
    kind, gateway, at = item["item_type"], item.get("gateway"), item.get("occurred_at")
    prefix, rest = split_key(item["item_key"])
    left_refs, right_refs = split_refs(item.get("left_ref")), split_refs(item.get("right_ref"))
    if kind == "payment":
        ids = left_refs or ([rest] if prefix == "attempt" else [])
        attempts = src.attempts(db, ids)
        left = (Source("Billing payment attempt", attempts),
                Source("Billing invoice", src.invoices(db, list(attempts["invoice_id"]))))
        if gateway == "adyen":
            return left, (Source("Adyen report lines", src.adyen_lines(db, psp=right_refs, merchant=ids)),)
        return left, (Source("Stripe charge", src.charges(db, right_refs, ids)),)
    if kind == "gateway_payment":
        named = (item.get("detail") or {}).get("gateway_attempt_id")  # the attempt the gateway's metadata names
        left = (Source("Billing attempts with this reference, or named by the gateway",
                       src.attempts(db, left_refs + ([named] if named else []), [rest])),)
        return left, ((Source("Adyen report lines", src.adyen_lines(db, psp=[rest])),) if prefix == "adyen"
                      else (Source("Stripe charge", src.charges(db, [rest])),))
    if kind == "refund":
        ids = left_refs or [rest]
        billing = src.billing_refunds(db, ids)
        if gateway == "adyen":
            lines = src.adyen_lines(db, merchant=ids, modification=right_refs, around=at)
            return (Source("Billing refund", billing),), (Source("Adyen report lines", lines),)
        gw = right_refs or [r for r in billing["gateway_reference"] if isinstance(r, str) and r]
        return (Source("Billing refund", billing),), (Source("Stripe refund", src.stripe_refunds(db, gw)),)
    if kind == "gateway_refund":
        if prefix == "adyen":  # keyed by the line's merchant reference (the refund id billing does not have)
            lines = src.adyen_lines(db, merchant=[rest], modification=[rest], around=at, types=["Refunded"])
            payment_refs = [p for p in lines["psp_reference"] if isinstance(p, str)]
            right = (Source("Adyen refund line", lines),)
        else:
            gw = src.stripe_refunds(db, [rest])
            payment_refs = [c for c in gw["charge"] if isinstance(c, str)]
            right = (Source("Stripe refund", gw),)
        invoices = list(src.attempts(db, gateway_refs=payment_refs)["invoice_id"]) if payment_refs else []
        return (Source("Billing refunds of the refunded payment's invoice",
                       src.billing_refunds(db, left_refs, invoices)),), right
    return (), ()


def _payout_sides(db: Db, item: dict[str, Any], gateway: str, ref: str) -> Sides:
    stage, at = item["stage"], item.get("occurred_at")
    payout = src.payout_side(db, gateway, ref)
    right_refs = split_refs(item.get("right_ref"))
    if stage == "S2":
        entries = (Source("Balance transactions in the payout", src.balance_txns(db, payouts=[ref]))
                   if gateway == "stripe" else
                   Source("Adyen batch lines", src.adyen_lines(db, batches=[int(ref)] if ref.isdigit() else [])))
        return (entries,), (payout,)
    if stage == "S3":
        around = (src.as_date((item.get("detail") or {}).get("arrival_date"))
                  or (at.date() if isinstance(at, datetime) else None))
        return (payout,), (Source("Bank lines", src.payout_bank_lines(db, gateway, ref, right_refs, around)),)
    return (payout,), (Source("GL journal lines", src.payout_journal(db, gateway, ref, right_refs)),)


def _s4_sides(db: Db, item: dict[str, Any]) -> Sides:
    left: tuple[Source, ...]
    kind, key = item["item_type"], item["item_key"]
    _, rest = split_key(key)
    left_refs, right_refs = split_refs(item.get("left_ref")), split_refs(item.get("right_ref"))
    if kind == "revenue_day" and (day := parse_revenue_key(key)):
        detail = item.get("detail") or {}
        left = (_one_row({"site_id": day.site_id, "local_date": detail.get("local_date", day.local_date),
                          "currency": day.currency, "subtotal_minor": detail.get("subtotal_minor"),
                          "tax_minor": detail.get("tax_minor"), "gl_revenue_minor": detail.get("gl_revenue_minor"),
                          "gl_tax_minor": detail.get("gl_tax_minor")},
                         "Revenue of the local day, product side and as booked (from the reconciliation)"),
                Source("Invoices issued that local day (up to 1,000; void ones do not count)",
                       src.day_invoices(db, day.site_id, day.local_date, day.currency or "")))
        return left, (Source("GL journal lines",
                             src.gl_lines(db, right_refs, [revenue_reference(day.site_id, day.local_date)])),)
    if kind == "refund_journal":
        return ((Source("Billing refund", src.billing_refunds(db, left_refs or [rest])),),
                (Source("GL journal lines", src.gl_lines(db, right_refs, [rest])),))
    if kind == "ledger_entry":
        if rest.startswith(NO_REFERENCE):  # a posting without a reference, keyed by its journal
            return (), (Source("GL journal lines", src.gl_lines(db, [rest[len(NO_REFERENCE):]])),)
        payout = parse_payout_reference(rest)
        if payout is not None:
            left = (src.payout_side(db, payout.gateway, payout.ref),)
        elif rest.startswith("REV-"):
            left = ()
        else:
            left = (Source("Billing refund", src.billing_refunds(db, [rest])),)
        return left, (Source("GL journal lines", src.gl_lines(db, right_refs, [rest])),)
    return (), ()


def sides(db: Db, item: dict[str, Any]) -> Sides:
    """The records on each side of one item, looked up by its references (per item type)."""
    stage, kind, key = item["stage"], item["item_type"], item["item_key"]
    if stage == "S1":
        return _s1_sides(db, item)
    if stage == "S2" and kind == "balance_entry":
        _, rest = split_key(key)
        txn = src.balance_txns(db, [rest])
        payouts = split_refs(item.get("right_ref")) or [p for p in txn["payout"] if isinstance(p, str)]
        sources = [s for s in txn["source"] if isinstance(s, str)]
        return ((Source("Stripe balance transaction", txn),
                 Source("Its source: Stripe charge", src.charges(db, sources)),
                 Source("Its source: Stripe refund", src.stripe_refunds(db, sources))),
                (Source("Stripe payout", src.stripe_payouts(db, payouts)),))
    if stage in ("S2", "S3", "S4") and (payout := parse_payout_key(key)):
        return _payout_sides(db, item, payout.gateway, payout.ref)
    if stage == "S3" and kind == "bank_credit":
        bank = src.bank_lines(db, [key])
        named = [parse_payout_reference(r) for rs in bank["payout_refs"] for r in (rs or [])] if not bank.empty else []
        stripe_ids = [p.ref for p in named if p and p.gateway == "stripe"]
        batches = [int(p.ref) for p in named if p and p.gateway == "adyen"]
        left = (Source("Stripe payouts the bank text names",
                       src.stripe_payouts(db, stripe_ids + split_refs(item.get("left_ref")))),
                Source("Adyen payout lines the bank text names",
                       src.adyen_lines(db, batches=batches, types=["MerchantPayout"])))
        return left, (Source("Bank line", bank),)
    if stage == "S4":
        return _s4_sides(db, item)
    return (), ()


def events(db: Db, break_id: int) -> pd.DataFrame:
    """The break's history, oldest first: event_id, at, actor, action, note, detail (JSON text)."""
    df = src.rows(db, """SELECT event_id, at, actor, action, note, detail FROM recon_break_events
                         WHERE break_id = :id ORDER BY at, event_id""", id=int(break_id))
    df["detail"] = [json.dumps(d, sort_keys=True, default=str) if d is not None else None for d in df["detail"]]
    return df


def break_detail(db: Db, break_id: int) -> BreakDetail | None:
    """Everything the drill-down shows for one break; None when there is no such break."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return break_detail(conn, break_id)
    cols, found = read_rows(db, "SELECT * FROM recon_breaks WHERE break_id = :id", {"id": int(break_id)})
    if not found:
        return None
    brk = dict(zip(cols, found[0], strict=True))
    cols, found = read_rows(db, f"SELECT i.*, {AT_STAKE} AS at_stake_minor FROM recon_items i"
                                " WHERE i.stage = :s AND i.item_key = :k", {"s": brk["stage"], "k": brk["item_key"]})
    item = dict(zip(cols, found[0], strict=True)) if found else None
    left_side, right_side = SIDES.get(brk["stage"], ("left", "right"))
    left, right = sides(db, item) if item else ((), ())
    cols, found = read_rows(db, "SELECT * FROM recon_break_requests WHERE break_id = :id AND decision IS NULL",
                            {"id": int(break_id)})
    request = dict(zip(cols, found[0], strict=True)) if found else None
    return BreakDetail(brk, item, events(db, break_id), left_side, right_side, left, right, request)
