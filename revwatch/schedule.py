"""The job catalogue: every scheduled job's name, kind, description and default interval, once.

Plumbing, because both sides need it: collectors/jobs.py binds each name to the function that runs
it (and fails at import when the two disagree), the worker schedules these intervals, and the
Health page and the /metrics exporter read them without importing collectors.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol

from revwatch.settings import Settings, SettingsError

Kind = Literal["ingest", "compute"]

# Default seconds between runs: the billing database every minute, the other sources (files,
# daily exports, an API with rate limits) every five, compute jobs every two; reconcile every five.
INGEST_SECONDS, COMPUTE_SECONDS = 300, 120
KIND_SECONDS: dict[str, int] = {"ingest": INGEST_SECONDS, "compute": COMPUTE_SECONDS}

# The weekly leadership report: a cron job of its own (not an interval), Mondays 07:00 in REPORT_TIMEZONE.
REPORT_JOB = "weekly-report"
REPORT_CRON: dict[str, str | int] = {"day_of_week": "mon", "hour": 7, "minute": 0}


# A "run now" request (the Health page) no worker took within this long is dropped: the page says so and the job
# may be asked for again, and a worker started hours later does not run what someone asked for yesterday.
RUN_REQUEST_EXPIRES = timedelta(minutes=15)
EXPIRED_REQUEST = "expired"  # job_run_requests.taken_by of a request dropped so


# The worker's lanes (issue 17): each runs its jobs on threads of its own, so a long run in one (the Stripe
# first load through its API, a full reconcile) never holds back another's. A source's ingest shares its
# lane with the computes over it, which need its data anyway (the gateway mismatches ride with Stripe's charges);
# the file sources are quick and share one (with the work queue's gathering); reconcile, over every source and minutes long, has its own.
LANES = ("billing", "stripe", "files", "reconcile")
DEFAULT_LANE = "default"  # a test's own job, and the weekly report


@dataclass(frozen=True)
class JobSpec:
    name: str
    kind: Kind
    description: str
    every: int  # default seconds between runs; WORKER_SCHEDULE overrides it
    inputs: tuple[str, ...] = ()  # the ingest jobs whose data a compute job reads: its figures wait for them
    lane: str = DEFAULT_LANE


class Scheduled(Protocol):
    """What `intervals` needs of a job: a catalogue entry, or a test's own job (`every` None: its kind's default)."""

    @property
    def kind(self) -> str: ...

    @property
    def every(self) -> int | None: ...


def _job(name: str, kind: Kind, description: str, lane: str, every: int | None = None,
         inputs: tuple[str, ...] = ()) -> JobSpec:
    return JobSpec(name, kind, description, KIND_SECONDS[kind] if every is None else every, inputs, lane)


def _rollup(name: str, source: str, target: str, inputs: tuple[str, ...] = ("ingest-billing",),
            lane: str = "billing") -> JobSpec:
    return _job(name, "compute", f"hourly rollup of {source} into {target}", lane, inputs=inputs)


INGESTS = ("ingest-billing", "ingest-stripe", "ingest-adyen", "ingest-bank", "ingest-ledger", "ingest-fx")


# In run order: `revwatch collect` and `worker --once` run them so, ingest before the compute over it.
CATALOGUE: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        _job("ingest-billing", "ingest", "sync the billing database (watermark + lookback)", "billing", every=60),
        _job("ingest-stripe", "ingest", "copy Stripe charges, refunds, disputes, balance transactions, payouts",
             "stripe"),
        _job("ingest-adyen", "ingest", "take in new Adyen settlement detail reports (each file once)", "files"),
        _job("ingest-bank", "ingest", "take in new bank statements, BAI2 or camt.053 (each file once)", "files"),
        _job("ingest-ledger", "ingest", "take in new general-ledger exports (a journal exported again replaces itself)",
             "files"),
        _job("ingest-fx", "ingest", "take in the exchange-rate file whenever its content changed", "files"),
        _rollup("rollup-sessions", "parking_sessions", "rollup_sessions"),
        _rollup("rollup-invoices", "invoices", "rollup_invoices"),
        _rollup("rollup-payments", "payment_attempts", "rollup_payments"),
        _rollup("rollup-invoice-outcomes", "invoices", "rollup_invoice_outcomes"),
        _rollup("rollup-refunds", "refunds", "rollup_refunds"),
        _rollup("rollup-disputes", "stripe_disputes", "rollup_disputes", inputs=("ingest-stripe",), lane="stripe"),
        _job("match-gateway-payments", "compute",
             "gateway charges billing did not record (failed/unknown attempt, or no attempt at all)", "stripe",
             inputs=("ingest-billing", "ingest-stripe", "ingest-adyen")),
        _job("classify-billing", "compute",
             "every closed session's invoices against its shadow-rated price (missing, duplicate, over/under-billed, tax...)",
             "billing", inputs=("ingest-billing",)),
        _job("reconcile", "compute",
             "match billing to gateways, payouts, bank and ledger (four stages); breaks and their workflow", "reconcile",
             every=300,
             inputs=INGESTS),
        # after the computes whose findings it gathers; a few seconds, so beside the quick file sources
        _job("work-queue", "compute",
             "gather what needs a person (mis-billed sessions, unrecorded charges, disputes, stuck refunds) into"
             " the work queue; open, reopen and clear its items", "files",
             inputs=("ingest-billing", "ingest-stripe", "ingest-adyen")),
    )
}


# Follow-ups: run by the worker right after a job of the catalogue succeeds (its after_run, wired by the CLI because
# the work is in metrics/, which collectors never import), not on an interval of their own; recorded in job_runs
# like any job, and judged on Health and /metrics against their leader's interval. Name -> the job it follows.
AUTO_EXPLAIN_JOB = "auto-explain"  # the rules AUTO_EXPLAIN_RULES enables (metrics/actions/auto_explain.py)
FOLLOW_UPS: dict[str, str] = {AUTO_EXPLAIN_JOB: "work-queue"}


def follow_ups(cfg: Settings) -> dict[str, str]:
    """The follow-ups `cfg` enables, each with the job it follows: auto-explain only when a rule is enabled."""
    return {name: after for name, after in FOLLOW_UPS.items() if name != AUTO_EXPLAIN_JOB or cfg.auto_explain_rules}


def judged_intervals(cfg: Settings) -> dict[str, int]:
    """What Health, `revwatch show health` and /metrics judge each job against: the catalogue's intervals
    (`intervals`), then each enabled follow-up at the interval of the job it follows. The worker schedules
    `intervals` alone."""
    every = intervals(cfg)
    return {**every, **{name: every[after] for name, after in follow_ups(cfg).items()}}


def intervals(cfg: Settings, jobs: Mapping[str, Scheduled] | None = None) -> dict[str, int]:
    """Seconds between runs of each job (the catalogue's by default): its default, `*=…` of
    WORKER_SCHEDULE, then `job=…`. A job name WORKER_SCHEDULE gives that `jobs` lacks is a
    SettingsError naming it: the worker refuses to start on it, as the exporter and Health do."""
    catalogue: Mapping[str, Scheduled] = CATALOGUE if jobs is None else jobs
    overrides = cfg.schedule_overrides
    unknown = [name for name in overrides if name != "*" and name not in catalogue]
    if unknown:
        raise SettingsError(f"Invalid configuration:\n  WORKER_SCHEDULE: unknown job(s) {', '.join(unknown)};"
                            f" known: {', '.join(catalogue)}")
    every = overrides.get("*")
    return {name: overrides.get(name, every or _default(job)) for name, job in catalogue.items()}


def _default(job: Scheduled) -> int:
    return job.every if job.every is not None else KIND_SECONDS[job.kind]
