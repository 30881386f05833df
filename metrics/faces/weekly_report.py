"""The weekly leadership report: one ISO week's figures, rendered to HTML and PDF, stored, e-mailed.

- `figures(db, iso_week, cfg)` is pure data, computed only by calling the existing metric query
  functions (metrics/overview, payments, billing_accuracy, reconciliation, alerting) for the
  week's local days Monday..Sunday: no figure has a second definition here.
- `render_html(figures)` formats (money with `format_money`, charts as plotly figures turned into
  static PNG by kaleido, embedded as data URIs); `render_pdf(html)` prints that HTML with headless
  Chromium (Playwright). Formatting is kept apart from calculation.
- `build(engine, iso_week, cfg, built_by)` stores figures, HTML and PDF as a new `weekly_reports`
  row (every build is kept: the newest per week is the current one); `send` mails a stored build.
"""
from __future__ import annotations

import base64
import html as _html
import os
import smtplib
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import Engine, text

from metrics.clients import alerting
from metrics.figures import billing_accuracy, overview, payments, reconciliation
from metrics.figures.query import Db, Filters, read_frame
from revwatch import clock
from revwatch.money import format_money
from revwatch.settings import Settings

CHROMIUM = "/usr/bin/chromium"
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


def _per_currency(df, column: str = "total_minor") -> dict[str, int]:
    if df.empty:
        return {}
    return {str(c): int(v) for c, v in df.groupby("currency")[column].sum().items()}


def _str(v: Any) -> str | None:
    return None if v is None or v != v else str(v)


def _int(v: Any) -> int:
    return 0 if v is None or v != v else int(v)


def figures(db: Db, iso_week: str, cfg: Settings, as_of: datetime | None = None) -> WeeklyFigures:
    """Every figure of the report for `iso_week`, through the metric query functions."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return figures(conn, iso_week, cfg, as_of)
    start = parse_week(iso_week)
    end = start + timedelta(days=6)
    rep = cfg.reporting_currency
    week = Filters(start, end)
    before = payments.week_earlier(week)
    four = Filters(start - timedelta(days=28), start - timedelta(days=1))
    week_close = datetime.combine(end + timedelta(days=1), time(), UTC)
    as_of = as_of or min(clock.now(), week_close)

    # revenue per currency, converted with the rate of the week's Sunday (or the latest before)
    daily = overview.daily_revenue(db, week)
    cur, prev, avg = _per_currency(daily), _per_currency(overview.daily_revenue(db, before)), \
        _per_currency(overview.daily_revenue(db, four))
    currencies = sorted(set(cur) | set(prev) | set(avg))
    rates = reconciliation.rates_on(db, currencies, end, rep)
    revenue = []
    for c in currencies:
        r = rates.get(c)
        a4 = _half_up(avg.get(c, 0), 4)
        cur_rep, prev_rep, a4_rep = [reconciliation.to_reporting(m, c, r.rate, rep) if r else None
                                     for m in (cur.get(c, 0), prev.get(c, 0), a4)]
        revenue.append(CurrencyRevenue(c, cur.get(c, 0), prev.get(c, 0), a4, str(r.rate) if r else None,
                                       r.rate_date if r else None, cur_rep, prev_rep, a4_rep))

    def total(attr: str) -> int | None:
        values = [getattr(x, attr) for x in revenue]
        return None if any(v is None for v in values) else sum(values)

    span = overview.data_range(db)
    history_complete = bool(span and span.first <= four.start)

    # payments
    head, head_before = payments.headline(db, week), payments.headline(db, before)
    days = payments.success_series(db, week, grain="day")
    daily_success = () if days.empty else tuple(
        (p if isinstance(p, date) else p.date(), int(a), int(s))
        for p, a, s in days.groupby("period")[["attempts", "succeeded"]].sum().itertuples())

    # billing accuracy
    acc = billing_accuracy.accuracy(db, week, by="local_date")
    billable, correct = int(acc["billable"].sum()) if not acc.empty else 0, int(acc["correct"].sum()) if not acc.empty else 0
    lo = billing_accuracy.leakage_overcharge(db, week, by="local_date")

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

    # disputes
    dk = payments.dispute_kpis(db, week)
    disputes = tuple({"currency": r.currency, "disputes": int(r.disputes), "amount_minor": int(r.amount_minor),
                      "won": int(r.won), "lost": int(r.lost), "open": int(r.open)} for r in dk.itertuples())

    # alerts (Alertmanager), when configured; the report never fails for want of them
    alerts, note = _alerts(cfg, start, week_close)

    rev_total = total("reporting_minor")
    incidents = _incidents(open_breaks, alerts, close, head, head_before)
    return WeeklyFigures(
        iso_week=week_of(start), week_start=start, week_end=end, reporting_currency=rep, revenue=tuple(revenue),
        revenue_reporting_minor=rev_total, previous_reporting_minor=total("previous_reporting_minor"),
        average_4w_reporting_minor=total("average_4w_reporting_minor"), history_complete=history_complete,
        attempts=head.attempts, succeeded=head.succeeded, success_rate=head.success_rate,
        previous_success_rate=head_before.success_rate, recovered=head.recovered,
        recovered_minor=dict(sorted(head.recovered_minor.items())), billable=billable, correct=correct,
        accuracy=correct / billable if billable else None,
        leakage_minor=_per_currency(lo, "leakage_minor"), overcharge_minor=_per_currency(lo, "overcharge_minor"),
        recon_month=month, recon_stages=stages, close_ready=close.ready,
        close_reasons=tuple(str(r) for r in close.reasons),
        unreconciled_reporting_minor=close.unreconciled_reporting_minor,
        disputes=disputes, open_breaks=open_breaks, alerts=alerts, alerts_note=note, incidents=incidents,
        daily_revenue=tuple((d, str(c), int(t)) for d, c, t in daily[["local_date", "currency", "total_minor"]].itertuples(index=False)),
        daily_success=daily_success)


def _alerts(cfg: Settings, start: date, week_close: datetime) -> tuple[tuple[str, ...] | None, str]:
    if not cfg.alertmanager_url:
        return None, "Alerting is not configured (set ALERTMANAGER_URL): no alerts listed."
    got = alerting.managed_alerts(cfg.alertmanager_url)
    if isinstance(got, alerting.Unavailable):
        return None, f"Alertmanager could not be read: {got}"
    week_open = datetime.combine(start, time(), UTC)
    fired = [a for a in got if a.starts_at is None or week_open <= a.starts_at < week_close
             or (a.starts_at < week_open and (a.ends_at is None or a.ends_at >= week_open))]
    lines = tuple(f"{a.name} ({a.severity or 'no severity'}) fired"
                  f"{' on ' + a.starts_at.strftime('%a %d %b %H:%M UTC') if a.starts_at else ''}"
                  f"{': ' + a.summary if a.summary else ''}." for a in fired)
    return lines, f"{len(lines)} alert(s) from Alertmanager."


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


# ---------------------------------------------------------------- rendering (formatting only)
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2%}"


def _change(cur: int | None, base: int | None) -> str:
    if cur is None or base is None or base == 0:
        return "–"
    return f"{(cur - base) / base:+.1%}"


def _png(fig) -> str:
    os.environ.setdefault("BROWSER_PATH", CHROMIUM)  # kaleido ≥ 1 drives Debian's Chromium, never a download
    data = fig.to_image(format="png", width=760, height=300, scale=1)
    return "data:image/png;base64," + base64.b64encode(data).decode()


def charts(f: WeeklyFigures) -> dict[str, str]:
    """The report's charts as PNG data URIs: daily revenue per currency, daily payment success."""
    import plotly.graph_objects as go

    out = {}
    rev = go.Figure()
    for c in sorted({c for _, c, _ in f.daily_revenue}):
        pts = [(d, t) for d, cc, t in f.daily_revenue if cc == c]
        rev.add_bar(x=[str(d) for d, _ in pts], y=[t for _, t in pts], name=c)
    rev.update_layout(title="Invoiced revenue per day (minor units)", barmode="group", template="plotly_white",
                      margin=dict(l=50, r=20, t=40, b=40))
    out["revenue"] = _png(rev)
    suc = go.Figure(go.Scatter(x=[str(d) for d, _, _ in f.daily_success],
                               y=[s / a if a else None for _, a, s in f.daily_success], mode="lines+markers"))
    suc.update_layout(title="Payment success per day", yaxis_tickformat=".1%", template="plotly_white",
                      margin=dict(l=50, r=20, t=40, b=40))
    out["success"] = _png(suc)
    return out


def _money_map(m: dict[str, int]) -> str:
    return ", ".join(format_money(v, c) for c, v in sorted(m.items())) or "none"


def render_html(f: WeeklyFigures) -> str:
    """A self-contained HTML page (inline CSS, charts as PNG data URIs)."""
    e = _html.escape
    rep = f.reporting_currency
    img = charts(f)
    rev_rows = "".join(
        f"<tr><td>{e(r.currency)}</td><td class=n>{e(format_money(r.total_minor, r.currency))}</td>"
        f"<td class=n>{_change(r.total_minor, r.previous_minor)}</td><td class=n>{_change(r.total_minor, r.average_4w_minor)}</td>"
        f"<td class=n>{e(format_money(r.reporting_minor, rep)) if r.reporting_minor is not None else 'no rate'}</td>"
        f"<td>{e(r.rate or '–')} on {e(str(r.rate_date or '–'))}</td></tr>" for r in f.revenue)
    total = format_money(f.revenue_reporting_minor, rep) if f.revenue_reporting_minor is not None else "– (a rate is missing)"
    stage_rows = "".join(
        f"<tr><td>{e(s['stage'])}</td><td>{e(s['currency'])}</td><td class=n>{s['items']:,}</td>"
        f"<td class=n>{_pct(s['matched'] / s['items'] if s['items'] else None)}</td><td class=n>{s['open']:,}</td>"
        f"<td class=n>{e(format_money(s['at_stake_minor'], s['currency']))}</td></tr>" for s in f.recon_stages)
    dispute_rows = "".join(
        f"<tr><td>{e(d['currency'])}</td><td class=n>{d['disputes']:,}</td><td class=n>{e(format_money(d['amount_minor'], d['currency']))}</td>"
        f"<td class=n>{d['won']}</td><td class=n>{d['lost']}</td><td class=n>{d['open']}</td></tr>" for d in f.disputes)
    incidents = "".join(f"<li>{e(s)}</li>" for s in f.incidents) or "<li>No incidents.</li>"
    reasons = "".join(f"<li>{e(r)}</li>" for r in f.close_reasons)
    unrec = format_money(f.unreconciled_reporting_minor, rep) if f.unreconciled_reporting_minor is not None else "–"
    note = "" if f.history_complete else "<p class=note>The data does not reach four weeks back: the 4-week average is partial.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Revwatch weekly report {e(f.iso_week)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; color: #1b1f24; margin: 24px; font-size: 13px; }}
h1 {{ font-size: 22px; margin-bottom: 0; }} h2 {{ font-size: 16px; border-bottom: 1px solid #ccc; margin-top: 22px; }}
table {{ border-collapse: collapse; margin: 6px 0; }} td, th {{ padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }} .kpi {{ font-size: 20px; font-weight: bold; }}
.note {{ color: #666; font-size: 11px; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Revwatch weekly report — {e(f.iso_week)}</h1>
<p>{f.week_start:%a %d %b %Y} – {f.week_end:%a %d %b %Y} (sites' local days)</p>
<h2>Revenue</h2>
<p>Total in {e(rep)}: <span class=kpi>{e(total)}</span> — vs previous week {_change(f.revenue_reporting_minor, f.previous_reporting_minor)},
vs 4-week average {_change(f.revenue_reporting_minor, f.average_4w_reporting_minor)}</p>
<table><tr><th>Currency</th><th>Revenue</th><th>vs prev. week</th><th>vs 4-week avg</th><th>In {e(rep)}</th><th>Rate (date)</th></tr>{rev_rows}</table>
{note}<img alt="Revenue per day" src="{img['revenue']}">
<h2>Payments</h2>
<p>Success <span class=kpi>{_pct(f.success_rate)}</span> ({f.succeeded:,} of {f.attempts:,} attempts; previous week {_pct(f.previous_success_rate)}).
Recovered by retries: {f.recovered:,} invoices, {e(_money_map(f.recovered_minor))}.</p>
<img alt="Payment success per day" src="{img['success']}">
<h2>Billing accuracy</h2>
<p>Accuracy <span class=kpi>{_pct(f.accuracy)}</span> ({f.correct:,} of {f.billable:,} billable sessions).
Leakage: {e(_money_map(f.leakage_minor))}. Overcharge: {e(_money_map(f.overcharge_minor))}.</p>
<h2>Reconciliation — {f.recon_month:%B %Y}</h2>
<table><tr><th>Stage</th><th>Currency</th><th>Items</th><th>Matched</th><th>Open breaks</th><th>At stake</th></tr>{stage_rows}</table>
<p>Month close: <b>{'ready' if f.close_ready else 'not ready'}</b>; unreconciled {e(unrec)}.</p><ul>{reasons}</ul>
<h2>Disputes</h2>
<table><tr><th>Currency</th><th>Disputes</th><th>Amount</th><th>Won</th><th>Lost</th><th>Open</th></tr>{dispute_rows}</table>
<h2>Incidents</h2><ul>{incidents}</ul><p class=note>{e(f.alerts_note)}</p>
</body></html>"""


def render_pdf(html: str) -> bytes:
    """The HTML printed to A4 PDF by headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_content(html, wait_until="load")
            return page.pdf(format="A4", print_background=True,
                            margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
        finally:
            browser.close()


# ---------------------------------------------------------------- storage and e-mail
@dataclass(frozen=True)
class StoredReport:
    report_id: int
    iso_week: str
    week_start: date
    built_at: datetime
    built_by: str
    figures: dict[str, Any]
    html: str
    pdf: bytes
    emailed_to: str | None = None
    emailed_at: datetime | None = None


def build(engine: Engine, iso_week: str, cfg: Settings, built_by: str) -> int:
    """Compute, render and store one build of the week's report; its report_id."""
    f = figures(engine, iso_week, cfg)
    html = render_html(f)
    pdf = render_pdf(html)
    with engine.begin() as conn:
        return int(conn.execute(text("""
            INSERT INTO weekly_reports (iso_week, week_start, built_at, built_by, figures, html, pdf)
            VALUES (:w, :s, :at, :by, CAST(:fig AS jsonb), :html, :pdf) RETURNING report_id"""),
            {"at": clock.now(), "w": f.iso_week, "s": f.week_start, "by": built_by, "fig": _dumps(f.to_json()), "html": html,
             "pdf": pdf}).scalar_one())


def _dumps(v: Any) -> str:
    import json

    return json.dumps(v)


_COLS = "report_id, iso_week, week_start, built_at, built_by, figures, html, pdf, emailed_to, emailed_at"


def _report(row) -> StoredReport:
    d = dict(row._mapping)
    d["pdf"] = bytes(d["pdf"])
    return StoredReport(**d)


def report(db: Db, report_id: int) -> StoredReport | None:
    if isinstance(db, Engine):
        with db.connect() as conn:
            return report(conn, report_id)
    row = db.execute(text(f"SELECT {_COLS} FROM weekly_reports WHERE report_id = :id"), {"id": report_id}).first()
    return _report(row) if row else None


def current(db: Db, iso_week: str) -> StoredReport | None:
    """The newest build of the week (the current report), or None."""
    if isinstance(db, Engine):
        with db.connect() as conn:
            return current(conn, iso_week)
    row = db.execute(text(f"SELECT {_COLS} FROM weekly_reports WHERE iso_week = :w "
                          "ORDER BY built_at DESC, report_id DESC LIMIT 1"), {"w": iso_week}).first()
    return _report(row) if row else None


def history(db: Db, iso_week: str | None = None):
    """Builds, newest first: report_id, iso_week, built_at, built_by, emailed_to, emailed_at."""
    return read_frame(db, """
        SELECT report_id, iso_week, built_at, built_by, emailed_to, emailed_at FROM weekly_reports
        WHERE CAST(:w AS text) IS NULL OR iso_week = CAST(:w AS text)
        ORDER BY built_at DESC, report_id DESC""", {"w": iso_week})


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


def recipients(cfg: Settings) -> list[str]:
    return [r.strip() for r in (cfg.report_recipients or "").split(",") if r.strip()]


def send(engine: Engine, rep: StoredReport, cfg: Settings) -> list[str]:
    """E-mail one stored build (HTML body, PDF attached) to REPORT_RECIPIENTS by SMTP, and record it."""
    to = recipients(cfg)
    if not cfg.smtp_host or not to:
        raise ValueError("set SMTP_HOST and REPORT_RECIPIENTS to send the weekly report")
    msg = EmailMessage()
    msg["Subject"] = f"Revwatch weekly report {rep.iso_week}"
    msg["From"], msg["To"] = cfg.smtp_from, ", ".join(to)
    msg["Date"], msg["Message-ID"] = format_datetime(clock.now()), make_msgid(domain="revwatch")
    msg.set_content(f"The Revwatch weekly report for {rep.iso_week} is attached as PDF.")
    msg.add_alternative(rep.html, subtype="html")
    msg.add_attachment(rep.pdf, maintype="application", subtype="pdf", filename=f"weekly-{rep.iso_week}.pdf")
    with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30) as smtp:
        if cfg.smtp_starttls:
            smtp.starttls()
        if cfg.smtp_user:
            smtp.login(cfg.smtp_user, cfg.smtp_password or "")
        smtp.send_message(msg)
    with engine.begin() as conn:
        conn.execute(text("UPDATE weekly_reports SET emailed_to = :to, emailed_at = :at WHERE report_id = :id"),
                     {"to": ", ".join(to), "at": clock.now(), "id": rep.report_id})
    return to
