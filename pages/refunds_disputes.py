"""Refunds & disputes: money going back out, and how close each card network's dispute ratio
is to its monitoring level.

Reads only through `metrics.figures.refunds` and `.disputes`; every label, definition and monitoring
level comes from the metric catalogue; per-currency figures are never added together.
"""
from __future__ import annotations

import math
from datetime import datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import METRICS, help_text, label
from metrics.figures import disputes, refunds
from metrics.figures.payments import week_earlier
from metrics.figures.query import Filters, snapshot
from metrics.figures.readiness import Readiness
from pages.common import csv_button, filtered_page, signed_money, signin, with_money
from pages.common import engine as _engine
from pages.common.state import pending_banner, topic_state
from revwatch.money import format_money

VERSUS = "Changes: vs the same days a week earlier."  # said once under each heading: a tile of four has no room
DAY_MS = 86_400_000


@st.cache_data(ttl=60, show_spinner="Loading refunds and disputes…")
def load_figures(db_key: str | None, f: Filters) -> dict:
    with snapshot(_engine(db_key)) as conn:
        return {
            "refunds": refunds.refund_kpis(conn, f),
            "refunds_before": refunds.refund_kpis(conn, week_earlier(f)),
            "refunds_daily": refunds.refunds_daily(conn, f),
            "refund_reasons": refunds.refunds_by_reason(conn, f),
            "disputes": disputes.dispute_kpis(conn, f),
            "disputes_before": disputes.dispute_kpis(conn, week_earlier(f)),
            "dispute_reasons": disputes.disputes_by_reason(conn, f),
            "ratios": disputes.dispute_ratios(conn, f),
        }


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "–"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def none_in_range(state: Readiness, text: str) -> None:
    """`text` ("No refunds in the selected days.") only once the figures are known."""
    st.caption(text if state.known else "Not computed yet: see the note above.")


def day_axis(fig, f: Filters, max_ticks: int = 8) -> None:
    """A daily series: one tick per day (every few days on a long range), never hours; exactly the selected days."""
    fig.update_xaxes(dtick=max(1, math.ceil(f.days / max_ticks)) * DAY_MS, tickformat="%d %b",
                     range=[datetime.combine(f.start, time()) - timedelta(hours=12),
                            datetime.combine(f.end, time()) + timedelta(hours=12)])


def signed_count(n: int) -> str | int:
    """'+12' / '-3'; a plain 0 so Streamlit shows it grey, without an arrow."""
    return f"{n:+,}" if n else 0


def words(code) -> str:
    """'customer_complaint' -> 'Customer complaint'; none given -> '–'."""
    return code.replace("_", " ").capitalize() if isinstance(code, str) and code else "–"


COUNTS = {c: st.column_config.NumberColumn(format="%,d") for c in  # counts with thousands separators
          ("refunds", "failed", "disputes", "won", "lost", "open")}


def _row(df: pd.DataFrame, currency: str) -> dict:
    hit = df[df["currency"] == currency]
    return hit.iloc[0].to_dict() if not hit.empty else {}


def refunds_section(data: dict, compare: bool, f: Filters, state: Readiness) -> None:
    st.subheader(label("refunds"), help=help_text("refunds"))
    pending_banner(state)
    now, before = data["refunds"], data["refunds_before"]
    if compare and not now.empty:
        st.caption(VERSUS)
    if now.empty:
        none_in_range(state, "No refunds in the selected days.")
    for cur in now["currency"]:
        r, p = _row(now, cur), _row(before, cur)
        c = st.columns(4)
        amount, prev_amount = int(r["amount_minor"]), int(p.get("amount_minor", 0))
        c[0].metric(f"Refunded · {cur}", format_money(amount, cur), border=True, help=help_text("refunds"),
                    delta=(signed_money(amount - prev_amount, cur) if amount != prev_amount else 0) if compare else None,
                    delta_color="inverse")
        c[1].metric(f"{label('refunds')} · {cur}", f"{int(r['refunds']):,}", border=True, help=help_text("refunds"),
                    delta=signed_count(int(r['refunds']) - int(p.get('refunds', 0))) if compare else None,
                    delta_color="inverse")
        c[2].metric(f"{label('failed_refunds')} · {cur}", f"{int(r['failed']):,}", border=True,
                    help=f"{help_text('failed_refunds')} Here: {format_money(int(r['failed_minor']), cur)} not "
                         f"returned; {int(r['pending'])} pending.")
        c[3].metric(f"{label('time_to_refund')} · {cur}", duration(r["mean_seconds_to_refund"]), border=True,
                    help=help_text("time_to_refund"))
    left, right = st.columns(2)
    with left:
        daily = data["refunds_daily"]
        if not daily.empty:
            fig = px.bar(daily, x="local_date", y="refunds", color="currency", height=300,
                         labels={"local_date": "local day", "refunds": "refunds"})
            fig.update_traces(hovertemplate="%{x|%d %b %Y}: %{y:,} refunds")
            day_axis(fig, f)
            fig.update_yaxes(tickformat=",")
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
            st.plotly_chart(fig, width="stretch", key="chart_refunds")
    with right:
        reasons = data["refund_reasons"]
        if not reasons.empty:
            shown = with_money(reasons, "amount_minor").rename(columns={"amount_minor": "amount"})
            st.dataframe(shown.assign(reason=[words(r) for r in reasons["reason"]]), hide_index=True, width="stretch",
                         height=300, key="table_refund_reasons", column_config=COUNTS)
            csv_button(reasons, "refunds_by_reason", key="csv_refund_reasons")


def disputes_section(data: dict, compare: bool, state: Readiness) -> None:
    st.subheader(label("disputes"), help=help_text("disputes"))
    pending_banner(state)
    now, before = data["disputes"], data["disputes_before"]
    if compare and not now.empty:
        st.caption(VERSUS)
    if now.empty:
        none_in_range(state, "No disputes opened in the selected days.")
    for cur in now["currency"]:
        r, p = _row(now, cur), _row(before, cur)
        c = st.columns(4)
        c[0].metric(f"{label('disputes')} · {cur}", f"{int(r['disputes']):,}", border=True, help=help_text("disputes"),
                    delta=signed_count(int(r['disputes']) - int(p.get('disputes', 0))) if compare else None,
                    delta_color="inverse")
        c[1].metric(f"Disputed amount · {cur}", format_money(int(r["amount_minor"]), cur), border=True,
                    help=help_text("disputes"))
        c[2].metric(f"Won / lost / open · {cur}", f"{int(r['won'])} / {int(r['lost'])} / {int(r['open'])}", border=True,
                    help=help_text("disputes"))
        c[3].metric(f"Amount lost · {cur}", format_money(int(r["lost_minor"]), cur), border=True,
                    help=help_text("disputes"))
    ratios, levels = data["ratios"], METRICS["dispute_ratio"].thresholds
    st.markdown("**Dispute ratio per card network and month** (monitoring levels: "
                + ", ".join(f"{k} {v:.1%}" for k, v in levels.items()) + ")", help=help_text("dispute_ratio"))
    if ratios.empty:
        none_in_range(state, "No card payments in the selected days.")
    else:
        over = ratios[ratios["over_threshold"]]
        for row in over.itertuples(index=False):
            st.error(f"**{row.card_brand}** {row.month:%B %Y}: dispute ratio {row.ratio:.2%} is above the "
                     f"{row.threshold:.1%} monitoring level ({row.disputes} disputes / {row.card_payments:,} payments).",
                     icon=":material/gavel:")
        left, right = st.columns(2)
        with left:
            fig = px.bar(ratios.assign(month=[f"{m:%b %Y}" for m in ratios["month"]]), x="card_brand", y="ratio", color="month",
                         barmode="group", height=300, labels={"card_brand": "", "ratio": "dispute ratio"})
            for brand, level in levels.items():
                fig.add_hline(y=level, line_dash="dash", line_color="#d62728",
                              annotation_text=f"{brand} {level:.1%}", annotation_position="top left")
            fig.update_yaxes(tickformat=".2%")
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
            st.plotly_chart(fig, width="stretch")
        with right:
            shown = ratios.assign(  # a network with no monitoring level has none: "–", never "None"
                month=[f"{m:%b %Y}" for m in ratios["month"]],
                ratio=["–" if r is None or r != r else f"{r:.2%}" for r in ratios["ratio"]],
                threshold=["–" if t is None or t != t else f"{t:.1%}" for t in ratios["threshold"]],
                card_payments=[f"{int(n):,}" for n in ratios["card_payments"]])
            st.dataframe(shown.rename(columns={"card_brand": "network", "card_payments": "card payments",
                                               "threshold": "monitoring level", "over_threshold": "over it"}),
                         hide_index=True, width="stretch", height=300, key="table_ratios")
            csv_button(ratios, "dispute_ratios", key="csv_ratios")
    reasons = data["dispute_reasons"]
    if not reasons.empty:
        st.markdown("**By reason, network and gateway**")
        shown = with_money(reasons, "amount_minor", "lost_minor").rename(
            columns={"amount_minor": "amount", "lost_minor": "amount lost", "card_brand": "network"})
        shown = shown.assign(reason=[words(r) for r in shown["reason"]],  # a network as the card says it, "–" for none
                             network=[n if isinstance(n, str) and n else "–" for n in shown["network"]])
        st.dataframe(shown, hide_index=True, width="stretch", key="table_dispute_reasons", column_config=COUNTS)
        csv_button(reasons, "disputes_by_reason", key="csv_dispute_reasons")


def main() -> None:
    page = filtered_page("Refunds & disputes", "No data yet: run `revwatch demo` and `revwatch collect`.")
    if page is None:
        return
    db_key, rng, f = page
    data = load_figures(db_key, f)
    compare = rng.holds(week_earlier(f))
    refunds_section(data, compare, f, topic_state(db_key, "refunds", f.start))
    disputes_section(data, compare, topic_state(db_key, "disputes", f.start))


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
