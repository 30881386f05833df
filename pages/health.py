"""Health: are the jobs running, are the sources fresh, what was quarantined, and which
PostgreSQL and tz database decide the figures?

Reads only through `metrics.figures.health` (no SQL here). Every job of the catalogue is listed, also
one that never ran, with its configured interval (revwatch.schedule: WORKER_SCHEDULE over the
catalogue's defaults) and the interval observed in the run log; "stale" is the CollectorStale
alert's condition (metrics.catalogue.STALE_AFTER_INTERVALS).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from metrics.catalogue import STALE_AFTER_INTERVALS, help_text, label
from metrics.faces.export import csv_bytes
from metrics.faces.show_format import duration_text
from metrics.figures import health as q
from metrics.figures.health.gateway_access import ObjectAccess, gateway_access
from metrics.figures.health.jobs import WorkerActivity, worker_activity
from metrics.figures.query import snapshot
from pages.common import age_text, csv_button, flash, load_or_stop, signin
from pages.common import engine as _engine
from pages.common import markdown as md
from pages.common.run_now import run_now_section
from pages.common.state import shown_of
from revwatch import clock
from revwatch.schedule import REPORT_CRON, judged_intervals
from revwatch.settings import SettingsError, load_settings

LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, x=0, title_text="")
CHART_DAYS = {"24 hours": 1, "7 days": 7, "30 days": 30}


# ---------------------------------------------------------------- data (cached)
def _now() -> datetime:
    return clock.now().replace(microsecond=0)


@st.cache_data(ttl=30, show_spinner="Reading the run log…")
def load_health(db_key: str | None, schedule: dict[str, int]) -> dict:
    as_of = _now()
    with snapshot(_engine(db_key)) as conn:
        return {"as_of": as_of, "jobs": q.job_health(conn, as_of, schedule), "freshness": q.source_freshness(conn, as_of),
                "sync_state": q.sync_states(conn), "quarantine": q.quarantine_counts(conn, as_of),
                "quarantined": q.latest_quarantined(conn), "known_jobs": q.known_jobs(conn),
                "worker": worker_activity(conn, as_of, schedule), "access": gateway_access(conn),
                "loads": q.first_loads(conn, as_of), "waiting": q.waiting_requests(conn, as_of)}


@st.cache_data(ttl=30, show_spinner=False)
def load_durations(db_key: str | None, days: int) -> pd.DataFrame:
    return q.run_durations(_engine(db_key), _now(), days)


@st.cache_data(ttl=30, show_spinner=False)
def load_run_log(db_key: str | None, jobs: tuple[str, ...], outcomes: tuple[str, ...]) -> tuple[pd.DataFrame, int]:
    """The newest RUN_LOG_SHOWN runs, and how many there are in all (one snapshot: the two agree)."""
    with snapshot(_engine(db_key)) as conn:
        return q.run_log(conn, jobs, outcomes), q.run_log_count(conn, jobs, outcomes)


def all_runs_csv(db_key: str | None, jobs: tuple[str, ...], outcomes: tuple[str, ...]) -> bytes:
    """Every run of the chosen jobs and outcomes as CSV, read when the download is clicked."""
    return csv_bytes(q.run_log(_engine(db_key), jobs, outcomes, limit=None))


@st.cache_data(ttl=600, show_spinner=False)
def load_database(db_key: str | None) -> q.DatabaseInfo:
    with snapshot(_engine(db_key)) as conn:
        return q.database_info(conn)


# ---------------------------------------------------------------- formatting (the edge)
def seconds_text(s: float | None) -> str:
    """A duration for people: '0.25 s', '4.2 s', '43 s', '5 min', '2 h 5 min'; '–' when there is none."""
    return "–" if s is None or s != s else duration_text(s)


def count_text(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def when_text(v: datetime | None) -> str:
    return "–" if v is None else f"{v:%Y-%m-%d %H:%M:%S} UTC"


def interval_text(j: q.JobHealth, report_timezone: str) -> str:
    if j.kind == q.REPORT_KIND:
        return f"weekly, {str(REPORT_CRON['day_of_week']).title()} {REPORT_CRON['hour']:02}:{REPORT_CRON['minute']:02} " \
               f"{report_timezone}"
    return seconds_text(j.interval_seconds)


def newest_text(v: datetime | date | None) -> str:
    if v is None:
        return "–"
    return f"{v:%Y-%m-%d %H:%M} UTC" if isinstance(v, datetime) else f"{v:%Y-%m-%d}"


def jobs_frame(jobs: tuple[q.JobHealth, ...], report_timezone: str = "UTC") -> pd.DataFrame:
    """One row per job, every cell text for people ("–" where there is nothing, never "None"): durations and
    counts rounded, instants in UTC."""
    rows = []
    for j in jobs:
        last = j.last
        rows.append({
            "job": j.job, "kind": j.kind or "not in catalogue", "status": j.status,
            "last start": when_text(last.started_at if last else None),
            "last duration": seconds_text(last.duration.total_seconds() if last and last.duration else None),
            "last outcome": last.outcome if last else "never run",
            "rows read": count_text(last.rows_read if last else None),
            "rows written": count_text(last.rows_written if last else None),
            "last success": when_text(j.last_success_at),
            "success age": age_text(j.success_age) if j.last_success_at else "never",
            "runs 24h": j.runs_24h, "failures 24h": j.failures_24h,
            "p50": seconds_text(j.p50_seconds), "p95": seconds_text(j.p95_seconds), "sampled runs": j.sampled_runs,
            "interval": interval_text(j, report_timezone),
            "observed interval": seconds_text(j.observed_interval_seconds),
            "last failure": when_text(j.last_failure_at), "last failure error": j.last_failure_error or "",
            "last note": (last.error or "") if last and last.outcome == "skipped" else "",
        })
    return pd.DataFrame(rows)


def for_people(df: pd.DataFrame) -> pd.DataFrame:
    """A table without empty cells: instants as UTC text, and a column with a missing value as text with "–"
    there (a number column keeps its numbers when none is missing)."""
    out = df.copy()
    for col in df.columns:
        values = list(df[col])
        if any(isinstance(v, datetime) for v in values):
            out[col] = [when_text(None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()) for v in values]
        elif df[col].isna().any():
            out[col] = ["–" if pd.isna(v) else f"{v:,}" if isinstance(v, int) else str(v) for v in values]
    return out


def run_log_frame(log: pd.DataFrame) -> pd.DataFrame:
    """The run log for people: instants in UTC, durations rounded, "–" where there is nothing (a run still going
    has no end; a scheduled run no window)."""
    out = log.copy()
    for col in ("started_at", "finished_at", "window_start", "window_end"):
        out[col] = [when_text(None if pd.isna(v) else pd.Timestamp(v).to_pydatetime()) for v in log[col]]
    out["seconds"] = [seconds_text(None if pd.isna(v) else float(v)) for v in log["seconds"]]
    out["error"] = log["error"].fillna("")
    return out.rename(columns={"seconds": "duration", "started_at": "started", "finished_at": "finished"})


# ---------------------------------------------------------------- sections
def summary(jobs: tuple[q.JobHealth, ...], fresh: tuple[q.SourceFreshness, ...], quarantine: pd.DataFrame) -> None:
    by = pd.Series([j.status for j in jobs]).value_counts()
    c = st.columns(5)
    # "running" is a job running again after a recent success; a first run ("first run") has not succeeded: not ok
    c[0].metric(label("jobs_ok"), f"{int(by.get('ok', 0) + by.get('running', 0))} of {len(jobs)}", border=True,
                help=help_text("jobs_ok"))
    c[1].metric(label("jobs_failing"), int(by.get("failing", 0) + by.get("no success", 0)), border=True,
                help=help_text("jobs_failing"))
    c[2].metric(label("job_stale"), int(by.get("stale", 0)), border=True, help=help_text("job_stale"))
    c[3].metric(label("sources_stale"), sum(f.badge == "stale" for f in fresh), border=True,
                help=help_text("sources_stale"))
    c[4].metric(label("quarantined"), f"{int(quarantine['lines'].sum()) if not quarantine.empty else 0:,}",
                border=True, help=help_text("quarantined"))


def worker_banner(worker: WorkerActivity) -> None:
    """The worker as a whole: stuck when no job at all started for STALE_AFTER_INTERVALS of the smallest interval."""
    if worker.status == "stuck":
        idle, after = (d.total_seconds() if d else None for d in (worker.idle, worker.stuck_after))
        st.error(f"**The worker is stuck**: no job has started for {seconds_text(idle)} (the last: "
                 f"{md.text(worker.last_job or '')} at {newest_text(worker.last_start)}), more than {seconds_text(after)}"
                 f" ({STALE_AFTER_INTERVALS} × the smallest interval, {seconds_text(worker.interval_seconds)}). Every "
                 "figure is going stale: check that `revwatch worker` runs, and its log (`revwatch up` restarts a "
                 "worker that gave up).", icon=":material/error:")
    elif worker.status == "never run":
        st.info("No job has run yet: start the worker (`revwatch worker`, or `revwatch up`).", icon=":material/info:")


def load_text(load: q.FirstLoad) -> str:
    """One first load in words: how far along, how fast, and what comes next."""
    rate = f" at {load.rows_per_second:,.0f} rows/s" if load.rows_per_second else ""
    if load.state == "finished":
        return (f"**{md.text(load.job)}**: first load finished {newest_text(load.finished_at)}: "
                f"{load.rows_loaded:,} rows in {seconds_text(load.elapsed.total_seconds())}{rate}.")
    if load.state == "stopped":
        return (f"**{md.text(load.job)}**: first load stopped after chunk {load.chunks_done}: {load.progress}. It "
                f"resumes from there at the job's next run; until then the figures over this source wait for it.")
    left = f", about {seconds_text(load.remaining.total_seconds())} left" if load.remaining is not None else ""
    return (f"**{md.text(load.job)}**: first load running for {seconds_text(load.elapsed.total_seconds())}, chunk {load.chunks_done} "
            f"committed: {load.progress}{rate}{left}. The figures over this source wait for it.")


def loads_section(loads: tuple[q.FirstLoad, ...]) -> None:
    """A first load under way (or stopped half way) on top of the page, with its progress; finished ones
    in one line each under the jobs table."""
    for load in loads:
        if load.state != "finished":
            st.progress(load.share, text=load_text(load))


def jobs_section(jobs: tuple[q.JobHealth, ...], report_timezone: str) -> None:
    st.subheader(label("jobs"), help=f"{help_text('jobs')} p50/p95 over the last {q.DURATION_SAMPLE} succeeded runs; "
                                     f"the last failure is looked for over {q.FAILURE_LOOKBACK.days} days.")
    for j in jobs:
        if j.status == "failing" and j.last is not None:  # failing: there is a last run
            st.warning(f"**{md.text(j.job)}**: the last run ({newest_text(j.last.started_at)}) {j.last.outcome}: "
                       f"{md.text(j.last.error or j.last_failure_error or 'no error text')}", icon=":material/warning:")
    table = jobs_frame(jobs, report_timezone)
    st.dataframe(table, hide_index=True, width="stretch", key="table_jobs", height=35 * (len(table) + 1) + 3)
    st.caption(help_text("job_intervals") + " A job on its first run (\"first run\") is not counted as ok until "
               "it has succeeded once.")


def durations_section(db_key: str | None) -> None:
    st.subheader(label("job_durations"), help=help_text("job_durations"))
    span = st.radio("Span", list(CHART_DAYS), index=1, horizontal=True, key="chart_span")
    days = CHART_DAYS[span]
    df = load_durations(db_key, days)
    if df.empty:
        st.caption("No finished run in that span.")
        return
    fig = px.line(df, x="bucket", y="p50_seconds", color="job", markers=True, height=380,
                  hover_data={"max_seconds": ":.2f", "runs": True, "failures": True},
                  labels={"bucket": "started (UTC)", "p50_seconds": "median duration (s)",
                          "max_seconds": "longest (s)"})
    fig.update_traces(line_width=1.2, marker_size=5)
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND)
    st.plotly_chart(fig, width="stretch", key="chart_durations")
    st.caption(f"One point per job and {age_text(timedelta(seconds=q.bucket_seconds(days)))} bucket.")


def freshness_section(fresh: tuple[q.SourceFreshness, ...], sync_state: pd.DataFrame) -> None:
    st.subheader(label("source_freshness"), help=help_text("source_freshness"))
    table = pd.DataFrame([{"source": f.source, "figure": f.what, "newest": newest_text(f.newest),
                           "age": age_text(f.age) if f.age is not None else "–",
                           "threshold": age_text(f.threshold), "badge": f.badge,
                           "detail": f.detail or ""} for f in fresh])
    st.dataframe(table, hide_index=True, width="stretch", key="table_freshness")
    for advice in sync_state["advice"].dropna() if "advice" in sync_state else ():
        st.warning(md.text(advice), icon=":material/speed:")
    with st.expander("Every watermark and job cutoff (sync_state)"):
        st.dataframe(for_people(sync_state), hide_index=True, width="stretch", key="table_sync_state")


def access_section(access: tuple[ObjectAccess, ...]) -> None:
    """Which gateway object types the newest ingest could read: a restricted key shows here (and makes
    the run `partial`), never as a silent gap in the figures that need the type."""
    refused = [a for a in access if a.refused]
    for a in refused:
        st.warning(f"**{md.text(a.gateway)} {md.text(a.object_type)}** not read since {a.since:%Y-%m-%d %H:%M} UTC: "
                   f"{md.text(a.reason or a.state)}", icon=":material/block:")
    if access:
        with st.expander(f"Gateway object types: {len(access) - len(refused)} of {len(access)} read"):
            st.dataframe(for_people(pd.DataFrame([a.__dict__ for a in access])), hide_index=True, width="stretch",
                         key="table_access")


def quarantine_section(counts: pd.DataFrame, latest: pd.DataFrame) -> None:
    st.subheader(label("quarantine"), help=help_text("quarantine"))
    left, right = st.columns([1, 2])
    with left:
        st.markdown("**Per source, last 7 days**")
        if counts.empty:
            st.caption("Nothing quarantined in the last 7 days.")
        else:
            st.dataframe(for_people(counts), hide_index=True, width="stretch", key="table_quarantine_counts")
    with right:
        st.markdown("**Latest quarantined lines**")
        if latest.empty:
            st.caption("The quarantine is empty.")
        else:
            st.dataframe(for_people(latest).rename(columns={"created_at": "quarantined"}), hide_index=True,
                         width="stretch", key="table_quarantined")
            csv_button(latest, "quarantine_latest", key="csv_quarantine")


def run_log_section(db_key: str | None, known: list[str]) -> None:
    st.subheader("Run log", help=f"The newest {q.RUN_LOG_SHOWN} runs of the chosen jobs and outcomes, newest first; "
                                 "the download carries every one of them.")
    c = st.columns(2)
    jobs = c[0].multiselect("Jobs", known, key="log_jobs", placeholder="All jobs")
    outcomes = c[1].multiselect("Outcomes", q.OUTCOMES, key="log_outcomes", placeholder="All outcomes")
    log, total = load_run_log(db_key, tuple(jobs), tuple(outcomes))
    if log.empty:
        st.caption("No run matches.")
        return
    st.dataframe(run_log_frame(log), hide_index=True, width="stretch", height=360, key="table_run_log",
                 column_config={c: st.column_config.NumberColumn(format="localized")
                                for c in ("rows_read", "rows_written")})
    st.caption(shown_of(len(log), total, "runs"))
    chosen = (tuple(jobs), tuple(outcomes))
    st.download_button("Download CSV", lambda: all_runs_csv(db_key, *chosen), file_name="job_runs.csv",
                       mime="text/csv", key="csv_runs", icon=":material/download:", on_click="ignore")


def database_section(db_key: str | None) -> None:
    st.subheader("Database and time zones", help="PostgreSQL decides every site's local day (AT TIME ZONE); its tz "
                                                 "database is the one that matters for the figures.")
    info = load_database(db_key)
    pg, py = info.postgres_tz, info.python_tz
    st.markdown(f"**PostgreSQL** {info.server_version} · session time zone `{info.timezone}` · "
                f"{info.zone_count:,} zone names")
    st.caption(info.version)
    st.markdown(f"**tz database in use (PostgreSQL, decides local days)**: {tz_line(pg)}")
    st.markdown(f"**tz database of Python (zoneinfo, tests' reference only)**: {tz_line(py)}")
    if info.disagreements:
        st.warning("PostgreSQL and Python disagree on " + ", ".join(f"{p.zone} ({p.release}: {p.change})"
                                                                     for p in info.disagreements)
                   + ". Figures follow PostgreSQL; a Python reference differs on these zones.",
                   icon=":material/schedule:")
    with st.expander("Rule changes checked (one per tz release)"):
        st.dataframe(q.probe_table(info), hide_index=True, width="stretch", key="table_tz_probes")
        st.caption("A tz database shows a release's change when the zone sits at the offset the release gave it; "
                   "'reflects ≥' is the newest release whose change, and every older one checked, it shows.")


def tz_line(side: q.TzSide) -> str:
    probed = f"reflects ≥ {side.at_least}" if side.at_least else f"older than {q.TZ_PROBES[0].release}"
    if side.version:
        return f"**{side.version}** (read from {side.source.removeprefix('system tz database ')}; {probed})"
    return f"**{probed}** by the checked rule changes (exact version unknown: {side.source})"


# ---------------------------------------------------------------- page
def main() -> None:
    st.title("Health")
    cfg = load_settings()
    try:
        schedule = judged_intervals(cfg)
    except SettingsError as exc:  # the worker refuses the same WORKER_SCHEDULE
        st.error(str(exc), icon=":material/error:")
        st.stop()
    db_key = cfg.database_url
    data = load_or_stop(load_health, db_key, schedule)
    st.caption(f"As of {data['as_of']:%Y-%m-%d %H:%M:%S} UTC (figures cached for 30 s).")
    worker_banner(data["worker"])
    loads_section(data["loads"])
    summary(data["jobs"], data["freshness"], data["quarantine"])
    jobs_section(data["jobs"], cfg.report_timezone)
    flash.said(flash.HEALTH, icon=":material/play_circle:")
    run_now_section(db_key, data["jobs"], data["waiting"], data["as_of"], load_health.clear)
    for load in data["loads"]:
        if load.state == "finished":
            st.caption(load_text(load))
    durations_section(db_key)
    freshness_section(data["freshness"], data["sync_state"])
    access_section(data["access"])
    quarantine_section(data["quarantine"], data["quarantined"])
    run_log_section(db_key, data["known_jobs"])
    database_section(db_key)


signin.gate()  # the person, also when Streamlit runs this page without app.py
main()
