"""What an action did, said on the page after the rerun that shows its effect.

An action rereads the page's figures by rerunning the script (st.rerun), which drops whatever the run that acted
had drawn; `after_rerun` keeps the message in the session for the next run, where `said` shows it once.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import streamlit as st

DONE_ICON = ":material/check_circle:"
# one session key a place on a page that says it (kept apart: an action on one page is not said on another)
RECONCILIATION, HEALTH, WORK_QUEUE, RULES = "_recon_flash", "_health_flash", "_wq_flash", "_wq_rules_flash"


def after_rerun(key: str, message: str, refused: Sequence[str] = ()) -> NoReturn:
    """Keep the message (and what was refused, if anything) for the next run, then rerun."""
    st.session_state[key] = (message, tuple(refused))
    st.rerun()


def said(key: str, icon: str = DONE_ICON) -> None:
    """The message kept under `key`, once, with a warning for each refusal."""
    if kept := st.session_state.pop(key, None):
        message, refused = kept
        st.success(message, icon=icon)
        for why in refused:
            st.warning(why, icon=":material/block:")
