"""The trace's records: one hop of the chain, the chain itself, and the reads every part of the
trace shares (rows as dicts, the reconciliation items by key and the link status they give)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from metrics.figures.query import Db, read_rows

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
def dicts(db: Db, sql: str, **params: Any) -> list[dict[str, Any]]:
    cols, rows = read_rows(db, sql, params)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def distinct(values) -> list:
    """The values without None / NaN and repeats, sorted: a key list for `= ANY(...)`."""
    return sorted({v for v in values if v is not None and v == v})


def recon_items(db: Db, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """recon_items rows by (stage, item_key), one read by the primary key."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = dicts(db, """SELECT stage, item_key, item_type, status, break_type, missing_side, currency, amount_minor,
                               counter_amount_minor, break_amount_minor, left_ref, right_ref, match_rule, due_at, detail
                        FROM recon_items
                        WHERE (stage, item_key) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:k AS text[])))""",
                 s=[k[0] for k in keys], k=[k[1] for k in keys])
    return {(r["stage"], r["item_key"]): r for r in rows}


def link(items: dict, stage: str, key: str) -> dict[str, Any]:
    """The Hop fields of the link into a hop: the item's status, and for a break its type, amount and missing side."""
    it = items.get((stage, key))
    if not it:
        return {}
    out = {"link": it["status"], "stage": stage, "item_key": key}
    if it["status"] == "break":
        amount = it["break_amount_minor"] if it["break_amount_minor"] is not None else it["amount_minor"]
        out.update(break_type=it["break_type"], break_amount_minor=None if amount is None else abs(int(amount)),
                   missing_side=it["missing_side"])
    return out


def as_int(v: Any) -> int | None:
    return None if v is None else int(v)
