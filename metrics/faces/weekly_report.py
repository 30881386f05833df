"""The weekly leadership report as people see it: the week's figures rendered to one self-contained
HTML page (inline CSS, charts as PNG data URIs) and printed to PDF by headless Chromium.

Formatting only: the figures are metrics/figures/weekly_report.py's, building, storing, reading
back and e-mailing are metrics/actions/weekly_report.py's. `build` and `run_job` are those actions
with this rendering, which they take as an argument (actions never import faces); the other names
of `__all__` are re-exported so that the report's callers (the Reports page, `revwatch report
weekly`) need this one module.
"""
from __future__ import annotations

import base64
import html as _html
import logging
import os
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine

from metrics.actions import weekly_report as reports
from metrics.actions import weekly_report_job
from metrics.actions.weekly_report import current, history, report, send
from metrics.figures.weekly_report import FailureWindow, WeeklyFigures, last_complete_week, parse_week, weeks
from revwatch.money import chart_amount, format_money
from revwatch.runlog import RunStats
from revwatch.settings import Settings

__all__ = ["build", "change", "charts", "current", "history", "last_complete_week", "parse_week", "points", "render",
           "render_html", "render_pdf", "report", "revenue_figure", "run_job", "send", "success_figure", "weeks"]

CHROMIUM = "/usr/bin/chromium"
log = logging.getLogger("revwatch.reports")


# ---------------------------------------------------------------- the actions, with this rendering
def build(engine: Engine, iso_week: str, cfg: Settings, built_by: str) -> int:
    """Compute, render and store one build of the week's report; its report_id."""
    return reports.build(engine, iso_week, cfg, built_by, render)


def run_job(engine: Engine, cfg: Settings, now: datetime | None = None) -> RunStats:
    """The scheduled weekly-report job (metrics/actions/weekly_report_job.py) rendering with this face:
    what the worker runs."""
    return weekly_report_job.run(engine, cfg, now, render=render)


def render(f: WeeklyFigures) -> reports.Rendered:
    """The report's HTML and that HTML printed to PDF."""
    html = render_html(f)
    return reports.Rendered(html, render_pdf(html))


# ---------------------------------------------------------------- formatting
WEEK_BREAKS_SHOWN = 10  # rows of the week's breaks table; the caption says "the first N of M"
WIDTH = 760             # CSS pixels of a chart in the page (drawn at twice that for print)


def change(cur: int | None, base: int | None) -> str:
    """The relative change of `cur` against `base`, one decimal: '+5.0%', '-3.2%', and '0.0%' for a change
    that rounds to zero (never '-0.0%'); '–' when there is nothing to compare with."""
    if cur is None or base is None or base == 0:
        return "–"
    pct = (Decimal(cur - base) * 100 / Decimal(base)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return "0.0%" if pct == 0 else f"{pct:+}%"


def points(cur: float | None, base: float | None) -> str:
    """The change between two ratios in percentage points, two decimals, the same sign rule as `change`."""
    if cur is None or base is None:
        return "–"
    pp = round((cur - base) * 100, 2)
    return "0.00 pp" if pp == 0 else f"{pp:+.2f} pp"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2%}"


def _money_map(m: dict[str, int]) -> str:
    return ", ".join(format_money(v, c) for c, v in sorted(m.items())) or "none"


def _days(f: WeeklyFigures) -> list[date]:
    return [f.week_start + timedelta(days=i) for i in range(7)]


def revenue_figure(f: WeeklyFigures) -> Any:
    """Invoiced revenue per local day, one panel per currency, in major units of that currency
    (never added across currencies, never minor units)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    currencies = sorted({c for _, c, _ in f.daily_revenue}) or [f.reporting_currency]
    days = _days(f)
    fig = make_subplots(rows=len(currencies), cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=[f"{c} per day" for c in currencies])
    for row, c in enumerate(currencies, start=1):
        by_day = {d: t for d, cc, t in f.daily_revenue if cc == c}
        fig.add_trace(go.Bar(x=[f"{d:%a %d %b}" for d in days], y=[chart_amount(by_day.get(d, 0), c) for d in days],
                             name=c, marker_color="#1f5fbf", texttemplate="%{y:,.0f}", textposition="outside",
                             cliponaxis=False, showlegend=False), row=row, col=1)
        fig.update_yaxes(title_text=c, tickformat=",.0f", rangemode="tozero", row=row, col=1)
    fig.update_layout(title=f"Invoiced revenue per day, by currency (local days; {', '.join(currencies)})",
                      template="plotly_white", height=110 + 230 * len(currencies), margin=dict(l=80, r=20, t=70, b=40))
    return fig


def success_figure(f: WeeklyFigures) -> Any:
    """Payment attempt success per local day."""
    import plotly.graph_objects as go

    rate = {d: (s / a if a else None) for d, a, s in f.daily_success}
    days = _days(f)
    fig = go.Figure(go.Scatter(x=[f"{d:%a %d %b}" for d in days], y=[rate.get(d) for d in days], mode="lines+markers+text",
                               texttemplate="%{y:.1%}", textposition="top center", cliponaxis=False))
    fig.update_layout(title="Payment attempt success per day (local days)", template="plotly_white", height=300,
                      yaxis_tickformat=".1%", margin=dict(l=80, r=20, t=60, b=40))
    return fig


def _png(fig: Any, attempts: int = 3) -> str:
    os.environ.setdefault("BROWSER_PATH", CHROMIUM)  # kaleido ≥ 1 drives Debian's Chromium, never a download
    for attempt in range(1, attempts + 1):
        try:
            data = fig.to_image(format="png", width=WIDTH, height=fig.layout.height, scale=2)
            return "data:image/png;base64," + base64.b64encode(data).decode()
        except Exception:  # on a loaded machine kaleido's tab can run before its script loaded (ReferenceError)
            if attempt == attempts:
                raise
            log.warning("weekly report: drawing a chart failed (attempt %d of %d), trying again", attempt, attempts)
    raise AssertionError("unreachable")


def charts(f: WeeklyFigures) -> dict[str, str]:
    """The report's charts as PNG data URIs: daily revenue per currency, daily payment success."""
    return {"revenue": _png(revenue_figure(f)), "success": _png(success_figure(f))}


def _shown(n: int, total: int, what: str, order: str) -> str:
    """A table's caption: complete, or the first N of M."""
    if total == 0:
        return ""
    return f"Every one listed ({total}), {order}." if n >= total else f"The first {n} of {total} {what}, {order}."


def _where(b: dict[str, Any]) -> str:
    return " at ".join(x for x in (b.get("gateway"), b.get("site_id")) if x) or "–"


def _what(b: dict[str, Any]) -> str:
    kind = str(b.get("break_type") or "break").replace("_", " ")
    item = str(b.get("item_type") or "").replace("_", " ")
    return f"{b['stage']} {kind}{' ' + item if item else ''}"


def _stake(b: dict[str, Any], rep: str) -> str:
    own = format_money(b["at_stake_minor"], b["currency"])
    conv = b.get("at_stake_reporting_minor")
    if b["currency"] == rep:
        return own
    return f"{own} ({format_money(conv, rep) if conv is not None else 'no ' + rep + ' rate'})"


def _day(v: Any) -> str:
    return "–" if v is None else f"{v:%a %d %b}"


def _break_rows(rows: tuple[dict[str, Any], ...], rep: str, detected: bool) -> str:
    e = _html.escape
    return "".join(
        f"<tr><td>#{b['break_id']}</td><td>{e(_what(b))}</td><td>{e(_where(b))}</td><td>{_day(b['occurred_at'])}</td>"
        + (f"<td>{_day(b['opened_at'])}</td><td>{e(b['state'])}</td>" if detected else "")
        + f"<td class=n>{b['age_days']}</td><td class=n>{e(_stake(b, rep))}</td></tr>" for b in rows)


def _window_rows(f: WeeklyFigures) -> str:
    e = _html.escape

    def money(w: FailureWindow, attr: str) -> str:
        return "<br>".join(e(format_money(getattr(c, attr), c.currency)) for c in w.cost) or "–"

    return "".join(
        f"<tr><td>{w.start:%a %d %b %H:%M}–{w.end:%H:%M} UTC</td><td>{e(w.gateway)}</td>"
        f"<td class=n>{w.failed:,} of {w.attempts:,} ({_pct(w.failed / w.attempts if w.attempts else None)})</td>"
        f"<td class=n>{w.gateway_errors:,}</td><td class=n>{money(w, 'failed_minor')}</td>"
        f"<td class=n>{money(w, 'recovered_minor')}</td><td class=n>{money(w, 'unpaid_minor')}</td></tr>"
        for w in f.failure_windows)


def _incidents(f: WeeklyFigures) -> str:
    e, rep = _html.escape, f.reporting_currency
    shown = f.week_breaks[:WEEK_BREAKS_SHOWN]
    breaks = ("<p>No break occurred or was detected in the week.</p>" if not shown else
              f"<table><tr><th>Break</th><th>What</th><th>Where</th><th>Occurred</th><th>Detected</th><th>State</th>"
              f"<th>Age (days)</th><th>At stake</th></tr>{_break_rows(shown, rep, True)}</table>"
              f"<p class=note>{_shown(len(shown), len(f.week_breaks), 'breaks', 'biggest money at stake first')}</p>")
    windows = ("<p>No payment window of the week stood out as failing.</p>" if not f.failure_windows else
               "<table><tr><th>Window</th><th>Gateway</th><th>Failed</th><th>Gateway errors</th><th>Amount failed</th>"
               f"<th>Recovered by retries</th><th>Still unpaid</th></tr>{_window_rows(f)}</table><p class=note>"
               f"{_shown(len(f.failure_windows), f.failure_windows_total, 'worst payment windows of the week', 'worst first')}</p>")
    alerts = (f"<p class=warn>{e(f.alerts_note)}</p>" if f.alerts is None else
              f"<ul>{''.join(f'<li>{e(a)}</li>' for a in f.alerts) or '<li>No alert fired in the week.</li>'}</ul>"
              f"<p class=note>{e(f.alerts_note)}</p>")
    return (f"<h3>Breaks that occurred or were detected in the week</h3>"
            f"<p class=note>Items that occurred, or breaks the reconciliation opened, from {f.week_start:%a %d %b} "
            f"00:00 UTC to {f.week_end + timedelta(days=1):%a %d %b} 00:00 UTC; state and age as of "
            f"{f.as_of:%Y-%m-%d %H:%M} UTC.</p>{breaks}"
            f"<h3>Worst payment windows</h3>{windows}<h3>Alerts</h3>{alerts}")


def _after_close(f: WeeklyFigures) -> str:
    """Signed-off months whose figures moved since their sign-off (a late bank line, a reopened break, a re-rated
    session), each with its first lines: "first N of M"."""
    e = _html.escape
    if not f.signed_off_months:
        return "<p class=note>No month has been signed off yet.</p>"
    if not f.after_close:
        return (f"<p>None: nothing has changed in the {f.signed_off_months:,} signed-off month"
                f"{'s' if f.signed_off_months != 1 else ''} since their sign-off.</p>")
    out = []
    for a in f.after_close:
        moved = a["unreconciled_change_minor"]
        money = f"; unreconciled moved by {format_money(moved, a['reporting_currency'])}" if moved else ""
        shown = _shown(len(a["lines"]), a["adjustments"], "changes", "in the order of revwatch show close --by adjustments")
        signed_at = a["signed_at"] if isinstance(a["signed_at"], datetime) else datetime.fromisoformat(str(a["signed_at"]))
        out.append(f"<p><b>{e(a['month'])}</b>, signed off by {e(a['signed_by'])} on {signed_at:%d %b %Y}: "
                   f"{a['adjustments']:,} figures changed since{e(money)}.</p><ul>"
                   + "".join(f"<li>{e(line)}</li>" for line in a["lines"]) + f"</ul><p class=note>{e(shown)}</p>")
    return "".join(out)


def _work(f: WeeklyFigures) -> str:
    """The work queue's open and overdue items per type, and time to resolve against the week before."""
    e = _html.escape
    if f.work_queue is None:
        queue = "<p class=note>Not computed yet: the work queue's jobs have not run over the data.</p>"
    else:
        rows = "".join(f"<tr><td>{e(t['type'])}</td><td class=n>{t['open']:,}</td><td class=n>{t['overdue']:,}</td></tr>"
                       for t in f.work_queue["by_type"])
        queue = (f"<p>{f.work_queue['open']:,} open items, {f.work_queue['overdue']:,} past their service level.</p>"
                 + (f"<table><tr><th>Type</th><th>Open</th><th>Overdue</th></tr>{rows}</table>" if rows else ""))
    lines = "".join(f"<li>{e(line)}</li>" for line in f.resolution)
    return queue + (f"<ul>{lines}</ul>" if lines else "<p>No item was resolved in the week or the week before.</p>")


def render_html(f: WeeklyFigures) -> str:
    """A self-contained HTML page (inline CSS, charts as PNG data URIs)."""
    e = _html.escape
    rep = f.reporting_currency
    img = charts(f)
    rev_rows = "".join(
        f"<tr><td>{e(r.currency)}</td><td class=n>{e(format_money(r.total_minor, r.currency))}</td>"
        f"<td class=n>{change(r.total_minor, r.previous_minor if f.previous_complete else None)}</td>"
        f"<td class=n>{change(r.total_minor, r.average_4w_minor if f.history_complete else None)}</td>"
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
    reasons = "".join(f"<li>{e(r)}</li>" for r in f.close_reasons)
    verdict = "ready" if f.close_ready else f"not ready: {len(f.close_reasons)} check(s) missed"
    unrec = format_money(f.unreconciled_reporting_minor, rep) if f.unreconciled_reporting_minor is not None else "–"
    prev = f.previous_reporting_minor if f.previous_complete else None
    avg = f.average_4w_reporting_minor if f.history_complete else None
    note = "" if f.history_complete else (
        "<p class=note>The data does not reach " + ("four weeks" if f.previous_complete else "a week") +
        " back: no comparison is made with a span the data does not wholly cover (–).</p>")
    before = (f"previous week {_pct(f.previous_success_rate)}, {points(f.success_rate, f.previous_success_rate)}"
              if f.previous_complete else "no comparison: the data does not cover the previous week")
    dispute_table = ("<p>No dispute was opened in the week.</p>" if not f.disputes else
                     "<table><tr><th>Currency</th><th>Disputes</th><th>Amount</th><th>Won</th><th>Lost</th><th>Open</th></tr>"
                     f"{dispute_rows}</table>")
    biggest = ("<p>No break is open.</p>" if not f.open_breaks else
               f"<table><tr><th>Break</th><th>What</th><th>Where</th><th>Occurred</th><th>Age (days)</th><th>At stake</th></tr>"
               f"{_break_rows(f.open_breaks, rep, False)}</table><p class=note>"
               f"{_shown(len(f.open_breaks), f.open_breaks_total, 'open breaks', 'biggest money at stake first')}</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Revwatch weekly report {e(f.iso_week)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; color: #1b1f24; margin: 24px; font-size: 13px; }}
h1 {{ font-size: 22px; margin-bottom: 0; }} h2 {{ font-size: 16px; border-bottom: 1px solid #ccc; margin-top: 22px; }}
h3 {{ font-size: 14px; margin: 14px 0 4px; }}
table {{ border-collapse: collapse; margin: 6px 0; }} td, th {{ padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }} .kpi {{ font-size: 20px; font-weight: bold; }}
.note {{ color: #666; font-size: 11px; }} .warn {{ color: #8a5300; }} img {{ max-width: 100%; height: auto; }}
tr, img {{ break-inside: avoid; }}
</style></head><body>
<h1>Revwatch weekly report — {e(f.iso_week)}</h1>
<p>{f.week_start:%a %d %b %Y} – {f.week_end:%a %d %b %Y} (sites' local days). Built {f.as_of:%Y-%m-%d %H:%M} UTC:
open breaks, their ages and the month close are as of then.</p>
<h2>Revenue</h2>
<p>Total in {e(rep)}: <span class=kpi>{e(total)}</span> — vs previous week {change(f.revenue_reporting_minor, prev)},
vs 4-week average {change(f.revenue_reporting_minor, avg)}</p>
<table><tr><th>Currency</th><th>Revenue</th><th>vs prev. week</th><th>vs 4-week avg</th><th>In {e(rep)}</th><th>Rate (date)</th></tr>{rev_rows}</table>
{note}<img alt="Revenue per day" width={WIDTH} src="{img['revenue']}">
<h2>Payments</h2>
<p>Success <span class=kpi>{_pct(f.success_rate)}</span> ({f.succeeded:,} of {f.attempts:,} attempts; {before}).
Recovered by retries: {f.recovered:,} invoices, {e(_money_map(f.recovered_minor))}.</p>
<img alt="Payment success per day" width={WIDTH} src="{img['success']}">
<h2>Billing accuracy</h2>
<p>Accuracy <span class=kpi>{_pct(f.accuracy)}</span> ({f.correct:,} of {f.billable:,} billable sessions).
Leakage: {e(_money_map(f.leakage_minor))}. Overcharge: {e(_money_map(f.overcharge_minor))}.</p>
<h2>Reconciliation — {f.recon_month:%B %Y}</h2>
<table><tr><th>Stage</th><th>Currency</th><th>Items</th><th>Matched</th><th>Open breaks</th><th>At stake</th></tr>{stage_rows}</table>
<p>Month close: <b>{e(verdict)}</b>; unreconciled {e(unrec)}.</p><ul>{reasons}</ul>
<h3>After-close adjustments</h3>{_after_close(f)}
<h3>Biggest open breaks (every month)</h3>{biggest}
<h2>Work queue and time to resolution</h2>{_work(f)}
<h2>Disputes</h2>
{dispute_table}
<h2>Incidents of the week</h2>{_incidents(f)}
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
