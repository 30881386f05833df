"""How the Reconciliation and Audit pages show money, codes and records: major units of each row's own
currency, people's words for codes, "–" for what is not there; formatted here at the edge only, never
added across currencies. Exports (CSV, Excel) keep the figures' own columns: minor units and codes."""
from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
import streamlit as st

from pages.common import money

DASH = "–"
STATE_LABELS = {"open": "Open", "resolved": "Resolved", "written_off": "Written off", "cleared": "Cleared"}
STATUS_LABELS = {"matched": "Matched", "expected": "Expected", "break": "Break"}
ADYEN_MONEY = {"gross_debit_minor": "gross_currency", "gross_credit_minor": "gross_currency"}
STRIPE_MONEY = ("amount", "fee", "net", "amount_refunded")
CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")  # a snake_case code such as amount_mismatch
HASH = re.compile(r"[0-9a-f]{24,}")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")  # with its zone  # a fingerprint or digest: its head is enough to tell it apart on screen
# the break list as people read it: (column of the figure, column shown, header); the CSV keeps the figure's columns
BREAK_VIEW = (("break_id", "break_id", "break"), ("state", "state", "state"), ("stage", "stage", "stage"),
              ("item_type", "item_type", "item"), ("break_type", "break_type", "break type"),
              ("missing_side", "missing_side", "missing on"), ("gateway", "gateway", "gateway"),
              ("site_id", "site_id", "site"), ("currency", "currency", "currency"),
              ("amount_minor", "amount", "amount"), ("counter_amount_minor", "counter amount", "other side"),
              ("break_amount_minor", "break amount", "difference"), ("at_stake_minor", "at stake", "at stake"),
              ("at_stake_reporting_minor", "at stake ({rep})", "at stake ({rep})"),
              ("age_days", "age_days", "age (days)"), ("occurred_at", "occurred_at", "occurred (UTC)"),
              ("opened_at", "opened_at", "opened (UTC)"), ("assignee", "assignee", "assignee"),
              ("accounting_month", "accounting_month", "month"), ("item_key", "item_key", "item key"),
              ("left_ref", "left_ref", "left reference"), ("right_ref", "right_ref", "right reference"),
              ("match_rule", "match_rule", "match rule"), ("resolution_reason", "resolution_reason", "resolution"),
              ("resolved_by", "resolved_by", "resolved by"), ("resolved_at", "resolved_at", "resolved (UTC)"),
              ("approved_by", "approved_by", "approved by"),
              ("awaiting_approval", "awaiting approval", "awaiting approval of"),
              ("requested_by", "requested_by", "asked by"))


def state_label(state: str, awaiting_approval: Any = None) -> str:
    """A break's state in words; an open one with a four-eyes request pending says it awaits a controller."""
    label = STATE_LABELS.get(state, words(state))
    return f"{label} · awaiting approval" if state == "open" and not missing(awaiting_approval) else label


def missing(v: Any) -> bool:
    """None, NaN, NaT, pd.NA or an empty text: nothing to show."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def shown(v: Any) -> str:
    """A value as text for people: "–" for nothing, whole numbers with separators, times to the minute."""
    if missing(v):
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, datetime):
        return f"{v:%Y-%m-%d %H:%M}" + (" UTC" if v.tzinfo else "")
    if isinstance(v, date):
        return f"{v:%Y-%m-%d}"
    return str(v)


def words(code: str | None) -> str:
    """A code as words: `amount_mismatch` -> `amount mismatch`; "–" for none."""
    return DASH if missing(code) else str(code).replace("_", " ")


def rate_text(rate: Any) -> str:
    """An exchange rate with its meaningful digits only: "0.7327380000" -> "0.732738" (Decimal, exact)."""
    if missing(rate):
        return DASH
    try:
        d = Decimal(str(rate))
    except InvalidOperation:
        return str(rate)
    text = f"{d:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def money_columns(df: pd.DataFrame, columns: dict[str, str | None], currency: str = "currency") -> pd.DataFrame:
    """Minor-unit columns shown as money of the row's currency (or of a fixed one), renamed."""
    out = df.copy()
    for col, fixed in columns.items():
        if col in out.columns:
            curs = [fixed] * len(df) if fixed else list(df[currency])
            out[col] = [money(v, c) for v, c in zip(df[col], curs, strict=True)]
    return out.rename(columns={c: c.removesuffix("_minor").replace("_", " ") for c in columns})


def breaks_view(found: pd.DataFrame, reporting: str) -> pd.DataFrame:
    """The break list for people: words for codes, money in major units, "–" where a value is not there
    (BREAK_VIEW: which columns, named how, headed how)."""
    out = pd.DataFrame(index=found.index)
    for col, name, _ in BREAK_VIEW:
        if col not in found.columns:
            continue
        name = name.format(rep=reporting)
        values = list(found[col])
        if col.endswith("_minor"):
            cur = [reporting] * len(found) if "reporting" in col else list(found["currency"])
            out[name] = [money(v, c) for v, c in zip(values, cur, strict=True)]
        elif col == "state":
            awaiting = list(found["awaiting_approval"]) if "awaiting_approval" in found.columns else [None] * len(values)
            out[name] = [state_label(v, a) for v, a in zip(values, awaiting, strict=True)]
        elif col == "awaiting_approval":
            out[name] = [DASH if missing(v) else ("write-off" if v == "write_off" else "resolution") for v in values]
        elif col in ("item_type", "break_type", "missing_side", "match_rule"):
            out[name] = [words(v) for v in values]
        elif col == "gateway":
            out[name] = [DASH if missing(v) else str(v).capitalize() for v in values]
        elif col == "accounting_month":
            out[name] = [DASH if missing(v) else month_label(v) for v in values]
        elif col in ("occurred_at", "opened_at", "age_days", "break_id"):
            out[name] = found[col]
        else:
            out[name] = [shown(v) for v in values]
    return out


def table_config(df: pd.DataFrame, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A table's column_config for people: every column headed in words (or by `labels`), counts with
    thousands separators (393,541, never 393541)."""
    config: dict[str, Any] = {}
    for col in df.columns:
        head = (labels or {}).get(col, words(col))
        config[col] = (st.column_config.NumberColumn(head, format="localized")
                       if pd.api.types.is_integer_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]) else head)
    return config


def break_headers(reporting: str) -> dict[str, str]:
    """The break list's headers by column shown."""
    return {name.format(rep=reporting): head.format(rep=reporting) for _, name, head in BREAK_VIEW}


def dashes(df: pd.DataFrame) -> pd.DataFrame:
    """Every missing value of a table shown as "–": text columns as text; a column of numbers or times keeps its
    type unless it has a gap, then its values are written out (an id as it is: 5275, not 5,275)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = [shown(v) for v in out[col]]
        elif out[col].isna().any():
            out[col] = [DASH if missing(v) else _plain(v) for v in out[col]]
    return out


def _plain(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return shown(v) if isinstance(v, datetime) else str(v)


def records_view(df: pd.DataFrame) -> pd.DataFrame:
    """A source copy's rows with their money formatted (Stripe's integer amounts, `*_minor`
    columns in `currency`, Adyen's gross and net columns in their own currencies), "–" for nothing."""
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
    return dashes(out)


def month_label(m: date) -> str:
    return f"{m:%b %Y}"


# ---------------------------------------------------------------- a JSON detail as people read it
def detail_pairs(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A JSON detail (a dict, or its JSON text) as (key, value) lines for people: `amount_minor` with the
    detail's `currency` as money ("amount", "USD 1,234.56"), codes as words, rates with their meaningful
    digits, nested objects flattened ("settings › reporting currency"), nothing as "–"."""
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return [(prefix or "detail", detail)]
    if not isinstance(detail, dict):
        return [] if missing(detail) else [(prefix or "detail", _value("", detail))]
    currency = detail.get("currency")
    money_keys = {k for k, v in detail.items() if k.endswith("_minor") and isinstance(v, int) and not isinstance(v, bool)}
    pairs: list[tuple[str, str]] = []
    for key, value in detail.items():
        name = f"{prefix} › {words(key)}" if prefix else words(key)
        if isinstance(value, dict):
            pairs.extend(detail_pairs(value, name))
        elif key in money_keys and isinstance(currency, str):
            pairs.append((words(key.removesuffix("_minor")) if not prefix else name.removesuffix(" minor"),
                          money(value, currency)))
        elif key == "currency" and money_keys:
            continue  # said with each amount
        else:
            pairs.append((name, _value(key, value)))
    return pairs


def _value(key: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(key, v) for v in value) or DASH
    if isinstance(value, str):
        if "rate" in key:
            return rate_text(value)
        if ISO_TIME.fullmatch(value):  # "2026-12-04T10:00:00+00:00" -> "2026-12-04 10:00 UTC"
            return shown(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC))
        if CODE.fullmatch(value):
            return words(value)
    if isinstance(value, float):
        return rate_text(repr(value)) if "rate" in key else f"{value:,.10g}" if abs(value) >= 1e4 else repr(value)
    return shown(value)


def detail_text(detail: Any) -> str:
    """The detail on one line, keys with no value left out, digests cut to their head:
    "amount: USD 12.34 · break type: missing · fingerprint: 3f9a0c1d2e4b…"."""
    pairs = [(k, v) for k, v in detail_pairs(detail) if v != DASH]
    return " · ".join(f"{k}: {HASH.sub(lambda m: m.group()[:12] + '…', v)}" for k, v in pairs) or DASH
