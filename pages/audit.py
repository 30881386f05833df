"""Audit: who did what, when (every human action and every job run), and whether the hash
chain is intact, compared with its anchors outside the database (the anchor file, the weekly
reports: revwatch/audit_anchors.py). Reads only through `metrics.figures.audit_log` (no SQL here);
writes no anchor (`revwatch audit verify` and the weekly report do). Entries read as key/value text
with money formatted; each entry's stored JSON stays one click away, and the CSV download has every
matching entry as stored."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st

from metrics.faces import export
from metrics.figures import audit_log as q
from metrics.figures.query import snapshot
from pages.common import engine as _engine
from pages.common import load_or_stop, signin
from pages.common.recon_format import detail_pairs, detail_text, shown
from pages.common.state import shown_of
from revwatch.audit import VerifyResult
from revwatch.settings import load_settings

MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|~$"})
ALL = "(everyone)"
ANY = "(any action)"


@st.cache_data(ttl=60, show_spinner="Verifying the audit chain…")
def load_status(db_key: str | None, anchor_path: str) -> VerifyResult:
    anchors = q.anchor_file(Path(anchor_path))  # before the snapshot: no anchor is then past its head
    with snapshot(_engine(db_key)) as conn:
        return q.chain_status(conn, anchors)


@st.cache_data(ttl=30, show_spinner=False)
def load_options(db_key: str | None) -> tuple[list[str], list[str]]:
    with snapshot(_engine(db_key)) as conn:
        return q.actors(conn), q.action_prefixes(conn)


@st.cache_data(ttl=30, show_spinner="Searching the audit log…")
def load_entries(db_key: str | None, search: q.Search) -> tuple[pd.DataFrame, int]:
    """The newest `search.limit` matching entries, and how many match in all."""
    with snapshot(_engine(db_key)) as conn:
        return q.search(conn, search), q.count(conn, search)


def all_entries_csv(db_key: str | None, search: q.Search) -> bytes:
    """Every matching entry as stored (detail as JSON text), read when the download is clicked."""
    with snapshot(_engine(db_key)) as conn:
        return export.csv_bytes(q.search(conn, search._replace(limit=None)))


def plain(text: str) -> str:
    """`text` shown as it is by Markdown (anchor files and databases name things the page does not choose)."""
    return text.translate(MARKDOWN)


def status_banner(status: VerifyResult) -> None:
    if status.ok:
        st.success(f"Chain intact: {status.checked:,} entries verified (checked at most once a minute).",
                   icon=":material/verified:")
    else:
        where = "" if status.first_bad_seq is None else f" at entry {status.first_bad_seq}"
        st.error(plain(f"Chain broken{where} ({status.problem}): {status.message}"), icon=":material/gpp_bad:")
    for note in status.notes:
        st.warning(plain(note), icon=":material/warning:")
    if status.against:
        st.caption(plain("Checked against: " + "; ".join(status.against)))


def main() -> None:
    st.title("Audit")
    cfg = load_settings()
    db_key = cfg.database_url
    status = load_or_stop(load_status, db_key, str(cfg.audit_anchor_path))
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
    df, total = load_entries(db_key, search)
    if df.empty:
        st.info("No audit entry matches.", icon=":material/search_off:")
        return
    c = st.columns([3, 1])
    c[0].caption(shown_of(len(df), total, "entries, newest first"))
    with c[1]:
        st.download_button("Download CSV", lambda: all_entries_csv(db_key, search), file_name="audit_log.csv",
                           mime="text/csv", key="audit_csv", icon=":material/download:", on_click="ignore",
                           help="Every matching entry, its detail as the JSON that was hashed.")
    st.dataframe(df.assign(target=[shown(t) for t in df["target"]], detail=[detail_text(d) for d in df["detail"]]),
                 hide_index=True, width="stretch",
                 key="audit_table", column_config={
                     "seq": st.column_config.NumberColumn("entry", format="%d"),
                     "at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
                     "entry_hash": "entry hash"})
    entry_in_full(df)


def entry_in_full(df: pd.DataFrame) -> None:
    """One entry as key/value lines, and its detail as stored (the JSON that was hashed) for auditors."""
    rows = {int(r["seq"]): r for r in df.to_dict("records")}
    seq = st.selectbox("Show an entry in full", [None, *rows], key="audit_entry",
                       format_func=lambda n: "choose an entry…" if n is None else
                       f"#{n} · {rows[n]['action']} · {shown(rows[n]['target'])}")
    if seq is None:
        return
    r = rows[seq]
    lines = [("at", f"{r['at']:%Y-%m-%d %H:%M:%S} UTC"), ("who", r["actor"]), ("what", r["action"]),
             ("target", shown(r["target"])), *detail_pairs(r["detail"]), ("entry hash", r["entry_hash"])]
    st.markdown("\n".join(f"- **{plain(k)}**: {plain(str(v))}" for k, v in lines))
    with st.expander("Detail as stored (JSON)"):
        st.json(r["detail"] or "null", expanded=True)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
