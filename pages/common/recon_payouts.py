"""The Reconciliation page's payouts: the list, and one payout followed through S2 (rebuilt from
its entries), S3 (the bank deposit) and S4 (the journal)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics.figures import reconciliation as q
from metrics.figures.readiness import Readiness
from pages.common import markdown as md
from pages.common import money
from pages.common import recon_data as rd
from pages.common.recon_format import STATUS_LABELS, dashes, missing, money_columns, records_view, words
from pages.common.state import nothing_found, shown_of


def _status(status: str | None, break_type: str | None) -> str:
    """'Matched', 'Break · amount mismatch', or "–" (not reconciled at that stage)."""
    if missing(status):
        return "–"
    return STATUS_LABELS.get(str(status), words(status)) + ("" if missing(break_type) else f" · {words(break_type)}")


def payouts_section(db_key: str | None, f: q.ReconFilters, found: pd.DataFrame, total: int, state: Readiness) -> None:
    st.subheader("Payouts", help="One payout followed through S2 (rebuilt from its balance entries or batch lines), "
                                 "S3 (the bank deposit) and S4 (the journal).")
    if found.empty:
        nothing_found(state, "Nothing found: no payout in the selection.")
        return
    view = found.assign(gateway=[words(g).capitalize() for g in found["gateway"]],
                        **{f"s{n}_status": [_status(s, b) for s, b in zip(found[f"s{n}_status"], found[f"s{n}_break"],
                                                                           strict=True)] for n in (2, 3, 4)})
    view = dashes(money_columns(view.drop(columns=["s2_break", "s3_break", "s4_break"]), {"amount_minor": None}))
    st.dataframe(view, hide_index=True, height=220, width="stretch", key="table_payouts", column_config={
        "payout_key": "payout key", "s2_status": "S2 reconstruction", "s3_status": "S3 bank", "s4_status": "S4 ledger",
        "occurred_at": st.column_config.DatetimeColumn("created (UTC)", format="DD MMM YYYY HH:mm")})
    c = st.columns([3, 1])
    c[0].caption(shown_of(len(found), total, "payouts"))
    with c[1]:
        rd.download_all(lambda: rd.all_payouts(db_key, f), "recon_payouts", key="csv_payouts")
    labels = {r["payout_key"]: f"{words(r['gateway']).capitalize()} {r['reference']} · "
                               f"{money(r['amount_minor'], r['currency'])} · S2 {_status(r['s2_status'], None)} · "
                               f"S3 {_status(r['s3_status'], None)} · S4 {_status(r['s4_status'], None)}"
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
        col.markdown(f"**{title}** · {_status(r['status'], r['break_type']) if r else 'not reconciled'}")
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
            st.caption(f"Arrival date {v.bank_detail.get('arrival_date') or '–'} · bank amount "
                       f"{money(v.bank_detail.get('bank_amount_minor'), cur)}")
    with c[2]:
        if v.journal.empty:
            st.caption("No journal lines found for this payout.")
        else:
            st.dataframe(records_view(v.journal[["journal_id", "line", "posted_date", "account", "debit_minor",
                                                 "credit_minor", "currency", "reference"]]),
                         hide_index=True, width="stretch", key="table_journal")
