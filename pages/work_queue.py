"""Work queue: every open item that needs a person, whatever found it, soonest due first.

Reads only through `metrics.figures.work_queue` (the figure `revwatch show queue` and /metrics read too) and acts
only through `metrics.actions` (work items; a break's own workflow for breaks). Money per item in its currency
and in the reporting currency ("unknown" without a rate, never 0); what the customer is owed apart from what the
company lost. The list is cut at PAGE_ROWS with "first N of M"; the download has every item.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.actions import work_item_actions as act
from metrics.actions.break_refusal import ActionRefused
from metrics.figures import work_history as wh
from metrics.figures import work_queue as wq
from metrics.figures.query import snapshot
from pages.common import csv_button, engine, flash, load_or_stop, money, signin
from pages.common.state import nothing_found, pending_banner, shown_of, topic_state
from pages.common.work_actions import actions_section, load_actions, load_rules, rules_section
from revwatch import clock
from revwatch.identity import Identity, NotPermitted, Permission
from revwatch.settings import load_settings
from revwatch.work_items import BY_NAME, TEAMS, WORK_TYPES, service_levels

PAGE_ROWS = 500
STATE_WORDS = {"unassigned": "Unassigned", "assigned": "Assigned", "awaiting_approval": "Awaiting approval"}


@st.cache_data(ttl=30, show_spinner="Loading the work queue…")
def load_queue(db_key: str | None, f: wq.QueueFilters, as_of: datetime) -> wq.Queue:
    with snapshot(engine(db_key)) as conn:
        return wq.configured_queue(conn, f, load_settings(), as_of)


def span(t: timedelta | None) -> str:
    """'3 d 4 h', '5 h', 'overdue 2 d 1 h'; '–' when there is no due time."""
    if t is None or pd.isna(t):
        return "–"
    late = t < timedelta(0)
    t = abs(t)
    days, hours = t.days, t.seconds // 3600
    text = f"{days} d {hours} h" if days else f"{hours} h {t.seconds // 60 % 60} min" if hours else f"{t.seconds // 60} min"
    return f"overdue {text}" if late else text


def due_text(d) -> str:
    return "no due date given" if d is None or pd.isna(d) else pd.Timestamp(d).strftime("%d %b %Y %H:%M UTC")


def reporting_total(items: pd.DataFrame, reporting: str) -> str:
    """The items' money in the reporting currency; items whose currency has no rate are counted apart, not as 0."""
    known = int(items["amount_reporting_minor"].fillna(0).sum()) if len(items) else 0
    unknown = int(items["amount_reporting_minor"].isna().sum()) if len(items) else 0
    return money(known, reporting) + (f" + {unknown} without a rate" if unknown else "")


def age_text(t: timedelta | None) -> str:
    return "–" if t is None else span(max(t, timedelta(0)))


@st.cache_data(ttl=60, show_spinner="Measuring time to resolution…")
def load_resolution(db_key: str | None, as_of: datetime) -> wh.ResolutionReport:
    with snapshot(engine(db_key)) as conn:
        return wh.resolution_report(conn, as_of)


def percent_of(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


RESOLUTION_COLUMNS = {
    "Month": st.column_config.TextColumn(help="The month the items were found (UTC)."),
    "Median assign": st.column_config.TextColumn(help="Median time from found to first assigned to a person."),
    "p90 assign": st.column_config.TextColumn(help="Nine in ten items were assigned within this time."),
    "Median resolve": st.column_config.TextColumn(help="Median time from found to first resolved."),
    "p90 resolve": st.column_config.TextColumn(help="Nine in ten items were resolved within this time."),
    "Reopened": st.column_config.TextColumn(help="Share of the resolved items that were opened again."),
    "Automatic": st.column_config.TextColumn(help="Share of the resolved items resolved without a person: by an "
                                             "auto-explain rule, or cleared by itself when its data was corrected."),
}


def resolution_section(r: wh.ResolutionReport) -> None:
    st.subheader("Time to resolution", help="From the items' history (the audit trail): found to first assigned and "
                 "to first resolved; medians and p90 by nearest rank. Months are the month an item was found (UTC).")
    sentences = [s for c in r.change if (s := wh.change_sentence(c))]
    st.markdown("\n".join(f"- {s}" for s in sentences) or "No item was resolved in the last 14 days.")
    rows = [{"Type": BY_NAME[g.work_type].label, "Month": g.period.strftime("%b %Y"), "Items": g.stats.items,
             "Median assign": wh.duration_words(g.stats.assign_p50), "p90 assign": wh.duration_words(g.stats.assign_p90),
             "Median resolve": wh.duration_words(g.stats.resolve_p50),
             "p90 resolve": wh.duration_words(g.stats.resolve_p90),
             "Reopened": percent_of(g.stats.reopened, g.stats.resolved),
             "Automatic": percent_of(g.stats.automatic, g.stats.resolved)}
            for g in r.by_type if g.work_type is not None]
    if rows:  # short headers, their meaning in the help: the table fits the page without a cut last column
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=RESOLUTION_COLUMNS)
    points = pd.DataFrame([{"week": p.week, "type": BY_NAME[p.work_type].label,
                            "median days to resolve": p.resolve_p50.total_seconds() / 86400}
                           for p in r.trend if p.resolve_p50 is not None])
    if points.empty:
        st.caption("No item was resolved in the last 12 weeks: no trend yet.")
        return
    fig = px.line(points, x="week", y="median days to resolve", color="type", markers=True,
                  title="Median time to resolve, by week resolved (last 12 weeks)")
    fig.update_xaxes(title=None, tickformat="%d %b", dtick=7 * 86_400_000)
    fig.update_layout(legend_title_text=None, height=360)
    st.plotly_chart(fig, width="stretch")


def summary(q: wq.Queue) -> None:
    levels = service_levels(load_settings().work_slas)
    c = st.columns(4)
    c[0].metric("Open items", f"{q.total:,}", border=True)
    c[1].metric("Overdue", f"{q.overdue:,}", border=True, help="Past the due time of their service level.")
    items = q.items
    customer = items[items["customer_minor"] > 0] if q.total else items
    c[2].metric(f"Owed to customers ({q.reporting_currency})", reporting_total(customer, q.reporting_currency),
                border=True, help="Money customers were wrongly charged or wait for, converted at each currency's "
                                  "latest rate; per currency below.")
    c[3].metric(f"At stake ({q.reporting_currency})", reporting_total(items, q.reporting_currency), border=True,
                help="Every open item's money, converted at each currency's latest rate.")
    owed = customer.groupby("currency")["customer_minor"].sum() if len(customer) else pd.Series(dtype=object)
    st.caption("Owed to customers, per currency: " + (" · ".join(money(v, cur) for cur, v in owed.items()) or "none"))
    rows = [{"Type": BY_NAME[c.work_type].label, "Team": BY_NAME[c.work_type].team, "Open": c.open,
             "Assigned": c.assigned, "Overdue": c.overdue, "Service level": str(levels[c.work_type]),
             "Oldest": age_text(c.oldest_age)} for c in wq.counts_by_type(q)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def filters(q_all: wq.Queue) -> wq.QueueFilters:
    items = q_all.items
    c = st.columns(5)
    types = c[0].multiselect("Type", [t.name for t in WORK_TYPES], format_func=lambda t: BY_NAME[t].label,
                             placeholder="Every type", key="wq_types")
    teams = c[1].multiselect("Team", list(TEAMS), placeholder="Every team", key="wq_teams")
    owners = c[2].multiselect("Owner", [wq.UNASSIGNED, *sorted(set(items["owner"].dropna()))] if len(items) else
                              [wq.UNASSIGNED], placeholder="Anyone", key="wq_owners")
    sites = c[3].multiselect("Site", sorted(set(items["site_id"].dropna())) if len(items) else [],
                             placeholder="Every site", key="wq_sites")
    currencies = c[4].multiselect("Currency", sorted(set(items["currency"])) if len(items) else [],
                                  placeholder="Every currency", key="wq_currencies")
    return wq.QueueFilters(tuple(types), tuple(teams), tuple(owners), tuple(sites), tuple(currencies))


def view(df: pd.DataFrame, reporting: str) -> pd.DataFrame:
    """The list as people read it: money formatted in its currency, due and time left in words."""
    return pd.DataFrame({
        "Due": [due_text(d) for d in df["due_at"]],
        "Time left": [span(t) for t in df["time_left"]],
        "Type": df["label"],
        "Amount": [money(v, c) for v, c in zip(df["amount_minor"], df["currency"], strict=True)],
        f"In {reporting}": ["unknown (no rate)" if pd.isna(v) else money(v, reporting) for v in df["amount_reporting_minor"]],
        "Customer owed": [money(v, c) if v else "–" for v, c in zip(df["customer_minor"], df["currency"], strict=True)],
        "Company lost or at risk": [money(v, c) if v else "–" for v, c in zip(df["company_minor"], df["currency"], strict=True)],
        "Owner": df["owner"].fillna("–"),
        "State": [STATE_WORDS[s] for s in df["state"]],
        "Team": df["team"],
        "Site": df["site_id"].fillna("–"),
        "Found": [pd.Timestamp(t).strftime("%d %b %Y") for t in df["opened_at"]],
        "Trace": [f"trace?id={t}" for t in df["trace_id"]],
        "To do": df["action"],
        "Explained": df["explained"].fillna("–"),
    })


def bulk_assign(db_key: str | None, chosen: pd.DataFrame, who: Identity) -> None:
    if not (who.can(Permission.WORK_ITEMS) or who.can(Permission.WORK_BREAKS)):
        st.caption("Assigning takes the analyst or controller role.")
        return
    c = st.columns([3, 1])
    owner = c[0].text_input("Assign the chosen items to", key=f"wq_owner_to_{_nonce()}",
                            placeholder="a person's name or e-mail")
    if c[1].button(f"Assign {len(chosen)} item(s)", disabled=chosen.empty or not owner.strip(), key="wq_assign"):
        try:
            with engine(db_key).begin() as conn:
                done = act.assign_many(conn, zip(chosen["work_type"], chosen["item_ref"], strict=True), who, owner)
        except NotPermitted as exc:
            st.error(str(exc), icon=":material/lock:")
            return
        _done(f"Assigned {done.assigned} item(s) to {owner.strip()}.", done.refused)


def one_item(db_key: str | None, item: dict, who: Identity) -> None:
    """The chosen item's actions: a break is worked on the Reconciliation page (its four eyes); the rest here."""
    st.markdown(f"**{item['label']}** · {money(item['amount_minor'], item['currency'])} · due "
                f"{due_text(item['due_at'])} · to do: {item['action']}")
    if item["work_type"] == "break":
        st.caption(f"Break #{int(item['item_ref'])}: resolve or write it off on the Reconciliation page, where four "
                   "eyes apply.")
        return
    if not who.can(Permission.WORK_ITEMS):
        st.caption("Resolving takes the analyst or controller role.")
        return
    note = st.text_input("What was done", key=f"wq_note_{_nonce()}", placeholder="e.g. refunded USD 12.50 as re_123")
    if st.button("Resolve", key="wq_resolve", disabled=not note.strip()):
        try:
            with engine(db_key).begin() as conn:
                act.resolve(conn, int(item["item_ref"]), who, note)
        except (ActionRefused, NotPermitted) as exc:
            st.error(str(exc), icon=":material/block:")
            return
        _done(f"Resolved: {item['label']}, {money(item['amount_minor'], item['currency'])}.")


def main() -> None:
    who = signin.current()
    db_key = load_settings().database_url
    st.title("Work queue")
    st.caption("Every open item that needs a person, whatever found it: reconciliation breaks, mis-billed sessions, "
               "charges billing does not record, disputes needing evidence, stuck refunds. Soonest due first, then "
               "the most money.")
    state = topic_state(db_key, "work_queue")
    pending_banner(state)
    as_of = clock.now().replace(second=0, microsecond=0)
    everything = load_or_stop(load_queue, db_key, wq.QueueFilters(), as_of)
    summary(everything)
    st.subheader("Items")
    flash.said(flash.WORK_QUEUE)  # what the last action did, also when it emptied the list
    f = filters(everything)
    q = load_or_stop(load_queue, db_key, f, as_of)
    if q.total == 0:
        nothing_found(state, "Nothing found: no open item matches the filters.")
    else:
        items_section(db_key, q, who)
        actions_section(db_key, q)
    # to the minute's end, as the cache is kept a minute: a resolution just made on this page is in (nothing is later)
    resolution_section(load_or_stop(load_resolution, db_key, as_of + timedelta(minutes=1)))
    rules_section(db_key, who, forget)


def _nonce() -> int:
    """Bumped after each action: the list's choice and the inputs start afresh (row numbers move when items go)."""
    return int(st.session_state.get("_wq_nonce", 0))


def forget() -> None:
    """Every figure the page keeps a while is read again: an action changes the queue, the suggested actions, time to
    resolution and the rules' dry runs at once (the page showed the resolution figures of a minute before)."""
    for cached in (load_queue, load_actions, load_resolution, load_rules):
        cached.clear()


def _done(message: str, refused: tuple[str, ...] = ()) -> None:
    """An action went through: the queue read again at once, nothing left chosen, and what happened said above it."""
    forget()
    st.session_state["_wq_nonce"] = _nonce() + 1
    flash.after_rerun(flash.WORK_QUEUE, message, refused)



def items_section(db_key: str | None, q: wq.Queue, who: Identity) -> None:
    shown = q.items.head(PAGE_ROWS)
    height = min(420, 35 * (len(shown) + 1) + 3)  # a short list without blank rows under it (35 px a row)
    event = st.dataframe(view(shown, q.reporting_currency), hide_index=True, height=height, width="stretch",
                         key=f"wq_table_{_nonce()}", on_select="rerun", selection_mode="multi-row",
                         column_config={"Trace": st.column_config.LinkColumn("Trace", display_text="open"),
                                        # kept in sight while the list scrolls to its later columns (Trace, To do)
                                        **{c: st.column_config.TextColumn(pinned=True) for c in ("Due", "Time left", "Type")}})
    c = st.columns([3, 1])
    c[0].caption(shown_of(len(shown), q.total, "items"))
    with c[1]:
        csv_button(q.items.drop(columns=["detail", "time_left"]), "work_queue", key="wq_csv")
    picked = [r for r in (getattr(getattr(event, "selection", None), "rows", []) or []) if r < len(shown)]
    chosen = shown.iloc[picked]
    if chosen.empty:
        st.caption("Choose rows in the list to assign them, or one row to act on it.")
        return
    bulk_assign(db_key, chosen, who)
    if len(chosen) == 1:
        one_item(db_key, chosen.iloc[0].to_dict(), who)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
