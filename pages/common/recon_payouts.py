"""The Reconciliation page's payouts: the list, and one payout followed through S2 (rebuilt from
its entries), S3 (the bank deposit) and S4 (the journal)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics.figures import reconciliation as q
from pages.common import csv_button, money
from pages.common import markdown as md
from pages.common import recon_data as rd
from pages.common.recon_format import money_columns, records_view


def payouts_section(db_key: str | None, found: pd.DataFrame) -> None:
    st.subheader("Payouts", help="One payout followed through S2 (rebuilt from its balance entries or batch lines), "
                                 "S3 (the bank deposit) and S4 (the journal).")
    if found.empty:
        st.caption("No payout in the selection.")
        return
    st.dataframe(money_columns(found, {"amount_minor": None}), hide_index=True, height=220, width="stretch",
                 key="table_payouts", column_config={
                     "occurred_at": st.column_config.DatetimeColumn("created (UTC)", format="DD MMM YYYY HH:mm")})
    csv_button(found, "recon_payouts", key="csv_payouts")
    labels = {r["payout_key"]: f"{r['gateway']} {r['reference']} · {money(r['amount_minor'], r['currency'])} · "
                               f"S2 {r['s2_status'] or '–'} · S3 {r['s3_status'] or '–'} · S4 {r['s4_status'] or '–'}"
              for r in found.to_dict("records")}
    key = st.selectbox("Follow a payout", [None, *found["payout_key"]], key="payout",
                       format_func=lambda k: "choose a payout…" if k is None else labels.get(k, k))
    if key:
        payout_view(rd.load_payout(db_key, key))


def payout_view(v: q.PayoutView | None) -> None:
    if v is None:
        st.warning("That payout is no longer reconciled.")
        return
    cur = v.currency
    st.markdown(f"**{md.text(v.gateway.capitalize())} payout {md.code(v.reference)}** · {money(v.amount_minor, cur)}")
    status = {r["stage"]: r for r in v.items.to_dict("records")}
    c = st.columns(3)
    for col, stage, title in ((c[0], "S2", "Reconstruction (S2)"), (c[1], "S3", "Bank deposit (S3)"),
                              (c[2], "S4", "Ledger (S4)")):
        r = status.get(stage)
        state = (r["status"] + (" · " + r["break_type"] if r["break_type"] else "")) if r else "not reconciled"
        col.markdown(f"**{title}** · {state}")
    with c[0]:
        rec = v.reconstruction_table()
        st.dataframe(rec.assign(amount=[money(m, cur) for m in rec["minor"]])[["component", "amount"]],
                     hide_index=True, width="stretch", key="table_reconstruction")
        with st.expander(f"Entries ({len(v.entries)})"):
            st.dataframe(records_view(v.entries), hide_index=True, width="stretch", key="table_entries")
    with c[1]:
        if v.bank.empty:
            st.caption("No bank line found for this payout.")
        else:
            st.dataframe(records_view(v.bank[["bank_date", "amount_minor", "currency", "type_code", "text",
                                              "file_sha256", "line_number"]]),
                         hide_index=True, width="stretch", key="table_bank")
        if v.bank_detail:
            st.caption(f"Arrival date {v.bank_detail.get('arrival_date', '–')} · bank amount "
                       f"{money(v.bank_detail.get('bank_amount_minor'), cur)}")
    with c[2]:
        if v.journal.empty:
            st.caption("No journal lines found for this payout.")
        else:
            st.dataframe(records_view(v.journal[["journal_id", "line", "posted_date", "account", "debit_minor",
                                                 "credit_minor", "currency", "reference"]]),
                         hide_index=True, width="stretch", key="table_journal")
