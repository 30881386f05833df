"""Audit: who did what, when (every human action and every job run), and whether the hash
chain is intact. Reads only through `metrics.figures.audit_log` (no SQL here)."""
from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from metrics.faces import export
from metrics.figures import audit_log as q
from metrics.figures.query import snapshot
from pages.common import engine as _engine
from pages.common import load_or_stop
from revwatch.settings import load_settings

ALL = "(everyone)"
ANY = "(any action)"


@st.cache_data(ttl=60, show_spinner="Verifying the audit chain…")
def load_status(db_key: str | None) -> tuple:
    with snapshot(_engine(db_key)) as conn:
        return tuple(q.chain_status(conn))


@st.cache_data(ttl=30, show_spinner=False)
def load_options(db_key: str | None) -> tuple[list[str], list[str]]:
    with snapshot(_engine(db_key)) as conn:
        return q.actors(conn), q.action_prefixes(conn)


@st.cache_data(ttl=30, show_spinner="Searching the audit log…")
def load_entries(db_key: str | None, search: q.Search) -> pd.DataFrame:
    with snapshot(_engine(db_key)) as conn:
        return q.search(conn, search)


def status_banner(status: tuple) -> None:
    ok, checked, first_bad, problem, message = status
    if ok:
        st.success(f"Chain intact: {checked:,} entries verified (checked at most once a minute).",
                   icon=":material/verified:")
    else:
        st.error(f"Chain broken at entry {first_bad} ({problem}): {message}", icon=":material/gpp_bad:")


def main() -> None:
    st.title("Audit")
    db_key = load_settings().database_url
    status = load_or_stop(load_status, db_key)
    actors, actions = load_or_stop(load_options, db_key)
    status_banner(status)

    c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
    actor = c1.selectbox("Who", [ALL, *actors], key="audit_actor")
    action = c2.selectbox("What", [ANY, *actions], key="audit_action", help="An action, or a family such as `break.`")
    words = c3.text_input("Text in target or detail", key="audit_text", placeholder="e.g. break:42, rollup-sessions")
    picked = c4.date_input("When (UTC days)", value=[], key="audit_days")  # [] (no day yet) keeps it a range picker
    when: tuple[date, ...] = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)
    day_from: date | None = when[0] if when else None
    day_to: date | None = when[-1] if when else None
    search = q.Search(actor=None if actor == ALL else actor, action_prefix=None if action == ANY else action,
                      text=words or None, day_from=day_from, day_to=day_to)
    df = load_entries(db_key, search)
    st.caption(f"{len(df):,} entries, newest first" + (f" (the newest {search.limit:,} shown)" if len(df) >= search.limit else ""))
    if df.empty:
        st.info("No audit entry matches.", icon=":material/search_off:")
        return
    st.dataframe(df, hide_index=True, width="stretch",
                 column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS")})
    st.download_button("Download CSV", export.csv_bytes(df), file_name="audit_log.csv", mime="text/csv",
                       key="audit_csv")


main()
