"""A hand-built world's figures made *known* (metrics/figures/readiness.py): a run log in which every job of the
catalogue succeeded once, each ingest before the compute jobs, long before any instant a test judges at (the
clock may be set to an awkward date, never before 2026). The rows a test wrote by hand are then the figures,
as if the jobs had brought and computed them; a test of "not computed yet" leaves this out."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from revwatch.schedule import CATALOGUE

AT = datetime(2000, 1, 1, tzinfo=UTC)


def all_computed(world, at: datetime = AT, jobs: tuple[str, ...] | None = None) -> None:
    """Record one succeeded run of each of `jobs` (default: the catalogue), ingest jobs first, none writing rows."""
    names = [j for j in CATALOGUE if jobs is None or j in jobs]
    order = sorted(names, key=lambda j: CATALOGUE[j].kind != "ingest")
    rows = [(j, at + timedelta(minutes=k), at + timedelta(minutes=k, seconds=30)) for k, j in enumerate(order)]
    for job, started, finished in rows:
        world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written)"
                  " VALUES (%s, %s, %s, 'succeeded', 0)", (job, started, finished))
