"""The Reconciliation page's month close (is the accounting month ready to close, and why not) and
the auditors' workbook of every table the page shows."""
from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from metrics.catalogue import help_text, label
from metrics.faces import export
from metrics.figures import reconciliation as q
from metrics.figures.readiness import Readiness
from pages.common import csv_button, money
from pages.common import markdown as md
from pages.common import recon_data as rd
from pages.common.recon_format import money_columns, month_label, rate_text, table_config
from pages.common.recon_signoff import signoff_section
from pages.common.state import nothing_found


def thresholds_help(th: q.CloseThresholds) -> str:
    """The close thresholds and the settings they come from (the verdict's sentences name no setting)."""
    return (f"A month is ready to close when, per stage and currency, at least {rate_text(th.min_matched_share * 100)} % of "
            f"items (CLOSE_MIN_MATCHED_SHARE) and {rate_text(th.min_amount_share * 100)} % of the amount "
            f"(CLOSE_MIN_AMOUNT_SHARE) are matched or explained, at most "
            f"{money(th.max_unreconciled_minor, th.reporting_currency)} stays unreconciled "
            f"(CLOSE_MAX_UNRECONCILED_MINOR), no open break is older than {th.max_break_age_days} days "
            "(CLOSE_MAX_BREAK_AGE_DAYS), and every currency has an FX rate for the month's last day.")


def close_section(db_key: str | None, months: list[date], th: q.CloseThresholds, as_of: datetime,
                  state: Readiness) -> q.CloseReadiness:
    st.subheader(label("month_close"), help=f"{help_text('month_close')}\n\n{thresholds_help(th)}")
    newest_first = list(reversed(months))
    first = q.default_close_month(months, as_of.date())
    if first is None:  # main() shows the empty hint instead when there is no month
        raise ValueError("the month close needs at least one accounting month")
    month = st.selectbox("Accounting month", newest_first, index=newest_first.index(first), format_func=month_label,
                         key="close_month", help="The latest month that has ended is chosen first.")
    c = rd.load_close(db_key, month, th, as_of)
    rep = c.reporting_currency
    if c.ready and state.known:
        st.success(f"{month_label(month)} is ready to close.", icon=":material/task_alt:")
    elif c.ready:  # nothing missed so far, but the reconciliation has not judged everything yet
        st.info(f"Whether {month_label(month)} is ready to close is not known yet. {state.message}",
                icon=":material/hourglass_top:")
    else:
        st.error(f"{month_label(month)} is not ready to close:\n\n" + "\n".join(f"- {md.text(r.text)}" for r in c.reasons),
                 icon=":material/block:")
    signoff_section(db_key, month, th, c, as_of, state)
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
            **table_config(shares, {"amount": "amount", "reconciled": "amount reconciled or explained"}),
            "matched_share": st.column_config.NumberColumn("matched", format="percent"),
            "item_share": st.column_config.NumberColumn("items reconciled", format="percent"),
            "amount_share": st.column_config.NumberColumn("amount reconciled", format="percent")})
        csv_button(c.shares, f"close_{month:%Y-%m}_shares", key="csv_close_shares")
        st.markdown(f"**{label('open_break_age')}**", help=help_text("open_break_age"))
        if c.age_buckets.empty:
            nothing_found(state, "Nothing found: no open break in the month.")
        else:
            ages = money_columns(c.age_buckets, {"at_stake_minor": None})
            st.dataframe(ages, hide_index=True, width="stretch", key="table_close_ages",
                         column_config=table_config(ages, {"bucket": "age (days)"}))
            csv_button(c.age_buckets, f"close_{month:%Y-%m}_ages", key="csv_close_ages")
    with right:
        st.markdown(f"**Unreconciled per currency and in {rep}**")
        u = c.unreconciled
        un = u.assign(
            unreconciled=[money(v, cur) for v, cur in zip(u["unreconciled_minor"], u["currency"], strict=True)],
            rate_used=[("–" if r is None else f"{rate_text(r)} of {d}"
                        + ("" if ok else f" (not {c.rate_day}: latest earlier)"))
                       for r, d, ok in zip(u["rate"], u["rate_date"], u["exact_rate"], strict=True)],
            converted=[money(v, rep) for v in u["reporting_minor"]])
        un = un[["currency", "open_breaks", "unreconciled", "rate_used", "converted"]].rename(
            columns={"converted": f"in {rep}", "rate_used": f"rate to {rep}"})
        st.dataframe(un, hide_index=True, width="stretch", key="table_close_unreconciled",
                     column_config=table_config(un))
        stale = [cur for cur, r, ok in zip(c.unreconciled["currency"], c.unreconciled["rate"], c.unreconciled["exact_rate"], strict=True)
                 if r is not None and not ok]
        if stale:
            st.warning(f"No rate of {c.rate_day} for {md.text(', '.join(stale))}: the latest earlier rate was used.",
                       icon=":material/warning:")
        csv_button(c.unreconciled, f"close_{month:%Y-%m}_unreconciled", key="csv_close_unreconciled")
        st.markdown(f"**{label('fx_gaps')}**", help=help_text("fx_gaps"))
        if c.fx_gaps.empty:
            nothing_found(state, "Nothing found: every day has a rate for every currency.")
        else:
            st.dataframe(c.fx_gaps, hide_index=True, width="stretch", height=200 if len(c.fx_gaps) > 5 else "auto",
                         key="table_fx_gaps", column_config={
                "rate_date": st.column_config.DateColumn("day without a rate", format="YYYY-MM-DD")})
            csv_button(c.fx_gaps, f"close_{month:%Y-%m}_fx_gaps", key="csv_fx_gaps")
    return c


def export_section(db_key: str | None, f: q.ReconFilters, bf: q.BreakFilters, fun: pd.DataFrame,
                   c: q.CloseReadiness, as_of: datetime) -> None:
    """The auditors' workbook, built when it is downloaded: every break the list's filters give and every
    payout of the selection (never the page's first rows), the about sheet saying how many rows each holds."""
    st.subheader("Export for auditors")
    about = {"generated_at_utc": as_of, "accounting_months": f"{f.first_month:%Y-%m} to {f.last_month:%Y-%m}",
             "stages": ", ".join(f.stages) or "all", "currencies": ", ".join(f.currencies) or "all",
             "gateways": ", ".join(f.gateways) or "all", "sites": ", ".join(f.site_ids) or "all",
             "break_states": ", ".join(bf.states) or "all",
             "break_months": "every month" if bf.first_month is None else
             f"{bf.first_month:%Y-%m} to {bf.last_month:%Y-%m}" if bf.last_month else f"from {bf.first_month:%Y-%m}",
             "close_month": f"{c.month:%Y-%m}", "close_verdict": "ready" if c.ready else "not ready",
             "reporting_currency": c.reporting_currency,
             "money": "*_minor columns are integer minor units of the row's currency; the column beside each is the "
                      "same in major units", "times": "UTC"}

    def build() -> bytes:
        sheets = {"breaks": rd.all_breaks(db_key, bf, c.reporting_currency, as_of), "funnel": fun, "close": c.shares,
                  "close_verdict": q.verdict_table(c), "close_age_buckets": c.age_buckets,
                  "close_unreconciled": c.unreconciled, "close_fx_gaps": c.fx_gaps,
                  "payouts": rd.all_payouts(db_key, f)}
        return export.workbook(sheets, about, c.reporting_currency)

    st.download_button("Download Excel workbook", build, file_name=f"revwatch_reconciliation_{c.month:%Y-%m}.xlsx",
                       key="xlsx", mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/table_view:", on_click="ignore",
                       help="One sheet per table, every row: breaks (as the break list's filters give them), funnel, "
                            "close (shares, verdict, ages, unreconciled, FX gaps), payouts. The about sheet says how "
                            "many rows each holds.")
