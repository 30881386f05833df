"""Reconciliation: did every payment reach the gateway, the payout, the bank and the ledger?

Reads only through `metrics.figures.reconciliation` (no SQL here) and acts only through
`metrics.actions.break_workflow`: the stage funnel (S1 billing ↔ gateway, S2 gateway ↔ payout, S3
payout ↔ bank, S4 ledger), the breaks with a drill-down to both sides' records and the break's
history, the workflow actions (the actor's name from the sidebar), the payouts missing in the bank
(the alert's own figure), one payout followed from its entries to the bank and the journal, and
the month-close verdict. The sections are in pages/common/recon_*.py. Money is formatted in major
units per currency only at the edge, never added across currencies; the only converted figure
(unreconciled, in the reporting currency) shows its rate and rate date.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.express as px
import streamlit as st
from sqlalchemy.exc import ProgrammingError

from metrics.catalogue import help_text, label
from metrics.figures import reconciliation as q
from pages.common import NO_TABLES, csv_button, options_or_notice, percent
from pages.common import recon_data as rd
from pages.common.recon_breaks import breaks_section
from pages.common.recon_close import close_section, export_section
from pages.common.recon_format import money_columns, month_label
from pages.common.recon_payouts import payouts_section
from revwatch import clock
from revwatch.money import chart_amount
from revwatch.settings import load_settings

DEFAULT_MONTHS = 3
EMPTY_HINT = ("No reconciliation yet: run `revwatch collect` (incl. the `reconcile` job) once bank statements, "
              "GL exports and FX rates are configured.")
STATUS_COLORS = {"matched": "#2a9d8f", "expected": "#e9c46a", "break": "#d62728"}
LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")


# ---------------------------------------------------------------- sidebar
def sidebar(db_key: str | None, sites: pd.DataFrame, months: list[date]) -> tuple[str, q.ReconFilters]:
    sb = st.sidebar
    actor = sb.text_input("Your name", key="actor", placeholder="required to act on breaks",
                          help="Recorded with every action you take on a break (assign, comment, resolve, write off, "
                               "reopen).").strip()
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
    return actor, q.ReconFilters(m0, m1, tuple(stages), tuple(currencies), tuple(gateways), tuple(site_ids))


# ---------------------------------------------------------------- sections
def stage_cards(fun: pd.DataFrame) -> None:
    cols = st.columns(len(q.STAGES))
    for col, stage in zip(cols, q.STAGES, strict=True):
        rows = fun[fun["stage"] == stage]
        items = int(rows["items"].sum())
        done = int((rows["matched_items"] + rows["resolved_items"] + rows["written_off_items"]).sum())
        col.metric(q.STAGE_LABELS[stage], percent(done / items if items else None), border=True,
                   help=help_text("recon_reconciled_share"))
        col.caption(f"{items:,} items · {int(rows['expected_items'].sum()):,} expected · "
                    f"{int(rows['open_items'].sum()):,} open breaks")


def funnel_section(fun: pd.DataFrame) -> None:
    st.subheader(label("recon_funnel"), help=help_text("recon_funnel"))
    if fun.empty:
        st.caption("No items in the selection.")
        return
    stage_cards(fun)
    long = pd.concat([fun.assign(status=s, n=fun[f"{s}_items"], minor=fun[f"{s}_minor"]) for s in q.STATUSES])
    left, right = st.columns(2)
    with left:
        st.markdown("**Items per stage** (counts, every currency)")
        items = long.groupby(["stage", "status"], as_index=False)["n"].sum()
        fig = px.bar(items, x="stage", y="n", color="status", color_discrete_map=STATUS_COLORS, height=340,
                     category_orders={"status": list(q.STATUSES), "stage": list(q.STAGES)},
                     labels={"n": "items", "stage": ""})
        fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
        st.plotly_chart(fig, width="stretch", key="chart_funnel_items")
    with right:
        st.markdown("**Amounts per stage** (major units, one panel per currency)")
        amounts = long.assign(amount=[float(chart_amount(int(v), c)) for v, c in zip(long["minor"], long["currency"], strict=True)])
        fig = px.bar(amounts, x="stage", y="amount", color="status", facet_col="currency", height=340,
                     color_discrete_map=STATUS_COLORS, labels={"amount": "amount", "stage": ""},
                     category_orders={"status": list(q.STATUSES), "stage": list(q.STAGES)})
        fig.update_yaxes(matches=None, showticklabels=True)
        fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
        st.plotly_chart(fig, width="stretch", key="chart_funnel_amounts")
    table = money_columns(fun, dict.fromkeys(("amount_minor", "matched_minor", "expected_minor", "break_minor", "open_minor", "resolved_minor", "written_off_minor", "at_stake_minor")))
    st.dataframe(table, hide_index=True, width="stretch", key="table_funnel")
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
        st.info(EMPTY_HINT, icon=":material/info:")
        return
    actor, f = sidebar(db_key, sites, months)
    as_of = clock.now().replace(second=0, microsecond=0)
    data = rd.load_overview(db_key, f)
    run = data["last_run"]
    if run is not None:
        st.caption(f"Last reconciliation {run.started_at:%d %b %Y %H:%M} UTC · {run.outcome} · "
                   f"{run.rows_written:,} rows written")
    flash = st.session_state.pop("_recon_flash", None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    funnel_section(data["funnel"])
    found = breaks_section(db_key, f, cfg.reporting_currency, as_of, actor)
    payouts_section(db_key, data["payouts"])
    c = close_section(db_key, months, q.CloseThresholds.of(cfg), as_of)
    export_section(f, data["funnel"], found, data["payouts"], c, as_of)


main()
