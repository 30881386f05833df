"""How the Reconciliation page shows money and records: major units of each row's own currency,
formatted here at the edge only, never added across currencies."""
from __future__ import annotations

from datetime import date

import pandas as pd

from pages.common import money

STATE_LABELS = {"open": "Open", "resolved": "Resolved", "written_off": "Written off", "cleared": "Cleared"}
ADYEN_MONEY = {"gross_debit_minor": "gross_currency", "gross_credit_minor": "gross_currency"}
STRIPE_MONEY = ("amount", "fee", "net", "amount_refunded")


def money_columns(df: pd.DataFrame, columns: dict[str, str | None], currency: str = "currency") -> pd.DataFrame:
    """Minor-unit columns shown as money of the row's currency (or of a fixed one), renamed."""
    out = df.copy()
    for col, fixed in columns.items():
        if col in out.columns:
            curs = [fixed] * len(df) if fixed else list(df[currency])
            out[col] = [money(v, c) for v, c in zip(df[col], curs, strict=True)]
    return out.rename(columns={c: c.removesuffix("_minor").replace("_", " ") for c in columns})


def records_view(df: pd.DataFrame) -> pd.DataFrame:
    """A source copy's rows with their money formatted (Stripe's integer amounts, `*_minor`
    columns in `currency`, Adyen's gross and net columns in their own currencies)."""
    if df.empty:
        return df
    out = df.copy()
    for col in df.columns:
        cur = ADYEN_MONEY.get(col)
        if cur is None and col.endswith("_minor"):
            cur = "currency" if "currency" in df.columns else "net_currency" if "net_currency" in df.columns else None
        if cur is None and col in STRIPE_MONEY and "currency" in df.columns:
            cur = "currency"
        if cur and cur in df.columns:
            out[col] = [money(v, c) for v, c in zip(df[col], df[cur], strict=True)]
    return out


def month_label(m: date) -> str:
    return f"{m:%b %Y}"


def words(code: str | None) -> str:
    """A code as words: `amount_mismatch` -> `amount mismatch`."""
    return str(code or "").replace("_", " ")
