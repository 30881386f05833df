"""The Reconciliation page's drill-down into one break: its item, both sides' records, its history,
and the workflow actions the signed-in person's roles allow (recorded as their identity)."""
from __future__ import annotations

import json

import streamlit as st

from metrics.actions import break_workflow as wf
from metrics.catalogue import help_text, label
from metrics.figures import reconciliation as q
from pages.common import engine, flash, money, signin
from pages.common import markdown as md
from pages.common import recon_data as rd
from pages.common.recon_format import detail_pairs, detail_text, missing, month_label, records_view, state_label, words
from revwatch.identity import Identity, NotPermitted, roles_granting

ACTION_LABELS = {"assign": "Assign", "comment": "Comment", "resolve": "Resolve", "write_off": "Write off",
                 "approve": "Approve", "reject": "Reject", "withdraw": "Withdraw request", "reopen": "Reopen"}


def detail_view(db_key: str | None, d: q.BreakDetail | None, policy: wf.ApprovalPolicy) -> None:
    if d is None:
        st.warning("That break is no longer in the store.")
        return
    b, item = d.brk, d.item or {}
    cur = item.get("currency")
    st.markdown(f"**Break #{b['break_id']}** · {q.STAGE_LABELS.get(b['stage'], b['stage'])} · {md.code(b['item_key'])} · "
                f"{md.text(item.get('item_type', '–'))} · **{state_label(b['state'], (d.request or {}).get('action'))}**"
                f"{' · assigned to ' + md.text(b['assignee']) if b['assignee'] else ''}")
    if d.request:
        request_view(d.request)
    if b.get("approved_by"):
        st.caption(f"Approved by {md.text(b['approved_by'])} at {b['approved_at']:%d %b %Y %H:%M} UTC (four eyes).")
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
    actions(db_key, d, signin.current(), policy)


def request_view(req: dict) -> None:
    """The four-eyes request a break awaits: what was asked, by whom, why it needs a controller."""
    asked = "write it off" if req["action"] == "write_off" else "resolve it"
    st.warning(f"**{wf.AWAITING.capitalize()}.** {md.text(req['requested_by'])} asked to {asked} at "
               f"{req['requested_at']:%d %b %Y %H:%M} UTC: {md.text(wf.CATEGORIES.get(req['category'], req['category']))}"
               f" · {md.text(req['reason'])}. Why a second person: {md.text(req['why_approval'])}.",
               icon=":material/how_to_reg:")


def _offered(d: q.BreakDetail, who: Identity) -> tuple[tuple[str, ...], list[str]]:
    """The actions this person may take on the break, and why others that the state admits are not offered."""
    req = d.request
    possible = wf.allowed_actions(d.brk["state"], req is not None)
    asked = req is not None and (req["requested_issuer"], req["requested_subject"]) == (who.issuer, who.subject)
    offered, why_not = [], []
    for a in possible:
        if not who.can(wf.PERMISSIONS[a]):
            why_not.append(f"{ACTION_LABELS[a].lower()} needs a role of {', '.join(roles_granting(wf.PERMISSIONS[a]))}")
        elif a in ("approve", "reject") and asked:
            why_not.append("you asked for this: a different controller approves or rejects it")
        elif a == "approve" and who.local:
            why_not.append("approvals need a configured identity provider (local mode is one person)")
        elif a == "withdraw" and not asked:
            continue  # only the one who asked may withdraw
        else:
            offered.append(a)
    return tuple(offered), list(dict.fromkeys(why_not))


def actions(db_key: str | None, d: q.BreakDetail, who: Identity, policy: wf.ApprovalPolicy) -> None:
    st.markdown("**Act on this break**")
    allowed, why_not = _offered(d, who)
    if why_not:
        st.caption("Not offered: " + "; ".join(why_not) + ".")
    if not allowed:
        if why_not:
            st.info(f"Your roles ({', '.join(sorted(who.roles)) or 'none'}) allow no action on this break.",
                    icon=":material/lock:")
        return
    actor = who.display
    nonce = st.session_state.get("_action_nonce", 0)  # fresh inputs after each action
    bid = int(d.brk["break_id"])
    stake = q.break_at_stake(engine(db_key), bid, policy.reporting_currency) if d.item else None
    labels = {a: _label(a, who, stake, policy) for a in allowed}
    c = st.columns([1, 3])
    action = c[0].selectbox("Action", list(allowed), format_func=lambda a: labels[a], key="action")
    if action is None:  # no action applies to a break in this state
        return
    with c[1]:
        if action == "assign":
            to = st.text_input("Assign to", key=f"assignee_{nonce}", value=who.email or actor)
            run = lambda conn: wf.assign(conn, bid, who, to)
        elif action in ("comment", "reopen", "approve", "reject", "withdraw"):
            prompt = {"comment": "Comment", "reopen": "Why reopen?", "approve": "Note (optional)",
                      "reject": "Why reject it?", "withdraw": "Note (optional)"}[action]
            note = st.text_area(prompt, key=f"note_{nonce}", height=80)
            fn = {"comment": wf.comment, "reopen": wf.reopen, "approve": wf.approve, "reject": wf.reject,
                  "withdraw": wf.withdraw}[action]
            run = lambda conn: fn(conn, bid, who, note)
        else:
            fits = wf.fitting_categories((d.item or {}).get("break_type"))
            category = st.selectbox("Category", fits, format_func=lambda k: wf.CATEGORIES[k], key=f"category_{nonce}",
                                    help="Only the reasons that can explain this type of break.")
            reason = st.text_area("Reason (required)", key=f"reason_{nonce}", height=80,
                                  placeholder="What you found, and where (ticket, statement line, journal).")
            needs = wf.approval_needed(action, who, stake, policy) if stake else None
            if needs:
                st.caption(f"This records a request: {needs}. The break stays open, {wf.AWAITING}.")
            why = wf.Reason(category, reason)
            close = wf.resolve if action == "resolve" else wf.write_off
            run = lambda conn: close(conn, bid, who, why, policy)
    if st.button(f"{labels[action]} as {actor}", key="apply", type="primary"):
        try:
            with engine(db_key).begin() as conn:
                event = run(conn)
        except (wf.ActionRefused, NotPermitted) as exc:
            st.error(str(exc), icon=":material/block:")
            return
        rd.forget_cached_figures()
        st.session_state["_action_nonce"] = nonce + 1
        done = (f"asked for approval ({wf.AWAITING})" if event.action == "approval_requested"
                else event.action.replace("_", " "))
        flash.after_rerun(flash.RECONCILIATION, f"Break #{bid}: {done} by {who.display}.")


def _label(action: str, who: Identity, stake: q.AtStake | None, policy: wf.ApprovalPolicy) -> str:
    """An action's name; resolving or writing off says when it only asks for a controller's approval."""
    if action in ("resolve", "write_off") and stake is not None and wf.approval_needed(action, who, stake, policy):
        return "Request write-off" if action == "write_off" else "Request resolution"
    return ACTION_LABELS[action]
