"""What every page shares: the cached engine, the cached filter options, and the notice shown
when the database cannot give figures yet. (A package, not a .py in pages/, so it is no page.)"""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from metrics import overview as ov
from revwatch.db import product_engine
from revwatch.settings import load_settings

NO_TABLES = ("The database has no Revwatch tables yet: run `revwatch db upgrade`, then `revwatch demo` "
             "and `revwatch collect`.")


@st.cache_resource(show_spinner=False)
def engine(database_url: str | None) -> Engine:
    return product_engine(load_settings(database_url=database_url))


@st.cache_data(ttl=60, show_spinner=False)
def load_options(db_key: str | None) -> tuple[pd.DataFrame, ov.DataRange | None]:
    with engine(db_key).connect() as conn:
        return ov.filter_options(conn), ov.data_range(conn)


def options_or_notice(db_key: str | None) -> tuple[pd.DataFrame, ov.DataRange | None] | None:
    """The sites and data range for the filters, or None once the user has been told why not."""
    try:
        return load_options(db_key)
    except ProgrammingError:
        st.info(NO_TABLES, icon=":material/info:")
    except OperationalError as exc:
        st.error(f"Cannot reach the product database: {exc.orig or exc}", icon=":material/error:")
    return None
