"""Read queries behind the Health page and `revwatch show health`: are the jobs running (jobs.py),
are the sources fresh and what was quarantined (sources.py), and which database and time-zone rules
decide the figures (tz.py)? One import for the faces: `from metrics.figures import health`."""
from __future__ import annotations

from metrics.figures.health.jobs import (
    DURATION_SAMPLE,
    FAILED,
    FAILURE_LOOKBACK,
    MAX_POINTS,
    OUTCOMES,
    REPORT_KIND,
    REPORT_SECONDS,
    RUN_LOG_COLUMNS,
    RUN_LOG_SHOWN,
    JobHealth,
    LastRun,
    RunRequest,
    bucket_seconds,
    job_health,
    known_jobs,
    run_durations,
    run_log,
    run_log_count,
    waiting_requests,
)
from metrics.figures.health.loads import FirstLoad, first_loads
from metrics.figures.health.sources import (
    SourceFreshness,
    latest_quarantined,
    quarantine_counts,
    source_freshness,
    sync_states,
)
from metrics.figures.health.tz import (
    TZ_PROBES,
    DatabaseInfo,
    TzProbe,
    TzSide,
    database_info,
    probe_table,
    python_tz,
    reflected_release,
)

__all__ = [
    "DURATION_SAMPLE", "FAILED", "FAILURE_LOOKBACK", "MAX_POINTS", "OUTCOMES", "REPORT_KIND", "REPORT_SECONDS",
    "RUN_LOG_COLUMNS", "RUN_LOG_SHOWN",
    "TZ_PROBES", "DatabaseInfo", "FirstLoad", "JobHealth", "LastRun", "RunRequest", "SourceFreshness", "TzProbe", "TzSide", "bucket_seconds",
    "database_info", "first_loads", "job_health", "known_jobs", "latest_quarantined", "probe_table", "python_tz",
    "quarantine_counts", "reflected_release", "run_durations", "run_log", "run_log_count", "source_freshness",
    "sync_states", "waiting_requests",
]
