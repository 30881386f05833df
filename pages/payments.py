"""Payments: are charges going through, where do they fail, and what does a bad hour cost?

Reads only through `metrics.figures.payments` and `.gateway_mismatches` (no SQL here); every
label and definition comes from the metric catalogue. The worst gateway windows are listed
first, the worst selected by default, so a gateway-error spike and its cost are one choice
away. Money and customer ids are formatted (masked) only here, at the edge.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import MIN_RATE_ATTEMPTS, help_text, label
from metrics.figures import gateway_mismatches as gm
from metrics.figures import payments as q
from metrics.figures.declines import CLASS_LABELS
from metrics.figures.query import Filters, snapshot
from metrics.figures.readiness import Readiness
from pages.common import csv_button, filtered_page, mask_customer, money_by_currency, percent, pp, signin, with_money
from pages.common import engine as _engine
from pages.common import markdown as md
from pages.common.recon_data import download_all
from pages.common.state import nothing_found, pending_banner, shown_of, topic_state
from revwatch.money import format_money

SERIES_COLORS = {"adyen": "#1f5fbf", "stripe": "#f28e2b"}  # as the Overview page
LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")
EMPTY_HINT = "No payment data yet: run `revwatch demo` and `revwatch collect`."
PAGE_ROWS = 500  # rows a list shows; its download gives all of them


# ---------------------------------------------------------------- data (cached)
@st.cache_data(ttl=60, show_spinner="Loading payments…")
def load_figures(db_key: str | None, f: Filters) -> dict:
    with snapshot(_engine(db_key)) as conn:
        hours = q.worst_hours(conn, f, limit=12)
        return {
            "now": q.headline(conn, f),
            "before": q.headline(conn, q.week_earlier(f)),
            "hourly": q.success_series(conn, f, "hour"),
            "episodes": q.episodes(hours),
            "breakdown": q.breakdown(conn, f),
            "classes": q.decline_classes(conn, f),
            "codes": q.failure_codes(conn, f),
            "funnel": q.retry_funnel(conn, f),
            "recovery": q.recovery_by_class(conn, f),
            "by_gateway": q.outcomes_by_gateway(conn, f),
            "mismatch_totals": gm.mismatch_by_currency(conn, f),
            "mismatches": gm.mismatches(conn, f, limit=PAGE_ROWS),
        }


@st.cache_data(ttl=60, show_spinner=False)
def load_window(db_key: str | None, f: Filters, ep: q.Episode, gateway: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    with snapshot(_engine(db_key)) as conn:
        return (q.failed_cost(conn, f, ep.start, ep.end, gateway),
                q.failed_attempts(conn, f, ep.start, ep.end, gateway, limit=PAGE_ROWS))


def all_failed(db_key: str | None, f: Filters, ep: q.Episode, total: int) -> pd.DataFrame:
    """Every failed attempt of the window (`total` of them, failed_cost's count: the same rows), for a download."""
    with snapshot(_engine(db_key)) as conn:
        return masked(q.failed_attempts(conn, f, ep.start, ep.end, ep.gateway, limit=max(total, 1)))


def all_mismatches(db_key: str | None, f: Filters) -> pd.DataFrame:
    """Every finding of the selection, for a download."""
    with snapshot(_engine(db_key)) as conn:
        return masked(gm.mismatches(conn, f, limit=None))


@st.cache_data(ttl=60, show_spinner=False)
def load_trail(db_key: str | None, attempt_id: str) -> q.AttemptTrail | None:
    return q.attempt_trail(_engine(db_key), attempt_id)


# ---------------------------------------------------------------- formatting (the edge)
def episode_label(e: q.Episode) -> str:
    span = f"{e.start:%d %b %H:00}–{e.end:%H:00} UTC"
    usual = f" vs {percent(e.baseline_rate, 1)} usually" if e.baseline_rate is not None and e.expected else ""
    return (f"{span} · {e.gateway} · {e.failures:,} failed of {e.attempts:,}"
            f" ({percent(e.failures / e.attempts if e.attempts else None, 0)}){usual}"
            f" · {e.gateway_errors:,} gateway errors")


def masked(df: pd.DataFrame) -> pd.DataFrame:
    """customer_id masked (a download, like the screen, never names a customer); money stays in minor units."""
    return df.assign(customer_id=[mask_customer(c) for c in df["customer_id"]])


def none_in_range(state: Readiness, text: str) -> None:
    """`text` ("No attempts in the selected days.") only once the figures are known."""
    st.caption(text if state.known else "Not computed yet: see the note above.")


# ---------------------------------------------------------------- sections
def headline_cards(now: q.Headline, before: q.Headline, compare: bool) -> None:
    versus = "vs same days a week earlier"

    def card(col, metric: str, value: str, delta, **kw) -> None:
        if compare:
            col.metric(label(metric), value, delta=delta, delta_description=versus, help=help_text(metric),
                       border=True, **kw)
        else:
            col.metric(label(metric), value, help=help_text(metric), border=True)

    c = [*st.columns(3), *st.columns(3)]
    card(c[0], "attempt_success_rate", percent(now.success_rate), pp(now.success_rate, before.success_rate))
    card(c[1], "invoice_first_attempt_rate", percent(now.first_attempt_rate),
         pp(now.first_attempt_rate, before.first_attempt_rate))
    card(c[2], "invoice_eventual_rate", percent(now.eventual_rate), pp(now.eventual_rate, before.eventual_rate))
    card(c[3], "retry_recovered", f"{now.recovered:,}", f"{now.recovered - before.recovered:+,}")
    card(c[4], "failed_attempts", f"{now.failed:,}", f"{now.failed - before.failed:+,}", delta_color="inverse")
    card(c[5], "gateway_errors", f"{now.gateway_errors:,}", f"{now.gateway_errors - before.gateway_errors:+,}",
         delta_color="inverse")
    st.caption(f"Recovered by retry: {money_by_currency(now.recovered_minor)} · still unpaid after charging: "
               f"{money_by_currency(now.unpaid_minor)}" + ("" if compare else " · no comparison: the same days a week "
                                                           "earlier are before the first data"))


def hour_range(f: Filters, hours: pd.Series) -> list[datetime]:
    """The selected days in UTC hours (naive UTC, as the chart draws them), widened only to hours the sites'
    local days reach past midnight UTC: never by an annotation."""
    lo, hi = datetime.combine(f.start, time()), datetime.combine(f.end + timedelta(days=1), time())
    if not hours.empty:
        lo, hi = min(lo, hours.min().to_pydatetime()), max(hi, hours.max().to_pydatetime() + timedelta(hours=1))
    return [lo, hi]


def naive(t: datetime) -> datetime:  # Plotly draws naive times: UTC ones, here
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def trend_chart(hourly: pd.DataFrame, episodes: tuple[q.Episode, ...], f: Filters, state: Readiness) -> None:
    st.markdown("**Attempt success rate per hour, by gateway** (UTC hours; shaded: the worst windows)",
                help=help_text("attempt_success_rate"))
    if hourly.empty:
        none_in_range(state, "No attempts in the selected days.")
        return
    hours = pd.to_datetime(hourly["period"], utc=True).dt.tz_localize(None)
    df = hourly.assign(period=hours, rate=hourly["success_rate"].where(hourly["attempts"] >= MIN_RATE_ATTEMPTS))
    x_range = hour_range(f, hours)
    fig = px.line(df, x="period", y="rate", color="gateway", color_discrete_map=SERIES_COLORS, height=380,
                  custom_data=["succeeded", "attempts", "gateway_errors"],
                  labels={"period": "hour (UTC)", "rate": "success rate", "gateway": ""})
    fig.update_traces(line_width=1.5, hovertemplate="%{x|%d %b %H:00} UTC: %{y:.1%} succeeded"
                      " (%{customdata[0]:,}/%{customdata[1]:,}), %{customdata[2]:,} gateway errors")
    for i, e in enumerate(episodes[:3]):
        fig.add_vrect(x0=naive(e.start), x1=naive(e.end), fillcolor="#d62728", opacity=0.25 if i == 0 else 0.1,
                      line_width=0)
    if episodes:
        e = episodes[0]
        left_half = naive(e.start) - x_range[0] < (x_range[1] - x_range[0]) / 2  # the label runs into the chart
        fig.add_annotation(x=naive(e.end) if left_half else naive(e.start), y=0.02, yref="paper",
                           xanchor="left" if left_half else "right", showarrow=False,
                           text=f"<b>{e.gateway}</b> {e.start:%d %b %H:00} UTC: {e.gateway_errors:,} gateway errors",
                           font=dict(color="#b2182b"), bgcolor="rgba(255,255,255,0.85)")
    fig.update_xaxes(range=x_range, tickformatstops=[dict(dtickrange=[None, 86_400_000 - 1], value="%H:%M<br>%d %b"),
                                                     dict(dtickrange=[86_400_000, None], value="%d %b")])
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch", key="chart_trend")


def bad_window(db_key: str | None, f: Filters, episodes: tuple[q.Episode, ...], state: Readiness) -> None:
    st.subheader("Worst windows and what they cost", help=help_text("failed_window_cost"))
    if not episodes:
        nothing_found(state, "Nothing found: no gateway failed far above its usual rate in the selected days.")
        return
    options = list(range(min(len(episodes), 10)))
    i = st.selectbox("Window (worst first)", options, format_func=lambda k: episode_label(episodes[k]), key="episode",
                     help=help_text("worst_windows"))
    ep = episodes[i]
    cost, failed = load_window(db_key, f, ep, ep.gateway)
    n = q.window_counts(cost)
    c = st.columns(4)
    c[0].metric(f"{label('failed_attempts')} in window", f"{n['failed']:,}", border=True,
                help=help_text("failed_attempts"))
    c[1].metric(f"{label('gateway_errors')} in window", f"{n['gateway_errors']:,}", border=True,
                help=help_text("gateway_errors"))
    c[2].metric(label("window_recovered"), f"{n['recovered']:,}", border=True, help=help_text("window_recovered"))
    c[3].metric(label("window_unpaid"), f"{n['unpaid']:,}", border=True, help=help_text("window_unpaid"))
    if ep.expected:  # how far the window stands above its usual rate (incident_windows.py)
        b = st.columns(4)
        b[0].metric(label("window_baseline_rate"), percent(ep.baseline_rate, 1), border=True,
                    help=help_text("window_baseline_rate"))
        b[1].metric(label("window_failure_rate"), percent(ep.failures / ep.attempts if ep.attempts else None, 1),
                    border=True, help=help_text("window_failure_rate"))
        b[2].metric(label("window_excess"), f"{max(ep.excess_failures, 0):,.0f}", border=True,
                    help=help_text("window_excess") + f" Expected here: {ep.expected:,.1f} of {ep.attempts:,}.")
        b[3].metric(label("window_timeouts"), f"{ep.unknown:,}", border=True, help=help_text("window_timeouts"))
        st.caption(f"The chance of {ep.failures:,} or more failures in {ep.attempts:,} attempts at the usual rate: "
                   f"{chance(ep.p_value)}.")
    for row in cost.itertuples(index=False):  # money per currency, never added across currencies
        m = st.columns(3)
        m[0].metric(f"Amount failed · {row.currency}", format_money(int(row.failed_minor), row.currency), border=True,
                    help=help_text("failed_window_cost"))
        m[1].metric(f"{label('window_recovered')} · {row.currency}", format_money(int(row.recovered_minor), row.currency),
                    border=True, help=help_text("failed_window_cost"))
        m[2].metric(f"{label('window_unpaid')} · {row.currency}", format_money(int(row.unpaid_minor), row.currency),
                    border=True, help=help_text("failed_window_cost"))
    st.markdown(f"**Failed attempts, {md.text(ep.gateway)}, {ep.start:%d %b %H:00}–{ep.end:%H:00} UTC** (newest first)")
    failed_list(db_key, failed, n["failed"], lambda: all_failed(db_key, f, ep, n["failed"]), key="window")


def chance(p: float) -> str:
    """A probability for people: '1 in 3,400', 'less than 1 in a trillion'."""
    return f"{p:.0%}" if p >= 0.5 else "less than 1 in a trillion" if p < 1e-12 else f"1 in {round(1 / p):,}"


def failed_list(db_key: str | None, failed: pd.DataFrame, total: int, fetch_all, key: str) -> None:
    if failed.empty:
        st.caption("No failed attempts.")
        return
    shown = failed.assign(customer_id=[mask_customer(c) for c in failed["customer_id"]],
                          decline_class=[CLASS_LABELS.get(c, c) for c in failed["decline_class"]])
    show_table(shown.drop(columns=["failure_code"]), {"amount_minor": "amount"}, names={"customer_id": "customer",
               "label": "failure", "decline_class": "class"}, height=260, attempted_at=
               st.column_config.DatetimeColumn("attempted (UTC)", format="DD MMM HH:mm:ss"))
    c = st.columns([3, 1])
    c[0].caption(shown_of(len(failed), total, "failed attempts"))
    with c[1]:
        download_all(fetch_all, "failed_attempts", key=f"csv_{key}")
    attempt = st.selectbox("Drill down to an attempt", [None, *failed["attempt_id"]], key=f"drill_{key}",
                           format_func=lambda a: "choose an attempt…" if a is None else a)
    if attempt:
        trail_view(load_trail(db_key, attempt))


def show_table(df: pd.DataFrame, money: dict[str, str] | None = None, rates: tuple[str, ...] = (),
               names: dict[str, str] | None = None, height: int | None = None, **config) -> None:
    """A table for people: `money` ({minor column: name}) in each row's currency, `rates` as '97.12%', counts with
    thousands separators, "–" for a missing value (never None, NaN or -0.0%); `names` renames the rest."""
    have = {c: n for c, n in (money or {}).items() if c in df.columns}
    shown = with_money(df, *have).assign(**{c: [percent(v) for v in df[c]] for c in rates})
    shown = shown.rename(columns={**have, **(names or {})})
    gaps = [c for c in shown.columns if shown[c].isna().any()]
    shown = shown.assign(**{c: shown[c].astype(object).where(shown[c].notna(), "–") for c in gaps})
    counts = {c: st.column_config.NumberColumn(format="%,d") for c in shown.columns
              if pd.api.types.is_integer_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])}
    st.dataframe(shown, hide_index=True, width="stretch", height=height or "auto", column_config={**counts, **config})


def trail_view(t: q.AttemptTrail | None) -> None:
    if t is None:
        st.warning("That attempt is no longer in the store.")
        return
    a, inv, sess = t.attempt, t.invoice or {}, t.session or {}
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Attempt** {md.code(a['attempt_id'])} · #{a['attempt_number']} · {md.text(a['gateway'])} · "
                    f"{md.text(a['status'])} {md.text(a['failure_code'] or '')} · "
                    f"{md.text(format_money(a['amount_minor'], a['currency']))}")
        st.markdown(f"**Invoice** {md.code(inv.get('invoice_id', '–'))} · {md.text(inv.get('status', '–'))} · issued "
                    f"{md.text(inv.get('issued_at', '–'))}")
        st.markdown(f"**Session** {md.code(sess.get('session_id', '–'))} at {md.text((t.site or {}).get('name', '–'))}"
                    f" · customer {md.text(mask_customer(sess.get('customer_id')) or '–')}")
        show_table(t.attempts, {"amount_minor": "amount"})
        if not t.refunds.empty:
            show_table(t.refunds, {"amount_minor": "amount"})
    with right:
        if t.stripe_charge is not None:
            st.markdown("**Stripe charge, as Stripe sent it**")
            st.json(json.loads(json.dumps(t.stripe_charge, default=str)), expanded=False)
        if not t.adyen_lines.empty:
            st.markdown("**Adyen settlement report lines**")
            show_table(t.adyen_lines)
        if t.stripe_charge is None and t.adyen_lines.empty:
            st.caption("No gateway object copied for this attempt (yet).")


def breakdown_table(df: pd.DataFrame, state: Readiness) -> None:
    st.subheader("Breakdown: gateway × method × card brand × region × currency", help=help_text("attempt_success_rate"))
    if df.empty:
        none_in_range(state, "No attempts.")
        return
    show_table(df, {"amount_minor": "attempted amount", "succeeded_minor": "succeeded amount"}, ("success_rate",),
               {"card_brand": "card brand", "success_rate": "success rate"}, height=300)
    csv_button(df, "payment_breakdown", key="csv_breakdown")


def declines_section(classes: pd.DataFrame, codes: pd.DataFrame, state: Readiness) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Failed attempts by decline class**", help=help_text("decline_class"))
        if classes.empty:
            none_in_range(state, "No failed attempts.")
        else:
            df = classes.assign(decline=[CLASS_LABELS.get(c, c) for c in classes["decline_class"]])
            fig = px.bar(df, x="failed", y="decline", color="gateway", orientation="h", height=300,
                         color_discrete_map=SERIES_COLORS, labels={"failed": "failed attempts", "decline": ""})
            fig.update_xaxes(tickformat=",")
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
            st.plotly_chart(fig, width="stretch", key="chart_declines")
    with right:
        st.markdown("**Top failure codes**", help=help_text("failed_attempts_by_code"))
        if codes.empty:
            none_in_range(state, "No failed attempts.")
        else:
            shown = codes.assign(decline_class=[CLASS_LABELS.get(c, c) for c in codes["decline_class"]])
            show_table(shown.drop(columns=["failure_code"]), names={"label": "failure", "decline_class": "class"},
                       height=300)  # the gateway's own code: in the download
            csv_button(codes, "failure_codes", key="csv_codes")


def retry_section(funnel: pd.DataFrame, recovery: pd.DataFrame, by_gateway: pd.DataFrame, state: Readiness) -> None:
    st.subheader("Retries: first try, eventually, recovered", help=help_text("retry_recovered"))
    left, right = st.columns(2)
    with left:
        fig = px.funnel(funnel, x="invoices", y="stage", height=340, labels={"stage": ""})
        fig.update_traces(texttemplate="%{value:,}", hovertemplate="%{y}: %{x:,} invoices<extra></extra>")
        fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, width="stretch", key="chart_funnel")
    with right:
        st.markdown("**Per gateway of the first attempt**", help=f"Paid first try: {help_text('invoice_first_attempt_rate')}"
                    f" Paid eventually: {help_text('invoice_eventual_rate')}")
        show_table(by_gateway, rates=("first_attempt_rate", "eventual_rate"), names={
            "attempted": "charged invoices", "first_succeeded": "paid first try", "succeeded": "paid eventually",
            "recovered": "recovered by retry", "first_attempt_rate": "paid first try (%)",
            "eventual_rate": "paid eventually (%)"})
        st.markdown("**Recovery by class of the first failure**", help=help_text("retry_recovered"))
        if recovery.empty:
            none_in_range(state, "No invoice failed its first attempt.")
        else:
            shown = recovery.assign(decline_class=[CLASS_LABELS.get(c, c) for c in recovery["decline_class"]])
            show_table(shown, {"recovered_minor": "recovered amount"}, ("recovery_rate",), {
                "decline_class": "first failure", "failed_first": "failed first try", "recovery_rate": "recovery rate"})
            csv_button(recovery, "retry_recovery", key="csv_recovery")


MISMATCH_METRICS = {"unrecorded_success": "mismatch_unrecorded_success",  # finding kind -> catalogue key
                    "no_internal_attempt": "mismatch_no_internal_attempt"}


def mismatch_section(db_key: str | None, f: Filters, totals: pd.DataFrame, found: pd.DataFrame) -> None:
    st.subheader(label("gateway_mismatches"), help=help_text("gateway_mismatches"))
    state = topic_state(db_key, "gateway_mismatches", f.start)
    if totals.empty:
        nothing_found(state, "Nothing found: every gateway charge in the selected days has its attempt in billing.")
        return
    pending_banner(state)
    for cur, rows in totals.groupby("currency", sort=True):  # money per currency, never added across currencies
        by = {r.kind: r for r in rows.itertuples(index=False)}
        c = st.columns(len(gm.MISMATCH_KINDS))
        for col, kind in zip(c, gm.MISMATCH_KINDS, strict=True):  # the amount, and how many charges it is
            r, metric = by[kind], MISMATCH_METRICS[kind]
            n = int(r.findings)
            col.metric(f"{label(metric)} · {cur}", format_money(int(r.amount_minor), cur), border=True,
                       delta=f"{n:,} {'charge' if n == 1 else 'charges'}", delta_color="off", delta_arrow="off",
                       help=help_text(metric))
    shown = found.assign(customer_id=[mask_customer(c) for c in found["customer_id"]],
                         kind=[label(MISMATCH_METRICS.get(k, k)) for k in found["kind"]])
    show_table(shown, {"amount_minor": "amount"}, names={"customer_id": "customer"}, height=260,
               occurred_at=st.column_config.DatetimeColumn(
        "at the gateway (UTC)", format="DD MMM HH:mm:ss"))
    c = st.columns([3, 1])
    c[0].caption(shown_of(len(found), int(totals["findings"].sum()), "charges"))
    with c[1]:
        download_all(lambda: all_mismatches(db_key, f), "charged_not_in_billing", key="csv_mismatches")
    with_attempt = [a for a in found["attempt_id"] if isinstance(a, str) and a]
    if with_attempt:
        attempt = st.selectbox("Drill down to billing's attempt", [None, *with_attempt], key="drill_mismatch",
                               format_func=lambda a: "choose an attempt…" if a is None else a)
        if attempt:
            trail_view(load_trail(db_key, attempt))


# ---------------------------------------------------------------- page
def main() -> None:
    page = filtered_page("Payments", EMPTY_HINT)
    if page is None:
        return
    db_key, rng, f = page
    state = topic_state(db_key, "payments", f.start)
    pending_banner(state)
    data = load_figures(db_key, f)
    headline_cards(data["now"], data["before"], compare=rng.holds(q.week_earlier(f)))
    trend_chart(data["hourly"], data["episodes"], f, state)
    bad_window(db_key, f, data["episodes"], state)
    declines = topic_state(db_key, "declines", f.start)
    declines_section(data["classes"], data["codes"], declines)
    retry_section(data["funnel"], data["recovery"], data["by_gateway"], state)
    mismatch_section(db_key, f, data["mismatch_totals"], data["mismatches"])
    breakdown_table(data["breakdown"], state)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
