"""Payment attempts: success rates, breakdowns, declines, retries, the windows that stand out from
their baseline (incident_windows.py judges them) and what their failed attempts cost, and one
attempt's trail (the Payments page, `revwatch show`, the weekly report).

Figures come from the additive rollups (`rollup_payments`, `rollup_invoice_outcomes`) plus
`sites`; ratios are computed here from the sums. Only the drill-downs (the failed attempts of one
window, one attempt's gateway objects) read raw tables, through an indexed time range or key and a
row limit. Decline classes come from the one taxonomy in metrics/figures/declines.py, bound as
parameters. Money stays integer minor units per currency; the faces format it. Refunds, disputes
and the gateway mismatches have modules of their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from metrics.catalogue import (
    BASELINE_WEEKS,
    HOUR_SIGNIFICANCE,
    INCIDENT_SIGNIFICANCE,
    MIN_BASELINE_ATTEMPTS,
    MIN_INCIDENT_ATTEMPTS,
)
from metrics.figures import declines
from metrics.figures import incident_windows as windows
from metrics.figures.incident_windows import Episode
from metrics.figures.query import IN_RANGE, SCOPE, Db, Filters, ratio, ratio_column, read_frame, read_rows

_TAXONOMY = f"LEFT JOIN {declines.SQL_TAXONOMY} ON dc.gateway = r.gateway AND dc.code = lower(r.failure_code)"
_RAW_SCOPE = SCOPE.replace("r.site_id", "p.site_id")  # the same site filter over raw rows joined to sessions
WINDOW_COUNTS = ("failed", "gateway_errors", "recovered", "unpaid")  # the counts of `failed_cost`


def week_earlier(f: Filters) -> Filters:
    """The same local days one week before: the headline comparison (same weekdays)."""
    return Filters(f.start - timedelta(days=7), f.end - timedelta(days=7), f.regions, f.site_ids)


def _params(f: Filters, **more: Any) -> dict[str, Any]:
    return {**f.params(), **declines.sql_table(), **more}


# ---------------------------------------------------------------- headline
@dataclass(frozen=True)
class Headline:
    """Counts of one range of local days; money per currency."""

    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    gateway_errors: int = 0
    invoices: int = 0            # non-void invoices issued
    attempted: int = 0           # of which charged at least once
    first_succeeded: int = 0     # paid by the first attempt
    eventually_succeeded: int = 0
    recovered: int = 0           # paid thanks to a retry
    recovered_minor: dict[str, int] = field(default_factory=dict)
    unpaid_minor: dict[str, int] = field(default_factory=dict)  # attempted, never paid

    @property
    def success_rate(self) -> float | None:
        return ratio(self.succeeded, self.attempts)

    @property
    def first_attempt_rate(self) -> float | None:
        return ratio(self.first_succeeded, self.attempted)

    @property
    def eventual_rate(self) -> float | None:
        return ratio(self.eventually_succeeded, self.attempted)

    @property
    def recovery_rate(self) -> float | None:
        return ratio(self.recovered, self.attempted - self.first_succeeded)


def headline(db: Db, f: Filters) -> Headline:
    """Attempt counts (by attempt day) and invoice outcomes (by issue day) for the range."""
    attempts = f"""
        SELECT coalesce(sum(r.attempts), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'succeeded'), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'failed'), 0)::bigint,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'failed' AND dc.decline_class = 'gateway_error'), 0)::bigint
        FROM rollup_payments r {_TAXONOMY} WHERE {IN_RANGE} AND {SCOPE}"""
    outcomes = f"""
        SELECT r.currency, sum(r.invoices)::bigint, sum(r.attempted)::bigint, sum(r.first_succeeded)::bigint,
               sum(r.succeeded)::bigint, sum(r.recovered)::bigint, sum(r.recovered_minor)::bigint,
               coalesce(sum(r.unpaid_minor) FILTER (WHERE r.first_gateway <> ''), 0)::bigint
        FROM rollup_invoice_outcomes r WHERE r.status <> 'void' AND {IN_RANGE} AND {SCOPE} GROUP BY 1"""
    a = read_rows(db, attempts, _params(f))[1][0]
    rows = read_rows(db, outcomes, f.params())[1]
    n_attempts, succeeded, failed, gateway_errors = (int(v) for v in a)
    invoices, attempted, first_succeeded, eventually_succeeded, recovered = (
        sum(int(r[i]) for r in rows) for i in range(1, 6))
    return Headline(n_attempts, succeeded, failed, gateway_errors, invoices, attempted, first_succeeded,
                    eventually_succeeded, recovered,
                    recovered_minor={r[0]: int(r[6]) for r in rows if r[6]},
                    unpaid_minor={r[0]: int(r[7]) for r in rows if r[7]})


# ---------------------------------------------------------------- trends and breakdowns
def success_series(db: Db, f: Filters, grain: str = "hour", by: tuple[str, ...] = ()) -> pd.DataFrame:
    """period (UTC hour or local date), gateway (and each of `by`: site_id, currency), attempts,
    succeeded, failed, gateway_errors (failures of decline class gateway_error), success_rate,
    failure_rate and gateway_error_share (of the failed attempts)."""
    period = {"hour": "r.hour", "day": "r.local_date"}[grain]
    extra = "".join(f", {c}" for c in _columns(by, ("site_id", "currency")))
    sql = f"""
        SELECT {period} AS period, r.gateway{extra}, sum(r.attempts)::bigint AS attempts,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'succeeded'), 0)::bigint AS succeeded,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'failed'), 0)::bigint AS failed,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'failed' AND dc.decline_class = 'gateway_error'), 0)::bigint
                   AS gateway_errors
        FROM rollup_payments r {_TAXONOMY} WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2{extra} ORDER BY 1, 2{extra}"""
    df = ratio_column(read_frame(db, sql, _params(f)), "success_rate", "succeeded", "attempts")
    return ratio_column(ratio_column(df, "failure_rate", "failed", "attempts"), "gateway_error_share", "gateway_errors",
                        "failed")


def _columns(by: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    """`by` as rollup columns (`r.name`); a name not in `allowed` is refused: never SQL from a caller."""
    if unknown := set(by) - set(allowed):
        raise ValueError(f"cannot group by {sorted(unknown)}; one of {allowed}")
    return [f"r.{c}" for c in by]


def breakdown(db: Db, f: Filters) -> pd.DataFrame:
    """gateway × method × card brand × region × currency: attempts, succeeded, failed,
    success_rate, amount_minor (attempted) and succeeded_minor."""
    sql = f"""
        SELECT r.gateway, r.payment_method_type AS method, r.card_brand, coalesce(s.region, '(unknown)') AS region,
               r.currency, sum(r.attempts)::bigint AS attempts,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'succeeded'), 0)::bigint AS succeeded,
               coalesce(sum(r.attempts) FILTER (WHERE r.status = 'failed'), 0)::bigint AS failed,
               sum(r.amount_minor)::bigint AS amount_minor,
               coalesce(sum(r.amount_minor) FILTER (WHERE r.status = 'succeeded'), 0)::bigint AS succeeded_minor
        FROM rollup_payments r LEFT JOIN sites s ON s.site_id = r.site_id
        WHERE {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY attempts DESC, 1, 2, 3, 4, 5"""
    return ratio_column(read_frame(db, sql, f.params()), "success_rate", "succeeded", "attempts")


def decline_classes(db: Db, f: Filters) -> pd.DataFrame:
    """gateway, decline_class, failed: failed attempts per class (unknown codes: unclassified)."""
    sql = f"""
        SELECT r.gateway, coalesce(dc.decline_class, 'unclassified') AS decline_class, sum(r.attempts)::bigint AS failed
        FROM rollup_payments r {_TAXONOMY}
        WHERE r.status = 'failed' AND {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2 ORDER BY failed DESC, 1, 2"""
    return read_frame(db, sql, _params(f))


def failure_codes(db: Db, f: Filters, limit: int | None = 15) -> pd.DataFrame:
    """gateway, failure_code, label, decline_class, failed: the most frequent codes, labelled."""
    sql = f"""
        SELECT r.gateway, r.failure_code, coalesce(dc.label, nullif(r.failure_code, ''), '(no code)') AS label,
               coalesce(dc.decline_class, 'unclassified') AS decline_class, sum(r.attempts)::bigint AS failed
        FROM rollup_payments r {_TAXONOMY}
        WHERE r.status = 'failed' AND {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2, 3, 4 ORDER BY failed DESC, 1, 2 LIMIT :limit"""
    return read_frame(db, sql, _params(f, limit=limit))


# ---------------------------------------------------------------- retries
FUNNEL_STAGES = ("Invoices issued", "Charged", "Paid first try", "Failed first try", "Retried",
                 "Recovered by retry", "Still unpaid")


def retry_funnel(db: Db, f: Filters) -> pd.DataFrame:
    """stage, invoices: non-void invoices by issue day, through their attempts (counts only)."""
    sql = f"""
        SELECT coalesce(sum(r.invoices), 0)::bigint, coalesce(sum(r.attempted), 0)::bigint,
               coalesce(sum(r.first_succeeded), 0)::bigint, coalesce(sum(r.retried), 0)::bigint,
               coalesce(sum(r.recovered), 0)::bigint, coalesce(sum(r.succeeded), 0)::bigint
        FROM rollup_invoice_outcomes r WHERE r.status <> 'void' AND {IN_RANGE} AND {SCOPE}"""
    inv, att, first, retried, recovered, ok = (int(v) for v in read_rows(db, sql, f.params())[1][0])
    values = (inv, att, first, att - first, retried, recovered, att - ok)
    return pd.DataFrame({"stage": FUNNEL_STAGES, "invoices": values})


def recovery_by_class(db: Db, f: Filters) -> pd.DataFrame:
    """first_gateway, decline_class, currency: invoices whose first failure had that class,
    how many were retried and recovered, recovery_rate, recovered_minor."""
    sql = f"""
        SELECT r.first_gateway AS gateway, coalesce(dc.decline_class, 'unclassified') AS decline_class, r.currency,
               sum(r.attempted - r.first_succeeded)::bigint AS failed_first, sum(r.retried)::bigint AS retried,
               sum(r.recovered)::bigint AS recovered, sum(r.recovered_minor)::bigint AS recovered_minor
        FROM rollup_invoice_outcomes r
        LEFT JOIN {declines.SQL_TAXONOMY} ON dc.gateway = r.first_gateway AND dc.code = lower(r.first_failure_code)
        WHERE r.status <> 'void' AND r.first_failure_code <> '' AND {IN_RANGE} AND {SCOPE}
        GROUP BY 1, 2, 3 ORDER BY failed_first DESC, 1, 2, 3"""
    return ratio_column(read_frame(db, sql, _params(f)), "recovery_rate", "recovered", "failed_first")


def outcomes_by_gateway(db: Db, f: Filters, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """first_gateway (and each of `by`: local_date, currency): charged invoices, first-attempt and
    eventual success (and their rates), recovered by a retry; with `currency` in `by` also
    recovered_minor (money is never summed across currencies)."""
    keys = "".join(f"{c}, " for c in _columns(by, ("local_date", "currency")))
    money = ", sum(r.recovered_minor)::bigint AS recovered_minor" if "currency" in by else ""
    sql = f"""
        SELECT {keys}r.first_gateway AS gateway, sum(r.attempted)::bigint AS attempted,
               sum(r.first_succeeded)::bigint AS first_succeeded, sum(r.succeeded)::bigint AS succeeded,
               sum(r.recovered)::bigint AS recovered{money}
        FROM rollup_invoice_outcomes r
        WHERE r.status <> 'void' AND r.first_gateway <> '' AND {IN_RANGE} AND {SCOPE}
        GROUP BY {keys}r.first_gateway ORDER BY {keys}r.first_gateway"""
    df = read_frame(db, sql, f.params())
    df = ratio_column(df, "first_attempt_rate", "first_succeeded", "attempted")
    return ratio_column(df, "eventual_rate", "succeeded", "attempted")


# ---------------------------------------------------------------- bad hours and their failed attempts
_HOURS = f"""
    SELECT r.hour, r.gateway, r.currency,
           extract(isodow FROM r.hour AT TIME ZONE 'UTC')::int * 24 + extract(hour FROM r.hour AT TIME ZONE 'UTC')::int
               - 24 AS how,
           extract(hour FROM r.hour AT TIME ZONE 'UTC')::int AS hod,
           coalesce(sum(r.attempts) FILTER (WHERE r.local_date >= :start), 0)::bigint AS attempts,
           coalesce(sum(r.attempts) FILTER (WHERE r.local_date >= :start AND r.status = 'succeeded'), 0)::bigint
               AS succeeded,
           coalesce(sum(r.attempts) FILTER (WHERE r.local_date >= :start AND r.status = 'failed'), 0)::bigint AS failed,
           coalesce(sum(r.attempts) FILTER (WHERE r.local_date >= :start AND r.status = 'unknown'), 0)::bigint AS unknown,
           coalesce(sum(r.attempts) FILTER (WHERE r.local_date >= :start AND r.status = 'failed'
                                             AND dc.decline_class = 'gateway_error'), 0)::bigint AS gateway_errors,
           coalesce(sum(r.amount_minor) FILTER (WHERE r.local_date >= :start AND r.status IN ('failed', 'unknown')), 0)
               ::bigint AS cost_minor,
           sum(r.attempts)::bigint AS pool_attempts,
           coalesce(sum(r.attempts) FILTER (WHERE r.status IN ('failed', 'unknown')), 0)::bigint AS pool_failures
    FROM rollup_payments r {_TAXONOMY}
    WHERE r.local_date BETWEEN :history_start AND :end AND {SCOPE}
    GROUP BY 1, 2, 3"""
_COUNTS = ("attempts", "succeeded", "failed", "unknown", "gateway_errors", "pool_attempts", "pool_failures")


def hourly_failures(db: Db, f: Filters, weeks: int = BASELINE_WEEKS) -> pd.DataFrame:
    """Per UTC hour and gateway, from `weeks` weeks before the range to its end: how (hour of the
    week, 0 = Monday 00:00 UTC), hod, the range's attempts, succeeded, failed, unknown, gateway_errors,
    failures (failed + unknown) and cost_minor ({currency: minor units of its failed and unknown
    attempts}), and the hour's whole counts (pool_attempts, pool_failures: every local day, the
    baselines' pools). One set-based read of the rollups; counts are summed over currencies, money never."""
    df = read_frame(db, _HOURS, _params(f, history_start=f.start - timedelta(weeks=weeks)))
    if df.empty:
        return df.drop(columns=["currency", "cost_minor"]).assign(failures=0, cost_minor=[])
    money = df[df["cost_minor"] != 0].groupby(["hour", "gateway"])[["currency", "cost_minor"]].apply(
        lambda g: {str(c): int(v) for c, v in zip(g["currency"], g["cost_minor"], strict=True)})
    out = df.groupby(["hour", "gateway", "how", "hod"], as_index=False)[list(_COUNTS)].sum()
    out["failures"] = out["failed"] + out["unknown"]
    keys = pd.MultiIndex.from_frame(out[["hour", "gateway"]])
    out["cost_minor"] = [m if isinstance(m, dict) else {} for m in money.reindex(keys)] if len(money) else [{}] * len(out)
    return out


def worst_hours(db: Db, f: Filters, limit: int = 12, min_attempts: int = MIN_INCIDENT_ATTEMPTS,
                significance: float = INCIDENT_SIGNIFICANCE) -> pd.DataFrame:
    """The gateway-hours of the range's incident windows (metrics/figures/incident_windows.py: hours
    far above their baseline, adjacent ones merged, a window kept when it has at least `min_attempts`
    attempts and its binomial tail is below `significance`): the hours of the `limit` worst windows
    (a window never comes cut), worst window first (`episodes`' order), by hour within it. Columns:
    those of `success_series` by hour (`period` named `hour`) and unknown, failures (failed + unknown),
    cost_minor, baseline (its pool), baseline_attempts, baseline_failures, baseline_rate, expected,
    excess_failures, p_value, score (-log10 p_value), window_start, window_end, window_p_value and
    window_score. Empty when nothing stands out: a failure rate that is high as usual is no incident."""
    hours = hourly_failures(db, f)
    scored = windows.windows(windows.score_hours(hours, MIN_BASELINE_ATTEMPTS, HOUR_SIGNIFICANCE), min_attempts,
                             significance)
    df = scored[scored["incident"]]
    ranked = [(e.gateway, pd.Timestamp(e.start)) for e in episodes(df)][:limit]
    order = pd.DataFrame(ranked, columns=["gateway", "window_start"]).astype({"window_start": df["window_start"].dtype})
    df = df.merge(order.reset_index(names="_rank"), on=["gateway", "window_start"]).sort_values(["_rank", "hour"])
    df = ratio_column(df, "success_rate", "succeeded", "attempts")
    df = ratio_column(ratio_column(df, "failure_rate", "failed", "attempts"), "gateway_error_share", "gateway_errors",
                      "failed")
    return df[list(_WORST_COLUMNS)].reset_index(drop=True)


_WORST_COLUMNS = ("hour", "gateway", "attempts", "succeeded", "failed", "gateway_errors", "success_rate", "failure_rate",
                  "gateway_error_share", "unknown", "failures", "cost_minor", "baseline", "baseline_attempts",
                  "baseline_failures", "baseline_rate", "expected", "excess_failures", "p_value", "score",
                  "window_start", "window_end", "window_p_value", "window_score")


def episodes(hours: pd.DataFrame) -> tuple[Episode, ...]:
    """Merge adjacent hours of the same gateway (rows of `worst_hours`) into one window, worst first:
    the failure rate furthest above its baseline (incident_windows.rank_key)."""
    return windows.episodes(hours)


_FAILED_IN_WINDOW = f"""
    FROM payment_attempts a
    LEFT JOIN invoices i ON i.invoice_id = a.invoice_id
    LEFT JOIN parking_sessions p ON p.session_id = i.session_id
    LEFT JOIN {declines.SQL_TAXONOMY} ON dc.gateway = a.gateway AND dc.code = lower(a.failure_code)
    LEFT JOIN LATERAL (  -- what became of the invoice after this failure
        SELECT bool_or(b.status = 'succeeded') AS paid,
               (array_agg(b.amount_minor ORDER BY b.attempted_at) FILTER (
                   WHERE b.status = 'succeeded' AND b.attempted_at > a.attempted_at))[1] AS recovered_minor
        FROM payment_attempts b WHERE b.invoice_id = a.invoice_id) x ON true
    WHERE a.status = 'failed' AND a.attempted_at >= :start AND a.attempted_at < :end
      AND (CAST(:gateway AS text) IS NULL OR a.gateway = :gateway) AND {_RAW_SCOPE}"""


def failed_cost(db: Db, f: Filters, start: datetime, end: datetime, gateway: str | None = None) -> pd.DataFrame:
    """Per currency, the failed attempts of [start, end) (UTC; attempted_at, indexed): failed,
    gateway_errors, failed_minor, recovered (a later attempt succeeded) and recovered_minor,
    unpaid (the invoice is still not paid) and unpaid_minor."""
    sql = f"""
        SELECT a.currency, count(*) AS failed,
               count(*) FILTER (WHERE dc.decline_class = 'gateway_error') AS gateway_errors,
               sum(a.amount_minor)::bigint AS failed_minor,
               count(x.recovered_minor) AS recovered, coalesce(sum(x.recovered_minor), 0)::bigint AS recovered_minor,
               count(*) FILTER (WHERE x.paid IS NOT TRUE) AS unpaid,
               coalesce(sum(a.amount_minor) FILTER (WHERE x.paid IS NOT TRUE), 0)::bigint AS unpaid_minor
        {_FAILED_IN_WINDOW}
        GROUP BY 1 ORDER BY 1"""
    return read_frame(db, sql, _params(f, start=start, end=end, gateway=gateway))


def window_counts(cost: pd.DataFrame) -> dict[str, int]:
    """The counts of a `failed_cost` frame over its currencies (counts add up; money never does)."""
    return {c: int(cost[c].sum()) for c in WINDOW_COUNTS}


def failed_attempts(db: Db, f: Filters, start: datetime, end: datetime, gateway: str | None = None,
                    limit: int = 500) -> pd.DataFrame:
    """The failed attempts of [start, end) (UTC), newest first, at most `limit`: a drill-down
    over the attempted_at index, with code label and class and what became of the invoice.
    customer_id is raw here: the page masks it."""
    sql = f"""
        SELECT a.attempted_at, a.attempt_id, a.gateway, a.failure_code,
               coalesce(dc.label, a.failure_code, '(no code)') AS label,
               coalesce(dc.decline_class, 'unclassified') AS decline_class,
               a.attempt_number, a.payment_method_type AS method, a.card_brand, a.currency, a.amount_minor,
               CASE WHEN x.recovered_minor IS NOT NULL THEN 'recovered later'
                    WHEN x.paid THEN 'paid' ELSE 'unpaid' END AS invoice_outcome,
               a.invoice_id, i.session_id, p.site_id, p.customer_id, a.gateway_reference
        {_FAILED_IN_WINDOW}
        ORDER BY a.attempted_at DESC, a.attempt_id LIMIT :limit"""
    return read_frame(db, sql, _params(f, start=start, end=end, gateway=gateway, limit=limit))


@dataclass(frozen=True)
class AttemptTrail:
    """One attempt and everything around it: invoice, session, site, the invoice's attempts and
    refunds, and the gateway's own objects (Stripe charge as sent, Adyen report lines)."""

    attempt: dict[str, Any]
    invoice: dict[str, Any] | None
    session: dict[str, Any] | None
    site: dict[str, Any] | None
    attempts: pd.DataFrame
    refunds: pd.DataFrame
    stripe_charge: dict[str, Any] | None
    adyen_lines: pd.DataFrame


def _one(db: Db, sql: str, params: dict) -> dict[str, Any] | None:
    cols, rows = read_rows(db, sql, params)
    return dict(zip(cols, rows[0], strict=True)) if rows else None


def attempt_trail(db: Db, attempt_id: str) -> AttemptTrail | None:
    """Drill down from an attempt to its gateway objects and back to invoice and session (by keys)."""
    a = _one(db, "SELECT * FROM payment_attempts WHERE attempt_id = :id", {"id": attempt_id})
    if a is None:
        return None
    inv = _one(db, "SELECT * FROM invoices WHERE invoice_id = :id", {"id": a["invoice_id"]})
    sess = _one(db, "SELECT * FROM parking_sessions WHERE session_id = :id", {"id": inv["session_id"]}) if inv else None
    site = _one(db, "SELECT * FROM sites WHERE site_id = :id", {"id": sess["site_id"]}) if sess else None
    attempts = read_frame(db, "SELECT attempt_id, attempt_number, attempted_at, gateway, status, failure_code, amount_minor,"
                          " currency, gateway_reference FROM payment_attempts WHERE invoice_id = :id"
                          " ORDER BY attempt_number, attempted_at", {"id": a["invoice_id"]})
    refunds = read_frame(db, "SELECT refund_id, created_at, amount_minor, currency, status, reason FROM refunds"
                         " WHERE invoice_id = :id ORDER BY created_at", {"id": a["invoice_id"]})
    ref = a["gateway_reference"]
    charge = _one(db, "SELECT raw FROM stripe_charges WHERE id = :ref OR attempt_id = :id ORDER BY (id = :ref) DESC LIMIT 1",
                  {"ref": ref, "id": attempt_id})
    lines = read_frame(db, "SELECT created_at, type, psp_reference, merchant_reference, payment_method, gross_currency,"
                       " gross_debit_minor, gross_credit_minor, net_currency, net_debit_minor, net_credit_minor, batch_number"
                       " FROM adyen_settlement_lines WHERE psp_reference = :ref OR merchant_reference = :id"
                       " ORDER BY created_at, line_number", {"ref": ref, "id": attempt_id})
    return AttemptTrail(a, inv, sess, site, attempts, refunds, charge["raw"] if charge else None, lines)
