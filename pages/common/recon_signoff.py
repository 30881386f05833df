"""The Month close view's sign-off (issue 18): who signed the month off and how, every adjustment since (a late
bank line, a reopened break, a re-rated session) against the frozen snapshot, and, for a controller, the sign-off
itself: a button when the month is ready, a reason to give for each unmet check when it is not."""
from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import streamlit as st

from metrics.actions import month_signoff as so
from metrics.figures import reconciliation as q
from metrics.figures.readiness import Readiness
from pages.common import engine, flash, money, signin
from pages.common import markdown as md
from pages.common import recon_data as rd
from pages.common.recon_format import month_label
from pages.common.state import nothing_found
from revwatch.identity import NotPermitted, Permission, roles_granting

AREAS = {"stage": "stage", "unreconciled": "unreconciled", "billing": "billing accuracy", "break": "break"}


def adjustments_view(ac: q.AfterClose) -> pd.DataFrame:
    """The adjustments for people: money in major units of its currency, counts as counts, states in words."""
    return pd.DataFrame([{"area": AREAS.get(a.area, a.area), "where": a.scope, "figure": a.words,
                          "at sign-off": a.shown(a.at_sign_off, "–"), "now": a.shown(a.now, "–"),
                          "change": "–" if a.change is None else
                          a.shown(a.change) if a.figure.endswith("_minor") else f"{a.change:+,}"}
                         for a in ac.adjustments],
                        columns=["area", "where", "figure", "at sign-off", "now", "change"])


def signed_view(ac: q.AfterClose, state: Readiness) -> None:
    s = ac.signoff
    how = "ready" if s.ready else f"not ready, signed with an override of {len(s.override)} unmet check" + \
        ("s" if len(s.override) != 1 else "")
    st.info(f"**Signed off** by {md.text(s.signed_by)} on {s.signed_at:%d %b %Y %H:%M} UTC ({how}).",
            icon=":material/verified:")
    with st.expander("The sign-off: overrides and the snapshot's hash"):
        for o in s.override:
            st.markdown(f"- {md.text(o['text'])} — **why signed anyway:** {md.text(o['why'])}")
        st.caption(f"Snapshot sha256 {s.snapshot_sha256} (also in the audit log, action close.sign_off).")
    st.markdown("**After-close adjustments**",
                help="Every figure of the signed-off month that differs now from the snapshot taken at sign-off.")
    if not ac.adjustments:
        nothing_found(state, "None: nothing has changed in the month since it was signed off.")
        return
    moved = ac.unreconciled_change_minor
    st.warning(f"{len(ac.adjustments):,} figures changed since the sign-off"
               + (f"; unreconciled money moved by {money(moved, s.reporting_currency)}" if moved else "") + ".",
               icon=":material/difference:")
    st.dataframe(adjustments_view(ac), hide_index=True, width="stretch", key="table_adjustments")


def signoff_section(db_key: str | None, month: date, th: q.CloseThresholds, c: q.CloseReadiness, as_of: datetime,
                    state: Readiness) -> None:
    ac = rd.load_after_close(db_key, month, th, as_of)
    if ac is not None:
        signed_view(ac, state)
    who = signin.current()
    if not who.can(Permission.SIGN_OFF):
        st.caption(f"Signing a month off needs a role of {', '.join(roles_granting(Permission.SIGN_OFF))}.")
        return
    if q.month_start(month) >= q.month_start(as_of.date()):
        st.caption(f"{month_label(month)} can be signed off once it has ended.")
        return
    if not state.known:
        st.caption(f"{month_label(month)} can be signed off once its figures are computed: {state.message}")
        return
    if ac is not None and not ac.adjustments:
        return  # signed, and nothing to sign again
    nonce = st.session_state.get("_signoff_nonce", 0)
    overrides = {}
    if not c.ready:
        st.markdown("**Sign off anyway?** Say, for each unmet check, why the month can be closed with it:")
        for n, r in enumerate(c.reasons):
            overrides[so.reason_key(r._asdict())] = st.text_input(r.text, key=f"override_{nonce}_{n}")
    verb = "Sign off again" if ac is not None else "Sign off"
    if st.button(f"{verb} {month_label(month)} as {who.display}", key="sign_off", type="primary"):
        try:
            with engine(db_key).begin() as conn:
                so.sign_off(conn, month, who, th, overrides, as_of)
        except (so.SignOffRefused, NotPermitted) as exc:
            st.error(str(exc), icon=":material/block:")
            return
        rd.forget_cached_figures()
        st.session_state["_signoff_nonce"] = nonce + 1
        flash.after_rerun(flash.RECONCILIATION, f"{month_label(month)}: signed off by {who.display}.")
