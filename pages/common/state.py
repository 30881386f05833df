"""Three states on every page: a figure is known, not computed yet (why, how far along), or nothing was found.

Pages never say "nothing found" or "all clear" before the jobs behind a figure have run over the data
(metrics/figures/readiness.py); a list cut for the screen says "first N of M" beside a way to get all.
"""
from __future__ import annotations

from datetime import date

import streamlit as st

from metrics.figures.query import snapshot
from metrics.figures.readiness import Readiness, readiness
from pages.common import engine
from revwatch import clock

PENDING_ICON = ":material/hourglass_top:"


@st.cache_data(ttl=15, show_spinner=False)
def topic_state(db_key: str | None, topic: str, since: date | None = None) -> Readiness:
    with snapshot(engine(db_key)) as conn:
        return readiness(conn, topic, clock.now(), since)


def pending_banner(state: Readiness) -> bool:
    """A banner over the figures when they are not computed yet; True when shown."""
    if state.known:
        return False
    st.warning(state.message + " The figures below may be incomplete until it has.", icon=PENDING_ICON)
    return True


def nothing_found(state: Readiness, message: str) -> None:
    """`message` (e.g. "Nothing found: every gateway charge … has its attempt in billing") only when known."""
    if state.known:
        st.success(message, icon=":material/check_circle:")
    else:
        st.info(state.message, icon=PENDING_ICON)


def no_data_yet(db_key: str | None, hint: str) -> None:
    """Nothing rolled up to pick days from: say what is being waited for while the first jobs run (the
    overview topic: billing taken in and rolled up), the `hint` (how to get data) once they have run."""
    state = topic_state(db_key, "overview")
    st.info(hint if state.known else state.message, icon=":material/info:" if state.known else PENDING_ICON)


def shown_of(shown: int, total: int, what: str) -> str:
    """'All 624 breaks' or 'First 500 of 624 breaks: Download CSV gives all of them'."""
    if shown >= total:
        return f"All {total:,} {what}."
    return f"First {shown:,} of {total:,} {what}: the download gives all of them."
