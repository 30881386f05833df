"""Reconciliation: did every payment reach the gateway, the payout, the bank and the ledger?

Reads only through `metrics.figures.reconciliation` (no SQL here) and acts only through
`metrics.actions.break_workflow`: the stage funnel (S1 billing ↔ gateway, S2 gateway ↔ payout, S3
payout ↔ bank, S4 ledger), the breaks with a drill-down to both sides' records and the break's
history, the workflow actions (the actor's name from the sidebar), one payout followed from its
entries to the bank and the journal, and the month-close verdict. Money is formatted in major
units per currency only here, at the edge, and never added across currencies; the only
converted figure (unreconciled, in the reporting currency) shows its rate and rate date.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import plotly.express as px
import streamlit as st
from sqlalchemy.exc import ProgrammingError

from metrics.actions import break_workflow as wf
from metrics.faces import export
from metrics.figures import reconciliation as q
from pages.common import NO_TABLES, csv_button, money, options_or_notice, percent
from pages.common import engine as _engine
from revwatch import clock
from revwatch.money import to_decimal
from revwatch.settings import load_settings

DEFAULT_MONTHS = 3
EMPTY_HINT = ("No reconciliation yet: run `revwatch collect` (incl. the `reconcile` job) once bank statements, "
              "GL exports and FX rates are configured.")
STATUS_COLORS = {"matched": "#2a9d8f", "expected": "#e9c46a", "break": "#d62728"}
LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")
ACTION_LABELS = {"assign": "Assign", "comment": "Comment", "resolve": "Resolve", "write_off": "Write off",
                 "reopen": "Reopen"}
STATE_LABELS = {"open": "Open", "resolved": "Resolved", "written_off": "Written off", "cleared": "Cleared"}
AGES = {"any age": (None, None), "0–7 days": (0, 7), "8–30 days": (8, 30), "31–60 days": (31, 60),
        "over 60 days": (61, None)}
SORT_LABELS = {"amount": "Biggest first", "age": "Oldest first"}
ADYEN_MONEY = {"gross_debit_minor": "gross_currency", "gross_credit_minor": "gross_currency"}
STRIPE_MONEY = ("amount", "fee", "net", "amount_refunded")


# ---------------------------------------------------------------- data (cached)
@st.cache_data(ttl=60, show_spinner=False)
def load_months(db_key: str | None) -> list[date]:
    with _engine(db_key).connect() as conn:
        return q.months(conn)


@st.cache_data(ttl=60, show_spinner="Loading reconciliation…")
def load_overview(db_key: str | None, f: q.ReconFilters) -> dict:
    with _engine(db_key).connect() as conn:
        return {"funnel": q.funnel(conn, f), "payouts": q.payouts(conn, f, limit=500), "last_run": q.last_run(conn)}


@st.cache_data(ttl=60, show_spinner=False)
def load_breaks(db_key: str | None, bf: q.BreakFilters, reporting: str, as_of: datetime) -> pd.DataFrame:
    return q.breaks(_engine(db_key), bf, reporting, as_of)


@st.cache_data(ttl=60, show_spinner=False)
def load_detail(db_key: str | None, break_id: int) -> q.BreakDetail | None:
    return q.break_detail(_engine(db_key), break_id)


@st.cache_data(ttl=60, show_spinner=False)
def load_payout(db_key: str | None, payout_key: str) -> q.PayoutView | None:
    return q.payout_view(_engine(db_key), payout_key)


@st.cache_data(ttl=60, show_spinner="Judging the month…")
def load_close(db_key: str | None, month: date, th: q.CloseThresholds, as_of: datetime) -> q.CloseReadiness:
    return q.close_readiness(_engine(db_key), month, th, as_of)


def forget_cached_figures() -> None:
    """After a workflow action every figure that depends on a break's state is read again."""
    for loader in (load_overview, load_breaks, load_detail, load_close):
        loader.clear()


# ---------------------------------------------------------------- formatting (the edge)
def with_money(df: pd.DataFrame, columns: dict[str, str | None], currency: str = "currency") -> pd.DataFrame:
    """Minor-unit columns shown as money of the row's currency (or of a fixed one), renamed."""
    out = df.copy()
    for col, fixed in columns.items():
        if col in out.columns:
            curs = [fixed] * len(df) if fixed else list(df[currency])
            out[col] = [money(v, c) for v, c in zip(df[col], curs, strict=True)]
    return out.rename(columns={c: c.removesuffix("_minor").replace("_", " ") for c in columns})


def records_view(df: pd.DataFrame) -> pd.DataFrame:
    """A source copy's rows with their money formatted (Stripe's integer amounts, `*_minor`
    columns in `currency`, Adyen's gross and net columns in their own currencies)."""
    if df.empty:
        return df
    out = df.copy()
    for col in df.columns:
        cur = ADYEN_MONEY.get(col)
        if cur is None and col.endswith("_minor"):
            cur = "currency" if "currency" in df.columns else "net_currency" if "net_currency" in df.columns else None
        if cur is None and col in STRIPE_MONEY and "currency" in df.columns:
            cur = "currency"
        if cur and cur in df.columns:
            out[col] = [money(v, c) for v, c in zip(df[col], df[cur], strict=True)]
    return out


def month_label(m: date) -> str:
    return f"{m:%b %Y}"


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
    present = set(load_overview(db_key, q.ReconFilters(m0, m1))["funnel"]["currency"])
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
                   help="Items matched, or breaks resolved or written off, of all items (counts, every currency).")
        col.caption(f"{items:,} items · {int(rows['expected_items'].sum()):,} expected · "
                    f"{int(rows['open_items'].sum()):,} open breaks")


def funnel_section(fun: pd.DataFrame) -> None:
    st.subheader("Stage funnel", help="Each stage's items as the last reconciliation judged them: matched, expected "
                                      "(still inside its timing window) or break.")
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
        amounts = long.assign(amount=[float(to_decimal(int(v), c)) for v, c in zip(long["minor"], long["currency"], strict=True)])
        fig = px.bar(amounts, x="stage", y="amount", color="status", facet_col="currency", height=340,
                     color_discrete_map=STATUS_COLORS, labels={"amount": "amount", "stage": ""},
                     category_orders={"status": list(q.STATUSES), "stage": list(q.STAGES)})
        fig.update_yaxes(matches=None, showticklabels=True)
        fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
        st.plotly_chart(fig, width="stretch", key="chart_funnel_amounts")
    table = with_money(fun, dict.fromkeys(("amount_minor", "matched_minor", "expected_minor", "break_minor", "open_minor", "resolved_minor", "written_off_minor", "at_stake_minor")))
    st.dataframe(table, hide_index=True, width="stretch", key="table_funnel")
    csv_button(fun, "recon_funnel", key="csv_funnel")


def break_filters(f: q.ReconFilters) -> q.BreakFilters:
    c = st.columns([2, 2, 1, 1, 1])
    states = c[0].multiselect("State", q.BREAK_STATES, default=["open"], format_func=lambda s: STATE_LABELS[s],
                              key="states", placeholder="Every state")
    types = c[1].multiselect("Break type", q.BREAK_TYPES, key="break_types", placeholder="Every type",
                             format_func=lambda t: t.replace("_", " "))
    min_amount = c[2].number_input("Min. at stake", min_value=0, value=0, step=1, key="min_amount",
                                   help="In whole major units of each break's own currency.")
    age = c[3].selectbox("Age", list(AGES), key="age", help="Days since the item occurred.")
    sort = c[4].radio("Sort", q.SORTS, format_func=SORT_LABELS.get, key="sort")
    lo, hi = AGES[age]
    return q.BreakFilters.of(f, break_types=tuple(types), states=tuple(states),
                             min_amount=Decimal(int(min_amount)) if min_amount else None,
                             min_age_days=lo, max_age_days=hi, sort=sort)


def breaks_section(db_key: str | None, f: q.ReconFilters, reporting: str, as_of: datetime, actor: str) -> pd.DataFrame:
    st.subheader("Breaks", help="Items that did not match, with their workflow state. Money at stake converted to "
                                f"{reporting} (latest rate) only to sort; each amount is shown in its own currency.")
    bf = break_filters(f)
    found = load_breaks(db_key, bf, reporting, as_of)
    if found.empty:
        st.caption("No break matches the filters.")
    else:
        shown = with_money(found, {"amount_minor": None, "counter_amount_minor": None, "break_amount_minor": None,
                                   "at_stake_minor": None, "at_stake_reporting_minor": reporting})
        shown = shown.rename(columns={"at stake reporting": f"at stake ({reporting})"})
        when = "DD MMM YYYY HH:mm"
        event = st.dataframe(shown, hide_index=True, height=320, width="stretch", key="table_breaks",
                             on_select="rerun", selection_mode="single-row", column_config={
                                 "occurred_at": st.column_config.DatetimeColumn("occurred (UTC)", format=when),
                                 "opened_at": st.column_config.DatetimeColumn("opened (UTC)", format=when)})
        csv_button(found, "recon_breaks", key="csv_breaks")
        picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
        chosen = int(found["break_id"].iloc[picked[0]]) if picked and picked[0] < len(found) else None
        if chosen != st.session_state.get("_breaks_table_choice"):  # a new row chosen in the table drives the drill-down
            st.session_state["_breaks_table_choice"] = chosen
            if chosen is not None:
                st.session_state["drill_break"] = chosen
    ids = [int(b) for b in found["break_id"]]
    current = st.session_state.get("drill_break")
    if current is not None and current not in ids:  # keep showing a break acted on, though it left the list
        ids.append(int(current))
    labels = {int(r["break_id"]): f"#{int(r['break_id'])} · {r['stage']} · {r['item_type']} · "
                                  f"{str(r['break_type'] or '').replace('_', ' ')} · "
                                  f"{money(r['at_stake_minor'], r['currency'])} · "
                                  f"{STATE_LABELS.get(r['state'], r['state'])}"
              for r in found.to_dict("records")}
    bid = st.selectbox("Drill down to a break", [None, *ids], key="drill_break",
                       format_func=lambda b: "choose a break (or a row above)…" if b is None else labels.get(b, f"#{b}"))
    if bid is not None:
        detail_view(db_key, load_detail(db_key, int(bid)), actor)
    return found


def detail_view(db_key: str | None, d: q.BreakDetail | None, actor: str) -> None:
    if d is None:
        st.warning("That break is no longer in the store.")
        return
    b, item = d.brk, d.item or {}
    cur = item.get("currency")
    st.markdown(f"**Break #{b['break_id']}** · {q.STAGE_LABELS.get(b['stage'], b['stage'])} · `{b['item_key']}` · "
                f"{item.get('item_type', '–')} · **{STATE_LABELS.get(b['state'], b['state'])}**"
                f"{' · assigned to ' + b['assignee'] if b['assignee'] else ''}")
    if not item:
        st.warning("The reconciliation no longer lists this item.")
    else:
        st.caption(f"{str(item.get('break_type') or item.get('status')).replace('_', ' ')}"
                   f"{' · missing on the ' + item['missing_side'] + ' side' if item.get('missing_side') else ''}"
                   f" · occurred {item['occurred_at']:%d %b %Y %H:%M} UTC · accounting month "
                   f"{month_label(item['accounting_month'])} · rule {item.get('match_rule') or '–'}"
                   f"{' · resolved: ' + b['resolution_reason'] if b.get('resolution_reason') else ''}")
        c = st.columns(3)
        c[0].metric("Amount", money(item.get("amount_minor"), cur), border=True)
        c[1].metric("Other side", money(item.get("counter_amount_minor"), cur), border=True,
                    help="The amount on the other side of the match; – when that side has nothing.")
        at_stake = item.get("break_amount_minor")
        c[2].metric("At stake", money(abs(at_stake) if at_stake is not None else item.get("amount_minor"), cur),
                    border=True)
    left, right = st.columns(2)
    for col, side, sources, ref in ((left, d.left_side, d.left, item.get("left_ref")),
                                    (right, d.right_side, d.right, item.get("right_ref"))):
        with col:
            st.markdown(f"**{side.capitalize()} side** · references: `{ref or '–'}`")
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
            st.json(item["detail"])
    st.markdown("**History**")
    st.dataframe(d.events, hide_index=True, width="stretch", key="table_events", column_config={
        "at": st.column_config.DatetimeColumn("at (UTC)", format="DD MMM YYYY HH:mm:ss")})
    actions(db_key, d, actor)


def actions(db_key: str | None, d: q.BreakDetail, actor: str) -> None:
    st.markdown("**Act on this break**")
    allowed = wf.allowed_actions(d.brk["state"])
    if not actor:
        st.info("Enter your name in the sidebar (**Your name**) to "
                f"{', '.join(ACTION_LABELS[a].lower() for a in allowed)} this break.", icon=":material/badge:")
        return
    nonce = st.session_state.get("_action_nonce", 0)  # fresh inputs after each action
    c = st.columns([1, 3])
    action = c[0].selectbox("Action", allowed, format_func=lambda a: ACTION_LABELS[a], key="action")
    if action is None:  # no action applies to a break in this state
        return
    bid = int(d.brk["break_id"])
    with c[1]:
        if action == "assign":
            who = st.text_input("Assign to", key=f"assignee_{nonce}", value=actor)
            run = lambda conn: wf.assign(conn, bid, actor, who)
        elif action in ("comment", "reopen"):
            note = st.text_area("Comment" if action == "comment" else "Why reopen?", key=f"note_{nonce}", height=80)
            run = (lambda conn: wf.comment(conn, bid, actor, note)) if action == "comment" else \
                (lambda conn: wf.reopen(conn, bid, actor, note))
        else:
            category = st.selectbox("Category", list(wf.CATEGORIES), format_func=lambda k: wf.CATEGORIES[k],
                                    key=f"category_{nonce}")
            reason = st.text_area("Reason" + (" (required)" if action == "write_off" else ""), key=f"reason_{nonce}",
                                  height=80)
            why = wf.Reason(category, reason)
            run = (lambda conn: wf.resolve(conn, bid, actor, why)) if action == "resolve" else \
                (lambda conn: wf.write_off(conn, bid, actor, why))
    if st.button(f"{ACTION_LABELS[action]} as {actor}", key="apply", type="primary"):
        try:
            with _engine(db_key).begin() as conn:
                event = run(conn)
        except wf.ActionRefused as exc:
            st.error(str(exc), icon=":material/block:")
            return
        forget_cached_figures()
        st.session_state["_action_nonce"] = nonce + 1
        st.session_state["_recon_flash"] = f"Break #{bid}: {event.action.replace('_', ' ')} by {event.actor}."
        st.rerun()


def payouts_section(db_key: str | None, found: pd.DataFrame) -> None:
    st.subheader("Payouts", help="One payout followed through S2 (rebuilt from its balance entries or batch lines), "
                                 "S3 (the bank deposit) and S4 (the journal).")
    if found.empty:
        st.caption("No payout in the selection.")
        return
    st.dataframe(with_money(found, {"amount_minor": None}), hide_index=True, height=220, width="stretch",
                 key="table_payouts", column_config={
                     "occurred_at": st.column_config.DatetimeColumn("created (UTC)", format="DD MMM YYYY HH:mm")})
    csv_button(found, "recon_payouts", key="csv_payouts")
    labels = {r["payout_key"]: f"{r['gateway']} {r['reference']} · {money(r['amount_minor'], r['currency'])} · "
                               f"S2 {r['s2_status'] or '–'} · S3 {r['s3_status'] or '–'} · S4 {r['s4_status'] or '–'}"
              for r in found.to_dict("records")}
    key = st.selectbox("Follow a payout", [None, *found["payout_key"]], key="payout",
                       format_func=lambda k: "choose a payout…" if k is None else labels.get(k, k))
    if key:
        payout_view(load_payout(db_key, key))


def payout_view(v: q.PayoutView | None) -> None:
    if v is None:
        st.warning("That payout is no longer reconciled.")
        return
    cur = v.currency
    st.markdown(f"**{v.gateway.capitalize()} payout `{v.reference}`** · {money(v.amount_minor, cur)}")
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


def close_section(db_key: str | None, months: list[date], th: q.CloseThresholds, as_of: datetime) -> q.CloseReadiness:
    st.subheader("Month close", help="Is the accounting month ready to close? Resolved and written-off breaks count "
                                     "as explained; thresholds are the CLOSE_* settings.")
    newest_first = list(reversed(months))
    first = q.default_close_month(months, as_of.date())
    if first is None:  # main() shows the empty hint instead when there is no month
        raise ValueError("the month close needs at least one accounting month")
    month = st.selectbox("Accounting month", newest_first, index=newest_first.index(first), format_func=month_label,
                         key="close_month", help="The latest month that has ended is chosen first.")
    c = load_close(db_key, month, th, as_of)
    rep = c.reporting_currency
    if c.ready:
        st.success(f"{month_label(month)} is ready to close.", icon=":material/task_alt:")
    else:
        st.error(f"{month_label(month)} is not ready to close:\n\n" + "\n".join(f"- {r.text}" for r in c.reasons),
                 icon=":material/block:")
    m = st.columns(3)
    m[0].metric(f"Unreconciled · {rep}", money(c.unreconciled_reporting_minor, rep), border=True,
                help="Money at stake in the month's open breaks, each currency converted at the rate of the month's "
                     "last day (or the latest earlier one). Not available while a rate is missing.")
    m[1].metric("Open breaks", f"{int(c.unreconciled['open_breaks'].sum()) if not c.unreconciled.empty else 0:,}",
                border=True)
    m[2].metric("Oldest open break", "–" if c.oldest_open_age_days is None else f"{c.oldest_open_age_days} days",
                border=True)
    left, right = st.columns(2)
    with left:
        st.markdown("**Per stage and currency**")
        shares = with_money(c.shares[["stage", "currency", "items", "matched_items", "resolved_items",
                                      "written_off_items", "expected_items", "open_items", "matched_share",
                                      "item_share", "amount_minor", "reconciled_minor", "amount_share"]],
                            {"amount_minor": None, "reconciled_minor": None})
        st.dataframe(shares, hide_index=True, width="stretch", key="table_close_shares", column_config={
            "matched_share": st.column_config.NumberColumn("matched", format="percent"),
            "item_share": st.column_config.NumberColumn("items reconciled", format="percent"),
            "amount_share": st.column_config.NumberColumn("amount reconciled", format="percent")})
        csv_button(c.shares, f"close_{month:%Y-%m}_shares", key="csv_close_shares")
        st.markdown("**Open breaks by age** (days since the item occurred)")
        if c.age_buckets.empty:
            st.caption("No open break in the month.")
        else:
            st.dataframe(with_money(c.age_buckets, {"at_stake_minor": None}), hide_index=True, width="stretch",
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
            st.warning(f"No rate of {c.rate_day} for {', '.join(stale)}: the latest earlier rate was used.",
                       icon=":material/warning:")
        csv_button(c.unreconciled, f"close_{month:%Y-%m}_unreconciled", key="csv_close_unreconciled")
        st.markdown("**FX gaps** (days of the month without a rate for a currency its items use)")
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
        months = load_months(db_key)
    except ProgrammingError:
        st.info(NO_TABLES, icon=":material/info:")
        return
    if not months:
        st.info(EMPTY_HINT, icon=":material/info:")
        return
    actor, f = sidebar(db_key, sites, months)
    as_of = clock.now().replace(second=0, microsecond=0)
    data = load_overview(db_key, f)
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
