"""The job catalogue: every job `revwatch collect` and the scheduler can run, by name."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from collectors.compute import billing_classification, gateway_mismatches, reconciliation
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
from revwatch.settings import Settings


@dataclass(frozen=True)
class Job:
    name: str
    kind: str  # "ingest" or "compute"
    description: str
    run: Callable[[Engine, Settings, datetime | None, datetime | None], RunStats]


def consumers() -> dict[str, list[str]]:
    by_table: dict[str, list[str]] = defaultdict(list)
    for r in (*ROLLUPS, *PAYMENT_ROLLUPS):
        for table in (r.source_table, *r.also_reads):
            by_table[table].append(r.name)
    for table in gateway_mismatches.READS:
        by_table[table].append(gateway_mismatches.JOB)
    for table in billing_classification.READS:
        by_table[table].append(billing_classification.JOB)
    for table in reconciliation.READS:
        by_table[table].append(reconciliation.JOB)
    return dict(by_table)


def _ingest_billing(engine: Engine, cfg: Settings, start: datetime | None, end: datetime | None) -> RunStats:
    from revwatch.db import billing_url

    return billing_ingest.ingest(
        engine, billing_url(cfg), consumers(), timedelta(minutes=cfg.ingest_lookback_minutes), since=start
    )


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


def _rollup_job(rollup) -> Job:
    return Job(
        rollup.name, "compute", f"hourly rollup of {rollup.source_table} into {rollup.target}",
        lambda engine, cfg, start, end: run_rollup(engine, rollup, start, end),
    )


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(billing_ingest.JOB, "ingest", "sync the billing database (watermark + lookback)", _ingest_billing),
        Job(stripe_ingest.JOB, "ingest", "copy Stripe charges, refunds, disputes, balance transactions, payouts", _ingest_stripe),
        Job(adyen_ingest.JOB, "ingest", "take in new Adyen settlement detail reports (each file once)", _ingest_adyen),
        Job(bank_ingest.JOB, "ingest", "take in new bank statements, BAI2 or camt.053 (each file once)", _ingest_bank),
        Job(ledger_ingest.JOB, "ingest", "take in new general-ledger exports (a journal exported again replaces itself)",
            _ingest_ledger),
        Job(fx_ingest.JOB, "ingest", "take in the exchange-rate file whenever its content changed", _ingest_fx),
        *(_rollup_job(r) for r in ROLLUPS),
        *(_rollup_job(r) for r in PAYMENT_ROLLUPS),
        Job(gateway_mismatches.JOB, "compute",
            "gateway charges billing did not record (failed/unknown attempt, or no attempt at all)",
            lambda engine, cfg, start, end: gateway_mismatches.run_job(
                engine, start, end, timedelta(minutes=cfg.gateway_settle_minutes))),
        Job(billing_classification.JOB, "compute",
            "every closed session's invoices against its shadow-rated price (missing, duplicate, over/under-billed, tax...)",
            lambda engine, cfg, start, end: billing_classification.run_job(
                engine, start, end, timedelta(minutes=cfg.billing_settle_minutes))),
        Job(reconciliation.JOB, "compute",
            "match billing to gateways, payouts, bank and ledger (four stages); breaks and their workflow",
            lambda engine, cfg, start, end: reconciliation.run_job(
                engine, reconciliation.Policy.from_settings(cfg), start, end)),
    )
}
