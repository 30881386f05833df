"""The Reconciliation page's reads, cached for a minute, and the one place that forgets them after
a workflow action (every figure that depends on a break's state is read again). A list cut for the
screen (PAGE_ROWS) is read whole when it is downloaded: the figure called without its limit."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

import pandas as pd
import streamlit as st

from metrics.faces import export
from metrics.figures import reconciliation as q
from metrics.figures.query import snapshot
from pages.common import engine

PAGE_ROWS = 500  # rows of a list drawn on the page; its download has all of them


@st.cache_data(ttl=60, show_spinner=False)
def load_months(db_key: str | None) -> list[date]:
    with snapshot(engine(db_key)) as conn:
        return q.months(conn)


@st.cache_data(ttl=60, show_spinner="Loading reconciliation…")
def load_overview(db_key: str | None, f: q.ReconFilters) -> dict:
    with snapshot(engine(db_key)) as conn:
        return {"funnel": q.funnel(conn, f), "payouts": q.payouts(conn, f, limit=PAGE_ROWS),
                "payouts_total": q.payout_count(conn, f), "last_run": q.last_run(conn)}


@st.cache_data(ttl=60, show_spinner=False)
def load_breaks(db_key: str | None, bf: q.BreakFilters, reporting: str, as_of: datetime) -> tuple[pd.DataFrame, int]:
    """The first PAGE_ROWS breaks the filters list, and how many they list in all."""
    with snapshot(engine(db_key)) as conn:
        return q.breaks(conn, replace(bf, limit=PAGE_ROWS), reporting, as_of), q.breaks_total(conn, bf, as_of)


def all_breaks(db_key: str | None, bf: q.BreakFilters, reporting: str, as_of: datetime) -> pd.DataFrame:
    """Every break the filters list (for a download: read when it is clicked, never cut)."""
    return q.breaks(engine(db_key), replace(bf, limit=None), reporting, as_of)


def all_payouts(db_key: str | None, f: q.ReconFilters) -> pd.DataFrame:
    """Every payout of the selection (for a download)."""
    with snapshot(engine(db_key)) as conn:
        return q.payouts(conn, f, limit=None)


def download_all(fetch: Callable[[], pd.DataFrame], name: str, key: str) -> None:
    """A CSV of every row: `fetch` runs when the button is clicked (minor units and codes, for machines)."""
    st.download_button("Download CSV", lambda: export.csv_bytes(fetch()), file_name=f"{name}.csv", mime="text/csv",
                       key=key, icon=":material/download:", on_click="ignore")


@st.cache_data(ttl=60, show_spinner=False)
def load_missing_payouts(db_key: str | None, as_of: datetime) -> list[q.MissingPayouts]:
    return q.payouts_missing_in_bank(engine(db_key), as_of)


@st.cache_data(ttl=60, show_spinner=False)
def load_detail(db_key: str | None, break_id: int) -> q.BreakDetail | None:
    return q.break_detail(engine(db_key), break_id)


@st.cache_data(ttl=60, show_spinner=False)
def load_payout(db_key: str | None, payout_key: str) -> q.PayoutView | None:
    return q.payout_view(engine(db_key), payout_key)


@st.cache_data(ttl=60, show_spinner="Judging the month…")
def load_close(db_key: str | None, month: date, th: q.CloseThresholds, as_of: datetime) -> q.CloseReadiness:
    return q.close_readiness(engine(db_key), month, th, as_of)


@st.cache_data(ttl=60, show_spinner=False)
def load_after_close(db_key: str | None, month: date, th: q.CloseThresholds, as_of: datetime) -> q.AfterClose | None:
    return q.after_close(engine(db_key), month, th, as_of)


def forget_cached_figures() -> None:
    """After a workflow action every figure that depends on a break's state is read again."""
    for loader in (load_overview, load_breaks, load_missing_payouts, load_detail, load_close, load_after_close):
        loader.clear()
