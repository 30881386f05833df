"""Overview: is revenue coming in, are payments going through, is the data fresh?

Reads only through `metrics.figures.overview` and `.payments` (no SQL here); every label and
definition comes from the metric catalogue; formats money only here, at the edge.
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import MIN_RATE_ATTEMPTS, help_text, label
from metrics.figures import overview as q
from metrics.figures import payments
from metrics.figures.query import Filters, snapshot
from pages.common import engine as _engine
from pages.common import markdown as md
from pages.common import options_or_notice, percent, pp, sidebar_filters, signed_money
from revwatch import clock
from revwatch.money import chart_amount, format_money
from revwatch.settings import load_settings

EMPTY_HINT = (
    "No data yet. Generate a demo world with `revwatch demo` (or point `BILLING_DATABASE_URL` at a "
    "billing database), then run `revwatch collect` to ingest it and build the rollups."
)
PERIOD_LABELS = {"today": ("Today", "vs yesterday"), "wtd": ("Week to date", "vs last week"),
                 "mtd": ("Month to date", "vs last month")}
DEFAULT_DAYS = 30
NO_COMPARISON = "no comparison"
SERIES_COLORS = ("#1f5fbf", "#f28e2b", "#2a9d8f", "#8e6bbf")  # as the theme (revwatch/streamlit.toml)
LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")


# ---------------------------------------------------------------- data (cached)
@st.cache_data(ttl=60, show_spinner=False)
def load_freshness(db_key: str | None) -> tuple[q.JobFreshness, ...]:
    return q.freshness(_engine(db_key))


@st.cache_data(ttl=60, show_spinner="Loading figures…")
def load_figures(db_key: str | None, f: Filters) -> dict:
    with snapshot(_engine(db_key)) as conn:
        return {
            "revenue": q.revenue_to_date(conn, f),
            "kpis": q.range_kpis(conn, f),
            "daily_revenue": q.daily_revenue(conn, f),
            "daily_sessions": q.daily_sessions(conn, f),
            "hourly_payments": payments.success_series(conn, f, "hour").rename(columns={"period": "hour"}),
            "failure_codes": payments.failure_codes(conn, f, limit=10),
        }


@st.cache_data(ttl=60, show_spinner=False)
def load_site_hours(db_key: str | None, f: Filters, site_id: str) -> pd.DataFrame:
    return q.hourly_site_invoices(_engine(db_key), f, site_id)


# ---------------------------------------------------------------- formatting (the edge)
def signed_count(n: int) -> str | int:
    """'+1,234' / '-56'; a plain 0 so Streamlit shows it grey, without an arrow."""
    return f"{n:+,}" if n else 0


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    minutes = int((now - when).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


def major(minor_series: pd.Series, currencies: pd.Series) -> list[float]:
    """Minor units -> major units, for chart axes only (never for arithmetic)."""
    return [float(chart_amount(int(m), c)) for m, c in zip(minor_series, currencies, strict=True)]


# ---------------------------------------------------------------- sections
def _freshness_text(j: q.JobFreshness, now: datetime) -> str:
    if j.last_outcome == "skipped" and j.last_success_at is None:
        return f"{j.job}: not configured"
    text = f"{j.job}: last success {ago(j.last_success_at, now)}"
    return text + f" (running, started {ago(j.last_run_at, now)})" if j.last_outcome == "running" else text


def freshness_line(db_key: str | None) -> None:
    jobs = load_freshness(db_key)
    if not jobs:
        st.caption("Data freshness: no collector run recorded yet.")
        return
    now = clock.now()
    st.caption("Data freshness · " + " · ".join(_freshness_text(j, now) for j in jobs))
    for j in jobs:
        if j.last_outcome == "failed":
            st.warning(f"**{md.text(j.job)}**: the last run ({ago(j.last_run_at, now)}) failed: "
                       f"{md.text(j.last_error or 'no error text')}",
                       icon=":material/warning:")


def revenue_cards(revenue: tuple[q.PeriodRevenue, ...]) -> None:
    st.subheader("Invoiced revenue", help=help_text("invoiced_revenue"))
    if not revenue:
        st.caption("No invoices today, this week or this month for the selected sites.")
        return
    by_key = {(r.period, r.currency): r for r in revenue}
    for currency in sorted({r.currency for r in revenue}):
        cols = st.columns(len(q.PERIODS))
        for col, period in zip(cols, q.PERIODS, strict=True):
            fig = by_key.get((period, currency), q.PeriodRevenue(period, currency, 0, 0))
            name, versus = PERIOD_LABELS[period]
            if not fig.previous_complete or not fig.previous_minor:  # no arrow rather than a made-up "+250 %"
                why = "starts before the first invoiced day" if not fig.previous_complete else "had no invoices"
                col.metric(f"{name} · {currency}", format_money(fig.total_minor, currency), border=True,
                           delta=NO_COMPARISON, delta_color="off", delta_arrow="off",
                           help=f"{help_text('invoiced_revenue')} No comparison: the comparable period ({versus}) {why}.")
                continue
            delta: str | int = 0
            if fig.change_minor and fig.change_rate is not None:
                delta = f"{signed_money(fig.change_minor, currency)} ({fig.change_rate * 100:+.1f}%)"
            col.metric(f"{name} · {currency}", format_money(fig.total_minor, currency), delta=delta,
                       delta_description=versus, border=True, help=help_text("invoiced_revenue"))


def range_cards(k: q.RangeKpis, f: Filters, rng: q.DataRange) -> None:
    st.subheader(f"Selected days: {f.start:%d %b %Y} – {f.end:%d %b %Y}")
    cur, prev = k.payments, k.previous_payments
    compare = rng.holds(f.previous())  # else the "previous" days hold no data at all
    if not compare:
        st.caption(f"Data starts on {rng.first:%d %b %Y}: no comparison with the previous {f.days} days.")

    def card(col, metric: str, value: str, delta, **kw) -> None:
        if compare:
            col.metric(label(metric), value, delta=delta, delta_description=f"vs previous {f.days} days",
                       help=help_text(metric), border=True, **kw)
        else:
            col.metric(label(metric), value, delta=NO_COMPARISON, delta_color="off", delta_arrow="off",
                       help=help_text(metric), border=True)

    c1, c2, c3, c4 = st.columns(4)
    card(c1, "sessions", f"{k.sessions:,}", signed_count(k.sessions - k.previous_sessions))
    card(c2, "payment_success_rate", percent(cur.success_rate), pp(cur.success_rate, prev.success_rate))
    card(c3, "first_attempt_success_rate", percent(cur.first_attempt_success_rate),
         pp(cur.first_attempt_success_rate, prev.first_attempt_success_rate))
    card(c4, "failed_attempts", f"{cur.failed:,}", signed_count(cur.failed - prev.failed), delta_color="inverse")


def revenue_chart(df: pd.DataFrame) -> None:
    st.markdown("**Invoiced revenue per day**", help=help_text("invoiced_revenue"))
    if df.empty:
        st.caption("No invoices in the selected days.")
        return
    df = df.assign(amount=major(df["total_minor"], df["currency"]))
    fig = px.bar(df, x="local_date", y="amount", facet_row="currency", color="currency",
                 labels={"local_date": "local day", "amount": ""}, height=170 + 150 * df["currency"].nunique())
    fig.update_yaxes(matches=None, tickformat=",")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(showlegend=False, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch")


def sessions_chart(df: pd.DataFrame) -> None:
    st.markdown("**Sessions per day**", help=help_text("sessions"))
    if df.empty:
        st.caption("No sessions in the selected days.")
        return
    fig = px.bar(df, x="local_date", y="sessions", labels={"local_date": "local day", "sessions": "sessions"}, height=320)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch")


def failure_rate_chart(df: pd.DataFrame, colors: dict[str, str]) -> None:
    st.markdown("**Payment failure rate per hour, by gateway** (UTC hours)", help=help_text("payment_failure_rate"))
    if df.empty:
        st.caption("No payment attempts in the selected days.")
        return
    # Hours with too few attempts get no rate (a gap in the line): 1 failure of 2 is not 50 %.
    df = df.assign(rate=df["failure_rate"].where(df["attempts"] >= MIN_RATE_ATTEMPTS),
                   ge_share=df["gateway_error_share"].fillna(0))
    fig = px.line(df, x="hour", y="rate", color="gateway", color_discrete_map=colors, height=360,
                  custom_data=["failed", "attempts", "ge_share"],
                  labels={"hour": "hour (UTC)", "rate": "failure rate", "gateway": ""})
    fig.update_traces(line_width=1.5, hovertemplate="%{x|%d %b %H:00} UTC: %{y:.0%} failed"
                      " (%{customdata[0]}/%{customdata[1]}), %{customdata[2]:.0%} gateway errors")
    rated = df.dropna(subset=["rate"])
    if not rated.empty:
        worst = rated.loc[rated.sort_values(["rate", "failed"]).index[-1]]
        fig.add_annotation(
            x=worst["hour"], y=worst["rate"], showarrow=True, arrowhead=2, ax=-40, ay=-4, xanchor="right",
            text=(f"<b>max</b>: {worst['gateway']} {worst['hour']:%d %b %H:00} UTC, {int(worst['failed'])}/"
                  f"{int(worst['attempts'])} failed, {worst['ge_share']:.0%} gateway errors"),
            bgcolor="rgba(255,255,255,0.85)")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch")


def failure_codes_chart(df: pd.DataFrame, colors: dict[str, str]) -> None:
    st.markdown("**Top failure codes**", help=help_text("failed_attempts_by_code"))
    if df.empty:
        st.caption("No failed attempts in the selected days.")
        return
    fig = px.bar(df.iloc[::-1], x="failed", y="label", color="gateway", orientation="h", height=360,
                 color_discrete_map=colors, labels={"failed": "failed attempts", "label": "", "gateway": ""},
                 hover_data=["failure_code", "decline_class"])
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch")


def site_hours_chart(db_key: str | None, f: Filters, sites: pd.DataFrame) -> None:
    in_scope = sites[sites["site_id"].isin(f.site_ids)] if f.site_ids else (
        sites[sites["region"].isin(f.regions)] if f.regions else sites)
    if in_scope.empty:
        return
    names = dict(zip(in_scope["site_id"], in_scope["name"], strict=True))
    st.markdown("**Invoices per hour at one site** (site-local hours; a pale block in busy hours is a billing gap)",
                help=help_text("invoices"))
    site_id = st.selectbox("Site", list(names), format_func=lambda s: f"{names[s]} ({s})", key="hours_site")
    df = load_site_hours(db_key, f, site_id)
    if df.empty:
        st.caption("No hours to show.")
        return
    grid = df.assign(day=df["local_time"].dt.date, hour=df["local_time"].dt.hour).pivot_table(
        index="hour", columns="day", values="invoices", aggfunc="sum")
    fig = px.imshow(grid, aspect="auto", color_continuous_scale="Blues", origin="lower", height=330,
                    labels={"x": "local day", "y": "local hour", "color": "invoices"})
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch")


# ---------------------------------------------------------------- page
def main() -> None:
    st.title("Overview")
    db_key = load_settings().database_url
    options = options_or_notice(db_key)
    if options is None:
        return
    sites, rng = options
    freshness_line(db_key)
    if rng is None:
        st.info(EMPTY_HINT, icon=":material/info:")
        return
    f = sidebar_filters(sites, rng, DEFAULT_DAYS)
    data = load_figures(db_key, f)
    revenue_cards(data["revenue"])
    range_cards(data["kpis"], f, rng)
    left, right = st.columns(2)
    with left:
        revenue_chart(data["daily_revenue"])
    with right:
        sessions_chart(data["daily_sessions"])
    gateways = sorted(set(data["hourly_payments"]["gateway"]) | set(data["failure_codes"]["gateway"]))
    colors = {g: SERIES_COLORS[i % len(SERIES_COLORS)] for i, g in enumerate(gateways)}
    failure_rate_chart(data["hourly_payments"], colors)
    left, right = st.columns(2)
    with left:
        failure_codes_chart(data["failure_codes"], colors)
    with right:
        site_hours_chart(db_key, f, sites)


main()
