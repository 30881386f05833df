"""The Work queue page's two sections about doing less by hand: the suggested actions, exported one CSV per action
type for the system that acts (metrics/figures/suggested_actions.py), and the auto-explain rules, each with its
dry run, what it has done, and an undo for a controller (metrics/actions/auto_explain.py)."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from metrics.actions import auto_explain as ae
from metrics.figures import suggested_actions as sa
from metrics.figures import work_queue as wq
from metrics.figures.health.jobs import JobHealth, job_health
from metrics.figures.query import read_frame, snapshot
from pages.common import csv_button, engine, flash, money
from pages.common import markdown as md
from pages.common.state import PENDING_ICON, shown_of
from revwatch import clock
from revwatch.identity import Identity, NotPermitted, Permission
from revwatch.schedule import AUTO_EXPLAIN_JOB, judged_intervals
from revwatch.settings import load_settings
from revwatch.work_items import parse_auto_explain

DRY_RUN_ROWS = 20

_DONE = """
    SELECT rule, count(*) FILTER (WHERE undone_at IS NULL) AS live, count(*) FILTER (WHERE resolved AND undone_at IS NULL)
           AS resolved, count(*) FILTER (WHERE undone_at IS NOT NULL) AS undone, max(explained_at) AS last
    FROM auto_explanations GROUP BY rule"""


@st.cache_data(ttl=30, show_spinner="Preparing the actions…")
def load_actions(db_key: str | None, q: wq.Queue) -> dict[str, pd.DataFrame]:
    with snapshot(engine(db_key)) as conn:
        return sa.suggestions(conn, q, load_settings())


def actions_section(db_key: str | None, q: wq.Queue) -> None:
    st.subheader("Suggested actions", help="What resolving each listed item takes, with the figures it needs. "
                 "Revwatch moves no money: download a type's CSV for the system that does.")
    found = load_actions(db_key, q)
    rows = [{"Action": sa.ACTIONS[t.action], "Items": t.items,
             "Money": " · ".join(money(minor, cur) for cur, (_, minor) in sorted(t.per_currency.items())) or "–"}
            for t in sa.totals(found)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    present = [k for k, df in found.items() if len(df)]
    if not present:
        return
    kind = st.selectbox("Export", present, format_func=lambda k: sa.ACTIONS[k], key="wq_action_kind")
    csv_button(found[kind], f"actions_{kind}", key="wq_action_csv")


@st.cache_data(ttl=30, show_spinner="Dry-running the rules…")
def load_rules(db_key: str | None) -> tuple[dict[str, list[ae.Match]], pd.DataFrame, dict[str, int], JobHealth | None]:
    cfg = load_settings()
    spec = parse_auto_explain(cfg.auto_explain_rules)
    with snapshot(engine(db_key)) as conn:
        dry = {name: ae.dry_run(conn, rule, spec.get(name, {})) for name, rule in ae.RULES.items()}
        runs = {j.job: j for j in job_health(conn, clock.now(), judged_intervals(cfg))}
        return dry, read_frame(conn, _DONE, {}), ae.explained_fees(conn), runs.get(AUTO_EXPLAIN_JOB)


def last_application(run: JobHealth | None) -> None:
    """The worker's last application of the enabled rules, as Health judges it: a failure is said here too."""
    if run is None:
        return
    if run.last is None:
        st.info("No rule applied yet: the worker applies the enabled rules after the next work-queue run.",
                icon=PENDING_ICON)
    elif run.status == "failing":
        st.error(f"The rules' last application failed at {run.last.started_at:%d %b %Y %H:%M} UTC, nothing was "
                 f"applied: {md.text(run.last.error or 'no reason recorded')}. They try again after the next work-queue run (Health: auto-explain).",
                 icon=":material/error:")
    else:
        st.caption(f"Last applied {run.last.started_at:%d %b %Y %H:%M} UTC ({run.status} on Health): "
                   f"{run.last.rows_written:,} item(s) explained.")


def rules_section(db_key: str | None, who: Identity, forget: Callable[[], None]) -> None:
    """`forget` drops the page's kept figures: an undo reopens items, so the queue above changes with it."""
    st.subheader("Rules that explain items by themselves", help="Each rule resolves (or explains) items with the "
                 "rule as actor in the audit log. Enable one with AUTO_EXPLAIN_RULES once its dry run is right; "
                 "the worker applies it after each work-queue run. A controller can undo a rule: its items reopen.")
    spec = parse_auto_explain(load_settings().auto_explain_rules)
    dry, done, fees, run = load_rules(db_key)
    flash.said(flash.RULES)
    last_application(run)
    done = done.set_index("rule") if len(done) else done
    for name, rule in ae.RULES.items():
        matches = dry[name]
        state = "enabled" if name in spec else "not enabled"
        past = done.loc[name] if len(done) and name in done.index else None
        did = (f"{int(past['resolved']):,} resolved so far" + (f", {int(past['undone']):,} undone" if past['undone'] else "")
               if past is not None else "nothing done yet")
        with st.expander(f"{rule.name} (version {rule.version}, {state}): would explain {len(matches):,} now · {did}"):
            st.caption(rule.description)
            if name == "bank_fee" and not spec.get(name):
                st.caption("Its dry run needs the bank's fee amounts: AUTO_EXPLAIN_RULES {\"bank_fee\": {\"CAD\": [1500]}}.")
            if matches:
                shown = matches[:DRY_RUN_ROWS]
                st.dataframe(pd.DataFrame([{"Item": f"{m.work_type} {m.item_ref}", "Explanation": m.explanation,
                                            "Money": money(m.amount_minor, m.currency)} for m in shown]),
                             hide_index=True, width="stretch")
                st.caption(shown_of(len(shown), len(matches), "items it would explain"))
            if past is not None and past["live"] and who.can(Permission.APPROVE):
                note = st.text_input("Why undo it", key=f"undo_note_{name}")
                if st.button(f"Undo {rule.name}: reopen what it resolved", key=f"undo_{name}", disabled=not note.strip()):
                    try:
                        with engine(db_key).begin() as conn:
                            reopened = ae.undo(conn, rule, who, note)
                    except NotPermitted as exc:
                        st.error(str(exc), icon=":material/lock:")
                    else:
                        forget()
                        flash.after_rerun(flash.RULES, f"Undone {rule.name}: {reopened} item(s) reopened.")
    if fees:
        st.caption("Bank fees explained by the bank_fee rule: " + " · ".join(money(v, c) for c, v in fees.items()))
