"""What both bank statement formats share (collectors/ingest/bank.py): the row a statement line
becomes, its currency check, and the gateway payout references found in its texts."""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from collectors.ingest.files import LineError, in_range
from revwatch.money import MoneyError, exponent
from revwatch.recon_keys import payout_reference

COLUMNS = ("line_number", "format", "account", "currency", "bank_date", "value_date", "type_code", "direction",
           "amount_minor", "bank_reference", "customer_reference", "text", "payout_refs", "payout_candidate")
PAYOUT_REF = re.compile(r"\b(po_[A-Za-z0-9]+)|\b(?i:adyen(?:\s*batch\s*|-)(\d+))\b")


def payout_refs(*texts: str | None) -> list[str]:
    """Gateway payout references in a bank line's texts, in order, each once: Stripe payout ids
    (`po_…`) as written; `ADYEN BATCH <n>` (any case and spacing) as `ADYEN-<n>`, the form the
    ledger uses (leading zeros dropped, so it equals Adyen's integer batch number)."""
    refs: list[str] = []
    for value in texts:
        for m in PAYOUT_REF.finditer(value or ""):
            ref = m.group(1) or payout_reference("adyen", int(m.group(2)))
            if ref not in refs:
                refs.append(ref)
    return refs


def clean(value: str | None) -> str | None:
    return (value or "").strip() or None


def bank_currency(code: str | None, where: str) -> str:
    """An ISO 4217 code with a minor unit, upper case; LineError otherwise."""
    value = (code or "").strip().upper()
    try:
        exponent(value)
    except MoneyError:
        raise LineError(f"unknown currency {code!r} {where}") from None
    return value


def bank_row(fmt: str, line: int, account: str, currency: str, bank_date: date, value_date: date | None,
             type_code: str | None, direction: str, amount: int, bank_ref: str | None, customer_ref: str | None,
             texts: Sequence[str], refs: list[str], candidate: bool) -> dict:
    """One bank_lines row; its dates must be within files.DATE_RANGE (LineError otherwise)."""
    in_range(bank_date, "bank date")
    if value_date is not None:
        in_range(value_date, "value date")
    return {"line_number": line, "format": fmt, "account": account, "currency": currency, "bank_date": bank_date,
            "value_date": value_date, "type_code": type_code, "direction": direction, "amount_minor": amount,
            "bank_reference": bank_ref, "customer_reference": customer_ref, "text": " | ".join(texts) or None,
            "payout_refs": refs, "payout_candidate": direction == "credit" and candidate}
