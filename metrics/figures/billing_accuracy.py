"""Billing accuracy, over the classify job's output (collectors/compute/billing_classification.py): the
one definition every face reads (the Billing accuracy page, `revwatch show billing`, the exporter, the
weekly report).

Every judged session is a row of `billing_findings` or, when judged correct, counted in a row of
`billing_correct`; `_JUDGED` reads both as one relation with a `sessions` weight, so every figure is an
additive sum (`_SUMS`):

- billable: judged sessions whose stay outlasted the grace period of the plan in force
  (`billable` true; an unrated session with a plan in force counts: nobody can say it was billed right);
- correct: billable sessions of class 'correct' (the classifier only calls billable sessions correct;
  the figure says so itself, so the numerator is a part of the denominator by definition);
- accuracy = correct / billable (`accuracy_ratio`), a read-time ratio, never stored or averaged;
- leakage_minor: money billing failed to collect, the negative part of billed - expected
  (under-billed, never billed, tax too low); overcharge_minor: customer harm, the positive part
  (over-billed, duplicates, invoices not due, tax too high); both per currency, never summed
  across currencies.

A range is a `Filters` (the sites' local exit dates, both ends included, sites in scope) or an
`ExitedSince` (every session that exited in the UTC hour of an instant or after: the exporter's
trailing 24 h, read by hour, the grain correct sessions are counted at). Values are bound parameters; money is integer minor units.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, ratio, read_rows, snapshot
from revwatch.rules import billing_judgment, shadow_rating

DIMENSIONS = ("site_id", "rate_plan_id", "class", "local_date")
# What each class is called where people read it (the page, its tables and drill-down)
CLASS_LABELS = {
    "correct": "Correct", "under_billed": "Under-billed", "over_billed": "Over-billed",
    "missing_invoice": "Never billed", "duplicate_invoice": "Duplicate invoice", "tax_error": "Tax error",
    "currency_mismatch": "Currency mismatch", "invoice_not_due": "Invoice not due",
    "voided_without_replacement": "Voided, not replaced", "unrated": "Unrated",
}
COUNTS = ("billable", "correct", "findings")

# Every judged session: a finding is one session, a count of correct ones is `sessions` sessions (billable,
# no difference).
_JUDGED = """(
    SELECT site_id, hour, local_date, rate_plan_id, currency, class, billable, difference_minor, 1 AS sessions
    FROM billing_findings
    UNION ALL
    SELECT site_id, hour, local_date, rate_plan_id, currency, 'correct', true, 0, sessions
    FROM billing_correct)"""

# The one definition of the billing accuracy figures, over _JUDGED rows `r`.
_SUMS = """coalesce(sum(r.sessions) FILTER (WHERE r.billable), 0)::bigint AS billable,
           coalesce(sum(r.sessions) FILTER (WHERE r.billable AND r.class = 'correct'), 0)::bigint AS correct,
           sum(r.sessions)::bigint AS findings,
           coalesce(sum(greatest(-r.difference_minor, 0)), 0)::bigint AS leakage_minor,
           coalesce(sum(greatest(r.difference_minor, 0)), 0)::bigint AS overcharge_minor"""


@dataclass(frozen=True)
class ExitedSince:
    """The sessions that exited in the UTC hour of `since` (aware) or after, of every site."""

    since: datetime


Range = Filters | ExitedSince


def accuracy_ratio(correct: int, billable: int) -> float | None:
    """Billing accuracy: correct billable sessions / billable sessions; None when nothing was billable."""
    return ratio(correct, billable)


@dataclass(frozen=True)
class AccuracyTotals:
    """One currency's billing accuracy figures over a range (currency None: findings of an unknown site)."""

    currency: str | None
    billable: int
    correct: int
    findings: int
    leakage_minor: int
    overcharge_minor: int

    @property
    def accuracy(self) -> float | None:
        return accuracy_ratio(self.correct, self.billable)


def overall_accuracy(totals: Iterable[AccuracyTotals]) -> float | None:
    """Accuracy over every currency: sessions are counted, so they add up across currencies (money never does)."""
    totals = list(totals)
    return accuracy_ratio(sum(t.correct for t in totals), sum(t.billable for t in totals))


def _where(over: Range) -> tuple[str, dict[str, Any]]:
    if isinstance(over, Filters):
        return f"{IN_RANGE} AND {SCOPE}", over.params()
    return "r.hour >= date_trunc('hour', CAST(:since AS timestamptz), 'UTC')", {"since": over.since}


def _column(name: str) -> str:
    if name != "currency" and name not in DIMENSIONS:
        raise ValueError(f"cannot group billing findings by {name!r}; one of {DIMENSIONS}")
    return f'r."{name}"'


def _sums(db: Db, over: Range, names: tuple[str, ...]) -> pd.DataFrame:
    """The one query: `_SUMS` per `names` (dimensions of DIMENSIONS and/or currency), ordered by them."""
    if not names:
        raise ValueError("group billing accuracy by at least one dimension")
    select = ", ".join(f'{_column(n)} AS "{n}"' for n in names)
    keys = ", ".join(str(i) for i in range(1, len(names) + 1))
    where, params = _where(over)
    cols, rows = read_rows(db, f"""
        SELECT {select}, {_SUMS}
        FROM {_JUDGED} r
        WHERE {where}
        GROUP BY {keys} ORDER BY {keys}""", params)
    return pd.DataFrame(rows, columns=cols)


def accuracy_totals(db: Db, over: Range) -> tuple[AccuracyTotals, ...]:
    """Per currency (sorted, an unknown one last): billable, correct, findings, leakage and overcharge."""
    df = _sums(db, over, ("currency",))
    return tuple(AccuracyTotals(None if pd.isna(r.currency) else str(r.currency), int(r.billable), int(r.correct),
                                int(r.findings), int(r.leakage_minor), int(r.overcharge_minor))
                 for r in df.itertuples(index=False))


def accuracy_frame(db: Db, over: Range, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per `by` (dimensions of DIMENSIONS) and currency: billable, correct, findings, leakage_minor,
    overcharge_minor and accuracy, each row one currency's own figures (a breakdown table)."""
    df = _sums(db, over, (*by, "currency"))
    df["accuracy"] = [accuracy_ratio(c, b) for c, b in zip(df["correct"], df["billable"], strict=True)]
    return df


def accuracy(db: Db, filters: Filters, by: str | tuple[str, ...] = "site_id") -> pd.DataFrame:
    """Per `by` (one dimension, or several, e.g. ("class", "currency")): findings (judged sessions),
    billable ones and correct ones; counts, so a dimension without currency adds currencies up (a
    NULL currency, e.g. a session whose site is unknown, is its own group when currency is asked)."""
    names = (by,) if isinstance(by, str) else tuple(by)
    return _sums(db, filters, names)[[*names, *COUNTS]]


def leakage_overcharge(db: Db, filters: Filters, by: str = "site_id") -> pd.DataFrame:
    """Per `by` and currency: sessions judged, leakage_minor and overcharge_minor."""
    df = _sums(db, filters, (by, "currency")).rename(columns={"findings": "sessions"})
    return df[[by, "currency", "sessions", "leakage_minor", "overcharge_minor"]]


def class_counts(db: Db, filters: Filters) -> pd.DataFrame:
    """Per class and currency: sessions and the net difference (billed - expected)."""
    cols, rows = read_rows(db, f"""
        SELECT r.class AS class, r.currency AS currency, sum(r.sessions)::bigint AS sessions,
               coalesce(sum(r.difference_minor), 0)::bigint AS difference_minor
        FROM {_JUDGED} r
        WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2""", filters.params())
    return pd.DataFrame(rows, columns=cols)


def mis_billed(db: Db, filters: Filters, limit: int | None = 500) -> pd.DataFrame:
    """The judged sessions whose class is not 'correct', biggest absolute difference first: the
    expected (site currency) and billed (`billed_currency`) subtotal, tax and total, and the
    difference of the totals (NULL when unrated or billed in another currency)."""
    cols, rows = read_rows(db, f"""
        SELECT r.session_id, r.site_id, r.rate_plan_id, r.local_date, r.exited_at, r.class, r.currency,
               r.expected_total_minor, r.billed_total_minor, r.difference_minor, r.invoices, r.void_invoices, r.problem,
               r.expected_subtotal_minor, r.expected_tax_minor, r.billed_currency, r.billed_subtotal_minor,
               r.billed_tax_minor
        FROM billing_findings r
        WHERE r.class <> 'correct' AND {IN_RANGE} AND {SCOPE}
        ORDER BY abs(coalesce(r.difference_minor, 0)) DESC, r.exited_at DESC, r.session_id
        LIMIT :limit""", {**filters.params(), "limit": limit})  # None: every row (LIMIT NULL)
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------- drill-down
@dataclass(frozen=True)
class Rating:
    """One session's shadow-rated price with every step, as revwatch/rules/shadow_rating.sql (the
    classify job's own rating) gives it. `problem` set: not ratable, amounts NULL from that step on."""

    currency: str | None
    problem: str | None = None
    rate_plan_id: str | None = None
    minutes: int | None = None            # ceil(seconds / 60)
    grace_minutes: int | None = None
    billable: bool | None = None          # minutes > grace: one invoice expected
    full_days: int | None = None          # minutes // 1440
    remainder_minutes: int | None = None  # minutes % 1440
    blocks: int | None = None             # increments charged (of the remainder when capped daily)
    blocks_minor: int | None = None       # blocks * increment price (before the daily max)
    daily_max_minor: int | None = None
    subtotal_minor: int | None = None
    local_entry_date: date | None = None  # entered_at in the site's time zone (PostgreSQL's)
    tax_rate: Decimal | None = None
    tax_minor: int | None = None
    total_minor: int | None = None

    @property
    def within_grace(self) -> bool | None:
        """Nothing to bill, no invoice expected."""
        return None if self.billable is None else not self.billable


_RATING_FIELDS = tuple(f.name for f in fields(Rating))


@dataclass(frozen=True)
class SessionDetail:
    """One judged session: its finding, its shadow-rated price with every step, invoices, attempts."""

    finding: dict
    session: dict
    site: dict
    expected: Rating
    invoices: pd.DataFrame
    attempts: pd.DataFrame


def _frame(result: tuple[list[str], list[tuple]]) -> pd.DataFrame:
    cols, rows = result
    return pd.DataFrame(rows, columns=cols)


def _one(db: Db, sql: str, params: dict[str, Any]) -> dict:
    cols, rows = read_rows(db, sql, params)
    return dict(zip(cols, rows[0], strict=True)) if rows else {}


def judged_session(db: Db, session_id: str) -> dict:
    """One judged session as the classify job judged it: its finding, or for a session counted correct,
    its judgment made again by the same statement (revwatch/rules/billing_judgment.py); {} when the job
    has not judged it (still parked, exited after the cutoff, or nothing to judge)."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return judged_session(conn, session_id)
    p = {"sid": session_id}
    finding = _one(db, "SELECT * FROM billing_findings WHERE session_id = :sid", p)
    if finding:
        return finding
    counted = _one(db, """
        SELECT p.exited_at FROM parking_sessions p
        JOIN billing_correct c ON c.site_id = p.site_id AND c.hour = date_trunc('hour', p.exited_at, 'UTC')
        WHERE p.session_id = :sid""", p)
    if not counted:
        return {}
    judged = billing_judgment.judge_one(db, session_id, counted["exited_at"])
    return dict(judged._mapping) if judged is not None and judged._mapping["class"] == "correct" else {}


def session_detail(db: Db, session_id: str) -> SessionDetail | None:
    """Everything the drill-down shows for one session; None when it has not been judged."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return session_detail(conn, session_id)
    p = {"sid": session_id}
    finding = judged_session(db, session_id)
    if not finding:
        return None
    session = _one(db, "SELECT * FROM parking_sessions WHERE session_id = :sid", p)
    site = _one(db, "SELECT * FROM sites WHERE site_id = :site", {"site": finding["site_id"]})
    rated = shadow_rating.rate_one(db, session_id, session["exited_at"]) if session.get("exited_at") else None
    if rated is None:
        expected = Rating(finding.get("currency"), problem="session not in the store, or still open")
    else:
        steps = {k: v for k, v in rated._mapping.items() if k in _RATING_FIELDS}
        expected = Rating(**{**steps, "currency": steps["currency"] or finding.get("currency")})
    invoices = _frame(read_rows(db, """
        SELECT invoice_id, status, currency, subtotal_minor, tax_minor, total_minor, issued_at
        FROM invoices WHERE session_id = :sid ORDER BY issued_at, invoice_id""", p))
    attempts = _frame(read_rows(db, """
        SELECT a.attempt_id, a.invoice_id, a.attempt_number, a.gateway, a.status, a.failure_code, a.amount_minor,
               a.currency, a.attempted_at
        FROM payment_attempts a JOIN invoices i USING (invoice_id)
        WHERE i.session_id = :sid ORDER BY a.attempted_at, a.attempt_id""", p))
    return SessionDetail(finding, session, site, expected, invoices, attempts)
