"""The Reconciliation page's drill-down into one break: its item, both sides' records, its history,
and the workflow actions the signed-in person's roles allow (recorded as their identity)."""
from __future__ import annotations

import json

import streamlit as st

from metrics.actions import break_workflow as wf
from metrics.catalogue import help_text, label
from metrics.figures import reconciliation as q
from pages.common import engine, money, signin
from pages.common import markdown as md
from pages.common import recon_data as rd
from pages.common.recon_format import STATE_LABELS, detail_pairs, detail_text, missing, month_label, records_view, words
from revwatch.identity import Identity, NotPermitted, roles_granting

ACTION_LABELS = {"assign": "Assign", "comment": "Comment", "resolve": "Resolve", "write_off": "Write off",
                 "reopen": "Reopen"}


def detail_view(db_key: str | None, d: q.BreakDetail | None) -> None:
    if d is None:
        st.warning("That break is no longer in the store.")
        return
    b, item = d.brk, d.item or {}
    cur = item.get("currency")
    st.markdown(f"**Break #{b['break_id']}** · {q.STAGE_LABELS.get(b['stage'], b['stage'])} · {md.code(b['item_key'])} · "
                f"{md.text(item.get('item_type', '–'))} · **{STATE_LABELS.get(b['state'], b['state'])}**"
                f"{' · assigned to ' + md.text(b['assignee']) if b['assignee'] else ''}")
    if not item:
        st.warning("The reconciliation no longer lists this item.")
    else:
        st.caption(f"{words(item.get('break_type') or item.get('status'))}"
                   f"{' · missing on the ' + item['missing_side'] + ' side' if item.get('missing_side') else ''}"
                   f" · occurred {item['occurred_at']:%d %b %Y %H:%M} UTC · accounting month "
                   f"{month_label(item['accounting_month'])} · match rule {words(item.get('match_rule'))}"
                   f"{' · resolved: ' + md.text(b['resolution_reason']) if b.get('resolution_reason') else ''}")
        c = st.columns(3)
        c[0].metric(label("break_amount"), money(item.get("amount_minor"), cur), border=True,
                    help=help_text("break_amount"))
        c[1].metric(label("break_counter_amount"), money(item.get("counter_amount_minor"), cur), border=True,
                    help=help_text("break_counter_amount"))
        c[2].metric(label("break_at_stake"), money(item["at_stake_minor"], cur), border=True,
                    help=help_text("break_at_stake"))  # the break list's own definition (AT_STAKE)
    left, right = st.columns(2)
    for col, side, sources, ref in ((left, d.left_side, d.left, item.get("left_ref")),
                                    (right, d.right_side, d.right, item.get("right_ref"))):
        with col:
            st.markdown(f"**{side.capitalize()} side** · references: {md.code(ref or '–')}")
            if not sources:
                st.caption("No source records to show for this item type.")
            for n, s in enumerate(sources):
                st.markdown(s.title)
                if s.rows.empty:
                    st.caption("None found.")
                else:
                    st.dataframe(records_view(s.rows), hide_index=True, width="stretch", key=f"src_{side}_{n}")
    if item.get("detail"):
        with st.expander("The reconciliation's figures (detail)"):
            st.markdown("\n".join(f"- {md.text(k)}: {md.text(v)}" for k, v in detail_pairs(item["detail"])))
            st.caption("As stored (JSON):")
            st.json(item["detail"], expanded=False)
    st.markdown("**History**")
    history = d.events.assign(action=[words(a) for a in d.events["action"]],
                              note=[words(n) if who == "reconcile" or missing(n) else n  # the job writes codes
                                    for n, who in zip(d.events["note"], d.events["actor"], strict=True)],
                              detail=[detail_text(x) for x in d.events["detail"]])
    st.dataframe(history, hide_index=True, width="stretch", key="table_events", column_config={
        "event_id": st.column_config.NumberColumn("event", format="%d"),
        "at": st.column_config.DatetimeColumn("at (UTC)", format="DD MMM YYYY HH:mm:ss")})
    with st.expander("History as stored (JSON, for auditors)"):
        st.json([{**e, "at": str(e["at"]), "detail": json.loads(e["detail"]) if isinstance(e["detail"], str) else None}
                 for e in d.events.to_dict("records")], expanded=False)
    actions(db_key, d, signin.current())


def actions(db_key: str | None, d: q.BreakDetail, who: Identity) -> None:
    st.markdown("**Act on this break**")
    possible = wf.allowed_actions(d.brk["state"])
    allowed = tuple(a for a in possible if who.can(wf.PERMISSIONS[a]))
    if not allowed:
        if possible:
            st.info(f"Your roles ({', '.join(sorted(who.roles)) or 'none'}) allow no action on this break: "
                    + "; ".join(f"{ACTION_LABELS[a].lower()} needs a role of {', '.join(roles_granting(wf.PERMISSIONS[a]))}"
                                for a in possible) + ".",
                    icon=":material/lock:")
        return
    actor = who.display
    nonce = st.session_state.get("_action_nonce", 0)  # fresh inputs after each action
    c = st.columns([1, 3])
    action = c[0].selectbox("Action", allowed, format_func=lambda a: ACTION_LABELS[a], key="action")
    if action is None:  # no action applies to a break in this state
        return
    bid = int(d.brk["break_id"])
    with c[1]:
        if action == "assign":
            to = st.text_input("Assign to", key=f"assignee_{nonce}", value=who.email or actor)
            run = lambda conn: wf.assign(conn, bid, who, to)
        elif action in ("comment", "reopen"):
            note = st.text_area("Comment" if action == "comment" else "Why reopen?", key=f"note_{nonce}", height=80)
            run = (lambda conn: wf.comment(conn, bid, who, note)) if action == "comment" else \
                (lambda conn: wf.reopen(conn, bid, who, note))
        else:
            category = st.selectbox("Category", list(wf.CATEGORIES), format_func=lambda k: wf.CATEGORIES[k],
                                    key=f"category_{nonce}")
            reason = st.text_area("Reason" + (" (required)" if action == "write_off" else ""), key=f"reason_{nonce}",
                                  height=80)
            why = wf.Reason(category, reason)
            run = (lambda conn: wf.resolve(conn, bid, who, why)) if action == "resolve" else \
                (lambda conn: wf.write_off(conn, bid, who, why))
    if st.button(f"{ACTION_LABELS[action]} as {actor}", key="apply", type="primary"):
        try:
            with engine(db_key).begin() as conn:
                event = run(conn)
        except (wf.ActionRefused, NotPermitted) as exc:
            st.error(str(exc), icon=":material/block:")
            return
        rd.forget_cached_figures()
        st.session_state["_action_nonce"] = nonce + 1
        st.session_state["_recon_flash"] = f"Break #{bid}: {event.action.replace('_', ' ')} by {who.display}."
        st.rerun()
