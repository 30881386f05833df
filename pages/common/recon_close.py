"""The Reconciliation page's month close (is the accounting month ready to close, and why not) and
the auditors' workbook of every table the page shows."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import streamlit as st

from metrics.catalogue import help_text, label
from metrics.faces import export
from metrics.figures import reconciliation as q
from pages.common import csv_button, money
from pages.common import markdown as md
from pages.common import recon_data as rd
from pages.common.recon_format import money_columns, month_label


def close_section(db_key: str | None, months: list[date], th: q.CloseThresholds, as_of: datetime) -> q.CloseReadiness:
    st.subheader(label("month_close"), help=help_text("month_close"))
    newest_first = list(reversed(months))
    first = q.default_close_month(months, as_of.date())
    if first is None:  # main() shows the empty hint instead when there is no month
        raise ValueError("the month close needs at least one accounting month")
    month = st.selectbox("Accounting month", newest_first, index=newest_first.index(first), format_func=month_label,
                         key="close_month", help="The latest month that has ended is chosen first.")
    c = rd.load_close(db_key, month, th, as_of)
    rep = c.reporting_currency
    if c.ready:
        st.success(f"{month_label(month)} is ready to close.", icon=":material/task_alt:")
    else:
        st.error(f"{month_label(month)} is not ready to close:\n\n" + "\n".join(f"- {md.text(r.text)}" for r in c.reasons),
                 icon=":material/block:")
    m = st.columns(3)
    m[0].metric(f"{label('unreconciled')} · {rep}", money(c.unreconciled_reporting_minor, rep), border=True,
                help=help_text("unreconciled"))
    m[1].metric(label("open_breaks"),
                f"{int(c.unreconciled['open_breaks'].sum()) if not c.unreconciled.empty else 0:,}",
                border=True, help=help_text("open_breaks"))
    m[2].metric(label("oldest_open_break"),
                "–" if c.oldest_open_age_days is None else f"{c.oldest_open_age_days} days",
                border=True, help=help_text("oldest_open_break"))
    left, right = st.columns(2)
    with left:
        st.markdown("**Per stage and currency**")
        shares = money_columns(c.shares[["stage", "currency", "items", "matched_items", "resolved_items",
                                      "written_off_items", "expected_items", "open_items", "matched_share",
                                      "item_share", "amount_minor", "reconciled_minor", "amount_share"]],
                            {"amount_minor": None, "reconciled_minor": None})
        st.dataframe(shares, hide_index=True, width="stretch", key="table_close_shares", column_config={
            "matched_share": st.column_config.NumberColumn("matched", format="percent"),
            "item_share": st.column_config.NumberColumn("items reconciled", format="percent"),
            "amount_share": st.column_config.NumberColumn("amount reconciled", format="percent")})
        csv_button(c.shares, f"close_{month:%Y-%m}_shares", key="csv_close_shares")
        st.markdown(f"**{label('open_break_age')}**", help=help_text("open_break_age"))
        if c.age_buckets.empty:
            st.caption("No open break in the month.")
        else:
            st.dataframe(money_columns(c.age_buckets, {"at_stake_minor": None}), hide_index=True, width="stretch",
                         key="table_close_ages")
            csv_button(c.age_buckets, f"close_{month:%Y-%m}_ages", key="csv_close_ages")
    with right:
        st.markdown(f"**Unreconciled per currency and in {rep}**")
        u = c.unreconciled
        un = u.assign(
            unreconciled=[money(v, cur) for v, cur in zip(u["unreconciled_minor"], u["currency"], strict=True)],
            rate_used=[("–" if r is None else f"{Decimal(r).normalize():f} of {d}"
                        + ("" if ok else f" (not {c.rate_day}: latest earlier)"))
                       for r, d, ok in zip(u["rate"], u["rate_date"], u["exact_rate"], strict=True)],
            converted=[money(v, rep) for v in u["reporting_minor"]])
        st.dataframe(un[["currency", "open_breaks", "unreconciled", "rate_used", "converted"]].rename(
            columns={"converted": f"in {rep}", "rate_used": f"rate to {rep}"}), hide_index=True, width="stretch",
            key="table_close_unreconciled")
        stale = [cur for cur, r, ok in zip(c.unreconciled["currency"], c.unreconciled["rate"], c.unreconciled["exact_rate"], strict=True)
                 if r is not None and not ok]
        if stale:
            st.warning(f"No rate of {c.rate_day} for {md.text(', '.join(stale))}: the latest earlier rate was used.",
                       icon=":material/warning:")
        csv_button(c.unreconciled, f"close_{month:%Y-%m}_unreconciled", key="csv_close_unreconciled")
        st.markdown(f"**{label('fx_gaps')}**", help=help_text("fx_gaps"))
        if c.fx_gaps.empty:
            st.caption("None: every day has a rate for every currency.")
        else:
            st.dataframe(c.fx_gaps, hide_index=True, width="stretch", height=200, key="table_fx_gaps")
            csv_button(c.fx_gaps, f"close_{month:%Y-%m}_fx_gaps", key="csv_fx_gaps")
    return c


def export_section(f: q.ReconFilters, fun: pd.DataFrame, found: pd.DataFrame, pays: pd.DataFrame,
                   c: q.CloseReadiness, as_of: datetime) -> None:
    st.subheader("Export for auditors")
    sheets = {"breaks": found, "funnel": fun, "close": c.shares, "close_verdict": q.verdict_table(c),
              "close_age_buckets": c.age_buckets, "close_unreconciled": c.unreconciled, "close_fx_gaps": c.fx_gaps,
              "payouts": pays}
    about = {"generated_at_utc": as_of, "accounting_months": f"{f.first_month:%Y-%m} to {f.last_month:%Y-%m}",
             "stages": ", ".join(f.stages) or "all", "currencies": ", ".join(f.currencies) or "all",
             "gateways": ", ".join(f.gateways) or "all", "sites": ", ".join(f.site_ids) or "all",
             "close_month": f"{c.month:%Y-%m}", "close_verdict": "ready" if c.ready else "not ready",
             "reporting_currency": c.reporting_currency,
             "money": "*_minor columns are integer minor units of the row's currency; the column beside each is the "
                      "same in major units", "times": "UTC"}
    st.download_button("Download Excel workbook", lambda: export.workbook(sheets, about, c.reporting_currency),
                       file_name=f"revwatch_reconciliation_{c.month:%Y-%m}.xlsx", key="xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/table_view:", on_click="ignore",
                       help="One sheet per table: breaks, funnel, close (shares, verdict, ages, unreconciled, FX gaps), "
                            "payouts.")
