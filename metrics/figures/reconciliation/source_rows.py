"""The source copies behind a reconciliation item, fetched by their keys for a drill-down (a break's
two sides, a payout's trail). Every read is one statement over indexed keys; the one look-up
without an index of its own (an Adyen modification reference) is bounded by the created_at index."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import pandas as pd

from metrics.figures.query import Db
from metrics.figures.reconciliation.scope import frame
from revwatch.recon_keys import parse_bank_key, payout_reference
from revwatch.rules import site_zones


class Source(NamedTuple):
    """Records of one source copy fetched for a drill-down, under a title saying what they are."""

    title: str
    rows: pd.DataFrame


ATTEMPT_COLS = ("attempt_id, invoice_id, attempt_number, gateway, gateway_reference, status, failure_code, "
                "payment_method_type, amount_minor, currency, attempted_at")
INVOICE_COLS = ("invoice_id", "session_id", "status", "currency", "subtotal_minor", "tax_minor", "total_minor",
                "issued_at")
REFUND_COLS = ("refund_id, invoice_id, attempt_id, gateway, gateway_reference, status, reason, amount_minor, currency, "
               "created_at")
CHARGE_COLS = ("id, created, status, amount, amount_refunded, currency, failure_code, attempt_id, invoice_id, "
               "balance_transaction")
STRIPE_REFUND_COLS = "id, created, charge, status, amount, currency, reason, balance_transaction"
TXN_COLS = "id, created, type, reporting_category, source, amount, fee, net, currency, status, available_on, payout"
PAYOUT_COLS = "id, created, status, amount, currency, arrival_date, balance_transaction"
ADYEN_COLS = ("batch_number, line_number, created_at, type, psp_reference, merchant_reference, modification_reference, "
              "payment_method, gross_currency, gross_debit_minor, gross_credit_minor, net_currency, net_debit_minor, "
              "net_credit_minor, commission_minor, markup_minor, scheme_fees_minor, interchange_minor")
BANK_COLS = ("file_sha256, line_number, bank_date, value_date, account, type_code, direction, amount_minor, currency, "
             "bank_reference, customer_reference, text, payout_refs")
GL_COLS = "journal_id, line, posted_date, account, account_name, debit_minor, credit_minor, currency, memo, reference"


def rows(db: Db, sql: str, **params: Any) -> pd.DataFrame:
    return frame(db, sql, params)


def attempts(db: Db, ids: Sequence[str] = (), gateway_refs: Sequence[str] = ()) -> pd.DataFrame:
    return rows(db, f"""SELECT {ATTEMPT_COLS} FROM payment_attempts
                        WHERE attempt_id = ANY(CAST(:ids AS text[])) OR gateway_reference = ANY(CAST(:refs AS text[]))
                        ORDER BY attempted_at, attempt_id""", ids=list(ids), refs=list(gateway_refs))


def invoices(db: Db, ids: list[str]) -> pd.DataFrame:
    return rows(db, f"""SELECT {", ".join(INVOICE_COLS)} FROM invoices WHERE invoice_id = ANY(CAST(:ids AS text[]))
                        ORDER BY issued_at""", ids=list(ids))


def billing_refunds(db: Db, ids: Sequence[str] = (), invoice_ids: Sequence[str] = ()) -> pd.DataFrame:
    return rows(db, f"""SELECT {REFUND_COLS} FROM refunds
                        WHERE refund_id = ANY(CAST(:ids AS text[])) OR invoice_id = ANY(CAST(:inv AS text[]))
                        ORDER BY created_at, refund_id""", ids=list(ids), inv=list(invoice_ids))


def charges(db: Db, ids: Sequence[str] = (), attempt_ids: Sequence[str] = ()) -> pd.DataFrame:
    return rows(db, f"""SELECT {CHARGE_COLS} FROM stripe_charges
                        WHERE id = ANY(CAST(:ids AS text[])) OR attempt_id = ANY(CAST(:att AS text[]))
                        ORDER BY created, id""", ids=list(ids), att=list(attempt_ids))


def stripe_refunds(db: Db, ids: list[str]) -> pd.DataFrame:
    return rows(db, f"""SELECT {STRIPE_REFUND_COLS} FROM stripe_refunds WHERE id = ANY(CAST(:ids AS text[]))
                        ORDER BY created""", ids=list(ids))


def adyen_lines(db: Db, psp: Sequence[str] = (), merchant: Sequence[str] = (), batches: Sequence[int] = (),
                modification: Sequence[str] = (), around: datetime | None = None,
                types: Sequence[str] = ()) -> pd.DataFrame:
    """Adyen report lines by PSP reference, merchant reference or batch (indexed); by modification
    reference (not indexed) only within two days of `around` on the created_at index."""
    return rows(db, f"""
        SELECT {ADYEN_COLS} FROM adyen_settlement_lines
        WHERE (psp_reference = ANY(CAST(:psp AS text[])) OR merchant_reference = ANY(CAST(:mer AS text[]))
               OR batch_number = ANY(CAST(:batches AS int[]))
               OR (CAST(:around AS timestamptz) IS NOT NULL
                   AND created_at BETWEEN CAST(:around AS timestamptz) - interval '2 days'
                                      AND CAST(:around AS timestamptz) + interval '2 days'
                   AND modification_reference = ANY(CAST(:mods AS text[]))))
          AND (cardinality(CAST(:types AS text[])) = 0 OR type = ANY(CAST(:types AS text[])))
        ORDER BY batch_number, created_at, line_number""",
                psp=list(psp), mer=list(merchant), batches=[int(b) for b in batches], mods=list(modification),
                around=around if modification else None, types=list(types))


def balance_txns(db: Db, ids: Sequence[str] = (), payouts: Sequence[str] = ()) -> pd.DataFrame:
    return rows(db, f"""SELECT {TXN_COLS} FROM stripe_balance_transactions
                        WHERE id = ANY(CAST(:ids AS text[])) OR payout = ANY(CAST(:po AS text[])) ORDER BY created, id""",
                ids=list(ids), po=list(payouts))


def stripe_payouts(db: Db, ids: list[str]) -> pd.DataFrame:
    return rows(db, f"SELECT {PAYOUT_COLS} FROM stripe_payouts WHERE id = ANY(CAST(:ids AS text[])) ORDER BY created",
                ids=list(ids))


def bank_lines(db: Db, keys: Sequence[str] = (), payout_ref: str | None = None, around: date | None = None) -> pd.DataFrame:
    """Bank lines by their item keys, plus (given a payout reference and a date) the credits within
    a week of that date whose text names the payout (bank_date index)."""
    parsed = [k for k in map(parse_bank_key, keys) if k is not None]
    return rows(db, f"""
        SELECT {BANK_COLS} FROM bank_lines
        WHERE (file_sha256, line_number) IN (SELECT * FROM unnest(CAST(:shas AS text[]), CAST(:lines AS int[])))
           OR (CAST(:ref AS text) IS NOT NULL AND bank_date BETWEEN CAST(:around AS date) - 3 AND CAST(:around AS date) + 7
               AND CAST(:ref AS text) = ANY(payout_refs))
        ORDER BY bank_date, file_sha256, line_number""",
                shas=[k.file_sha256 for k in parsed], lines=[k.line_number for k in parsed],
                ref=payout_ref if around else None, around=around)


def gl_lines(db: Db, journal_ids: Sequence[str] = (), references: Sequence[str] = ()) -> pd.DataFrame:
    return rows(db, f"""SELECT {GL_COLS} FROM gl_lines
                        WHERE journal_id = ANY(CAST(:j AS text[])) OR reference = ANY(CAST(:r AS text[]))
                        ORDER BY journal_id, line""", j=list(journal_ids), r=list(references))


def as_date(value: Any) -> date | None:
    """A date from a date or an ISO text (a JSON detail's), None when it is neither."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def day_invoices(db: Db, site_id: str, day: str, currency: str) -> pd.DataFrame:
    """Invoices issued on one local day of a site, in one currency (up to 1,000)."""
    d = as_date(day)
    if d is None:
        return pd.DataFrame()
    return rows(db, f"""
        SELECT {", ".join("i." + c for c in INVOICE_COLS)}
        FROM invoices i JOIN parking_sessions p ON p.session_id = i.session_id
        LEFT JOIN ({site_zones.SQL}) s ON s.site_id = p.site_id
        WHERE p.site_id = :site AND i.currency = :cur
          AND i.issued_at >= CAST(:d AS date) - 1 AND i.issued_at < CAST(:d AS date) + 2
          AND {site_zones.local_date("i.issued_at", "s")} = CAST(:d AS date)
        ORDER BY i.issued_at, i.invoice_id LIMIT 1000""", site=site_id, cur=currency, d=d)


def payout_side(db: Db, gateway: str, ref: str) -> Source:
    """The payout itself: the Stripe payout, or the batch's Adyen MerchantPayout line."""
    if gateway == "stripe":
        return Source("Stripe payout", stripe_payouts(db, [ref]))
    return Source("Adyen payout line (MerchantPayout)",
                  adyen_lines(db, batches=[int(ref)] if ref.isdigit() else [], types=["MerchantPayout"]))


def payout_bank_lines(db: Db, gateway: str, ref: str, keys: Sequence[str], around: date | None) -> pd.DataFrame:
    """A payout's bank lines: those its S3 item names, and credits near `around` whose text names it."""
    return bank_lines(db, keys, payout_reference(gateway, ref), around)


def payout_journal(db: Db, gateway: str, ref: str, journal_ids: Sequence[str]) -> pd.DataFrame:
    """A payout's journal lines: those its S4 item names, and any carrying its reference."""
    return gl_lines(db, journal_ids, [payout_reference(gateway, ref)])
