"""How `revwatch show` prints its rows (pure, apart from calculation): `table` for people, `csv` and `json` for
machines (money in integer minor units, ratios as plain numbers, durations in seconds, every row and column).

`table`, for people:
- money in major units with its currency (`format_money`), its header without `_minor` (`amount_minor` ->
  `amount`; `recovered_minor` beside a `recovered` count -> `recovered_amount`); a column some row of which has
  no currency stays in minor units under its `_minor` name;
- ratios as percentages (never "-0.00%"); durations (`*_seconds`) rounded ("43 s", "5 min", "3 h 20 min"),
  their header without `_seconds`; instants to the minute, in UTC;
- at most `width` characters wide (TABLE_WIDTH, a terminal's 120): a wider table leaves out its less
  important columns first (the topic's `drop` order), then wraps prose onto more lines, and only then
  leaves out more columns from the right; `Table.left_out` names the columns left out, for the command to
  tell the reader (`--wide` prints every column, one line per row);
- no rows: NOTHING_FOUND once the figures are known, NOT_COMPUTED_YET while they are not.
"""
from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Union

from revwatch.money import format_money

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "csv", "json")
TABLE_WIDTH = 120  # characters: a terminal's width
GAP = "  "  # between columns
MIN_TEXT = 12  # a text column is never cut narrower than this
NOTHING_FOUND = "(nothing found)"
NOT_COMPUTED_YET = "(nothing yet: not computed)"
# headers whose plain form would say less than the column holds
HEADERS = {"reporting_minor": "reporting_amount", "mean_seconds_to_refund": "mean_time_to_refund",
           "refund_seconds": "time_to_refund_total"}
DURATIONS = ("mean_seconds_to_refund",)  # seconds, though the name does not end in `_seconds`


@dataclass(frozen=True)
class Rows:
    """Rows without pandas (a topic whose figures come as plain values: `overview`), printed as a DataFrame is."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def of_dicts(cls, rows: Sequence[Mapping[str, Any]]) -> Rows:
        columns = tuple(rows[0]) if rows else ()
        return cls(columns, tuple(tuple(r[c] for c in columns) for r in rows))

    def itertuples(self, index: bool = False, name: str | None = None) -> Iterable[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


Frame = Union["pd.DataFrame", Rows]  # what a topic returns


def _plain(v: Any) -> Any:
    """A JSON-ready value: numpy scalars to Python, NaN/NA to None, dates to ISO strings."""
    v = _scalar(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else str(v)
    return v


def _scalar(v: Any) -> Any:
    """A Python value: numpy scalars to Python, NaN/NA/NaT to None, Timestamps to datetimes."""
    if v is None:
        return None
    if type(v).__module__.startswith("pandas"):  # NA, NaT, Timestamp: only a frame holds them
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def records(df: Frame) -> list[dict[str, Any]]:
    return [{c: _plain(v) for c, v in zip(df.columns, row, strict=True)} for row in df.itertuples(index=False, name=None)]


_RATIO_NAMES = ("accuracy", "share", "ratio", "threshold")


def _is_ratio(col: str) -> bool:
    return col in _RATIO_NAMES or col.endswith(("_rate", "_share", "_ratio"))


def is_duration(col: str) -> bool:
    return col.endswith("_seconds") or col in DURATIONS


def percent(v: float) -> str:
    """0.5 -> '50.00%'; never '-0.00%'."""
    text = f"{v * 100:.2f}%"
    return "0.00%" if text == "-0.00%" else text


def duration_text(seconds: float) -> str:
    """Seconds for people: '0.25 s', '4.2 s', '43 s', '5 min', '2 h 5 min', '3 d 4 h'."""
    s = abs(seconds)
    sign = "-" if seconds < 0 and round(s, 2) else ""
    if s < 1:
        return f"{sign}{s:.2f} s"
    if s < 10:
        return f"{sign}{s:.1f} s"
    if s < 120:
        return f"{sign}{s:.0f} s"
    minutes = int(s // 60)
    if minutes < 120:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    return f"{sign}{hours // 24} d {hours % 24} h" if hours % 24 else f"{sign}{hours // 24} d"


def _money_currency(col: str, row: dict[str, Any]) -> str | None:
    """The currency of a money cell: the reporting currency's, the billed one (nothing billed: the row's), or the row's."""
    cur = (row.get("reporting_currency") if col.endswith("reporting_minor")
           else row.get("billed_currency") or (row.get("currency") if row.get(col) == 0 else None)
           if col.startswith("billed_") else row.get("currency"))
    return cur if isinstance(cur, str) and cur else None


def _is_money(col: str, row: dict[str, Any]) -> bool:
    return col.endswith("_minor") or (row.get("unit") == "money" and col in ("value", "previous"))


def _human(col: str, row: dict[str, Any]) -> str:
    v = row[col]
    if v is None:
        return "–"
    unit = row.get("unit")
    if isinstance(v, bool):
        return "yes" if v else "no"
    if _is_money(col, row) and isinstance(v, (int, float, Decimal)):
        cur = _money_currency(col, row)
        return format_money(int(v), cur) if cur else f"{int(v):,}"
    if isinstance(v, (int, float)) and (_is_ratio(col) or (unit == "ratio" and col in ("value", "previous"))):
        return percent(v)
    if isinstance(v, (int, float)) and is_duration(col):
        return duration_text(v)
    if isinstance(v, datetime):
        return f"{v.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if v.tzinfo else f"{v:%Y-%m-%d %H:%M}"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        v = float(v) if v != v.to_integral_value() else int(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):  # whole numbers plain, fractions to 4 places (a 0.999 limit stays 0.999)
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.4f}".rstrip("0")
    return " ".join(str(v).split())  # one line per row: a newline in a text cell would break the table


def header(col: str, columns: Sequence[str], money: bool) -> str:
    """The table's header of `col`: without `_minor` when the column shows money (`money`), without `_seconds`
    when it shows a duration, and never the same as another column's."""
    if col in HEADERS and (money or is_duration(col)):
        return HEADERS[col]
    if money and col.endswith("_minor"):
        base = col.removesuffix("_minor")
    elif is_duration(col):
        base = col.removesuffix("_seconds")
    else:
        return col
    return f"{base}_amount" if base in columns else base


@dataclass(frozen=True)
class Table:
    text: str
    left_out: tuple[str, ...] = ()  # columns (csv/json names) left out to fit the width
    wrapped: tuple[str, ...] = ()   # text columns (csv/json names) wrapped onto more lines to fit the width


def table(df: Frame, width: int | None = TABLE_WIDTH, drop: Sequence[str] = (),
          empty: str = NOTHING_FOUND) -> Table:
    """The rows aligned for people, at most `width` characters wide (None: as wide as it takes): the columns of
    `drop` are left out first, in that order; then prose (text with spaces) is wrapped onto more lines at its
    spaces (never narrower than MIN_TEXT); only when that is not enough are more columns left out, from the
    right. Identifiers and numbers are never broken."""
    columns = list(df.columns)
    rows = [{c: _scalar(v) for c, v in zip(columns, r, strict=True)} for r in df.itertuples(index=False, name=None)]
    if not rows:
        return Table(empty)
    cells = {c: [_human(c, r) for r in rows] for c in columns}
    money = {c: c.endswith("_minor") and all(r[c] is None or _money_currency(c, r) for r in rows) for c in columns}
    heads = {c: header(c, columns, money[c]) for c in columns}
    numeric = {c: all((isinstance(r[c], (int, float, Decimal)) and not isinstance(r[c], bool)) or r[c] is None
                      for r in rows) and any(r[c] is not None for r in rows) for c in columns}
    widths = {c: max(len(heads[c]), *(len(v) for v in cells[c])) for c in columns}
    # prose wraps at its spaces; identifiers, codes and numbers are never broken
    prose = {c: not numeric[c] and any(" " in v for v in cells[c] if len(v) > MIN_TEXT) for c in columns}
    shown, left_out, wrapped = list(columns), [], []
    if width is not None:
        for c in [*(c for c in drop if c in columns), *reversed(columns[1:])]:
            excess = _width(shown, widths) - width
            if excess <= 0 or len(shown) == 1:
                break
            if c in shown and (c in drop or _room(shown, prose, widths, heads) < excess):
                shown.remove(c)
                left_out.append(c)
        excess = _width(shown, widths) - width
        for c in sorted((c for c in shown if prose[c]), key=lambda c: -widths[c]):
            if excess <= 0:
                break
            narrower = max(MIN_TEXT, len(heads[c]), widths[c] - excess)
            if narrower < widths[c]:
                excess -= widths[c] - narrower
                widths[c] = narrower
                wrapped.append(c)

    def lines_of(values: dict[str, str]) -> list[str]:
        parts = {c: textwrap.wrap(values[c], widths[c], break_on_hyphens=False, break_long_words=True) or [""]
                 if c in wrapped else [values[c]] for c in shown}
        out = []
        for k in range(max(len(p) for p in parts.values())):
            line = [(parts[c][k] if k < len(parts[c]) else "") for c in shown]
            out.append(GAP.join(v.rjust(widths[c]) if numeric[c] else v.ljust(widths[c])
                                for v, c in zip(line, shown, strict=True)).rstrip())
        return out

    text = [*lines_of(heads), *lines_of({c: "-" * widths[c] for c in shown})]
    for i in range(len(rows)):
        text += lines_of({c: cells[c][i] for c in shown})
    return Table("\n".join(text), tuple(left_out), tuple(wrapped))


def _width(shown: list[str], widths: dict[str, int]) -> int:
    return sum(widths[c] for c in shown) + len(GAP) * (len(shown) - 1)


def _room(shown: list[str], prose: dict[str, bool], widths: dict[str, int], heads: dict[str, str]) -> int:
    """How many characters wrapping the prose columns (down to MIN_TEXT or their header) can win back."""
    return sum(max(0, widths[c] - max(MIN_TEXT, len(heads[c]))) for c in shown if prose[c])


def render(df: Frame, fmt: str, width: int | None = None, drop: Sequence[str] = (),
           empty: str = NOTHING_FOUND) -> str:
    """The rows as `table` (aligned, for people: see `table`), `csv` or `json` (minor units, plain ratios, every
    column)."""
    if fmt == "json":
        return json.dumps(records(df), indent=2)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=list(df.columns), lineterminator="\n")
        w.writeheader()
        w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records(df))
        return out.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; one of {FORMATS}")
    return table(df, width, drop, empty).text
