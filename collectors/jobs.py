"""The runnable jobs: each name of the job catalogue (revwatch/schedule.py) bound to the function that runs it.

The catalogue says what each job is and how often it runs; this module only says how. The binding is
checked at import: a catalogue name with no function, or a function with no catalogue entry, stops
the import (and so the worker and `revwatch collect`) naming them.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from collectors.compute import billing_classification, gateway_mismatches, reconciliation, work_queue
from collectors.compute.payment_rollups import PAYMENT_ROLLUPS
from collectors.compute.rollups import ROLLUPS
from collectors.compute.windows import run_rollup
from collectors.ingest import adyen as adyen_ingest
from collectors.ingest import bank as bank_ingest
from collectors.ingest import billing as billing_ingest
from collectors.ingest import fx as fx_ingest
from collectors.ingest import ledger as ledger_ingest
from collectors.ingest import stripe as stripe_ingest
from revwatch.runlog import RunStats
from revwatch.schedule import CATALOGUE, DEFAULT_LANE, JobSpec
from revwatch.settings import Settings

RunJob = Callable[[Engine, Settings, datetime | None, datetime | None], RunStats]


@dataclass(frozen=True)
class Job:
    """A job as the worker runs it; `every` None (a test's own job): its kind's default interval."""

    name: str
    kind: str  # "ingest" or "compute"
    description: str
    run: RunJob
    every: int | None = None
    lane: str = DEFAULT_LANE  # revwatch/schedule.py LANES: the worker runs each lane on threads of its own


def bind(catalogue: Mapping[str, JobSpec], runs: Mapping[str, RunJob]) -> dict[str, Job]:
    """The catalogue's jobs, in its order, each with its run function; a name on one side only is an error."""
    unbound = [name for name in catalogue if name not in runs]
    uncatalogued = [name for name in runs if name not in catalogue]
    if unbound or uncatalogued:
        raise RuntimeError("the job catalogue (revwatch/schedule.py) and collectors/jobs.py disagree:"
                           + (f" no run function for {', '.join(unbound)};" if unbound else "")
                           + (f" not in the catalogue: {', '.join(uncatalogued)}" if uncatalogued else ""))
    return {name: Job(name, spec.kind, spec.description, runs[name], spec.every, spec.lane)
            for name, spec in catalogue.items()}


def consumers() -> dict[str, list[str]]:
    by_table: dict[str, list[str]] = defaultdict(list)
    for r in (*ROLLUPS, *PAYMENT_ROLLUPS):
        for table in (r.source_table, *r.also_reads):
            by_table[table].append(r.name)
    for table in gateway_mismatches.READS:
        by_table[table].append(gateway_mismatches.JOB)
    for table in reconciliation.READS:
        by_table[table].append(reconciliation.JOB)
    return dict(by_table)


def site_hour_consumers() -> dict[str, list[str]]:
    """Billing tables -> the jobs that judge again the site-hours of exits a change makes stale."""
    return {table: [billing_classification.JOB] for table in billing_classification.TOUCHED}


def _ingest_billing(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    from revwatch.db import billing_url

    return billing_ingest.ingest(
        engine, billing_url(cfg), consumers(), timedelta(minutes=cfg.ingest_lookback_minutes), since=start,
        site_hour_consumers=site_hour_consumers(), chunk_rows=cfg.ingest_chunk_rows)


def _ingest_stripe(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    return stripe_ingest.run_job(engine, cfg, consumers(), since=start)


def _ingest_adyen(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    return adyen_ingest.run_job(engine, cfg, consumers())


def _ingest_bank(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    return bank_ingest.run_job(engine, cfg, consumers())


def _ingest_ledger(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    return ledger_ingest.run_job(engine, cfg, consumers())


def _ingest_fx(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    return fx_ingest.run_job(engine, cfg, consumers())


def _rollup_run(rollup) -> RunJob:
    return lambda engine, cfg, start, end: run_rollup(engine, rollup, start, end)


RUNS: dict[str, RunJob] = {
    billing_ingest.JOB: _ingest_billing,
    stripe_ingest.JOB: _ingest_stripe,
    adyen_ingest.JOB: _ingest_adyen,
    bank_ingest.JOB: _ingest_bank,
    ledger_ingest.JOB: _ingest_ledger,
    fx_ingest.JOB: _ingest_fx,
    **{r.name: _rollup_run(r) for r in (*ROLLUPS, *PAYMENT_ROLLUPS)},
    gateway_mismatches.JOB: lambda engine, cfg, start, end: gateway_mismatches.run_job(
        engine, start, end, timedelta(minutes=cfg.gateway_settle_minutes)),
    billing_classification.JOB: lambda engine, cfg, start, end: billing_classification.run_job(
        engine, start, end, timedelta(minutes=cfg.billing_settle_minutes)),
    reconciliation.JOB: lambda engine, cfg, start, end: reconciliation.run_job(
        engine, reconciliation.Policy.from_settings(cfg), start, end),
    work_queue.JOB: lambda engine, cfg, start, end: work_queue.run_job(
        engine, timedelta(hours=cfg.refund_pending_hours)),
}

JOBS: dict[str, Job] = bind(CATALOGUE, RUNS)
