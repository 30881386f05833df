"""Read queries for billing accuracy, over `billing_findings` (collectors/compute/billing_classification.py).

One row per judged session, correct ones included, so every figure is an additive sum grouped
by the indexed (local_date, site_id) plus one dimension: billable and correct sessions (accuracy
= correct / billable, a read-time ratio), leakage (money billing failed to collect: the negative
part of billed - expected, i.e. under-billed, never billed, tax too low) and overcharge (customer
harm: the positive part, i.e. over-billed, duplicates, invoices not due, tax too high), per
currency, never summed across currencies. Dates are the sites' local exit dates; values are
bound parameters; money is integer minor units.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, read_rows
from metrics.figures.shadow_rating import Expected, Plan, TaxRate, rate_session

DIMENSIONS = ("site_id", "rate_plan_id", "class", "local_date")


def _dimension(by: str) -> str:
    if by not in DIMENSIONS:
        raise ValueError(f"cannot group billing findings by {by!r}; one of {DIMENSIONS}")
    return f'r."{by}"'


def accuracy(db: Db, filters: Filters, by: str | tuple[str, ...] = "site_id") -> pd.DataFrame:
    """Per `by` (one dimension, or several, e.g. ("class", "currency")): findings (judged
    sessions), billable ones and correct ones. `currency` may be one of several dimensions:
    the counts then split per currency and add up to the ungrouped figures (a NULL currency,
    e.g. a session whose site is unknown, is its own group)."""
    names = (by,) if isinstance(by, str) else tuple(by)
    if not names:
        raise ValueError("group billing accuracy by at least one dimension")
    dims = ['r."currency"' if n == "currency" else _dimension(n) for n in names]
    select = ", ".join(f'{d} AS "{n}"' for d, n in zip(dims, names, strict=True))
    keys = ", ".join(str(i) for i in range(1, len(names) + 1))
    cols, rows = read_rows(db, f"""
        SELECT {select}, count(*) FILTER (WHERE r.billable) AS billable,
               count(*) FILTER (WHERE r.class = 'correct') AS correct, count(*) AS findings
        FROM billing_findings r
        WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY {keys} ORDER BY {keys}""", filters.params())
    return pd.DataFrame(rows, columns=cols)


def leakage_overcharge(db: Db, filters: Filters, by: str = "site_id") -> pd.DataFrame:
    """Per `by` and currency: sessions judged, leakage_minor and overcharge_minor."""
    dim = _dimension(by)
    cols, rows = read_rows(db, f"""
        SELECT {dim} AS "{by}", r.currency, count(*) AS sessions,
               coalesce(sum(greatest(-r.difference_minor, 0)), 0)::bigint AS leakage_minor,
               coalesce(sum(greatest(r.difference_minor, 0)), 0)::bigint AS overcharge_minor
        FROM billing_findings r
        WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2 ORDER BY 1, 2""", filters.params())
    return pd.DataFrame(rows, columns=cols)


def class_counts(db: Db, filters: Filters) -> pd.DataFrame:
    """Per class and currency: sessions and the net difference (billed - expected)."""
    cols, rows = read_rows(db, f"""
        SELECT r.class, r.currency, count(*) AS sessions, coalesce(sum(r.difference_minor), 0)::bigint AS difference_minor
        FROM billing_findings r
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


@dataclass(frozen=True)
class SessionDetail:
    """One judged session: its finding, the shadow-rated price with every step, invoices, attempts."""

    finding: dict
    session: dict
    site: dict
    expected: Expected
    invoices: pd.DataFrame
    attempts: pd.DataFrame


def _frame(result: tuple[list[str], list[tuple]]) -> pd.DataFrame:
    cols, rows = result
    return pd.DataFrame(rows, columns=cols)


def session_detail(db: Db, session_id: str) -> SessionDetail | None:
    """Everything the drill-down shows for one session; None when it has no finding."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return session_detail(conn, session_id)
    p = {"sid": session_id}
    cols, rows = read_rows(db, "SELECT * FROM billing_findings WHERE session_id = :sid", p)
    if not rows:
        return None
    finding = dict(zip(cols, rows[0], strict=True))
    cols, rows = read_rows(db, "SELECT * FROM parking_sessions WHERE session_id = :sid", p)
    session = dict(zip(cols, rows[0], strict=True)) if rows else {}
    cols, rows = read_rows(db, "SELECT * FROM sites WHERE site_id = :site", {"site": finding["site_id"]})
    site = dict(zip(cols, rows[0], strict=True)) if rows else {}
    _, plan_rows = read_rows(db, """
        SELECT rate_plan_id, effective_from, effective_to, grace_minutes, increment_minutes, increment_price_minor,
               daily_max_minor FROM rate_plans WHERE site_id = :site""", {"site": finding["site_id"]})
    _, tax_rows = read_rows(db, """
        SELECT jurisdiction, rate, effective_from, effective_to FROM tax_rates WHERE jurisdiction = :j""",
                        {"j": site.get("tax_jurisdiction")})
    currency = site.get("currency") or finding.get("currency") or ""
    if session and site:
        expected = rate_session(session["entered_at"], session["exited_at"], site["timezone"], currency,
                                [Plan(*r) for r in plan_rows], [TaxRate(*r) for r in tax_rows])
    else:
        expected = Expected(currency, problem="session or site not in the store")
    invoices = _frame(read_rows(db, """
        SELECT invoice_id, status, currency, subtotal_minor, tax_minor, total_minor, issued_at
        FROM invoices WHERE session_id = :sid ORDER BY issued_at, invoice_id""", p))
    attempts = _frame(read_rows(db, """
        SELECT a.attempt_id, a.invoice_id, a.attempt_number, a.gateway, a.status, a.failure_code, a.amount_minor,
               a.currency, a.attempted_at
        FROM payment_attempts a JOIN invoices i USING (invoice_id)
        WHERE i.session_id = :sid ORDER BY a.attempted_at, a.attempt_id""", p))
    return SessionDetail(finding, session, site, expected, invoices, attempts)
