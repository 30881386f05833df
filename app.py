"""Streamlit entry point: page config, settings check, sign-in, and the page router. Nothing else.

Pages live in pages/ and read through metrics/; add a page by appending to PAGES.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import streamlit as st

from pages.common import signin
from revwatch.settings import SettingsError, load_settings

st.set_page_config(page_title="Revwatch", layout="wide")


def _secrets_into_environment() -> None:
    """Top-level keys of .streamlit/secrets.toml become environment variables (the environment wins),
    so one Settings loader serves the CLI, the worker and the dashboard alike. No file is fine."""
    try:
        items = dict(st.secrets)
    except (FileNotFoundError, KeyError, ValueError):  # StreamlitSecretNotFoundError is a FileNotFoundError
        return
    for key, value in items.items():
        if not isinstance(value, Mapping):
            os.environ.setdefault(key.upper(), str(value))


_secrets_into_environment()
try:
    cfg = load_settings()
except SettingsError as exc:
    st.error(f"Revwatch cannot start: fix the environment (or .streamlit/secrets.toml).\n\n```\n{exc}\n```",
             icon=":material/error:")
    st.stop()
signin.person(cfg)  # the signed-in person (or local mode), in the sidebar; stops here for anyone who may not read

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("pages/payments.py", title="Payments", icon=":material/credit_card:"),
    st.Page("pages/refunds_disputes.py", title="Refunds & disputes", icon=":material/undo:"),
    st.Page("pages/billing_accuracy.py", title="Billing accuracy", icon=":material/receipt_long:"),
    st.Page("pages/reconciliation.py", title="Reconciliation", icon=":material/rule:"),
    st.Page("pages/work_queue.py", title="Work queue", icon=":material/checklist:"),
    st.Page("pages/trace.py", title="Trace", icon=":material/timeline:"),
    st.Page("pages/alerts.py", title="Alerts", icon=":material/notifications_active:"),
    st.Page("pages/reports.py", title="Weekly report", icon=":material/summarize:"),
    st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/policy:"),
]
st.navigation(PAGES).run()
