"""The Reconciliation page's breaks: the filters, the list (a row chosen drives the drill-down), and
the payouts missing in the bank, the very number the PayoutMissingInBank alert fires on, with a
button that sets the filters to list exactly those breaks."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import streamlit as st

from metrics.actions import break_workflow as wf
from metrics.catalogue import help_text, label
from metrics.figures import reconciliation as q
from metrics.figures.readiness import Readiness
from pages.common import money
from pages.common import recon_data as rd
from pages.common.recon_break_detail import detail_view
from pages.common.recon_format import STATE_LABELS, break_headers, breaks_view, state_label, words
from pages.common.state import nothing_found, shown_of

AGES = {"any age": (None, None), "0–7 days": (0, 7), "8–30 days": (8, 30), "31–60 days": (31, 60),
        "over 60 days": (61, None)}
SORT_LABELS = {"amount": "Biggest first", "age": "Oldest first"}


def list_missing_payouts() -> None:
    """Set the filters (before the widgets are drawn) to PAYOUT_MISSING_IN_BANK, every month, nothing else;
    the filters whose default is wanted (open, any amount, any age) are reset rather than set."""
    kind = q.PAYOUT_MISSING_IN_BANK
    st.session_state.update({"stages": [kind.stage], "item_types": [kind.item_type], "break_types": [kind.break_type],
                             "break_every_month": True, "currencies": [], "gateways": [], "sites": []})
    for key in ("states", "min_amount", "age"):
        st.session_state.pop(key, None)


def missing_payouts_figure(db_key: str | None, as_of: datetime, state: Readiness) -> None:
    rows = rd.load_missing_payouts(db_key, as_of)
    c = st.columns([2, 3])  # wide enough for the metric's label on a page of any width
    c[0].metric(label("payouts_missing_in_bank"), f"{sum(r.breaks for r in rows):,}" if rows or state.known else "–",
                border=True, help=help_text("payouts_missing_in_bank"))
    with c[1]:
        none = "None: every payout due has reached the bank." if state.known else "Not known yet."
        st.caption(" · ".join(f"{(r.gateway or '–').capitalize()}: {r.breaks:,} ({money(r.at_stake_minor, r.currency)}, "
                              f"oldest {r.oldest_age_days} days)" for r in rows) or none)
        st.button("List them", key="list_missing_payouts", on_click=list_missing_payouts, disabled=not rows,
                  help="Sets the filters to S3, item type payout, break type missing, open, every month.")


def break_filters(f: q.ReconFilters) -> q.BreakFilters:
    c = st.columns([2, 2, 2])
    states = c[0].multiselect("State", q.BREAK_STATES, default=["open"], format_func=lambda s: STATE_LABELS[s],
                              key="states", placeholder="Every state")
    types = c[1].multiselect("Break type", q.BREAK_TYPES, key="break_types", placeholder="Every type",
                             format_func=words)
    item_types = c[2].multiselect("Item type", q.ITEM_TYPES, key="item_types", placeholder="Every item type",
                                  format_func=words)
    c = st.columns([1, 1, 1, 1, 1])
    min_amount = c[0].number_input("Min. at stake", min_value=0, value=0, step=1, key="min_amount",
                                   help="In whole major units of each break's own currency.")
    age = c[1].selectbox("Age", list(AGES), key="age", help="Days since the item occurred.")
    sort = c[2].radio("Sort", q.SORTS, format_func=SORT_LABELS.get, key="sort")
    every_month = c[3].toggle("Every month", key="break_every_month",
                              help="Breaks of every accounting month, not only the months chosen in the sidebar.")
    awaiting = c[4].toggle("Awaiting approval", key="break_awaiting",
                           help="Only breaks whose resolution or write-off waits for a controller (four eyes).")
    lo, hi = AGES[age]
    return q.BreakFilters.of(f, every_month, break_types=tuple(types), states=tuple(states),
                             item_types=tuple(item_types), min_amount=Decimal(int(min_amount)) if min_amount else None,
                             min_age_days=lo, max_age_days=hi, sort=sort, awaiting_approval=awaiting)


def breaks_section(db_key: str | None, f: q.ReconFilters, policy: wf.ApprovalPolicy, as_of: datetime,
                   state: Readiness) -> q.BreakFilters:
    """The break list (the first rd.PAGE_ROWS, "first N of M", a download of all) and the drill-down;
    returns the filters the list was read with (the workbook's breaks sheet reads all of them)."""
    reporting = policy.reporting_currency
    st.subheader(label("recon_breaks"), help=f"{help_text('recon_breaks')} Reporting currency: {reporting}.")
    missing_payouts_figure(db_key, as_of, state)
    bf = break_filters(f)
    found, total = rd.load_breaks(db_key, bf, reporting, as_of)
    if found.empty:
        nothing_found(state, "Nothing found: no break matches the filters.")
    else:
        when = "DD MMM YYYY HH:mm"
        config: dict = dict(break_headers(reporting))
        config |= {"occurred_at": st.column_config.DatetimeColumn(config["occurred_at"], format=when),
                   "opened_at": st.column_config.DatetimeColumn(config["opened_at"], format=when),
                   "break_id": st.column_config.NumberColumn(config["break_id"], format="%d"),
                   "age_days": st.column_config.NumberColumn(config["age_days"], format="%d")}
        event = st.dataframe(breaks_view(found, reporting), hide_index=True, height=320, width="stretch",
                             key="table_breaks", on_select="rerun", selection_mode="single-row", column_config=config)
        c = st.columns([3, 1])
        c[0].caption(shown_of(len(found), total, "breaks"))
        with c[1]:
            rd.download_all(lambda: rd.all_breaks(db_key, bf, reporting, as_of), "recon_breaks", key="csv_breaks")
        picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
        chosen = int(found["break_id"].iloc[picked[0]]) if picked and picked[0] < len(found) else None
        if chosen != st.session_state.get("_breaks_table_choice"):  # a new row chosen in the table drives the drill-down
            st.session_state["_breaks_table_choice"] = chosen
            if chosen is not None:
                st.session_state["drill_break"] = chosen
    ids = [int(b) for b in found["break_id"]]
    current = st.session_state.get("drill_break")
    labels_extra = {}
    if current is not None and current not in ids:  # keep showing a break acted on, though it left the list
        ids.append(int(current))
        gone = rd.load_detail(db_key, int(current))
        if gone is not None:  # labelled with its state now, not the state it had when it was listed
            labels_extra[int(current)] = (f"#{int(current)} · {q.STAGE_LABELS.get(gone.brk['stage'], gone.brk['stage'])}"
                                          f" · {state_label(gone.brk['state'], (gone.request or {}).get('action'))}"
                                          " (not in the list's filters)")
    labels = {int(r["break_id"]): f"#{int(r['break_id'])} · {q.STAGE_LABELS.get(r['stage'], r['stage'])} · "
                                  f"{words(r['item_type'])} · {words(r['break_type'])} · "
                                  f"{money(r['at_stake_minor'], r['currency'])} · "
                                  f"{state_label(r['state'], r['awaiting_approval'])}"
              for r in found.to_dict("records")} | labels_extra
    bid = st.selectbox("Drill down to a break", [None, *ids], key="drill_break",
                       format_func=lambda b: "choose a break (or a row above)…" if b is None else labels.get(b, f"#{b}"))
    if bid is not None:
        detail_view(db_key, rd.load_detail(db_key, int(bid)), policy)
    return bf
