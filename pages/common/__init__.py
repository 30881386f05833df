"""What every page shares: the cached engine, the cached filter options, the sidebar filters,
and the notice shown when the database cannot give figures yet. (A package, not a .py in pages/, so it is no page.)"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from metrics.faces.export import csv_bytes
from metrics.faces.show_format import duration_text
from metrics.figures import overview as ov
from metrics.figures.query import Filters, snapshot
from revwatch.db import product_engine
from revwatch.money import format_money
from revwatch.settings import load_settings

NO_TABLES = ("The database has no Revwatch tables yet: run `revwatch db upgrade`, then `revwatch demo` "
             "and `revwatch collect`.")


@st.cache_resource(show_spinner=False, on_release=lambda e: e.dispose())  # cleared cache: connections closed
def engine(database_url: str | None) -> Engine:
    return product_engine(load_settings(database_url=database_url))


@st.cache_data(ttl=60, show_spinner=False)
def load_options(db_key: str | None) -> tuple[pd.DataFrame, ov.DataRange | None]:
    with snapshot(engine(db_key)) as conn:
        return ov.filter_options(conn), ov.data_range(conn)


def _explain(exc: ProgrammingError | OperationalError) -> None:
    """Tell the user why the database cannot give figures: no tables yet, not allowed, or not reachable."""
    if isinstance(exc.orig, InsufficientPrivilege):
        st.error(f"The dashboard's database role may not read this ({str(exc.orig).splitlines()[0]}): grant it with "
                 "`revwatch db grant-dashboard ROLE`.", icon=":material/lock:")
    elif isinstance(exc, ProgrammingError):
        st.info(NO_TABLES, icon=":material/info:")
    else:
        st.error(f"Cannot reach the product database: {exc.orig or exc}", icon=":material/error:")


def options_or_notice(db_key: str | None) -> tuple[pd.DataFrame, ov.DataRange | None] | None:
    """The sites and data range for the filters, or None once the user has been told why not."""
    try:
        return load_options(db_key)
    except (ProgrammingError, OperationalError) as exc:
        _explain(exc)
    return None


def load_or_stop(load, *args):
    """`load(*args)`; when the database cannot give it, the user is told why and the page stops."""
    try:
        return load(*args)
    except (ProgrammingError, OperationalError) as exc:
        _explain(exc)
    st.stop()


DEFAULT_DAYS = 30  # every page opens on the last 30 local days; a range picked on one page holds on every page
_KEEP = ("days", "regions", "sites")  # the sidebar's widget keys, kept across pages


def _keep_across_pages(default_days: tuple[date, date]) -> None:
    """Streamlit forgets a widget's value on a page that does not draw it: writing each key back keeps the
    user's range, regions and sites when they switch pages (the documented pattern)."""
    if "days" not in st.session_state:
        st.session_state["days"] = default_days
    for key in _KEEP:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def sidebar_filters(sites: pd.DataFrame, rng: ov.DataRange,
                    days_help: str = "Each site's own local days, both ends included.") -> Filters:
    """Date range (the last DEFAULT_DAYS local days at first), regions, and sites within them; the
    same on every page until the user changes them."""
    sb = st.sidebar
    sb.header("Filters")
    _keep_across_pages((max(rng.first, rng.last - timedelta(days=DEFAULT_DAYS - 1)), rng.last))
    kept = st.session_state["days"]
    if any(not rng.first <= d <= rng.last for d in kept):  # data moved on since it was picked: clamp to it
        st.session_state["days"] = tuple(min(max(d, rng.first), rng.last) for d in kept)
    picked = sb.date_input("Local days", min_value=rng.first, max_value=rng.last, key="days", help=days_help)
    days: tuple[date, ...] = tuple(picked) if isinstance(picked, (tuple, list)) else (picked,)  # one date while a range is picked
    regions = sb.multiselect("Regions", sorted(sites["region"].unique()), key="regions", placeholder="All regions")
    in_region = sites[sites["region"].isin(regions)] if regions else sites
    names = dict(zip(in_region["site_id"], in_region["name"], strict=True))
    if "sites" in st.session_state:  # sites outside the chosen regions are no longer options
        st.session_state["sites"] = [s for s in st.session_state["sites"] if s in names]
    site_ids = sb.multiselect("Sites", list(names), format_func=lambda s: f"{names[s]} ({s})", key="sites",
                              placeholder="All sites in the regions" if regions else "All sites")
    return Filters(days[0], days[-1], tuple(regions), tuple(site_ids))


def filtered_page(title: str, empty_hint: str,
                  days_help: str = "Each site's own local days, both ends included.",
                  ) -> tuple[str | None, ov.DataRange, Filters] | None:
    """A page's title, then its database, data range and sidebar filters; None once the user has been told why there
    is nothing to show (no database, no tables, no data yet)."""
    st.title(title)
    db_key = load_settings().database_url
    options = options_or_notice(db_key)
    if options is None:
        return None
    sites, rng = options
    if rng is None:
        from pages.common.state import no_data_yet  # state.py reads through this module's engine

        no_data_yet(db_key, empty_hint)
        return None
    return db_key, rng, sidebar_filters(sites, rng, days_help)


# ---------------------------------------------------------------- display (never stored, never exported)
def percent(r, digits: int = 2) -> str:
    return "–" if r is None or r != r else f"{float(r) * 100:.{digits}f}%"


def pp(current: float | None, previous: float | None) -> str | None:
    """The change of a ratio in percentage points (None when either side has none)."""
    return None if current is None or previous is None else f"{(current - previous) * 100:+.2f} pp"


def signed_money(minor: int, currency: str) -> str:
    return ("-" if minor < 0 else "+") + format_money(abs(minor), currency)


def money_by_currency(amounts: dict[str, int]) -> str:
    """Amounts of several currencies side by side, never added together."""
    return " · ".join(format_money(v, c) for c, v in sorted(amounts.items())) or "–"


def mask_customer(customer_id: str | None) -> str:
    """'cus_8f2k1234' -> 'cus_…1234': enough to tell customers apart, not to identify one."""
    if not isinstance(customer_id, str) or not customer_id:  # None, or NaN from a DataFrame
        return ""
    head = customer_id.split("_", 1)[0] + "_" if "_" in customer_id else ""
    return f"{head}…{customer_id[-4:]}"


def money(v, currency) -> str:
    """Minor units as money of `currency`; "–" for no amount or no currency. A code outside ISO 4217
    shows its amount in minor units and says so (revwatch.money.format_money), never hidden."""
    if v is None or not isinstance(currency, str) or not currency:
        return "–"
    try:
        if pd.isna(v):
            return "–"
    except (TypeError, ValueError):
        pass
    return format_money(int(v), currency)


def with_money(df: pd.DataFrame, *columns: str, currency: str = "currency") -> pd.DataFrame:
    """Minor-unit columns shown as money of each row's `currency` column (display only)."""
    out = df.copy()
    for col in columns:
        out[col] = [money(v, c) for v, c in zip(df[col], df[currency], strict=True)]
    return out


def csv_button(df: pd.DataFrame, name: str, key: str) -> None:
    st.download_button("Download CSV", csv_bytes(df), file_name=f"{name}.csv", mime="text/csv", key=key,
                       icon=":material/download:", on_click="ignore")


def age_text(d: timedelta | None) -> str:
    """An age for people: 'just now' under a minute, then show's durations ('5 min', '2 h 5 min', '3 d 4 h')."""
    if d is None:
        return "–"
    s = d.total_seconds()
    if s < 60:
        return "just now"
    return "1 min" if s < 120 else duration_text(s)
