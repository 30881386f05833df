"""Trace: one identifier followed from the parking session to the general ledger.

Reads only through `metrics.figures.trace` (no SQL here). Any id (session, invoice, attempt, charge,
refund, dispute, payout, bank line, journal or GL reference) in the box or as `?id=` in the URL,
so other pages can link here. The chain is a vertical timeline, one row per hop, coloured by the
reconciliation status of the link into it: green matched, grey expected (inside its timing
window), red a break with its type and amount; each hop opens to its raw record. Money is
formatted in major units per currency only here, at the edge.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from metrics.catalogue import help_text
from metrics.figures import trace as q
from metrics.figures.query import snapshot
from metrics.figures.readiness import Readiness
from pages.common import engine as _engine
from pages.common import load_or_stop, signin
from pages.common import markdown as md
from pages.common.state import PENDING_ICON, nothing_found, pending_banner, topic_state
from revwatch.money import format_money
from revwatch.settings import load_settings

# Streamlit's own Material icons: emoji are drawn by the system's fonts, and a machine without an emoji font
# shows them as empty boxes.
ICONS = {"session": "directions_car", "finding": "calculate", "invoice": "receipt_long", "attempt": "credit_card",
         "stripe_charge": "bolt", "adyen_settled": "bolt", "balance": "balance", "payout": "payments",
         "entries": "format_list_bulleted", "bank": "account_balance", "journal": "menu_book",
         "revenue_journal": "menu_book", "refund": "undo", "gateway_refund": "undo", "refund_journal": "menu_book",
         "dispute": "gavel"}
LINK_BADGES = {"matched": ":green-background[matched]", "expected": ":gray-background[expected]",
               "break": ":red-background[break]"}


@st.cache_data(ttl=60, show_spinner="Tracing…")
def load_trace(db_key: str | None, identifier: str) -> q.Trace | None:
    with snapshot(_engine(db_key)) as conn:
        return q.trace(conn, identifier)


def money(minor: int | None, currency: str | None) -> str:
    return "–" if minor is None or not currency else format_money(int(minor), currency)


def icon(kind: str) -> str:
    return f":material/{ICONS.get(kind, 'radio_button_unchecked')}:"


def a_or_an(noun: str) -> str:
    """'an invoice', 'an Adyen PSP reference', 'a session', 'a GL journal'."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _when(t) -> str:
    if t is None or pd.isna(t):
        return "–"
    return f"{t:%Y-%m-%d %H:%M} UTC" if hasattr(t, "hour") else f"{t:%Y-%m-%d}"


def hop_line(h: q.Hop) -> str:
    badge = LINK_BADGES.get(h.link or "", "")
    parts = [_when(h.time) if h.time is not None else "",  # what a hop has: a session has no amount, a
             money(h.amount_minor, h.currency) if h.amount_minor is not None else "",  # missing record no id or time
             md.text(h.status) if h.status else ""]
    text = f"{icon(h.kind)} **{h.label}** {md.code(h.id) if h.id else ''} · " + " · ".join(p for p in parts if p)
    if h.link == "break":
        text += f" {badge} :red[**{h.break_type}** {money(h.break_amount_minor, h.currency)} at {h.stage}]"
    elif badge:
        text += f" {badge} ({h.stage})" if h.stage else f" {badge}"
    return text


def _record(h: q.Hop) -> None:
    rec = h.record or {}
    if isinstance(rec.get("lines"), list):
        st.dataframe(blank(pd.DataFrame(rec["lines"])), hide_index=True, width="stretch")
    elif rec:
        st.json(json.loads(json.dumps(rec, default=str)), expanded=True)
    else:
        st.caption("No record: this is where the chain breaks." if not h.present else "No raw record.")
    if h.note:
        st.caption(h.note)


def show(t: q.Trace, reconciled: Readiness) -> None:
    """The chain; `reconciled`: whether the reconciliation its links come from has run over the data."""
    st.caption(f"{md.code(t.identifier)} is {md.text(a_or_an(t.found_as))}; "
               + ("the chain of its parking session." if t.scope == "session" else
                  "the payout-level chain (many sessions): a sample of its charges is below." if t.scope == "payout"
                  else f"{t.scope} only."), help=help_text("trace_link"))
    broken = t.breaks
    if broken:
        st.error("The chain breaks at: " + "; ".join(
            f"{h.label} ({h.stage} {h.break_type} {money(h.break_amount_minor, h.currency)})" for h in broken),
            icon=":material/link_off:")
    else:  # an all-clear only once reconcile has run over the data
        nothing_found(reconciled, "Every reconciled link of this chain is matched or still expected.")
    for branch in ("main", "finding", "revenue", "refund", "dispute"):
        hops = [h for h in t.hops if h.branch == branch]
        if not hops:
            continue
        if branch != "main":
            st.markdown(f"##### {branch.capitalize()}")
        for h in hops:
            box = st.container(border=True)
            if h.link == "break":
                box.error(hop_line(h), icon=":material/error:")
            elif h.link == "matched":
                box.success(hop_line(h), icon=":material/check_circle:")
            else:
                box.markdown(hop_line(h))
            with box.expander("Raw record"):
                _record(h)
    with st.expander("As a table"):
        st.dataframe(hop_table(t), hide_index=True, width="stretch", key="trace_table")
    if not t.sample.empty:
        st.markdown("##### Sample of the payout's charges")
        s = t.sample.copy()
        for c in ("amount_minor", "fee_minor", "net_minor"):
            s[c.replace("_minor", "")] = [money(None if pd.isna(m) else int(m), cur) for m, cur in zip(s[c], s["currency"], strict=True)]
        st.dataframe(blank(s.drop(columns=["amount_minor", "fee_minor", "net_minor"])), hide_index=True, width="stretch")


def blank(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values shown as "–", never as "None" or "NaT" (complete columns keep their type)."""
    gaps = [c for c in df.columns if df[c].isna().any()]
    return df.assign(**{c: df[c].astype(object).where(df[c].notna(), "–") for c in gaps})


def hop_table(t: q.Trace) -> pd.DataFrame:
    """One row per hop, money in major units with its currency (display only)."""
    table = t.table()
    table["time"] = [_when(x) for x in table["time"]]
    table["amount"] = [money(None if pd.isna(m) else int(m), c) for m, c in
                       zip(table["amount_minor"], table["currency"], strict=True)]
    table["break amount"] = ["" if pd.isna(m) else money(int(m), c) for m, c in
                             zip(table["break_amount_minor"], table["currency"], strict=True)]
    return blank(table.drop(columns=["amount_minor", "break_amount_minor"]))


signin.gate()  # the person, also when Streamlit runs this page without app.py
st.title("Trace")
cfg = load_settings()
db_key = cfg.database_url
initial = st.query_params.get("id", "")
if "trace_id" not in st.session_state:
    st.session_state["trace_id"] = initial
ident = st.text_input("Identifier", key="trace_id",
                      placeholder="session, invoice, attempt, charge, refund, dispute, payout, bank line, JE-… or reference",
                      help="Any id of the chain: ses_…, inv_…, pa_…, ch_…, rf_…/re_…, dp_…, po_…, ADYEN-<batch>, "
                           "bank:<sha>:<line>, JE-…, REV-<site>-<date>.").strip()
if ident and st.query_params.get("id") != ident:
    st.query_params["id"] = ident
if not ident:
    st.info("Enter an identifier to follow it from the parking session to the general ledger.", icon=":material/search:")
    st.stop()
found = load_or_stop(load_trace, db_key, ident)
taken_in = load_or_stop(topic_state, db_key, "trace")
pending_banner(taken_in)
if found is not None:
    show(found, load_or_stop(topic_state, db_key, "reconciliation"))
elif taken_in.known:
    st.warning(f"Not found: nothing has the identifier {md.code(ident)}.", icon=":material/search_off:")
else:  # the sources are still being taken in: it may be there once they are
    st.info(f"{md.code(ident)} is not in what has been taken in so far. {taken_in.message}", icon=PENDING_ICON)
