"""Payouts followed through the stages: the payouts reconciled in some months with their status
per stage, and one payout's trail: its reconstruction from its entries (S2), its bank deposit (S3)
and its journal (S4), beside the source records of each."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import Db, snapshot
from metrics.figures.reconciliation import source_rows as src
from metrics.figures.reconciliation.scope import ReconFilters
from revwatch.recon_keys import PAYOUT_GATEWAY_OF_KEY_SQL, PAYOUT_REF_OF_KEY_SQL, parse_payout_key, split_refs

# the payouts' items in the months of a ReconFilters (its currencies and gateways; a payout has no site)
PAYOUT_ITEMS = f"""
    FROM recon_items
    WHERE accounting_month BETWEEN :m0 AND :m1 AND stage IN ('S2', 'S3', 'S4')
      AND item_type IN ('payout', 'payout_journal') AND item_key LIKE 'payout:%'
      AND (cardinality(CAST(:currencies AS text[])) = 0 OR currency = ANY(CAST(:currencies AS text[])))
      AND (cardinality(CAST(:gateways AS text[])) = 0
           OR coalesce(gateway, {PAYOUT_GATEWAY_OF_KEY_SQL}) = ANY(CAST(:gateways AS text[])))"""


def payout_count(db: Db, f: ReconFilters) -> int:
    """How many payouts `payouts(db, f, …)` lists without its limit (the "first N of M" of a cut list)."""
    return int(src.rows(db, f"SELECT count(DISTINCT item_key) AS n {PAYOUT_ITEMS}", **f.params())["n"].iloc[0])


def payouts(db: Db, f: ReconFilters, limit: int | None = 500) -> pd.DataFrame:
    """Payouts reconciled in the months (newest first, up to `limit`; None: all): payout_key, gateway,
    reference, currency, amount_minor, occurred_at, and per stage its status and break type (s2_/s3_/s4_)."""
    return src.rows(db, f"""
        WITH k AS (
            SELECT item_key, {PAYOUT_GATEWAY_OF_KEY_SQL} AS gateway, {PAYOUT_REF_OF_KEY_SQL} AS reference,
                   max(occurred_at) AS occurred_at
            {PAYOUT_ITEMS}
            GROUP BY item_key ORDER BY max(occurred_at) DESC, item_key LIMIT CAST(:limit AS bigint))
        SELECT k.item_key AS payout_key, k.gateway, k.reference,
               coalesce(s2.currency, s3.currency, s4.currency) AS currency,
               coalesce(s2.amount_minor, s3.amount_minor, s4.amount_minor) AS amount_minor, k.occurred_at,
               s2.status AS s2_status, s2.break_type AS s2_break, s3.status AS s3_status, s3.break_type AS s3_break,
               s4.status AS s4_status, s4.break_type AS s4_break
        FROM k
        LEFT JOIN recon_items s2 ON s2.stage = 'S2' AND s2.item_key = k.item_key
        LEFT JOIN recon_items s3 ON s3.stage = 'S3' AND s3.item_key = k.item_key
        LEFT JOIN recon_items s4 ON s4.stage = 'S4' AND s4.item_key = k.item_key
        ORDER BY k.occurred_at DESC, k.item_key""", **f.params(), limit=None if limit is None else int(limit))


@dataclass(frozen=True)
class PayoutView:
    """One payout followed through S2 (reconstruction from its entries), S3 (bank deposit) and
    S4 (journal). `items` are its recon_items rows at those stages; the detail dicts are the
    job's figures (S2: gross/fees/refunds/disputes/adjustments/net_minor; S3: arrival_date,
    bank_dates, bank_amount_minor; S4: cash_minor, fees_minor, journals)."""

    payout_key: str
    gateway: str
    reference: str
    currency: str | None
    amount_minor: int | None
    payout: pd.DataFrame
    items: pd.DataFrame
    reconstruction: dict[str, Any]
    entries: pd.DataFrame
    bank_detail: dict[str, Any]
    bank: pd.DataFrame
    journal_detail: dict[str, Any]
    journal: pd.DataFrame

    def reconstruction_table(self) -> pd.DataFrame:
        """The S2 reconstruction as rows (component, minor): gross, − fees, − refunds, − disputes,
        − adjustments, = reconstructed net, payout amount, difference (payout − net)."""
        d = self.reconstruction
        parts = [("gross", d.get("gross_minor")), ("fees", d.get("fees_minor")), ("refunds", d.get("refunds_minor")),
                 ("disputes", d.get("disputes_minor")), ("adjustments", d.get("adjustments_minor")),
                 ("reconstructed net", d.get("net_minor")), ("payout amount", self.amount_minor)]
        net, amount = d.get("net_minor"), self.amount_minor
        parts.append(("difference (payout − net)", None if net is None or amount is None else int(amount) - int(net)))
        return pd.DataFrame({"component": [p for p, _ in parts],
                             "minor": [None if v is None else int(v) for _, v in parts],
                             "currency": self.currency})


def payout_view(db: Db, payout_key: str) -> PayoutView | None:
    """One payout by its key (`payout:stripe:<po_id>` or `payout:adyen:<batch>`); None for a
    key that is not a payout key or has no item at S2-S4."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return payout_view(conn, payout_key)
    parsed = parse_payout_key(payout_key)
    if parsed is None:
        return None
    gw, ref = parsed
    items = src.rows(db, """SELECT stage, item_type, status, break_type, missing_side, currency, amount_minor,
                                   counter_amount_minor, break_amount_minor, left_ref, right_ref, match_rule,
                                   occurred_at, due_at, detail FROM recon_items
                            WHERE stage IN ('S2', 'S3', 'S4') AND item_key = :k ORDER BY stage""", k=payout_key)
    if items.empty:
        return None
    by_stage = {r["stage"]: r for r in items.to_dict("records")}
    first = by_stage.get("S2") or next(iter(by_stage.values()))
    s3, s4 = by_stage.get("S3") or {}, by_stage.get("S4") or {}
    batch = [int(ref)] if ref.isdigit() else []
    if gw == "stripe":
        payout, entries = src.stripe_payouts(db, [ref]), src.balance_txns(db, payouts=[ref])
    else:
        payout = src.adyen_lines(db, batches=batch, types=["MerchantPayout"])
        entries = src.adyen_lines(db, batches=batch)
        entries = entries[entries["type"] != "MerchantPayout"].reset_index(drop=True)
    arrival = src.as_date((s3.get("detail") or {}).get("arrival_date"))
    occurred = first["occurred_at"]
    bank = src.payout_bank_lines(db, gw, ref, split_refs(s3.get("right_ref")),
                                 arrival or (occurred.date() if isinstance(occurred, datetime) else None))
    journal = src.payout_journal(db, gw, ref, split_refs(s4.get("right_ref")))
    shown = items.assign(detail=[json.dumps(d, sort_keys=True, default=str) if d is not None else None
                                 for d in items["detail"]])
    return PayoutView(payout_key, gw, ref, first.get("currency"), first.get("amount_minor"), payout, shown,
                      dict(first.get("detail") or {}) if first["stage"] == "S2" else {}, entries,
                      dict(s3.get("detail") or {}), bank, dict(s4.get("detail") or {}), journal)
