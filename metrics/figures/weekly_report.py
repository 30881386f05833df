"""The weekly leadership report's figures: one ISO week, as pure data.

Every number comes from the figure functions the pages and `revwatch show` call (overview,
payments, disputes, billing_accuracy, reconciliation) over the week's local days Monday..Sunday,
so no figure has a second definition here; this module only picks the week, the comparisons
(the week before, the four weeks before) and the conversion to the reporting currency.
Alerts are not read here (metrics/clients/alerting.py is a client): the caller passes them in.
Rendering is metrics/faces/weekly_report.py; building, storing and sending metrics/actions/.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from metrics.figures import audit_log, billing_accuracy, overview, payments, reconciliation
from metrics.figures import disputes as dp
from metrics.figures.query import Db, Filters, snapshot
from revwatch import clock
from revwatch.money import format_money
from revwatch.settings import Settings

TOP_BREAKS = 5


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


NO_ALERTS = Alerts(None, "Alerting is not configured (set ALERTMANAGER_URL): no alerts listed.")


@dataclass(frozen=True)
class WeeklyFigures:
    iso_week: str
    week_start: date
    week_end: date
    reporting_currency: str
    revenue: tuple[CurrencyRevenue, ...]
    revenue_reporting_minor: int | None          # None when some currency had no rate
    previous_reporting_minor: int | None
    average_4w_reporting_minor: int | None
    history_complete: bool                       # data reaches back four weeks before the week
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
    open_breaks: tuple[dict[str, Any], ...]      # the biggest open breaks
    alerts: tuple[str, ...] | None               # None: alerting not configured / unreachable
    alerts_note: str
    incidents: tuple[str, ...]
    daily_revenue: tuple[tuple[date, str, int], ...]
    daily_success: tuple[tuple[date, int, int], ...]
    audit_head: dict[str, Any] | None = None     # an anchor of the audit log's head (revwatch/audit_anchors.py)

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


def _str(v: Any) -> str | None:
    return None if v is None or v != v else str(v)


def _int(v: Any) -> int:
    return 0 if v is None or v != v else int(v)


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
    """Every figure of the report for `iso_week`, through the metric query functions."""
    if isinstance(db, Engine):
        with snapshot(db) as conn:
            return figures(conn, iso_week, cfg, as_of, alerts)
    start = parse_week(iso_week)
    end = start + timedelta(days=6)
    rep = cfg.reporting_currency
    week = Filters(start, end)
    as_of = as_of or min(clock.now(), week_close(iso_week))

    revenue = _revenue(db, week, rep)
    daily = overview.daily_revenue(db, week)
    span = overview.data_range(db)

    head, head_before = payments.headline(db, week), payments.headline(db, payments.week_earlier(week))
    days = payments.success_series(db, week, grain="day")
    daily_success = () if days.empty else tuple(
        (p if isinstance(p, date) else p.date(), int(a), int(s))
        for p, a, s in days.groupby("period")[["attempts", "succeeded"]].sum().itertuples())

    billing = billing_accuracy.accuracy_totals(db, week)

    # reconciliation and month close (the month of the week's Sunday)
    month = reconciliation.month_start(end)
    fun = reconciliation.funnel(db, reconciliation.ReconFilters(month, month))
    stages = tuple({"stage": r.stage, "currency": r.currency, "items": _int(r.items), "matched": _int(r.matched_items),
                    "open": _int(r.open_items), "at_stake_minor": _int(r.at_stake_minor)}
                   for r in fun.itertuples()) if not fun.empty else ()
    close = reconciliation.close_readiness(db, end, cfg, as_of=as_of)
    brk = reconciliation.breaks(db, reconciliation.BreakFilters(states=("open",), limit=TOP_BREAKS), rep, as_of)
    open_breaks = tuple({"break_id": int(b.break_id), "stage": b.stage, "break_type": _str(b.break_type),
                         "gateway": _str(b.gateway), "site_id": _str(b.site_id), "currency": _str(b.currency) or rep,
                         "at_stake_minor": _int(b.at_stake_minor), "age_days": _int(b.age_days),
                         "item_key": _str(b.item_key)} for b in brk.itertuples())

    dk = dp.dispute_kpis(db, week)
    disputes = tuple({"currency": r.currency, "disputes": int(r.disputes), "amount_minor": int(r.amount_minor),
                      "won": int(r.won), "lost": int(r.lost), "open": int(r.open)} for r in dk.itertuples())

    return WeeklyFigures(
        iso_week=week_of(start), week_start=start, week_end=end, reporting_currency=rep, revenue=revenue,
        revenue_reporting_minor=_total(revenue, "reporting_minor"),
        previous_reporting_minor=_total(revenue, "previous_reporting_minor"),
        average_4w_reporting_minor=_total(revenue, "average_4w_reporting_minor"),
        history_complete=bool(span and span.first <= start - timedelta(days=28)),
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
        disputes=disputes, open_breaks=open_breaks, alerts=alerts.lines, alerts_note=alerts.note,
        incidents=_incidents(open_breaks, alerts.lines, close, head, head_before),
        daily_revenue=tuple((d, str(c), int(t)) for d, c, t in daily[["local_date", "currency", "total_minor"]].itertuples(index=False)),
        daily_success=daily_success, audit_head=audit_log.head_anchor(db))


def _incidents(open_breaks, alerts, close, head, head_before) -> tuple[str, ...]:
    out = []
    for b in open_breaks:
        where = " at ".join(x for x in (b["gateway"], b["site_id"]) if x)
        out.append(f"Open {b['stage']} {str(b['break_type'] or 'break').replace('_', ' ')} break "
                   f"of {format_money(b['at_stake_minor'], b['currency'])}{' (' + where + ')' if where else ''}, "
                   f"{b['age_days']} day(s) old.")
    if head.success_rate is not None and head_before.success_rate is not None \
            and head.success_rate < head_before.success_rate - 0.01:
        out.append(f"Payment success fell to {head.success_rate:.1%} from {head_before.success_rate:.1%} the week before.")
    if not close.ready:
        out.append(f"The month is not ready to close: {len(close.reasons)} check(s) missed.")
    out.extend(alerts or ())
    return tuple(out)
