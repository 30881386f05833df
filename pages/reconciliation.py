"""Reconciliation: did every payment reach the gateway, the payout, the bank and the ledger?

Reads only through `metrics.figures.reconciliation` (no SQL here) and acts only through
`metrics.actions.break_workflow`: the stage funnel (S1 billing ↔ gateway, S2 gateway ↔ payout, S3
payout ↔ bank, S4 ledger), the breaks with a drill-down to both sides' records and the break's
history, the workflow actions (by the signed-in person, as their roles allow), the payouts missing in the bank
(the alert's own figure), one payout followed from its entries to the bank and the journal, and
the month-close verdict. The sections are in pages/common/recon_*.py. Money is formatted in major
units per currency only at the edge, never added across currencies; the only converted figure
(unreconciled, in the reporting currency) shows its rate and rate date.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy.exc import ProgrammingError

from metrics.actions import break_workflow as wf
from metrics.catalogue import help_text, label
from metrics.figures import reconciliation as q
from metrics.figures.readiness import Readiness
from pages.common import NO_TABLES, csv_button, flash, options_or_notice, percent, signin
from pages.common import recon_data as rd
from pages.common.recon_breaks import breaks_section
from pages.common.recon_close import close_section, export_section
from pages.common.recon_format import STATUS_LABELS, money_columns, month_label, table_config, words
from pages.common.recon_payouts import payouts_section
from pages.common.state import nothing_found, pending_banner, topic_state
from revwatch import clock
from revwatch.money import chart_amount
from revwatch.settings import load_settings

DEFAULT_MONTHS = 3
TOPIC = "reconciliation"  # metrics/figures/readiness.py: the reconcile job and the ingests it reads
NOTHING_YET = ("Nothing found: the reconciliation has run and found nothing to reconcile in any month (no payment, "
               "payout, bank line or journal taken in yet).")
STATUS_COLORS = {"Matched": "#2a9d8f", "Expected": "#e9c46a", "Break": "#d62728"}
# the legend under the plot (never over a facet's title or the bars), whatever the chart's width
LEGEND = dict(orientation="h", yref="container", yanchor="bottom", y=0.0, x=0, title_text="")
MARGIN = dict(l=10, r=40, t=30, b=80)


# ---------------------------------------------------------------- sidebar
def sidebar(db_key: str | None, sites: pd.DataFrame, months: list[date]) -> q.ReconFilters:
    sb = st.sidebar
    sb.header("Filters")
    if len(months) > 1:
        start = months[max(0, len(months) - DEFAULT_MONTHS)]
        m0, m1 = sb.select_slider("Accounting months", options=months, value=(start, months[-1]),
                                  format_func=month_label, key="months")
    else:
        m0 = m1 = months[0]
        sb.caption(f"Accounting month: {month_label(m0)}")
    stages = sb.multiselect("Stages", q.STAGES, format_func=lambda s: q.STAGE_LABELS[s], key="stages",
                            placeholder="All stages")
    present = set(rd.load_overview(db_key, q.ReconFilters(m0, m1))["funnel"]["currency"])
    present |= set(st.session_state.get("currencies") or ())
    currencies = sb.multiselect("Currencies", sorted(present), key="currencies", placeholder="All currencies")
    gateways = sb.multiselect("Gateways", q.GATEWAYS, key="gateways", placeholder="All gateways",
                              help="Items without a gateway (bank credits, revenue days) only show with none chosen.")
    names = dict(zip(sites["site_id"], sites["name"], strict=True))
    site_ids = sb.multiselect("Sites", list(names), format_func=lambda s: f"{names[s]} ({s})", key="sites",
                              placeholder="All sites",
                              help="Items without a site (payouts, bank credits) only show with none chosen.")
    return q.ReconFilters(m0, m1, tuple(stages), tuple(currencies), tuple(gateways), tuple(site_ids))


# ---------------------------------------------------------------- sections
def funnel_long(fun: pd.DataFrame) -> pd.DataFrame:
    """One row per stage, currency and status (Matched, Expected, Break): items `n` and amount `minor`."""
    return pd.concat([fun.assign(status=STATUS_LABELS[s], n=fun[f"{s}_items"], minor=fun[f"{s}_minor"])
                      for s in q.STATUSES], ignore_index=True)


def stage_axis(stage: str) -> str:
    """A stage's label on lines short enough to sit level under its bars at any width: "S1<br>billing ↔<br>gateway"."""
    return q.STAGE_LABELS.get(stage, stage).replace(" ", "<br>", 1).replace("↔ ", "↔<br>")


def items_chart(long: pd.DataFrame) -> go.Figure:
    """Items per stage and status, every currency: bars side by side on a log axis, so a stage of a few hundred
    items (S3, S4) shows beside one of a million (S1); each bar labelled with its count."""
    items = long.groupby(["stage", "status"], as_index=False)["n"].sum()
    items = items[items["n"] > 0].assign(stage=lambda d: [stage_axis(s) for s in d["stage"]])
    fig = px.bar(items, x="stage", y="n", color="status", color_discrete_map=STATUS_COLORS, barmode="group",
                 log_y=True, text="n", height=360,
                 category_orders={"status": list(STATUS_COLORS), "stage": [stage_axis(s) for s in q.STAGES]},
                 labels={"n": "items (log scale)", "stage": "", "status": ""})
    fig.update_traces(texttemplate="%{y:,}", textposition="outside", cliponaxis=False, textfont_size=11,
                      hovertemplate="%{x}<br>%{y:,} items<extra>%{fullData.name}</extra>")
    fig.update_yaxes(dtick=1, tickformat=",", rangemode="tozero")
    fig.update_xaxes(tickangle=0)
    # a count wider than its bar (a narrow page) is left to the hover rather than drawn over its neighbour's
    fig.update_layout(margin=MARGIN, legend=LEGEND, uniformtext=dict(minsize=9, mode="hide"))
    return fig


def amounts_chart(long: pd.DataFrame) -> go.Figure:
    """Amounts per stage and status in major units, one row per currency (never added across currencies), each
    row with its own axis of full numbers; the currency named beside its row, the legend under the plot."""
    currencies = sorted(set(long["currency"]))
    amounts = long.assign(amount=[float(chart_amount(int(v), c)) for v, c in zip(long["minor"], long["currency"],
                                                                                 strict=True)],
                          stage=[stage_axis(s) for s in long["stage"]])
    height = 160 * len(currencies) + 130
    fig = px.bar(amounts, x="stage", y="amount", color="status", facet_row="currency", height=height,
                 facet_row_spacing=60 / height,  # 60 px between rows: room for a row's top tick, any number of rows
                 color_discrete_map=STATUS_COLORS, labels={"amount": "", "stage": "", "status": ""},
                 custom_data=["currency"],
                 category_orders={"status": list(STATUS_COLORS), "stage": [stage_axis(s) for s in q.STAGES],
                                  "currency": currencies})
    fig.update_traces(hovertemplate="%{x}<br>%{customdata[0]} %{y:,.2f}<extra>%{fullData.name}</extra>")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1], font_size=13))
    fig.update_yaxes(matches=None, showticklabels=True, tickformat=",.0f", rangemode="tozero")
    fig.update_xaxes(tickangle=0)
    fig.update_layout(margin=MARGIN, legend=LEGEND)
    return fig


def stage_cards(fun: pd.DataFrame) -> None:
    cols = st.columns(len(q.STAGES))
    for col, stage in zip(cols, q.STAGES, strict=True):
        rows = fun[fun["stage"] == stage]
        items = int(rows["items"].sum())
        done = int((rows["matched_items"] + rows["resolved_items"] + rows["written_off_items"]).sum())
        code, _, words_ = q.STAGE_LABELS[stage].partition(" ")
        col.metric(f"{code} reconciled", percent(done / items if items else None), border=True,  # short: never cut
                   help=f"{q.STAGE_LABELS[stage]}: {help_text('recon_reconciled_share')}")
        col.caption(f"{words_} · {items:,} items · {int(rows['expected_items'].sum()):,} expected · "
                    f"{int(rows['open_items'].sum()):,} open breaks")


def funnel_section(fun: pd.DataFrame, state: Readiness) -> None:
    st.subheader(label("recon_funnel"), help=help_text("recon_funnel"))
    if fun.empty:
        nothing_found(state, "Nothing found: no reconciliation item in the selection.")
        return
    stage_cards(fun)
    long = funnel_long(fun)
    # one above the other, each as wide as the page: side by side they are too narrow to read below ~1200 px
    st.markdown("**Items per stage** (every currency, log scale)")
    st.plotly_chart(items_chart(long), width="stretch", key="chart_funnel_items")
    st.markdown("**Amounts per stage** (one panel per currency)")
    st.plotly_chart(amounts_chart(long), width="stretch", key="chart_funnel_amounts")
    amounts = ("matched_minor", "expected_minor", "break_minor", "open_minor", "resolved_minor", "written_off_minor")
    table = money_columns(fun, dict.fromkeys(("amount_minor", *amounts, "at_stake_minor")))
    st.dataframe(table, hide_index=True, width="stretch", key="table_funnel", column_config=table_config(
        table, {"stage": "stage", **{words(c.removesuffix("_minor")): f"{words(c.removesuffix('_minor'))} amount"
                                     for c in amounts}}))
    csv_button(fun, "recon_funnel", key="csv_funnel")


# ---------------------------------------------------------------- page
def main() -> None:
    st.title("Reconciliation")
    cfg = load_settings()
    db_key = cfg.database_url
    options = options_or_notice(db_key)
    if options is None:
        return
    sites, _ = options
    try:
        months = rd.load_months(db_key)
    except ProgrammingError:
        st.info(NO_TABLES, icon=":material/info:")
        return
    if not months:
        nothing_found(topic_state(db_key, TOPIC), NOTHING_YET)
        return
    f = sidebar(db_key, sites, months)
    state = topic_state(db_key, TOPIC, f.first_month)
    pending_banner(state)
    as_of = clock.now().replace(second=0, microsecond=0)
    data = rd.load_overview(db_key, f)
    run = data["last_run"]
    if run is not None:
        st.caption(f"Last reconciliation run {run.started_at:%d %b %Y %H:%M} UTC · {run.outcome} · "
                   f"{run.rows_written:,} rows written")
    flash.said(flash.RECONCILIATION)
    funnel_section(data["funnel"], state)
    bf = breaks_section(db_key, f, wf.ApprovalPolicy.of(cfg), as_of, state)
    payouts_section(db_key, f, data["payouts"], data["payouts_total"], state)
    c = close_section(db_key, months, q.CloseThresholds.of(cfg), as_of, state)
    export_section(db_key, f, bf, data["funnel"], c, as_of)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
