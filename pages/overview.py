"""Overview: is revenue coming in, are payments going through, is the data fresh?

Reads only through `metrics.figures.overview` and `.payments` (no SQL here); every label and
definition comes from the metric catalogue; formats money only here, at the edge.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import MIN_RATE_ATTEMPTS, help_text, label
from metrics.figures import health, payments
from metrics.figures import overview as q
from metrics.figures.query import Filters, snapshot
from metrics.figures.readiness import Readiness, jobs_of
from pages.common import engine as _engine
from pages.common import options_or_notice, percent, pp, sidebar_filters, signed_money, signin
from pages.common.state import no_data_yet, pending_banner, topic_state
from revwatch import clock
from revwatch.money import chart_amount, format_money
from revwatch.settings import load_settings

EMPTY_HINT = (
    "No data yet. Generate a demo world with `revwatch demo` (or point `BILLING_DATABASE_URL` at a "
    "billing database), then run `revwatch collect` to ingest it and build the rollups."
)
PERIOD_LABELS = {"today": ("Today", "vs yesterday"), "wtd": ("Week to date", "vs last week"),
                 "mtd": ("Month to date", "vs last month")}
NO_COMPARISON = "no comparison"
SERIES_COLORS = ("#1f5fbf", "#f28e2b", "#2a9d8f", "#8e6bbf")  # as the theme (revwatch/streamlit.toml)
LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")


# ---------------------------------------------------------------- data (cached)
@st.cache_data(ttl=60, show_spinner=False)
def load_freshness(db_key: str | None) -> tuple[tuple[health.JobHealth, ...], tuple[health.SourceFreshness, ...]]:
    """Every job as the Health page judges it, and each source's newest data, at now."""
    now = clock.now()
    with snapshot(_engine(db_key)) as conn:
        return health.job_health(conn, now), health.source_freshness(conn, now)


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


def major(minor_series: pd.Series, currencies: pd.Series) -> list[float]:
    """Minor units -> major units, for chart axes only (never for arithmetic)."""
    return [float(chart_amount(int(m), c)) for m, c in zip(minor_series, currencies, strict=True)]


# ---------------------------------------------------------------- sections
SOURCE_LABELS = {"billing": "billing", "stripe": "Stripe", "adyen": "Adyen reports", "bank": "bank statements",
                 "gl": "GL exports", "fx": "exchange rates"}
OK_STATUSES = ("ok", "running")  # the Health page's "Jobs ok"


def age(f: health.SourceFreshness) -> str:
    """How old a source's newest data is: minutes or hours, days for a date-only source and past two days."""
    d = f.age or timedelta()
    minutes = int(d.total_seconds() // 60)
    if isinstance(f.newest, datetime) and minutes < 48 * 60:
        return f"{max(minutes, 0)} min" if minutes < 120 else f"{minutes // 60} h"
    return "1 day" if d.days == 1 else f"{d.days} days"


def job_groups(not_ok: list[health.JobHealth], names_up_to: int = 3) -> str:
    """'ingest-billing failing, 9 stale': the jobs of a status named while they are few, counted beyond."""
    by: dict[str, list[str]] = {}
    for j in not_ok:
        by.setdefault(j.status, []).append(j.job)
    return ", ".join(f"{' and '.join(names)} {status}" if len(names) <= names_up_to else f"{len(names)} {status}"
                     for status, names in by.items())


def freshness_summary(jobs: tuple[health.JobHealth, ...], sources: tuple[health.SourceFreshness, ...]) -> tuple[str, str]:
    """('Data as of 08:41 UTC · oldest source: bank statements 2 days · all 15 jobs ok', '') or, with jobs not ok as
    the Health page counts them, (that line, '3 of 15 jobs not ok: reconcile failing, 2 stale'): one line each."""
    by_name = {j.job: j for j in jobs}
    overview = [by_name[n] for n in jobs_of("overview") if n in by_name]
    done = [j.last_success_at for j in overview if j.last_success_at is not None]
    parts = [f"Data as of {min(done):%d %b %H:%M} UTC" if jobs and len(done) == len(overview)
             else "Data: not computed yet"]
    aged = [f for f in sources if f.age is not None]
    if aged:
        oldest = max(aged, key=lambda f: f.age or timedelta())
        stale = " (stale)" if oldest.badge == "stale" else ""
        parts.append(f"oldest source: {SOURCE_LABELS.get(oldest.source, oldest.source)} {age(oldest)}{stale}")
    not_ok = [j for j in jobs if j.status not in OK_STATUSES]
    if not jobs:
        parts.append("no collector run recorded yet")
    elif not_ok:
        parts.append(f"{len(not_ok)} of {len(jobs)} jobs not ok")
    else:
        parts.append(f"all {len(jobs)} jobs ok")
    problems = f"{len(not_ok)} of {len(jobs)} jobs not ok: {job_groups(not_ok)}" if not_ok else ""
    return " · ".join(parts), problems


def freshness_line(db_key: str | None) -> None:
    line, problems = freshness_summary(*load_freshness(db_key))
    left, right = st.columns([6, 1], vertical_alignment="center")
    left.caption(line)
    with right:
        st.page_link("pages/health.py", label="Health", icon=":material/monitor_heart:")
    if problems:
        st.warning(problems + ". The Health page says why.", icon=":material/warning:")


def none_in_range(state: Readiness, text: str) -> None:
    """`text` ("No invoices in the selected days.") only once the figures are known."""
    st.caption(text if state.known else "Not computed yet: see the note above.")


def signed_percent(rate: float) -> str:
    """'+1.2%', '-3.4%'; a change that rounds to nothing is '0.0%', never '-0.0%'."""
    v = round(rate * 100, 1)
    return f"{v:+.1f}%" if v else "0.0%"


DAY_MS = 86_400_000
# an hourly series: hours under a day's zoom, days above it, written as the daily charts write them
HOUR_TICKS = [dict(dtickrange=[None, DAY_MS - 1], value="%H:%M<br>%d %b"), dict(dtickrange=[DAY_MS, None], value="%d %b")]


def day_axis(fig, f: Filters, max_ticks: int = 8) -> None:
    """A daily series: one tick per day (every few days on a long range), never hours; exactly the selected days."""
    step = max(1, math.ceil(f.days / max_ticks))
    fig.update_xaxes(dtick=step * DAY_MS, tickformat="%d %b", ticklabelmode="instant",
                     range=[datetime.combine(f.start, time()) - timedelta(hours=12),
                            datetime.combine(f.end, time()) + timedelta(hours=12)])


def hour_range(f: Filters, hours: pd.Series) -> list[datetime]:
    """The selected days in UTC hours (naive UTC, as the chart draws them), widened only to hours the sites'
    local days reach past midnight UTC."""
    lo, hi = datetime.combine(f.start, time()), datetime.combine(f.end + timedelta(days=1), time())
    if not hours.empty:
        lo, hi = min(lo, hours.min().to_pydatetime()), max(hi, hours.max().to_pydatetime() + timedelta(hours=1))
    return [lo, hi]


def naive_utc(s: pd.Series) -> pd.Series:
    return s.dt.tz_convert(UTC).dt.tz_localize(None) if s.dt.tz is not None else s


def revenue_cards(revenue: tuple[q.PeriodRevenue, ...], state: Readiness) -> None:
    st.subheader("Invoiced revenue", help=help_text("invoiced_revenue"))
    if not revenue:
        none_in_range(state, "No invoices today, this week or this month for the selected sites.")
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
                delta = f"{signed_money(fig.change_minor, currency)} ({signed_percent(fig.change_rate)})"
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


def revenue_chart(df: pd.DataFrame, f: Filters, state: Readiness) -> None:
    st.markdown("**Invoiced revenue per day**", help=help_text("invoiced_revenue"))
    if df.empty:
        none_in_range(state, "No invoices in the selected days.")
        return
    df = df.assign(amount=major(df["total_minor"], df["currency"]),
                   money=[format_money(int(m), c) for m, c in zip(df["total_minor"], df["currency"], strict=True)])
    fig = px.bar(df, x="local_date", y="amount", facet_row="currency", color="currency", custom_data=["money"],
                 labels={"local_date": "local day", "amount": ""}, height=170 + 150 * df["currency"].nunique())
    fig.update_traces(hovertemplate="%{x|%d %b %Y}: %{customdata[0]}<extra></extra>")
    fig.update_yaxes(matches=None, tickformat=",")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    day_axis(fig, f)
    fig.update_layout(showlegend=False, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch", key="chart_revenue")


def sessions_chart(df: pd.DataFrame, f: Filters, state: Readiness) -> None:
    st.markdown("**Sessions per day**", help=help_text("sessions"))
    if df.empty:
        none_in_range(state, "No sessions in the selected days.")
        return
    fig = px.bar(df, x="local_date", y="sessions", labels={"local_date": "local day", "sessions": "sessions"}, height=320)
    fig.update_traces(hovertemplate="%{x|%d %b %Y}: %{y:,} sessions<extra></extra>")
    fig.update_yaxes(tickformat=",")
    day_axis(fig, f)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch", key="chart_sessions")


def failure_rate_chart(df: pd.DataFrame, colors: dict[str, str], f: Filters, state: Readiness) -> None:
    st.markdown("**Payment failure rate per hour, by gateway** (UTC hours)", help=help_text("payment_failure_rate"))
    if df.empty:
        none_in_range(state, "No payment attempts in the selected days.")
        return
    # Hours with too few attempts get no rate (a gap in the line): 1 failure of 2 is not 50 %.
    df = df.assign(hour=naive_utc(df["hour"]), rate=df["failure_rate"].where(df["attempts"] >= MIN_RATE_ATTEMPTS),
                   ge_share=df["gateway_error_share"].fillna(0))
    x_range = hour_range(f, df["hour"])
    fig = px.line(df, x="hour", y="rate", color="gateway", color_discrete_map=colors, height=360,
                  custom_data=["failed", "attempts", "ge_share"],
                  labels={"hour": "hour (UTC)", "rate": "failure rate", "gateway": ""})
    fig.update_traces(line_width=1.5, hovertemplate="%{x|%d %b %H:00} UTC: %{y:.0%} failed"
                      " (%{customdata[0]:,}/%{customdata[1]:,}), %{customdata[2]:.0%} gateway errors")
    rated = df.dropna(subset=["rate"])
    if not rated.empty:
        worst = rated.loc[rated.sort_values(["rate", "failed"]).index[-1]]
        left_half = worst["hour"] - x_range[0] < (x_range[1] - x_range[0]) / 2  # the label runs into the chart
        fig.add_annotation(
            x=worst["hour"], y=worst["rate"], showarrow=True, arrowhead=2, ax=40 if left_half else -40, ay=-4,
            xanchor="left" if left_half else "right",
            text=(f"<b>max</b>: {worst['gateway']} {worst['hour']:%d %b %H:00} UTC, {int(worst['failed']):,}/"
                  f"{int(worst['attempts']):,} failed, {worst['ge_share']:.0%} gateway errors"),
            bgcolor="rgba(255,255,255,0.85)")
    fig.update_xaxes(range=x_range, tickformatstops=HOUR_TICKS)  # the selected days, never widened by the annotation
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch", key="chart_failure_rate")


def failure_codes_chart(df: pd.DataFrame, colors: dict[str, str], state: Readiness) -> None:
    st.markdown("**Top failure codes**", help=help_text("failed_attempts_by_code"))
    if df.empty:
        none_in_range(state, "No failed attempts in the selected days.")
        return
    fig = px.bar(df.iloc[::-1], x="failed", y="label", color="gateway", orientation="h", height=360,
                 color_discrete_map=colors, labels={"failed": "failed attempts", "label": "", "gateway": ""},
                 hover_data=["failure_code", "decline_class"])
    fig.update_xaxes(tickformat=",")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch", key="chart_failure_codes")


def site_hours_chart(db_key: str | None, f: Filters, sites: pd.DataFrame, state: Readiness) -> None:
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
        none_in_range(state, "No hours to show.")
        return
    grid = df.assign(day=df["local_time"].dt.date, hour=df["local_time"].dt.hour).pivot_table(
        index="hour", columns="day", values="invoices", aggfunc="sum")
    fig = px.imshow(grid, aspect="auto", color_continuous_scale="Blues", origin="lower", height=330,
                    labels={"x": "local day", "y": "local hour", "color": "invoices"})
    day_axis(fig, f)
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, width="stretch", key="chart_site_hours")


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
        no_data_yet(db_key, EMPTY_HINT)
        return
    f = sidebar_filters(sites, rng)
    state = topic_state(db_key, "overview", f.start)
    pending_banner(state)
    data = load_figures(db_key, f)
    revenue_cards(data["revenue"], state)
    range_cards(data["kpis"], f, rng)
    left, right = st.columns(2)
    with left:
        revenue_chart(data["daily_revenue"], f, state)
    with right:
        sessions_chart(data["daily_sessions"], f, state)
    gateways = sorted(set(data["hourly_payments"]["gateway"]) | set(data["failure_codes"]["gateway"]))
    colors = {g: SERIES_COLORS[i % len(SERIES_COLORS)] for i, g in enumerate(gateways)}
    failure_rate_chart(data["hourly_payments"], colors, f, state)
    left, right = st.columns(2)
    with left:
        failure_codes_chart(data["failure_codes"], colors, state)
    with right:
        site_hours_chart(db_key, f, sites, state)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
