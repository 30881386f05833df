"""The scheduled weekly leadership report: Mondays 07:00 in REPORT_TIMEZONE the worker builds the
last complete ISO week's report and e-mails it when SMTP is configured.

A collector that reads metric query functions (through `metrics.faces.weekly_report.build`): DESIGN lets
collectors use the metric catalogue; this job is the one place they read figures, and it only
calls the same build the CLI and the Reports page call. The run is recorded in `job_runs`.
"""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from revwatch import clock
from revwatch.runlog import JobSkipped, RunStats, recorded_run
from revwatch.settings import Settings

log = logging.getLogger("revwatch.worker")

JOB = "weekly-report"
BUILT_BY = "scheduler"


def run(engine: Engine, cfg: Settings, now: datetime | None = None) -> RunStats:
    """Build (and, with SMTP_HOST and REPORT_RECIPIENTS set, send) the last complete week's report,
    unless the scheduler already built that week (another worker, a repeated trigger)."""
    from metrics.faces import weekly_report as wr

    today = (now or clock.now()).astimezone(ZoneInfo(cfg.report_timezone)).date()
    week = wr.last_complete_week(today)
    with recorded_run(engine, JOB) as stats:
        existing = wr.current(engine, week)
        if existing is not None and existing.built_by == BUILT_BY:
            raise JobSkipped(f"the report for {week} was already built by the scheduler (#{existing.report_id})")
        report_id = wr.build(engine, week, cfg, built_by=BUILT_BY)
        stats.rows_written = 1
        if cfg.smtp_host and wr.recipients(cfg):
            built = wr.report(engine, report_id)
            if built is None:
                raise LookupError(f"weekly report #{report_id} for {week} was built but cannot be read back")
            wr.send(engine, built, cfg)
        log.info("%s: built report #%d for %s", JOB, report_id, week)
    return stats
