"""Charged at the gateway, not in billing: the findings of the `match-gateway-payments` job
(collectors/compute/gateway_mismatches.py), read for the Payments page.

Gateway objects that took money billing did not record, by the local day of the gateway time.
Money per currency, never summed across currencies.
"""
from __future__ import annotations

import pandas as pd

from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, read_frame

MISMATCH_KINDS = ("unrecorded_success", "no_internal_attempt")


def mismatch_totals(db: Db, f: Filters) -> pd.DataFrame:
    """kind, gateway, currency: findings and amount_minor of the `match-gateway-payments` job
    (gateway objects that took money billing did not record) by the local day of the gateway
    time. Money per currency, never summed across currencies."""
    sql = f"""
        SELECT r.kind, r.gateway, r.currency, count(*) AS findings, sum(r.amount_minor)::bigint AS amount_minor
        FROM gateway_mismatches r WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
    return read_frame(db, sql, f.params())


def mismatch_by_currency(db: Db, f: Filters) -> pd.DataFrame:
    """currency, kind: findings and amount_minor (both gateways), every kind present for each currency."""
    df = mismatch_totals(db, f)
    if df.empty:
        return pd.DataFrame(columns=["currency", "kind", "findings", "amount_minor"])
    g = df.groupby(["currency", "kind"], as_index=False)[["findings", "amount_minor"]].sum()
    full = pd.MultiIndex.from_product([sorted(df["currency"].unique()), MISMATCH_KINDS], names=["currency", "kind"])
    out = g.set_index(["currency", "kind"]).reindex(full, fill_value=0).reset_index()
    return out.astype({"findings": "int64", "amount_minor": "int64"})


def mismatches(db: Db, f: Filters, kind: str | None = None, limit: int | None = 500) -> pd.DataFrame:
    """The findings themselves, newest first, at most `limit` (None: all of them; how many there are
    is the sum of `mismatch_totals`' findings), with the keys to drill down:
    gateway object (gateway, gateway_reference), billing attempt (attempt_id, NULL when billing
    has none), the attempt id the gateway carries, invoice, session, site. customer_id is raw
    here: the page masks it."""
    sql = f"""
        SELECT r.occurred_at, r.kind, r.gateway, r.gateway_reference, r.currency, r.amount_minor,
               r.gateway_status, r.billing_status, r.attempt_id, r.gateway_attempt_id, r.invoice_id,
               i.session_id, r.site_id, p.customer_id
        FROM gateway_mismatches r
        LEFT JOIN invoices i ON i.invoice_id = r.invoice_id
        LEFT JOIN parking_sessions p ON p.session_id = i.session_id
        WHERE {IN_RANGE} AND {SCOPE} AND (CAST(:kind AS text) IS NULL OR r.kind = :kind)
        ORDER BY r.occurred_at DESC, r.gateway, r.gateway_reference LIMIT :limit"""
    return read_frame(db, sql, {**f.params(), "kind": kind, "limit": limit})
