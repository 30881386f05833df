"""The Health page's "run a job now" (issue 18): an engineer asks, a worker takes the request within seconds
(metrics/actions/job_requests.py); the requests still waiting, and those dropped because no worker took them."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import streamlit as st

from metrics.actions import job_requests
from metrics.figures.health import JobHealth, RunRequest
from pages.common import age_text, engine, flash, signin
from pages.common import markdown as md
from revwatch.identity import NotPermitted, Permission, roles_granting
from revwatch.schedule import CATALOGUE, RUN_REQUEST_EXPIRES


def run_now_section(db_key: str | None, jobs: tuple[JobHealth, ...], waiting: dict[str, RunRequest],
                    as_of: datetime, forget: Callable[[], None]) -> None:
    """Ask the worker to run a job now (the engineer's role); the requests still waiting for a worker, and how long,
    or dropped because none took them in time. `forget`: the page's cached figures, cleared after a request."""
    for r in waiting.values():
        late = as_of - r.requested_at
        if r.expired:
            st.warning(f"**{md.text(r.job)}**: {md.text(r.requested_by)} asked for a run {age_text(late)} ago and no "
                       f"worker took it within {age_text(RUN_REQUEST_EXPIRES)}: it was dropped, not run. Is a worker "
                       "running (`revwatch worker`)? Ask again once one is.", icon=":material/schedule:")
            continue
        st.info(f"**{md.text(r.job)}**: {md.text(r.requested_by)} asked for a run {age_text(late)} ago; it waits for "
                "a worker to take it" + (" (a worker looks every few seconds: is one running?)"
                                         if late > timedelta(minutes=1) else "") + ".", icon=":material/schedule:")
    who = signin.current()
    if not who.can(Permission.OPERATE):
        st.caption(f"Running a job now needs a role of {', '.join(roles_granting(Permission.OPERATE))}.")
        return
    names = [j.job for j in jobs if j.job in CATALOGUE]
    c = st.columns([2, 1])
    job = c[0].selectbox("Run a job now", names, key="run_now_job",
                         help="The worker takes the request within seconds and runs the job once, as a scheduled "
                              "run (under its lock: never twice at once). The run shows in the run log.")
    c[1].markdown("&nbsp;")  # the button level with the box
    if c[1].button(f"Run now as {who.display}", key="run_now", disabled=job is None):
        try:
            with engine(db_key).begin() as conn:
                job_requests.request_run(conn, job, who)
        except (job_requests.RunRefused, NotPermitted) as exc:
            st.error(str(exc), icon=":material/block:")
            return
        forget()
        flash.after_rerun(flash.HEALTH, f"{job}: asked to run now by {who.display}.")
