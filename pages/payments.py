"""Payments: are charges going through, where do they fail, and what does a bad hour cost?

Reads only through `metrics.figures.payments` and `.gateway_mismatches` (no SQL here); every
label and definition comes from the metric catalogue. The worst gateway windows are listed
first, the worst selected by default, so a gateway-error spike and its cost are one choice
away. Money and customer ids are formatted (masked) only here, at the edge.
"""
from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import MIN_RATE_ATTEMPTS, help_text, label
from metrics.figures import gateway_mismatches as gm
from metrics.figures import payments as q
from metrics.figures.declines import CLASS_LABELS
from metrics.figures.query import Filters, snapshot
from pages.common import csv_button, filtered_page, mask_customer, money_by_currency, percent, pp, with_money
from pages.common import engine as _engine
from pages.common import markdown as md
from revwatch.money import format_money

DEFAULT_DAYS = 14
SERIES_COLORS = {"adyen": "#1f5fbf", "stripe": "#f28e2b"}  # as the Overview page
LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")
EMPTY_HINT = "No payment data yet: run `revwatch demo` and `revwatch collect`."


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
            "mismatches": gm.mismatches(conn, f, limit=500),
        }


@st.cache_data(ttl=60, show_spinner=False)
def load_window(db_key: str | None, f: Filters, ep: q.Episode, gateway: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    with snapshot(_engine(db_key)) as conn:
        return (q.failed_cost(conn, f, ep.start, ep.end, gateway),
                q.failed_attempts(conn, f, ep.start, ep.end, gateway, limit=500))


@st.cache_data(ttl=60, show_spinner=False)
def load_trail(db_key: str | None, attempt_id: str) -> q.AttemptTrail | None:
    return q.attempt_trail(_engine(db_key), attempt_id)


# ---------------------------------------------------------------- formatting (the edge)
def episode_label(e: q.Episode) -> str:
    span = f"{e.start:%d %b %H:00}–{e.end:%H:00} UTC"
    return (f"{span} · {e.gateway} · {e.failed:,} failed of {e.attempts:,}"
            f" ({percent(e.failure_rate, 0)}) · {e.gateway_errors:,} gateway errors")


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


def trend_chart(hourly: pd.DataFrame, episodes: tuple[q.Episode, ...]) -> None:
    st.markdown("**Attempt success rate per hour, by gateway** (UTC hours; shaded: the worst windows)",
                help=help_text("attempt_success_rate"))
    if hourly.empty:
        st.caption("No attempts in the selected days.")
        return
    df = hourly.assign(rate=hourly["success_rate"].where(hourly["attempts"] >= MIN_RATE_ATTEMPTS))
    fig = px.line(df, x="period", y="rate", color="gateway", color_discrete_map=SERIES_COLORS, height=380,
                  custom_data=["succeeded", "attempts", "gateway_errors"],
                  labels={"period": "hour (UTC)", "rate": "success rate", "gateway": ""})
    fig.update_traces(line_width=1.5, hovertemplate="%{x|%d %b %H:00} UTC: %{y:.1%} succeeded"
                      " (%{customdata[0]}/%{customdata[1]}), %{customdata[2]} gateway errors")
    for i, e in enumerate(episodes[:3]):
        fig.add_vrect(x0=e.start, x1=e.end, fillcolor="#d62728", opacity=0.25 if i == 0 else 0.1, line_width=0)
    if episodes:
        e = episodes[0]
        fig.add_annotation(x=e.start, y=0.02, yref="paper", xanchor="right", showarrow=False,
                           text=f"<b>{e.gateway}</b> {e.start:%d %b %H:00} UTC: {e.gateway_errors} gateway errors",
                           font=dict(color="#b2182b"), bgcolor="rgba(255,255,255,0.85)")
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch")


def bad_window(db_key: str | None, f: Filters, episodes: tuple[q.Episode, ...]) -> None:
    st.subheader("Worst windows and what they cost", help=help_text("failed_window_cost"))
    if not episodes:
        st.caption(f"No hour with at least {MIN_RATE_ATTEMPTS} attempts in the selected days.")
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
    for row in cost.itertuples(index=False):  # money per currency, never added across currencies
        m = st.columns(3)
        m[0].metric(f"Amount failed · {row.currency}", format_money(int(row.failed_minor), row.currency), border=True,
                    help=help_text("failed_window_cost"))
        m[1].metric(f"{label('window_recovered')} · {row.currency}", format_money(int(row.recovered_minor), row.currency),
                    border=True, help=help_text("failed_window_cost"))
        m[2].metric(f"{label('window_unpaid')} · {row.currency}", format_money(int(row.unpaid_minor), row.currency),
                    border=True, help=help_text("failed_window_cost"))
    st.markdown(f"**Failed attempts, {md.text(ep.gateway)}, {ep.start:%d %b %H:00}–{ep.end:%H:00} UTC** "
                f"(newest first, up to 500)")
    failed_list(db_key, failed, key="window")


def failed_list(db_key: str | None, failed: pd.DataFrame, key: str) -> None:
    if failed.empty:
        st.caption("No failed attempts.")
        return
    shown = with_money(failed, "amount_minor").assign(customer=[mask_customer(c) for c in failed["customer_id"]])
    shown = shown.drop(columns=["customer_id"]).rename(columns={"amount_minor": "amount"})
    st.dataframe(shown, hide_index=True, height=260, width="stretch",
                 column_config={"attempted_at": st.column_config.DatetimeColumn("attempted (UTC)", format="DD MMM HH:mm:ss")})
    csv_button(shown, "failed_attempts", key=f"csv_{key}")
    attempt = st.selectbox("Drill down to an attempt", [None, *failed["attempt_id"]], key=f"drill_{key}",
                           format_func=lambda a: "choose an attempt…" if a is None else a)
    if attempt:
        trail_view(load_trail(db_key, attempt))


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
        st.dataframe(t.attempts, hide_index=True, width="stretch")
        if not t.refunds.empty:
            st.dataframe(t.refunds, hide_index=True, width="stretch")
    with right:
        if t.stripe_charge is not None:
            st.markdown("**Stripe charge, as Stripe sent it**")
            st.json(json.loads(json.dumps(t.stripe_charge, default=str)), expanded=False)
        if not t.adyen_lines.empty:
            st.markdown("**Adyen settlement report lines**")
            st.dataframe(t.adyen_lines, hide_index=True, width="stretch")
        if t.stripe_charge is None and t.adyen_lines.empty:
            st.caption("No gateway object copied for this attempt (yet).")


def breakdown_table(df: pd.DataFrame) -> None:
    st.subheader("Breakdown: gateway × method × card brand × region × currency", help=help_text("attempt_success_rate"))
    if df.empty:
        st.caption("No attempts.")
        return
    shown = with_money(df, "amount_minor", "succeeded_minor").rename(
        columns={"amount_minor": "attempted amount", "succeeded_minor": "succeeded amount"})
    st.dataframe(shown, hide_index=True, height=300, width="stretch",
                 column_config={"success_rate": st.column_config.NumberColumn(
                     "success rate", format="percent", help=help_text("attempt_success_rate"))})
    csv_button(df, "payment_breakdown", key="csv_breakdown")


def declines_section(classes: pd.DataFrame, codes: pd.DataFrame) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Failed attempts by decline class**", help=help_text("decline_class"))
        if classes.empty:
            st.caption("No failed attempts.")
        else:
            df = classes.assign(decline=[CLASS_LABELS.get(c, c) for c in classes["decline_class"]])
            fig = px.bar(df, x="failed", y="decline", color="gateway", orientation="h", height=300,
                         color_discrete_map=SERIES_COLORS, labels={"failed": "failed attempts", "decline": ""})
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
            st.plotly_chart(fig, width="stretch")
    with right:
        st.markdown("**Top failure codes**", help=help_text("failed_attempts_by_code"))
        st.dataframe(codes, hide_index=True, height=300, width="stretch")
        if not codes.empty:
            csv_button(codes, "failure_codes", key="csv_codes")


def retry_section(funnel: pd.DataFrame, recovery: pd.DataFrame, by_gateway: pd.DataFrame) -> None:
    st.subheader("Retries: first try, eventually, recovered", help=help_text("retry_recovered"))
    left, right = st.columns(2)
    with left:
        fig = px.funnel(funnel, x="invoices", y="stage", height=340)
        fig.update_layout(margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, width="stretch")
    with right:
        st.markdown("**Per gateway of the first attempt**")
        st.dataframe(by_gateway, hide_index=True, width="stretch", column_config={
            "first_attempt_rate": st.column_config.NumberColumn(
                "paid first try", format="percent", help=help_text("invoice_first_attempt_rate")),
            "eventual_rate": st.column_config.NumberColumn(
                "paid eventually", format="percent", help=help_text("invoice_eventual_rate"))})
        st.markdown("**Recovery by class of the first failure**")
        if recovery.empty:
            st.caption("No invoice failed its first attempt.")
        else:
            shown = with_money(recovery, "recovered_minor").rename(columns={"recovered_minor": "recovered amount"})
            st.dataframe(shown, hide_index=True, width="stretch", column_config={
                "recovery_rate": st.column_config.NumberColumn(
                    "recovery rate", format="percent", help=help_text("retry_recovered"))})
            csv_button(recovery, "retry_recovery", key="csv_recovery")


MISMATCH_METRICS = {"unrecorded_success": "mismatch_unrecorded_success",  # finding kind -> catalogue key
                    "no_internal_attempt": "mismatch_no_internal_attempt"}


def mismatch_section(db_key: str | None, totals: pd.DataFrame, found: pd.DataFrame) -> None:
    st.subheader(label("gateway_mismatches"), help=help_text("gateway_mismatches"))
    if totals.empty:
        st.caption("Nothing found: every gateway charge in the selected days has its attempt in billing.")
        return
    for cur, rows in totals.groupby("currency", sort=True):  # money per currency, never added across currencies
        by = {r.kind: r for r in rows.itertuples(index=False)}
        c = st.columns(4)
        for i, kind in enumerate(gm.MISMATCH_KINDS):
            r, metric = by[kind], MISMATCH_METRICS[kind]
            c[2 * i].metric(f"{label(metric)} · {cur}", f"{int(r.findings):,}", border=True, help=help_text(metric))
            c[2 * i + 1].metric(f"{label(metric)}, amount · {cur}", format_money(int(r.amount_minor), cur),
                                border=True, help=help_text(metric))
    shown = with_money(found, "amount_minor").assign(customer=[mask_customer(c) for c in found["customer_id"]])
    shown = shown.drop(columns=["customer_id"]).rename(columns={"amount_minor": "amount"})
    st.dataframe(shown, hide_index=True, height=260, width="stretch",
                 column_config={"occurred_at": st.column_config.DatetimeColumn("at the gateway (UTC)",
                                                                               format="DD MMM HH:mm:ss")})
    csv_button(shown, "charged_not_in_billing", key="csv_mismatches")
    with_attempt = [a for a in found["attempt_id"] if isinstance(a, str) and a]
    if with_attempt:
        attempt = st.selectbox("Drill down to billing's attempt", [None, *with_attempt], key="drill_mismatch",
                               format_func=lambda a: "choose an attempt…" if a is None else a)
        if attempt:
            trail_view(load_trail(db_key, attempt))


# ---------------------------------------------------------------- page
def main() -> None:
    page = filtered_page("Payments", DEFAULT_DAYS, EMPTY_HINT)
    if page is None:
        return
    db_key, rng, f = page
    data = load_figures(db_key, f)
    headline_cards(data["now"], data["before"], compare=rng.holds(q.week_earlier(f)))
    trend_chart(data["hourly"], data["episodes"])
    bad_window(db_key, f, data["episodes"])
    declines_section(data["classes"], data["codes"])
    retry_section(data["funnel"], data["recovery"], data["by_gateway"])
    mismatch_section(db_key, data["mismatch_totals"], data["mismatches"])
    breakdown_table(data["breakdown"])


main()
