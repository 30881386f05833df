"""Exports for auditors: DataFrames -> CSV bytes, or one Excel workbook with a sheet per table.

Pure functions (no database, no Streamlit). Money stays exact: every `<name>_minor` column of a
table with a `currency` column is kept as integer minor units and gets a `<name>` column beside
it in major units (a Decimal, exact; `*_reporting_minor` columns use the reporting currency).
Times are written in UTC without a zone (Excel has none); JSON-like values as JSON text.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from revwatch.money import CURRENCY_EXPONENTS, to_decimal

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV, no index."""
    return df.to_csv(index=False).encode()


def major_units(df: pd.DataFrame, reporting_currency: str | None = None, currency_column: str = "currency") -> pd.DataFrame:
    """Beside each `<name>_minor` column, `<name>` in major units (Decimal) of the row's currency
    (of `reporting_currency` for `*_reporting_minor`); unchanged when there is no currency to use."""
    out = df.copy()
    for col in [c for c in df.columns if isinstance(c, str) and c.endswith("_minor")]:
        name = col[: -len("_minor")]
        if name in out.columns:
            continue
        if "reporting" in col and reporting_currency:
            curs = [reporting_currency] * len(df)
        elif currency_column in df.columns:
            curs = list(df[currency_column])
        else:
            continue
        values = [_major(v, c) for v, c in zip(df[col], curs, strict=True)]
        out.insert(list(out.columns).index(col) + 1, name, values)
    return out


def _major(value: Any, currency: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
        return None
    return to_decimal(int(value), currency)


def _cell(value: Any) -> Any:
    """A value as an Excel cell takes it: UTC-naive times, JSON text for containers, None for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (date, Decimal, int, float, str, bool)):
        return value
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item())
    if isinstance(value, (dict, list, tuple, set)):
        return json.dumps(list(value) if isinstance(value, (tuple, set)) else value, sort_keys=True, default=str)
    return str(value)


def sheet_name(name: str, taken: set[str]) -> str:
    """An Excel-safe, unique sheet name (at most 31 characters, none of []:*?/\\)."""
    base = _BAD_SHEET_CHARS.sub("_", name).strip("'") or "sheet"
    candidate, n = base[:31], 2
    while candidate.lower() in taken:
        suffix = f"_{n}"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


def workbook(sheets: Mapping[str, pd.DataFrame], about: Mapping[str, Any] | None = None,
             reporting_currency: str | None = None) -> bytes:
    """One .xlsx: an `about` sheet first (the `about` key/value lines, then how many rows each sheet
    holds: every sheet holds every row of its table), then one sheet per table in order, header row
    frozen and filterable, money columns doubled in major units."""
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    ws = wb.create_sheet(sheet_name("about", taken))
    names = [sheet_name(name, taken) for name in sheets]
    ws.append(["item", "value"])
    for k, v in (about or {}).items():
        ws.append([str(k), _cell(v)])
    for title, df in zip(names, sheets.values(), strict=True):
        ws.append([f"rows in sheet {title}", len(df)])
    _finish(ws, 2)
    for title, df in zip(names, sheets.values(), strict=True):
        ws = wb.create_sheet(title)
        table = major_units(df, reporting_currency)
        ws.append([str(c) for c in table.columns])
        for row in table.itertuples(index=False, name=None):
            ws.append([_cell(v) for v in row])
        _finish(ws, len(table.columns))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _finish(ws, ncols: int) -> None:
    ws.freeze_panes = "A2"
    if ncols and ws.max_row >= 1:
        ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{max(ws.max_row, 1)}"
    for i in range(1, ncols + 1):
        letter = get_column_letter(i)
        width = max((len(str(c.value)) for c in ws[letter][:200] if c.value is not None), default=8)
        ws.column_dimensions[letter].width = min(max(width + 2, 8), 60)
