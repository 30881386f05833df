"""Refunds & disputes: money going back out, and how close each card network's dispute ratio
is to its monitoring level.

Reads only through `metrics.figures.refunds` and `.disputes`; every label, definition and monitoring
level comes from the metric catalogue; per-currency figures are never added together.
"""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import METRICS, help_text, label
from metrics.figures import disputes, refunds
from metrics.figures.payments import week_earlier
from metrics.figures.query import Filters, snapshot
from pages.common import csv_button, filtered_page, signed_money
from pages.common import engine as _engine
from revwatch.money import format_money

DEFAULT_DAYS = 30
VERSUS = "vs same days a week earlier"


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


def _row(df: pd.DataFrame, currency: str) -> dict:
    hit = df[df["currency"] == currency]
    return hit.iloc[0].to_dict() if not hit.empty else {}


def refunds_section(data: dict, compare: bool) -> None:
    st.subheader(label("refunds"), help=help_text("refunds"))
    now, before = data["refunds"], data["refunds_before"]
    if now.empty:
        st.caption("No refunds in the selected days.")
    for cur in now["currency"]:
        r, p = _row(now, cur), _row(before, cur)
        c = st.columns(4)
        amount, prev_amount = int(r["amount_minor"]), int(p.get("amount_minor", 0))
        c[0].metric(f"Refunded · {cur}", format_money(amount, cur), border=True, help=help_text("refunds"),
                    delta=signed_money(amount - prev_amount, cur) if compare else None, delta_color="inverse",
                    delta_description=VERSUS if compare else None)
        c[1].metric(f"{label('refunds')} · {cur}", f"{int(r['refunds']):,}", border=True, help=help_text("refunds"),
                    delta=f"{int(r['refunds']) - int(p.get('refunds', 0)):+,}" if compare else None,
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
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
            st.plotly_chart(fig, width="stretch")
    with right:
        reasons = data["refund_reasons"]
        if not reasons.empty:
            shown = reasons.assign(amount=[format_money(int(v), c) for v, c in zip(reasons["amount_minor"],
                                                                                    reasons["currency"], strict=True)])
            st.dataframe(shown.drop(columns=["amount_minor"]), hide_index=True, width="stretch", height=300)
            csv_button(reasons, "refunds_by_reason", key="csv_refund_reasons")


def disputes_section(data: dict, compare: bool) -> None:
    st.subheader(label("disputes"), help=help_text("disputes"))
    now, before = data["disputes"], data["disputes_before"]
    if now.empty:
        st.caption("No disputes opened in the selected days.")
    for cur in now["currency"]:
        r, p = _row(now, cur), _row(before, cur)
        c = st.columns(4)
        c[0].metric(f"{label('disputes')} · {cur}", f"{int(r['disputes']):,}", border=True, help=help_text("disputes"),
                    delta=f"{int(r['disputes']) - int(p.get('disputes', 0)):+,}" if compare else None,
                    delta_color="inverse", delta_description=VERSUS if compare else None)
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
        st.caption("No card payments in the selected days.")
    else:
        over = ratios[ratios["over_threshold"]]
        for row in over.itertuples(index=False):
            st.error(f"**{row.card_brand}** {row.month:%B %Y}: dispute ratio {row.ratio:.2%} is above the "
                     f"{row.threshold:.1%} monitoring level ({row.disputes} disputes / {row.card_payments:,} payments).",
                     icon=":material/gavel:")
        left, right = st.columns(2)
        with left:
            fig = px.bar(ratios.assign(month=ratios["month"].astype(str)), x="card_brand", y="ratio", color="month",
                         barmode="group", height=300, labels={"card_brand": "", "ratio": "dispute ratio"})
            for brand, level in levels.items():
                fig.add_hline(y=level, line_dash="dash", line_color="#d62728",
                              annotation_text=f"{brand} {level:.1%}", annotation_position="top left")
            fig.update_yaxes(tickformat=".2%")
            fig.update_layout(margin=dict(l=10, r=10, t=30, b=10))
            st.plotly_chart(fig, width="stretch")
        with right:
            st.dataframe(ratios, hide_index=True, width="stretch", height=300, column_config={
                "ratio": st.column_config.NumberColumn("ratio", format="percent", help=help_text("dispute_ratio")),
                "threshold": st.column_config.NumberColumn("threshold", format="percent")})
            csv_button(ratios, "dispute_ratios", key="csv_ratios")
    reasons = data["dispute_reasons"]
    if not reasons.empty:
        st.markdown("**By reason, network and gateway**")
        st.dataframe(reasons, hide_index=True, width="stretch")
        csv_button(reasons, "disputes_by_reason", key="csv_dispute_reasons")


def main() -> None:
    page = filtered_page("Refunds & disputes", DEFAULT_DAYS, "No data yet: run `revwatch demo` and `revwatch collect`.")
    if page is None:
        return
    db_key, rng, f = page
    data = load_figures(db_key, f)
    compare = rng.holds(week_earlier(f))
    refunds_section(data, compare)
    disputes_section(data, compare)


main()
