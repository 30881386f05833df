"""`revwatch show TOPIC`: every page's figures as rows, for terminals and machines.

Each topic is a function (db, Options) -> DataFrame built ONLY by calling the query functions
the pages call (metrics/overview, payments, billing_accuracy, reconciliation, health) and
reshaping their result: one definition of each figure. Money stays integer minor units with a
`currency` column (`*_reporting_minor` beside it in the reporting currency where the page shows
one); every ratio comes with its numerator and denominator. Formatting is apart
(metrics/faces/show_format.py): `table` for people, `csv` and `json` for machines.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pandas as pd

from metrics.figures import billing_accuracy as ba
from metrics.figures import disputes as dp
from metrics.figures import health as hl
from metrics.figures import overview as ov
from metrics.figures import payments as pm
from metrics.figures import reconciliation as rc
from metrics.figures import refunds as rf
from metrics.figures.query import Db, Filters, ratio_column
from metrics.figures.readiness import Readiness, readiness
from revwatch import clock
from revwatch.schedule import intervals

DEFAULT_DAYS = 30  # as the pages: the last 30 days with data when no range is given
# options a topic's figures cannot be narrowed by: refused, never silently ignored
NOT_NARROWED_BY: dict[str, tuple[str, ...]] = {
    "breaks": ("--region",),
    "close": ("--from", "--site", "--region"),
    "health": ("--from", "--to", "--site", "--region", "--currency"),
}
# `--by`: each topic's other groupings (the first row shape, without --by, is the topic's default)
GROUPINGS: dict[str, tuple[str, ...]] = {
    "payments": ("method", "brand", "site", "region", "decline_class"),
    "refunds": ("reason", "day"),
    "disputes": ("currency", "reason"),
    "close": ("currency", "age", "reasons", "fx_gaps"),
    "health": ("source", "load"),
}


# each topic's figures come from the jobs of a readiness topic (metrics/figures/readiness.py TOPIC_JOBS); health
# reads the run log itself and is always known
READINESS: dict[str, str | None] = {
    "overview": "overview", "payments": "payments", "declines": "declines", "billing": "billing_accuracy",
    "misbilled": "billing_accuracy", "breaks": "reconciliation", "close": "reconciliation", "health": None,
    "refunds": "refunds", "disputes": "disputes",
}
# `table` format: the columns left out first when a table is wider than the terminal, least important first
# (csv and json always carry every column; `--wide` prints them all)
LESS_IMPORTANT: dict[str, tuple[str, ...]] = {
    "overview": ("unit", "previous_numerator", "previous_denominator"),
    "payments": ("gateway_errors", "failed", "recovered", "eventually_succeeded", "first_succeeded", "succeeded",
                 "invoices_charged"),
    "misbilled": ("void_invoices", "invoices", "expected_subtotal_minor", "expected_tax_minor",
                  "billed_subtotal_minor", "billed_tax_minor", "billed_currency", "site_id"),
    "breaks": ("state", "item_status", "reporting_currency", "break_amount_minor", "accounting_month", "site_id",
               "item_type", "right_ref"),
    "close": ("matched_items", "matched_share", "reasons", "exact_rate", "rate_date"),
    "health": ("runs_24h", "failures_24h", "last_success_at", "kind", "threshold_seconds"),
    "refunds": ("timed_refunds", "refund_seconds", "previous_amount_minor", "previous_refunds", "pending"),
    "disputes": ("previous_disputes",),
}


@dataclass(frozen=True)
class Options:
    """What the command line narrowed the figures to (local dates, both ends included)."""

    start: date | None = None
    end: date | None = None
    site_ids: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    currency: str | None = None
    by: str | None = None
    month: date | None = None
    as_of: datetime | None = None
    cfg: Any = None  # Settings: reporting currency and close thresholds
    limit: int | None = None  # every row: a machine reading the list must not lose its tail
    stages: tuple[str, ...] = ()       # breaks only
    break_types: tuple[str, ...] = ()  # breaks only
    item_types: tuple[str, ...] = ()   # breaks only

    @property
    def reporting_currency(self) -> str:
        return getattr(self.cfg, "reporting_currency", None) or "USD"


def filters(db: Db, o: Options) -> Filters:
    """The page Filters for these options; a missing end is the last day with data, a missing
    start DEFAULT_DAYS before the end (never before the first day with data)."""
    rng = ov.data_range(db)
    end = o.end or (rng.last if rng else clock.today())
    start = o.start or max(rng.first if rng else end, end - timedelta(days=DEFAULT_DAYS - 1))
    start = min(start, end)
    return Filters(start, end, tuple(o.regions), tuple(o.site_ids))


def state(db: Db, topic: str, o: Options) -> Readiness | None:
    """Are the topic's figures known at `o.as_of` (now), or not computed yet (why)? None: the topic needs no
    computation (health). The first selected day lets a first load say how far it has come."""
    name = READINESS[topic]
    if name is None:
        return None
    since = None if topic in ("breaks", "close") else filters(db, o).start
    return readiness(db, name, o.as_of or clock.now(), since)


def _in_currency(df: pd.DataFrame, o: Options) -> pd.DataFrame:
    if o.currency and "currency" in df.columns:
        df = df[df["currency"] == o.currency]
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- topics
def overview(db: Db, o: Options) -> pd.DataFrame:
    """The Overview page's KPIs, one row each: kpi, unit (count|ratio|money), currency, value,
    numerator, denominator, previous, previous_numerator, previous_denominator. The previous
    figures are those the page compares with (the equal span before; revenue: the comparable
    period) and empty where the page shows no comparison."""
    f = filters(db, o)
    k = ov.range_kpis(db, f)
    rng = ov.data_range(db)
    compare = rng is not None and rng.holds(f.previous())
    cur, prev = k.payments, k.previous_payments

    def row(kpi, unit, value, previous, num=None, den=None, prev_num=None, prev_den=None, currency=None):
        if not compare:
            previous = prev_num = prev_den = None
        return dict(kpi=kpi, unit=unit, currency=currency, value=value, numerator=num, denominator=den,
                    previous=previous, previous_numerator=prev_num, previous_denominator=prev_den)

    rows = [
        row("sessions", "count", k.sessions, k.previous_sessions),
        row("payment_attempts", "count", cur.attempts, prev.attempts),
        row("success_rate", "ratio", cur.success_rate, prev.success_rate, cur.succeeded, cur.attempts,
            prev.succeeded, prev.attempts),
        row("first_attempt_success_rate", "ratio", cur.first_attempt_success_rate, prev.first_attempt_success_rate,
            cur.first_succeeded, cur.first_attempts, prev.first_succeeded, prev.first_attempts),
        row("failed_attempts", "count", cur.failed, prev.failed),
    ]
    revenue = {(r.period, r.currency): r for r in ov.revenue_to_date(db, f, o.as_of)}
    currencies = sorted({c for _, c in revenue if not o.currency or c == o.currency})
    for currency in currencies:
        for period in ov.PERIODS:  # every period of a currency, as the page's cards (zero when none)
            r = revenue.get((period, currency), ov.PeriodRevenue(period, currency, 0, 0))
            shown = r.previous_minor if r.previous_complete and r.previous_minor else None  # as the page: no made-up change
            rows.append(dict(row(f"revenue_{period}", "money", r.total_minor, None, currency=currency), previous=shown))
    return pd.DataFrame(rows, columns=list(rows[0]), dtype=object)


def payments(db: Db, o: Options) -> pd.DataFrame:
    """Per local day, gateway and currency: attempts and their success (by attempt day), and
    the invoices first charged there (by issue day): paid first try, eventually, recovered by a
    retry and the amount recovered."""
    if o.by:
        return _payments_by(db, o, o.by)
    f = filters(db, o)
    keys = ["local_date", "gateway", "currency"]
    series = pm.success_series(db, f, "day", by=("currency",)).rename(columns={"period": "local_date"})
    series = series[[*keys, "attempts", "succeeded", "failed", "gateway_errors"]]
    out = pm.outcomes_by_gateway(db, f, by=("local_date", "currency"))
    out = out[[*keys, "attempted", "first_succeeded", "succeeded", "recovered", "recovered_minor"]].rename(
        columns={"attempted": "invoices_charged", "succeeded": "eventually_succeeded"})
    df = series.merge(out, on=keys, how="outer").sort_values(keys)
    counts = ["attempts", "succeeded", "failed", "gateway_errors", "invoices_charged", "first_succeeded",
              "eventually_succeeded", "recovered", "recovered_minor"]
    df[counts] = df[counts].fillna(0).astype(int)
    ratio_column(df, "success_rate", "succeeded", "attempts")
    ratio_column(df, "first_attempt_rate", "first_succeeded", "invoices_charged")
    ratio_column(df, "eventual_rate", "eventually_succeeded", "invoices_charged")
    cols = [*keys, "attempts", "succeeded", "success_rate", "failed", "gateway_errors", "invoices_charged", "first_succeeded", "first_attempt_rate", "eventually_succeeded", "eventual_rate", "recovered", "recovered_minor"]
    return _in_currency(df[cols], o)


def _payments_by(db: Db, o: Options, by: str) -> pd.DataFrame:
    f = filters(db, o)
    if by == "decline_class":
        df = pm.decline_classes(db, f)
        total = int(df["failed"].sum())
        df["all_failed"] = total
        return ratio_column(df, "share", "failed", "all_failed").reset_index(drop=True)
    if by == "site":
        cols = ["site_id", "gateway", "attempts", "succeeded", "failed", "gateway_errors"]
        s = pm.success_series(db, f, "day", by=("site_id",))
        df = s.groupby(["site_id", "gateway"], as_index=False)[cols[2:]].sum()[cols]
        df = ratio_column(df, "success_rate", "succeeded", "attempts")[[*cols[:4], "success_rate", *cols[4:]]]
        return df.sort_values(["site_id", "gateway"]).reset_index(drop=True)
    dim = {"method": "method", "brand": "card_brand", "region": "region"}[by]
    b = pm.breakdown(db, f)
    df = b.groupby(["gateway", dim, "currency"], as_index=False)[
        ["attempts", "succeeded", "failed", "amount_minor", "succeeded_minor"]].sum()
    df = ratio_column(df, "success_rate", "succeeded", "attempts")
    df = df[["gateway", dim, "currency", "attempts", "succeeded", "success_rate", "failed", "amount_minor",
             "succeeded_minor"]]
    return _in_currency(df.sort_values(["gateway", dim, "currency"]), o)


def declines(db: Db, o: Options) -> pd.DataFrame:
    """Failures by gateway, code and class, with each code's share of all failures."""
    df = pm.failure_codes(db, filters(db, o), limit=o.limit)
    total = int(df["failed"].sum())
    df["all_failed"] = total
    return ratio_column(df, "share", "failed", "all_failed").reset_index(drop=True)


def billing(db: Db, o: Options) -> pd.DataFrame:
    """Per currency (class `all`) and per error class and currency: billable, correct, accuracy,
    leakage and overcharge, each row that currency's own figures, all from the one definition of
    metrics/figures/billing_accuracy.py (`accuracy_totals`, and `accuracy_frame` by class; never added
    across currencies). `sessions` repeats `findings`: both count the judged sessions."""
    f = filters(db, o)
    cols = ["class", "currency", "billable", "correct", "accuracy", "findings", "sessions", "leakage_minor",
            "overcharge_minor"]
    total = pd.DataFrame([{"class": "all", "currency": t.currency, "billable": t.billable, "correct": t.correct,
                           "accuracy": t.accuracy, "findings": t.findings, "leakage_minor": t.leakage_minor,
                           "overcharge_minor": t.overcharge_minor} for t in ba.accuracy_totals(db, f)],
                         columns=[c for c in cols if c != "sessions"])
    df = pd.concat([total, ba.accuracy_frame(db, f, by=("class",))], ignore_index=True)
    df["sessions"] = df["findings"]
    df = df[cols]
    for c in ("billable", "correct", "findings", "sessions", "leakage_minor", "overcharge_minor"):
        df[c] = df[c].astype("Int64")
    df["accuracy"] = df["accuracy"].astype(float)  # NaN where nothing was billable: shown as none
    df["currency"] = df["currency"].astype(object).where(df["currency"].notna(), None)
    return _in_currency(df, o)


def misbilled(db: Db, o: Options) -> pd.DataFrame:
    """One row per mis-billed session, biggest difference first (the page's list): expected and
    billed subtotal, tax and total (billed ones in `billed_currency`), and the difference."""
    df = ba.mis_billed(db, filters(db, o), limit=o.limit)
    cols = ["session_id", "site_id", "local_date", "class", "currency", "expected_subtotal_minor", "expected_tax_minor",
            "expected_total_minor", "billed_currency", "billed_subtotal_minor", "billed_tax_minor", "billed_total_minor",
            "difference_minor", "invoices", "void_invoices", "problem"]
    df = df[cols].copy()
    for c in cols:
        if c.endswith("_minor") or c in ("invoices", "void_invoices"):
            df[c] = df[c].astype("Int64")  # whole minor units even where a row has none (unrated, other currency)
    return _in_currency(df, o)


def breaks(db: Db, o: Options) -> pd.DataFrame:
    """One row per open break (the Reconciliation page's list), biggest money at stake first; every
    accounting month unless --from/--to bound them (as the alerts count)."""
    bf = rc.BreakFilters(currencies=(o.currency,) if o.currency else (), site_ids=tuple(o.site_ids), limit=o.limit,
                         stages=o.stages, break_types=o.break_types, item_types=o.item_types,
                         first_month=rc.month_start(o.start) if o.start else None,
                         last_month=rc.month_start(o.end) if o.end else None)
    df = rc.breaks(db, bf, o.reporting_currency, o.as_of)
    df = df.assign(reporting_currency=o.reporting_currency)
    cols = ["break_id", "stage", "item_type", "break_type", "currency", "break_amount_minor", "at_stake_minor",
            "at_stake_reporting_minor", "reporting_currency", "age_days", "left_ref", "right_ref", "state",
            "item_status", "gateway", "site_id", "accounting_month"]
    return df[cols].reset_index(drop=True)


def close(db: Db, o: Options) -> pd.DataFrame:
    """Month-close readiness (`--month`; default the month of --to, else the page's: the latest
    month that has ended): per stage and
    currency the items and amounts reconciled and the verdict; `--by currency` the unreconciled
    money with its reporting-currency figure and rate, `--by age` open breaks by age,
    `--by reasons` one row per threshold missed, `--by fx_gaps` the days without a rate."""
    today = (o.as_of or clock.now()).date()
    month = o.month or o.end or rc.default_close_month(rc.months(db), today) or today
    cr = rc.close_readiness(db, month, o.cfg, o.as_of)
    label = rc.month_start(month).strftime("%Y-%m")
    if o.by == "currency":
        df = cr.unreconciled.assign(reporting_currency=cr.reporting_currency)
        df["rate"] = [None if r is None else format(r.normalize(), "f") for r in df["rate"]]  # exact, as text
        return _in_currency(df.assign(month=label)[["month", "currency", "open_breaks", "unreconciled_minor", "rate",
                                                    "rate_date", "exact_rate", "reporting_currency",
                                                    "reporting_minor"]], o)
    if o.by == "age":
        return _in_currency(cr.age_buckets.assign(month=label)[["month", "currency", "bucket", "breaks",
                                                                "at_stake_minor"]], o)
    if o.by == "reasons":
        rows = [dict(month=label, check=r.check, scope=r.scope, measured=_plain_number(r.measured),
                     limit=_plain_number(r.limit), text=r.text) for r in cr.reasons]
        return pd.DataFrame(rows, columns=["month", "check", "scope", "measured", "limit", "text"], dtype=object)
    if o.by == "fx_gaps":
        return _in_currency(cr.fx_gaps.assign(month=label)[["month", *cr.fx_gaps.columns]], o)
    cols = ["stage", "currency", "items", "matched_items", "matched_share", "reconciled_items", "item_share",
            "amount_minor", "reconciled_minor", "amount_share"]
    df = cr.shares[cols].assign(month=label, ready=cr.ready, reasons=len(cr.reasons))
    return _in_currency(df[["month", *cols, "ready", "reasons"]], o)


def _plain_number(v: Any) -> Any:
    """A measured value or limit as the machine reads it: fractions and decimals to float."""
    return float(v) if isinstance(v, (Fraction, Decimal)) else v


def health(db: Db, o: Options) -> pd.DataFrame:
    """Each job's last run, outcome, duration and freshness (the Health page's table);
    `--by source`: each source's newest data, its age and whether it is stale; `--by load`: each first load
    in chunks, how far along (the Health page's progress bars)."""
    as_of = o.as_of or clock.now()
    if o.by == "source":
        return _source_freshness(db, as_of)
    if o.by == "load":
        return _first_loads(db, as_of)
    rows = []
    schedule = intervals(o.cfg) if o.cfg is not None else None  # the worker's intervals, as the page passes them
    for j in hl.job_health(db, as_of, schedule):
        last = j.last
        dur = last.duration if last else None
        age = j.success_age
        rows.append(dict(job=j.job, kind=j.kind, status=j.status,
                         last_started_at=last.started_at if last else None,
                         last_outcome=last.outcome if last else None,
                         last_duration_seconds=dur.total_seconds() if dur is not None else None,
                         last_success_at=j.last_success_at,
                         success_age_seconds=age.total_seconds() if age is not None else None,
                         runs_24h=j.runs_24h, failures_24h=j.failures_24h))
    cols = ["job", "kind", "status", "last_started_at", "last_outcome", "last_duration_seconds", "last_success_at",
            "success_age_seconds", "runs_24h", "failures_24h"]
    return pd.DataFrame(rows, columns=cols)


def _source_freshness(db: Db, as_of: datetime) -> pd.DataFrame:
    rows = [dict(source=s.source, what=s.what, newest=s.newest, detail=s.detail,
                 age_seconds=s.age.total_seconds() if s.age is not None else None,
                 threshold_seconds=s.threshold.total_seconds(), status=s.badge)
            for s in hl.source_freshness(db, as_of)]
    return pd.DataFrame(rows, columns=["source", "what", "newest", "detail", "age_seconds", "threshold_seconds",
                                       "status"])


def _first_loads(db: Db, as_of: datetime) -> pd.DataFrame:
    rows = [dict(job=f.job, state=f.state, rows_loaded=f.rows_loaded, rows_expected=f.rows_expected,
                 share=round(f.share, 4), chunks_done=f.chunks_done, loaded_to=f.loaded_to, started_at=f.started_at,
                 elapsed_seconds=round(f.elapsed.total_seconds(), 1),
                 rows_per_second=round(f.rows_per_second) if f.rows_per_second else None,
                 remaining_seconds=round(f.remaining.total_seconds()) if f.remaining is not None else None,
                 finished_at=f.finished_at)
            for f in hl.first_loads(db, as_of)]
    return pd.DataFrame(rows, columns=["job", "state", "rows_loaded", "rows_expected", "share", "chunks_done",
                                       "loaded_to", "started_at", "elapsed_seconds", "rows_per_second",
                                       "remaining_seconds", "finished_at"])


def _with_previous(now: pd.DataFrame, before: pd.DataFrame, cols: list[str], compare: bool) -> pd.DataFrame:
    """`previous_<col>` per currency from the same days a week earlier, as the page's deltas
    (empty where the page shows none: the earlier week starts before the data)."""
    prev = before[["currency", *cols]].rename(columns={c: f"previous_{c}" for c in cols})
    df = now.merge(prev, on="currency", how="left")
    for c in cols:
        df[f"previous_{c}"] = df[f"previous_{c}"].fillna(0).astype(int).astype(object) if compare else None
    return df


def _compare_weeks(db: Db, f: Filters) -> bool:
    rng = ov.data_range(db)
    return rng is not None and rng.holds(pm.week_earlier(f))


def refunds(db: Db, o: Options) -> pd.DataFrame:
    """The Refunds section: per currency its cards (refunds, amount, succeeded, failed, pending,
    failed amount, mean time to refund with its numerator and denominator, and the week-earlier
    figures); `--by reason` or `--by day` its tables."""
    f = filters(db, o)
    if o.by == "reason":
        return _in_currency(rf.refunds_by_reason(db, f), o)
    if o.by == "day":
        return _in_currency(rf.refunds_daily(db, f), o)
    now = rf.refund_kpis(db, f)
    df = _with_previous(now, rf.refund_kpis(db, pm.week_earlier(f)), ["refunds", "amount_minor"], _compare_weeks(db, f))
    return _in_currency(df, o)


def disputes(db: Db, o: Options) -> pd.DataFrame:
    """Dispute ratio per card network and month (disputes / successful card payments, with the
    network's monitoring level); `--by currency` the Disputes cards, `--by reason` their table."""
    f = filters(db, o)
    if o.by == "currency":
        now = dp.dispute_kpis(db, f)
        df = _with_previous(now, dp.dispute_kpis(db, pm.week_earlier(f)), ["disputes"], _compare_weeks(db, f))
        return _in_currency(df, o)
    if o.by == "reason":
        return _in_currency(dp.disputes_by_reason(db, f), o)
    df = dp.dispute_ratios(db, f)
    df["month"] = [pd.Timestamp(m).strftime("%Y-%m") for m in df["month"]]
    return df[["month", "card_brand", "disputes", "card_payments", "ratio", "threshold", "over_threshold"]]


TOPICS: dict[str, Callable[[Db, Options], pd.DataFrame]] = {
    "overview": overview, "payments": payments, "declines": declines, "billing": billing, "misbilled": misbilled,
    "breaks": breaks, "close": close, "health": health, "refunds": refunds, "disputes": disputes,
}
