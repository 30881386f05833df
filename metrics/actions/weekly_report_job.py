"""The scheduled weekly leadership report: Mondays 07:00 in REPORT_TIMEZONE (revwatch/schedule.py)
the worker builds the last complete ISO week's report and e-mails it when SMTP is configured.

The same build the CLI and the Reports page run (metrics/actions/weekly_report.py), recorded in
`job_runs` like every job (revwatch/runlog.py). The renderer is passed in, as to `build`: actions
never import faces, so metrics/faces/weekly_report.py offers `run_job`, this job with its renderer,
which the CLI hands to the worker (collectors never import metrics).
"""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from metrics.actions import weekly_report as reports
from metrics.clients import smtp
from metrics.figures import weekly_report as wf
from revwatch import clock
from revwatch.runlog import JobSkipped, RunStats, recorded_run
from revwatch.schedule import REPORT_JOB
from revwatch.settings import Settings

log = logging.getLogger("revwatch.worker")

JOB = REPORT_JOB  # "weekly-report"
BUILT_BY = "scheduler"


def run(engine: Engine, cfg: Settings, now: datetime | None = None, *, render: reports.Render) -> RunStats:
    """Build (and, with SMTP_HOST and REPORT_RECIPIENTS set, send) the last complete week's report,
    unless the scheduler already built that week (another worker, a repeated trigger)."""
    today = (now or clock.now()).astimezone(ZoneInfo(cfg.report_timezone)).date()
    week = wf.last_complete_week(today)
    with recorded_run(engine, JOB) as stats:
        existing = reports.current(engine, week)
        if existing is not None and existing.built_by == BUILT_BY:
            raise JobSkipped(f"the report for {week} was already built by the scheduler (#{existing.report_id})")
        report_id = reports.build(engine, week, cfg, BUILT_BY, render)
        stats.rows_written = 1
        if smtp.configured(cfg) and reports.recipients(cfg):
            built = reports.report(engine, report_id)
            if built is None:
                raise LookupError(f"weekly report #{report_id} for {week} was built but cannot be read back")
            reports.send(engine, built, cfg)
        log.info("%s: built report #%d for %s", JOB, report_id, week)
    return stats
