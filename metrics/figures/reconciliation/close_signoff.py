"""A signed-off month and what has changed in it since (issue 18).

`close_snapshot` freezes what the Month close view shows of a month (close_readiness: per stage and currency the
items and amounts reconciled, the unreconciled money with the rates and dates used, open breaks by age; the
month's billing accuracy per currency; every break of the month with its state and money at stake) as plain JSON:
integers of minor units, text for rates and dates. A sign-off stores it (month_signoffs) with its hash.

`after_close` compares the newest sign-off's snapshot with the same snapshot taken now: every difference is an
after-close adjustment (a late bank line moves a stage's items and amounts, a reopened break changes state and
the unreconciled money, a re-rated session moves the billing figures). The page, `revwatch show close`, the
weekly report and the exporter's gauge all read `after_close`.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from metrics.figures.billing_accuracy import accuracy_totals
from metrics.figures.query import Db, Filters, read_rows, snapshot
from metrics.figures.reconciliation.month_close import CloseThresholds, close_readiness
from metrics.figures.reconciliation.scope import AT_STAKE, STAGE_LABELS, month_end, month_start
from revwatch import clock
from revwatch.money import format_money

STAGE_FIELDS = ("items", "matched_items", "resolved_items", "written_off_items", "reconciled_items", "expected_items",
                "open_items", "amount_minor", "reconciled_minor")
UNRECONCILED_FIELDS = ("open_breaks", "unreconciled_minor", "rate", "rate_date", "reporting_minor")
BILLING_FIELDS = ("billable", "correct", "findings", "leakage_minor", "overcharge_minor")
BREAK_FIELDS = ("state", "at_stake_minor")
# a figure's name for people where its field name says it badly
FIGURE_WORDS = {"reporting_minor": "in the reporting currency", "at_stake_minor": "at stake"}


def _plain(v: Any) -> Any:
    """A figure as JSON keeps it exactly: ints as ints, Decimals and dates as text, missing as None."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return v if isinstance(v, float) else str(v)


def _rows(df: pd.DataFrame, fields: tuple[str, ...], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: _plain(r[k]) for k in (*keys, *fields)} for r in df.to_dict("records")]


def month_breaks(db: Db, month: date) -> list[dict[str, Any]]:
    """Every break of the accounting month (any state) with its money at stake, by break id."""
    _, rows = read_rows(db, f"""
        SELECT b.break_id, b.stage, b.item_key, b.state, i.currency, {AT_STAKE} AS at_stake_minor
        FROM recon_items i JOIN recon_breaks b ON b.stage = i.stage AND b.item_key = i.item_key
        WHERE i.accounting_month = :m ORDER BY b.break_id""", {"m": month_start(month)})
    return [{"break_id": int(r[0]), "stage": r[1], "item_key": r[2], "state": r[3], "currency": r[4],
             "at_stake_minor": int(r[5])} for r in rows]


def close_snapshot(db: Db, month: date, th: CloseThresholds, as_of: datetime | None = None) -> dict[str, Any]:
    """The month's close figures as plain JSON (see the module docstring), judged at `as_of`."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return close_snapshot(conn, month, th, as_of)
    as_of = as_of or clock.now()
    m = month_start(month)
    cr = close_readiness(db, m, th, as_of)
    billing = accuracy_totals(db, Filters(m, month_end(m)))
    return {
        "month": f"{m:%Y-%m}", "as_of": as_of.isoformat(), "reporting_currency": th.reporting_currency,
        "ready": cr.ready,
        "reasons": [{"check": r.check, "scope": r.scope, "text": r.text} for r in cr.reasons],
        "stages": _rows(cr.shares, STAGE_FIELDS, ("stage", "currency")),
        "unreconciled": _rows(cr.unreconciled, (*UNRECONCILED_FIELDS, "exact_rate"), ("currency",)),
        "unreconciled_reporting_minor": _plain(cr.unreconciled_reporting_minor),
        "age_buckets": _rows(cr.age_buckets, ("breaks", "at_stake_minor"), ("currency", "bucket")),
        "billing": [{"currency": t.currency, "billable": t.billable, "correct": t.correct, "findings": t.findings,
                     "leakage_minor": t.leakage_minor, "overcharge_minor": t.overcharge_minor} for t in billing],
        "breaks": month_breaks(db, m),
    }


def snapshot_hash(snap: dict[str, Any]) -> str:
    """sha256 of the snapshot's canonical JSON (sorted keys, no spaces): what the audit chain records."""
    return hashlib.sha256(json.dumps(snap, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Signoff:
    signoff_id: int
    month: date
    signed_at: datetime
    signed_by: str
    ready: bool
    override: list[dict[str, Any]]
    reporting_currency: str
    snapshot: dict[str, Any]
    snapshot_sha256: str


def latest_signoff(db: Db, month: date) -> Signoff | None:
    """The month's newest sign-off, or None when it was never signed off."""
    _, rows = read_rows(db, """
        SELECT signoff_id, accounting_month, signed_at, signed_by, ready, override, reporting_currency, snapshot,
               snapshot_sha256
        FROM month_signoffs WHERE accounting_month = :m ORDER BY signoff_id DESC LIMIT 1""", {"m": month_start(month)})
    return Signoff(*rows[0]) if rows else None


def signed_off_months(db: Db) -> list[date]:
    """Every month signed off at least once, oldest first."""
    _, rows = read_rows(db, "SELECT DISTINCT accounting_month FROM month_signoffs ORDER BY 1", {})
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Adjustment:
    """One figure of a signed-off month that differs now from its sign-off snapshot."""

    area: str        # stage, unreconciled, billing, break
    scope: str       # "S3 USD", "EUR", "break 42"
    figure: str      # the field: items, amount_minor, state, rate, ...
    currency: str | None
    at_sign_off: Any
    now: Any

    @property
    def change(self) -> int | None:
        """now - at sign-off, for counts and money (None for text, or a figure that appeared or went)."""
        if isinstance(self.at_sign_off, int) and isinstance(self.now, int) and not isinstance(self.now, bool):
            return self.now - self.at_sign_off
        return None

    @property
    def words(self) -> str:
        """The figure's name for people: "open items", "unreconciled", "in the reporting currency"."""
        return FIGURE_WORDS.get(self.figure, self.figure.removesuffix("_minor").replace("_", " "))

    def shown(self, v: Any, none: str = "none") -> str:
        """One of its values for people: money in major units of its currency, counts with separators, codes in
        words; `none` for a value that is not there."""
        if v is None:
            return none
        if self.figure.endswith("_minor") and isinstance(v, int) and self.currency:
            return format_money(v, self.currency)
        return f"{v:,}" if isinstance(v, int) else str(v).replace("_", " ")

    @property
    def text(self) -> str:
        shown = self.shown
        what = self.words
        where = self.scope
        if self.area == "stage":
            stage, cur = self.scope.split(" ", 1)
            where = f"{STAGE_LABELS.get(stage, stage)}, {cur}"
        elif self.area == "billing":
            where = f"billing accuracy, {self.scope}"
        elif self.area == "unreconciled":
            where = f"unreconciled {self.scope}"
        return f"{where}: {what} {shown(self.at_sign_off)} → {shown(self.now)}"


def _keyed(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    return {tuple(r.get(k) for k in keys): r for r in rows}


def adjustments(then: dict[str, Any], now: dict[str, Any]) -> list[Adjustment]:
    """Every figure that differs between two snapshots of one month (pure): stages, unreconciled money and rates,
    billing accuracy, and each break (new, gone, state or money changed)."""
    out: list[Adjustment] = []
    for area, section, keys, fields in (("stage", "stages", ("stage", "currency"), STAGE_FIELDS),
                                        ("unreconciled", "unreconciled", ("currency",), UNRECONCILED_FIELDS),
                                        ("billing", "billing", ("currency",), BILLING_FIELDS),
                                        ("break", "breaks", ("break_id",), BREAK_FIELDS)):
        a, b = _keyed(then.get(section, []), keys), _keyed(now.get(section, []), keys)
        for key in sorted(set(a) | set(b), key=lambda k: tuple(str(x) for x in k)):
            old, new = a.get(key, {}), b.get(key, {})
            cur = new.get("currency", old.get("currency"))
            scope = f"break {key[0]}" if area == "break" else " ".join(str(k) for k in key)
            for f in fields:
                if old.get(f) != new.get(f):
                    zero = 0 if f not in ("rate", "rate_date", "state") else None
                    out.append(Adjustment(area, scope, f, cur, old.get(f, zero), new.get(f, zero)))
    return out


@dataclass(frozen=True)
class AfterClose:
    """A signed-off month now: its newest sign-off and every adjustment since."""

    signoff: Signoff
    now: dict[str, Any]
    adjustments: tuple[Adjustment, ...]

    @property
    def unreconciled_change_minor(self) -> int | None:
        """Unreconciled money in the reporting currency now minus at sign-off (None when either is unknown)."""
        a, b = self.signoff.snapshot.get("unreconciled_reporting_minor"), self.now.get("unreconciled_reporting_minor")
        return None if a is None or b is None else int(b) - int(a)


def after_close(db: Db, month: date, th: CloseThresholds | None = None,
                as_of: datetime | None = None) -> AfterClose | None:
    """The month's newest sign-off compared with its figures now (in the sign-off's reporting currency; the
    thresholds only judge the verdict, which is not compared); None when the month was never signed off."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return after_close(conn, month, th, as_of)
    signed = latest_signoff(db, month)
    if signed is None:
        return None
    th_then = (CloseThresholds(th.min_matched_share, th.min_amount_share, th.max_unreconciled_minor,
                               th.max_break_age_days, signed.reporting_currency) if th is not None else
               CloseThresholds(Decimal(0), Decimal(0), 0, 0, signed.reporting_currency))
    now = close_snapshot(db, month, th_then, as_of)
    return AfterClose(signed, now, tuple(adjustments(signed.snapshot, now)))
