"""How `revwatch show` prints its rows (pure, apart from calculation): `table` for people, money
formatted in major units with its currency and ratios as percentages; `csv` and `json` for
machines, money in integer minor units and ratios as plain numbers."""
from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from revwatch.money import format_money

FORMATS = ("table", "csv", "json")

def _plain(v: Any) -> Any:
    """A JSON-ready value: numpy scalars to Python, NaN/NA to None, dates to ISO strings."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else str(v)
    return v


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{c: _plain(v) for c, v in zip(df.columns, row, strict=True)} for row in df.itertuples(index=False, name=None)]


_RATIO_NAMES = ("accuracy", "share", "ratio", "threshold")


def _is_ratio(col: str) -> bool:
    return col in _RATIO_NAMES or col.endswith(("_rate", "_share", "_ratio"))


def _human(df: pd.DataFrame, rec: dict[str, Any], col: str) -> str:
    v = rec[col]
    if v is None:
        return "–"
    unit = rec.get("unit")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if col.endswith("_minor") or (unit == "money" and col in ("value", "previous")):
        cur = (rec.get("reporting_currency") if col.endswith("reporting_minor")
               else rec.get("billed_currency") if col.startswith("billed_") else rec.get("currency"))
        return format_money(int(v), cur) if cur else f"{v:,}"
    if _is_ratio(col) or (unit == "ratio" and col in ("value", "previous")):
        return f"{v * 100:.2f}%"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):  # whole numbers plain, fractions to 4 places (a 0.999 limit stays 0.999)
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.4f}".rstrip("0")
    return str(v)


def render(df: pd.DataFrame, fmt: str) -> str:
    """The rows as `table` (aligned, money formatted), `csv` or `json` (minor units, plain ratios)."""
    recs = records(df)
    if fmt == "json":
        return json.dumps(recs, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=list(df.columns), lineterminator="\n")
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in recs)
        return out.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    if not recs:
        return "(no rows)"
    cells = [[_human(df, r, c) for c in df.columns] for r in recs]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(df.columns)]
    numeric = [all(isinstance(r[c], (int, float)) or r[c] is None for r in recs) and not isinstance(recs[0][c], bool)
               for c in df.columns]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    return "\n".join([line([str(c) for c in df.columns]), line(["-" * w for w in widths])] + [line(r) for r in cells])
