"""The weekly leadership report's figures: one ISO week, as pure data.

Every number comes from the figure functions the pages and `revwatch show` call (overview,
payments, disputes, billing_accuracy, reconciliation) over the week's local days Monday..Sunday,
so no figure has a second definition here; this module only picks the week, the comparisons
(the week before, the four weeks before) and the conversion to the reporting currency.

What is a state rather than a sum over the week (open breaks, their ages, the month close) is
judged at `as_of`, the moment the report is built (revwatch/clock.py), as `revwatch show breaks`
and `revwatch show close` judge it: one moment for every state, so ages and the close checks are
those `show` gives (a close judged at the week's end with today's break states agreed with no face).

The week's incidents are what happened in it: the breaks whose item occurred or which were
detected (opened) in the week's UTC span, with their money at stake; the week's worst payment
windows (`payments.worst_hours` / `episodes`) with what each cost (`payments.failed_cost`); and the
alerts. Alerts are not read here (metrics/clients/alerting.py is a client): the caller passes them in.
Rendering is metrics/faces/weekly_report.py; building, storing and sending metrics/actions/.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from metrics.figures import audit_log, billing_accuracy, overview, payments, reconciliation, work_history, work_queue
from metrics.figures import disputes as dp
from metrics.figures.query import Db, Filters, snapshot
from metrics.figures.readiness import readiness
from metrics.figures.reconciliation.break_list import BREAKS, BY_AMOUNT
from metrics.figures.reconciliation.scope import exponent_params, frame
from revwatch import clock
from revwatch.money import exponent
from revwatch.settings import Settings
from revwatch.work_items import BY_NAME

TOP_BREAKS = 5      # the biggest open breaks (every month) the report lists
AFTER_CLOSE_LINES = 5  # the adjustments the report lists per signed-off month ("first N of M")
WORST_WINDOWS = 3   # the week's worst payment windows the report costs (as the Payments page shades)


# ---------------------------------------------------------------- weeks
def parse_week(iso_week: str) -> date:
    """'2026-W47' -> the Monday of that ISO week; a ValueError saying what is wrong otherwise."""
    value = (iso_week or "").strip()
    try:
        year, w = value.upper().split("-W")
        if len(year) != 4 or len(w) != 2:
            raise ValueError
        return date.fromisocalendar(int(year), int(w), 1)
    except ValueError:
        raise ValueError(f"{iso_week!r} is not an ISO week like 2026-W47") from None


def week_of(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def last_complete_week(today: date | None = None) -> str:
    """The ISO week before the one `today` (default: today, UTC, by the clock) is in."""
    today = today or clock.today()
    return week_of(today - timedelta(days=7))


def week_open(iso_week: str) -> datetime:
    """The instant the week begins: its Monday, 00:00 UTC."""
    return datetime.combine(parse_week(iso_week), time(), UTC)


def week_close(iso_week: str) -> datetime:
    """The instant the week ends: the Monday after, 00:00 UTC."""
    return datetime.combine(parse_week(iso_week) + timedelta(days=7), time(), UTC)


def weeks(db: Db) -> list[str]:
    """ISO weeks with data (newest first), from the rollups' date range."""
    span = overview.data_range(db)
    if span is None:
        return []
    out, d = [], span.last
    while d >= span.first - timedelta(days=6):
        out.append(week_of(d))
        d -= timedelta(days=7)
    return out


# ---------------------------------------------------------------- figures (pure data)
@dataclass(frozen=True)
class CurrencyRevenue:
    currency: str
    total_minor: int
    previous_minor: int          # the week before
    average_4w_minor: int        # mean of the four weeks before, half up
    rate: str | None             # to the reporting currency (Decimal as text); None: no rate
    rate_date: date | None
    reporting_minor: int | None
    previous_reporting_minor: int | None
    average_4w_reporting_minor: int | None


@dataclass(frozen=True)
class Alerts:
    """What Alertmanager said about the week: one line per alert, or None when it could not say (`note` why)."""

    lines: tuple[str, ...] | None
    note: str


NO_ALERTS = Alerts(None, "Alerting is not configured (set ALERTMANAGER_URL): the alerts of the week cannot be listed.")


@dataclass(frozen=True)
class WindowCost:
    """What the failed attempts of one payment window cost, in one currency (`payments.failed_cost`)."""

    currency: str
    failed: int
    failed_minor: int
    recovered: int           # a later attempt succeeded
    recovered_minor: int
    unpaid: int              # the invoice is still not paid
    unpaid_minor: int


@dataclass(frozen=True)
class FailureWindow:
    """One of the week's worst payment windows (`payments.episodes`): [start, end) UTC, one gateway."""

    gateway: str
    start: datetime
    end: datetime
    attempts: int
    failed: int
    gateway_errors: int
    cost: tuple[WindowCost, ...]


@dataclass(frozen=True)
class WeeklyFigures:
    iso_week: str
    week_start: date
    week_end: date
    reporting_currency: str
    as_of: datetime                              # states (breaks, their ages, the close) are judged then
    revenue: tuple[CurrencyRevenue, ...]
    revenue_reporting_minor: int | None          # None when some currency had no rate
    previous_reporting_minor: int | None
    average_4w_reporting_minor: int | None
    history_complete: bool                       # data reaches back four weeks before the week
    previous_complete: bool                      # data reaches back to the week before's Monday
    attempts: int
    succeeded: int
    success_rate: float | None
    previous_success_rate: float | None
    recovered: int
    recovered_minor: dict[str, int]
    billable: int
    correct: int
    accuracy: float | None
    leakage_minor: dict[str, int]
    overcharge_minor: dict[str, int]
    recon_month: date
    recon_stages: tuple[dict[str, Any], ...]     # per stage and currency: items, matched, open, at stake
    close_ready: bool
    close_reasons: tuple[str, ...]
    unreconciled_reporting_minor: int | None
    disputes: tuple[dict[str, Any], ...]         # per currency: disputes, amount, won, lost, open
    open_breaks: tuple[dict[str, Any], ...]      # the TOP_BREAKS biggest open breaks of every month
    open_breaks_total: int                       # how many breaks are open, every month
    week_breaks: tuple[dict[str, Any], ...]      # every break that occurred or was opened in the week, biggest first
    failure_windows: tuple[FailureWindow, ...]   # the WORST_WINDOWS worst payment windows, with their cost
    failure_windows_total: int                   # how many windows the week's worst hours make
    alerts: tuple[str, ...] | None               # None: alerting not configured / unreachable
    alerts_note: str
    daily_revenue: tuple[tuple[date, str, int], ...]
    daily_success: tuple[tuple[date, int, int], ...]
    audit_head: dict[str, Any] | None = None     # an anchor of the audit log's head (revwatch/audit_anchors.py)
    signed_off_months: int = 0                   # months signed off, ever
    after_close: tuple[dict[str, Any], ...] = ()  # signed-off months changed since: who signed, what moved
    work_queue: dict[str, Any] | None = None      # open and overdue items per type as of as_of (None: not known yet)
    resolution: tuple[str, ...] = ()              # time to resolve, the week's last 7 days against the 7 before

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def _half_up(n: int, d: int) -> int:
    return int((Decimal(n) / Decimal(d)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _per_currency(df: pd.DataFrame, column: str = "total_minor") -> dict[str, int]:
    if df.empty:
        return {}
    return {str(c): int(v) for c, v in df.groupby("currency")[column].sum().items()}


def _missing(v: Any) -> bool:
    """None, NaN, pd.NA or NaT: a cell with no value."""
    return v is None or bool(pd.isna(v))


def _str(v: Any) -> str | None:
    return None if _missing(v) else str(v)


def _int(v: Any) -> int:
    return 0 if _missing(v) else int(v)


def _when(v: Any) -> datetime | None:
    return None if _missing(v) else pd.Timestamp(v).to_pydatetime()


def _revenue(db: Db, week: Filters, rep: str) -> tuple[CurrencyRevenue, ...]:
    """Revenue per currency, against the week before and the four weeks' mean, converted with the
    rate of the week's Sunday (or the latest before)."""
    before = payments.week_earlier(week)
    four = Filters(week.start - timedelta(days=28), week.start - timedelta(days=1))
    cur, prev, avg = (_per_currency(overview.daily_revenue(db, f)) for f in (week, before, four))
    currencies = sorted(set(cur) | set(prev) | set(avg))
    rates = reconciliation.rates_on(db, currencies, week.end, rep)
    out = []
    for c in currencies:
        r = rates.get(c)
        a4 = _half_up(avg.get(c, 0), 4)
        cur_rep, prev_rep, a4_rep = [reconciliation.to_reporting(m, c, r.rate, rep) if r else None
                                     for m in (cur.get(c, 0), prev.get(c, 0), a4)]
        out.append(CurrencyRevenue(c, cur.get(c, 0), prev.get(c, 0), a4, str(r.rate) if r else None,
                                   r.rate_date if r else None, cur_rep, prev_rep, a4_rep))
    return tuple(out)


def _total(revenue: tuple[CurrencyRevenue, ...], attr: str) -> int | None:
    values = [getattr(x, attr) for x in revenue]
    return None if any(v is None for v in values) else sum(values)


def figures(db: Db, iso_week: str, cfg: Settings, as_of: datetime | None = None,
            alerts: Alerts = NO_ALERTS) -> WeeklyFigures:
    """Every figure of the report for `iso_week`, through the metric query functions; states
    (open breaks, ages, the month close) judged at `as_of` (default now, as `revwatch show`)."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return figures(conn, iso_week, cfg, as_of, alerts)
    start = parse_week(iso_week)
    end = start + timedelta(days=6)
    rep = cfg.reporting_currency
    week = Filters(start, end)
    as_of = as_of or clock.now()

    revenue = _revenue(db, week, rep)
    daily = overview.daily_revenue(db, week)
    span = overview.data_range(db)

    head, head_before = payments.headline(db, week), payments.headline(db, payments.week_earlier(week))
    days = payments.success_series(db, week, grain="day")
    daily_success = () if days.empty else tuple(
        (p if isinstance(p, date) else p.date(), int(a), int(s))
        for p, a, s in days.groupby("period")[["attempts", "succeeded"]].sum().itertuples())
    windows = payments.episodes(payments.worst_hours(db, week))

    billing = billing_accuracy.accuracy_totals(db, week)

    # reconciliation and month close (the month of the week's Sunday), as `show close --month`
    month = reconciliation.month_start(end)
    fun = reconciliation.funnel(db, reconciliation.ReconFilters(month, month))
    stages = tuple({"stage": r.stage, "currency": r.currency, "items": _int(r.items), "matched": _int(r.matched_items),
                    "open": _int(r.open_items), "at_stake_minor": _int(r.at_stake_minor)}
                   for r in fun.itertuples()) if not fun.empty else ()
    close = reconciliation.close_readiness(db, month, cfg, as_of=as_of)
    brk = reconciliation.breaks(db, reconciliation.BreakFilters(states=("open",), limit=TOP_BREAKS), rep, as_of)

    signed = reconciliation.signed_off_months(db)
    after = (reconciliation.after_close(db, m, reconciliation.CloseThresholds.of(cfg), as_of) for m in signed)

    dk = dp.dispute_kpis(db, week)
    disputes = tuple({"currency": r.currency, "disputes": int(r.disputes), "amount_minor": int(r.amount_minor),
                      "won": int(r.won), "lost": int(r.lost), "open": int(r.open)} for r in dk.itertuples())

    return WeeklyFigures(
        iso_week=week_of(start), week_start=start, week_end=end, reporting_currency=rep, as_of=as_of, revenue=revenue,
        revenue_reporting_minor=_total(revenue, "reporting_minor"),
        previous_reporting_minor=_total(revenue, "previous_reporting_minor"),
        average_4w_reporting_minor=_total(revenue, "average_4w_reporting_minor"),
        history_complete=bool(span and span.first <= start - timedelta(days=28)),
        previous_complete=bool(span and span.holds(payments.week_earlier(week))),
        attempts=head.attempts, succeeded=head.succeeded, success_rate=head.success_rate,
        previous_success_rate=head_before.success_rate, recovered=head.recovered,
        recovered_minor=dict(sorted(head.recovered_minor.items())),
        billable=sum(t.billable for t in billing), correct=sum(t.correct for t in billing),
        accuracy=billing_accuracy.overall_accuracy(billing),
        leakage_minor={t.currency: t.leakage_minor for t in billing if t.currency},
        overcharge_minor={t.currency: t.overcharge_minor for t in billing if t.currency},
        recon_month=month, recon_stages=stages, close_ready=close.ready,
        close_reasons=tuple(str(r) for r in close.reasons),
        unreconciled_reporting_minor=close.unreconciled_reporting_minor,
        disputes=disputes, open_breaks=tuple(_break(b, rep) for b in brk.itertuples()),
        open_breaks_total=reconciliation.breaks_total(db, reconciliation.BreakFilters(states=("open",), limit=None), as_of),
        week_breaks=week_breaks(db, iso_week, rep, as_of),
        failure_windows=tuple(_window(db, week, w) for w in windows[:WORST_WINDOWS]),
        failure_windows_total=len(windows), alerts=alerts.lines, alerts_note=alerts.note,
        daily_revenue=tuple((d, str(c), int(t)) for d, c, t in daily[["local_date", "currency", "total_minor"]].itertuples(index=False)),
        daily_success=daily_success, audit_head=audit_log.head_anchor(db),
        signed_off_months=len(signed), after_close=tuple(_after_close(ac) for ac in after if ac and ac.adjustments),
        work_queue=_work_queue(db, cfg, as_of),
        resolution=tuple(line for c in work_history.resolution_report(db, min(as_of, week_close(iso_week))).change
                         if (line := work_history.change_sentence(c))))


def _work_queue(db: Db, cfg: Settings, as_of: datetime) -> dict[str, Any] | None:
    """The work queue as the page counts it: open and overdue items per type (None while not computed yet)."""
    if not readiness(db, "work_queue", as_of).known:
        return None
    q = work_queue.configured_queue(db, work_queue.QueueFilters(), cfg, as_of)
    return {"open": q.total, "overdue": q.overdue,
            "by_type": tuple({"type": BY_NAME[c.work_type].label, "open": c.open, "overdue": c.overdue}
                             for c in work_queue.counts_by_type(q) if c.open)}


def _after_close(ac: reconciliation.AfterClose) -> dict[str, Any]:
    """A signed-off month that moved since: who signed it and when, how many figures moved, the unreconciled
    money's change, and the first AFTER_CLOSE_LINES adjustments as sentences."""
    s = ac.signoff
    return {"month": f"{s.month:%Y-%m}", "signed_by": s.signed_by, "signed_at": s.signed_at,
            "reporting_currency": s.reporting_currency, "adjustments": len(ac.adjustments),
            "unreconciled_change_minor": ac.unreconciled_change_minor,
            "lines": tuple(a.text for a in ac.adjustments[:AFTER_CLOSE_LINES])}


def _break(b: Any, rep: str) -> dict[str, Any]:
    """One row of `reconciliation.breaks` as the report keeps it."""
    reporting = b.at_stake_reporting_minor
    return {"break_id": int(b.break_id), "stage": b.stage, "item_type": _str(b.item_type),
            "break_type": _str(b.break_type), "state": b.state, "gateway": _str(b.gateway), "site_id": _str(b.site_id),
            "currency": _str(b.currency) or rep, "at_stake_minor": _int(b.at_stake_minor),
            "at_stake_reporting_minor": None if _missing(reporting) else int(reporting),
            "age_days": _int(b.age_days), "occurred_at": _when(b.occurred_at), "opened_at": _when(b.opened_at),
            "item_key": _str(b.item_key)}


# the break list (reconciliation.breaks: one definition of a break's columns, money at stake and age)
# narrowed to the breaks whose item occurred, or which were opened, in [:lo, :hi)
_WEEK_BREAKS = f"""{BREAKS}
    AND (i.occurred_at >= CAST(:lo AS timestamptz) AND i.occurred_at < CAST(:hi AS timestamptz)
         OR b.opened_at >= CAST(:lo AS timestamptz) AND b.opened_at < CAST(:hi AS timestamptz))
    ORDER BY {BY_AMOUNT}"""


def week_breaks(db: Db, iso_week: str, reporting_currency: str, as_of: datetime | None = None) -> tuple[dict[str, Any], ...]:
    """Every break (any state) whose item occurred in the week's UTC span or which was opened
    (detected) in it, biggest money at stake first, with the columns and ages of the break list."""
    params = {**reconciliation.BreakFilters(states=(), limit=None).params(), "as_of": as_of or clock.now(),
              "rep": reporting_currency, "rep_exp": exponent(reporting_currency), **exponent_params(),
              "lo": week_open(iso_week), "hi": week_close(iso_week)}
    return tuple(_break(b, reporting_currency) for b in frame(db, _WEEK_BREAKS, params).itertuples())


def _window(db: Db, week: Filters, e: payments.Episode) -> FailureWindow:
    cost = payments.failed_cost(db, week, e.start, e.end, e.gateway)
    return FailureWindow(e.gateway, e.start, e.end, e.attempts, e.failed, e.gateway_errors, tuple(
        WindowCost(str(r.currency), int(r.failed), int(r.failed_minor), int(r.recovered), int(r.recovered_minor),
                   int(r.unpaid), int(r.unpaid_minor)) for r in cost.itertuples(index=False)))
