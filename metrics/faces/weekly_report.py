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
import os
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from metrics.actions import weekly_report as reports
from metrics.actions import weekly_report_job
from metrics.actions.weekly_report import current, history, report, send
from metrics.figures.weekly_report import WeeklyFigures, last_complete_week, parse_week, weeks
from revwatch.money import format_money
from revwatch.runlog import RunStats
from revwatch.settings import Settings

__all__ = ["build", "charts", "current", "history", "last_complete_week", "parse_week", "render", "render_html",
           "render_pdf", "report", "run_job", "send", "weeks"]

CHROMIUM = "/usr/bin/chromium"


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
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2%}"


def _change(cur: int | None, base: int | None) -> str:
    if cur is None or base is None or base == 0:
        return "–"
    return f"{(cur - base) / base:+.1%}"


def _png(fig: Any) -> str:
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
