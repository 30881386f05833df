"""The Prometheus exporter: one custom `prometheus_client` Collector reading the store at scrape time.

`register(registry, engine, cfg)` adds a `RevwatchCollector` to a registry (the worker serves it on
/metrics). Each scrape reads one snapshot: every query below runs in one read-only REPEATABLE READ
transaction (one consistent view; `now`, from revwatch.clock, the same for every query), under a statement timeout. The
snapshot is kept `cache_seconds` (default 15): scrapes inside that window, from any number of
Prometheus servers or threads, are served the same families without touching the database (a lock
makes concurrent scrapes wait for the one refresh in progress). A failed read is cached the same way.

Prometheus gets counts and sums only (DESIGN.md); every ratio (success rate, billing accuracy,
dispute ratio, match rate) is a recording rule over these. Labels are low-cardinality dimensions,
never ids (no site, session, invoice, item, break or run id ever becomes a label value).

Metrics (name{labels} type: meaning)
------------------------------------
Payments, from `rollup_payments` (all hours ever; region = `sites.region`, '(unknown)' for rollup
rows of an unknown site, as the pages do):
- revwatch_payment_attempts_total{gateway,method,region} counter: Σ attempts (any status).
- revwatch_payment_successes_total{gateway,method,region} counter: Σ attempts with status succeeded.
- revwatch_payment_failures_total{gateway,method,decline_class} counter: Σ attempts with status
  failed, per class of metrics/figures/declines.py (soft, hard, fraud, authentication, gateway_error,
  unclassified; an unknown code is unclassified); every class of every gateway and method is
  present (0 when none). `method` lets the SLO leave ACH out of its bad events as of its attempts.
Billing accuracy, from `billing_findings` whose `exited_at >= now - 24 h` (index on exited_at;
sessions are judged only after the billing settle delay, so the newest ~2 h are not in yet); per
currency ('(unknown)' when a finding has none); definitions of metrics/figures/billing_accuracy.py:
- revwatch_billing_sessions_judged{currency} gauge: billable findings (`billable` true).
- revwatch_billing_sessions_correct{currency} gauge: billable findings of class 'correct'.
- revwatch_billing_leakage_minor{currency} gauge: Σ max(expected - billed, 0), every finding in
  the window (`greatest(-difference_minor, 0)`: under-billed, never billed, tax too low).
- revwatch_billing_overcharge_minor{currency} gauge: Σ max(billed - expected, 0), every finding
  in the window (over-billed, duplicates, invoices not due, tax too high).
Reconciliation, from `recon_items` + `recon_breaks` with the Reconciliation page's definitions
(metrics/figures/reconciliation.py): an open break is an item with status 'break' whose workflow state is
open (the job opens a workflow row with every break; a break without one counts as open too), its
money at stake `abs(coalesce(break_amount_minor, amount_minor))`:
- revwatch_recon_open_breaks{stage,currency} gauge: open breaks.
- revwatch_recon_unreconciled_minor{stage,currency} gauge: Σ money at stake of open breaks.
- revwatch_recon_oldest_open_break_age_seconds{stage} gauge: now - min(occurred_at) of the stage's
  open breaks, 0 when it has none.
- revwatch_recon_payouts_missing_in_bank{gateway,currency} gauge: open S3 breaks of item_type
  'payout', break_type 'missing' (a payout no bank line carries).
- revwatch_recon_payouts_missing_in_bank_minor{gateway,currency} gauge: Σ their money at stake.
- revwatch_recon_items{stage,status} gauge: items per stage and status (matched, expected, break),
  every pair present (0 when none).
Stages are S1-S4, each present with every currency of `sites` (and any other currency an open break
has) at 0 when nothing is open.
Disputes and card payments of the current UTC calendar month (`hour >= date_trunc('month', now,
'UTC')`). network = card brand as stored; the networks are the card brands of card attempts in
rollup_payments (any time), each present in both families (0 when none). A dispute whose stored
brand is not one of them has no card network (the dispute of an ACH or wallet payment, stored
under Adyen's payment method, e.g. 'ach', 'applepay') and is left out, as are disputes without a
brand: the dispute ratio is a card network's monitoring programme.
- revwatch_disputes_month{network} gauge: Σ rollup_disputes.disputes opened this month.
- revwatch_card_payments_month{network} gauge: Σ rollup_payments.attempts, method card, status
  succeeded, this month.
Jobs, from `job_runs`, for every job of collectors.jobs.JOBS (rows of other job names ignored):
- revwatch_job_runs_total{job,outcome} counter: finished runs per outcome (succeeded, failed,
  skipped, abandoned); every pair present, 0 before a job's first run. Runs still 'running' count
  once they finish.
- revwatch_job_rows_read_total{job}, revwatch_job_rows_written_total{job} counters: Σ over those runs.
- revwatch_job_duration_seconds{job} histogram: finished_at - started_at of the runs that ended by
  themselves (succeeded, failed, skipped; an abandoned run's "duration" is only how long until a
  worker noticed), buckets 0.1, 0.5, 1, 5, 15, 60, 300, 900, +Inf (cumulative, with _sum and
  _count); zeros before a first run.
- revwatch_job_last_run_timestamp_seconds{job} gauge: started_at of the newest run (a run in
  progress included), unix seconds; no sample before the job's first run.
- revwatch_job_last_success_timestamp_seconds{job} gauge: finished_at of the newest succeeded run;
  no sample before the job's first success.
- revwatch_job_interval_seconds{job} gauge: the worker's configured interval
  (collectors.scheduler.intervals(cfg)); the family is left out while that module does not exist.
The exporter itself:
- revwatch_exporter_up gauge: 1 when the snapshot was read, 0 when the store could not be read
  (then no other family but the duration is served; the error is logged, never raised).
- revwatch_exporter_collect_duration_seconds gauge: how long the served snapshot took to read.

Cost, bounded per scrape (at most one refresh per `cache_seconds`)
----------------------------------------------------------------
Every read is a GROUP BY over a rollup or an indexed range, never over a raw event table:
one pass over `rollup_payments`, pre-aggregated by site before `sites` is joined, gives attempts,
successes, failures and this month's card payments (it grows with hours x dimensions, not with
transactions); billing reads 24 h of `billing_findings` through its exited_at
index; open breaks come through `recon_items` status 'break' (its partial and (status, stage)
indexes) joined to `recon_breaks` by key; disputes read one month of rollup_disputes through its
local_date index; `recon_items{stage,status}` is one GROUP BY over recon_items (the one read
that grows with the items themselves). `job_runs` (kept forever, a few rows a minute) is never
scanned again after the first scrape: `JobRunTally` aggregates it once in SQL and then keeps the
totals in memory, reading each scrape only the runs after a frontier (primary-key range) plus the
runs it saw still running (by key), the newest `settle_seconds` of runs re-read until they settle.

Series bound
------------
With gateways G = 2, methods M = 3, regions R, currencies C, stages S = 4, item statuses T = 3,
decline classes K = 6, networks N, jobs J = len(JOBS), outcomes O = 4, histogram buckets B = 9:

    attempts + successes            2 G M R        = 12 R
    failures                        G M K          = 36
    billing (4 families)            4 C
    open breaks, unreconciled       2 S C          =  8 C
    oldest open break age           S              =  4
    payouts missing (count, minor)  2 G C          =  4 C
    recon items                     S T            = 12
    disputes, card payments         2 N
    job runs                        J O            =  4 J
    rows read, rows written         2 J
    duration histogram              J (B + 2)      = 11 J
    last run, last success, interval 3 J
    up, collect duration            2

    max series = 12 R + 16 C + 2 N + 20 J + 54

R counts region label values (the sites' regions, plus '(unknown)' if a rollup row has an unknown
site), C currency label values (the sites' currencies, plus any other a finding or open break has). Demo world: R = 4, C = 2, N <= 6, J = 15 -> 48 + 32 + 12 + 300 + 54
= 446 series (`max_series(4, 2, 6)`).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString
from sqlalchemy import Connection, Engine, text

from metrics.figures import declines
from metrics.figures.reconciliation import _AT_STAKE, _BREAK_JOIN, _CLASS, GATEWAYS, STAGES, STATUSES
from revwatch import clock

log = logging.getLogger(__name__)

METHODS = ("card", "wallet", "ach")
OUTCOMES = ("succeeded", "failed", "skipped", "abandoned")
TIMED_OUTCOMES = ("succeeded", "failed", "skipped")  # runs that ended by themselves: the duration histogram
BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 5, 15, 60, 300, 900)  # and +Inf
UNKNOWN = "(unknown)"


def _job_names() -> tuple[str, ...]:
    # Imported here, not at module level: metrics/ never imports collectors/ at import time (the
    # layering of DESIGN.md); the exporter only needs the names, when a collector is built.
    from collectors.jobs import JOBS

    return tuple(JOBS)


def max_series(regions: int, currencies: int, networks: int, jobs: int | None = None) -> int:
    """The most series one scrape can carry (module docstring): 12 R + 16 C + 2 N + 20 J + 54."""
    g, m, k, s, t, o, b = len(GATEWAYS), len(METHODS), len(declines.CLASSES), len(STAGES), len(STATUSES), \
        len(OUTCOMES), len(BUCKETS) + 1
    j = len(_job_names()) if jobs is None else jobs
    payments = 2 * g * m * regions + g * m * k
    billing = 4 * currencies
    recon = 2 * s * currencies + s + 2 * g * currencies + s * t
    disputes = 2 * networks
    job_families = j * o + 2 * j + j * (b + 2) + 3 * j
    return payments + billing + recon + disputes + job_families + 2


# ---------------------------------------------------------------- job_runs, aggregated incrementally
@dataclass(frozen=True)
class _Agg:
    """Finished runs of one job and outcome: count, rows, timed runs, Σ seconds, bucket counts
    (cumulative, one per finite bound) and the newest finished_at (unix seconds)."""

    runs: int = 0
    rows_read: int = 0
    rows_written: int = 0
    timed: int = 0
    seconds: float = 0.0
    buckets: tuple[int, ...] = (0,) * len(BUCKETS)
    last_finished: float | None = None

    def __add__(self, other: _Agg) -> _Agg:
        last = [x for x in (self.last_finished, other.last_finished) if x is not None]
        return _Agg(self.runs + other.runs, self.rows_read + other.rows_read, self.rows_written + other.rows_written,
                    self.timed + other.timed, self.seconds + other.seconds,
                    tuple(a + b for a, b in zip(self.buckets, other.buckets, strict=True)), max(last) if last else None)


@dataclass(frozen=True)
class JobTotals:
    """What the job families show: per (job, outcome) `_Agg`, per job the newest started_at."""

    by_outcome: Mapping[tuple[str, str], _Agg] = field(default_factory=dict)
    last_started: Mapping[str, float] = field(default_factory=dict)

    def merged(self, other: JobTotals) -> JobTotals:
        by = dict(self.by_outcome)
        for key, agg in other.by_outcome.items():
            by[key] = by.get(key, _Agg()) + agg
        last = dict(self.last_started)
        for job, ts in other.last_started.items():
            last[job] = max(ts, last.get(job, ts))
        return JobTotals(by, last)


FOLD_TIMEOUT_MS = 300_000
_BUCKET_COLUMNS = ", ".join(f"count(*) FILTER (WHERE d.secs <= {le})" for le in BUCKETS)
_RUN_COLUMNS = ("run_id, job, outcome, started_at, finished_at, rows_read, rows_written,"
                " extract(epoch FROM finished_at - started_at)::float8 AS secs")
# The runs after the frontier (primary-key range) and the pending ones (by key). `upto`, the new
# frontier: just before the first run of the last `settle` seconds (found through the (job,
# started_at) index), else the newest run there is.
_JOB_RUNS_DELTA = f"""
    WITH d AS (
        SELECT {_RUN_COLUMNS} FROM job_runs WHERE run_id > :frontier
        UNION ALL
        SELECT {_RUN_COLUMNS} FROM job_runs WHERE run_id = ANY(CAST(:pending AS bigint[])) AND run_id <= :frontier
    ), lim AS (
        SELECT coalesce((SELECT min(run_id) - 1 FROM job_runs
                         WHERE job = ANY(CAST(:jobs AS text[])) AND started_at >= CAST(:now AS timestamptz) - make_interval(secs => :settle)
                           AND run_id > :frontier),
                        (SELECT max(run_id) FROM job_runs), :frontier) AS upto
    )
    SELECT d.run_id <= lim.upto AS settled, d.job, d.outcome, count(*) AS runs,
           coalesce(sum(d.rows_read), 0)::bigint, coalesce(sum(d.rows_written), 0)::bigint,
           count(d.secs), coalesce(sum(d.secs), 0)::float8, {_BUCKET_COLUMNS},
           extract(epoch FROM max(d.started_at))::float8, extract(epoch FROM max(d.finished_at))::float8,
           CASE WHEN d.outcome = 'running' THEN d.run_id END AS running_id, lim.upto
    FROM d CROSS JOIN lim
    WHERE d.job = ANY(CAST(:jobs AS text[]))
    GROUP BY 1, 2, 3, running_id, lim.upto"""  # a running run is a group of its own (few): no array_agg


@dataclass(frozen=True)
class JobRunTally:
    """Totals of `job_runs` kept in memory, so a scrape reads only what changed.

    `settled` holds every run with run_id <= `frontier` except `pending` (runs that were still
    running when passed; their rows are re-read by key until they finish, then folded once). Runs
    after the frontier are re-read each scrape and counted for that scrape only; the frontier moves
    past them once they started more than `settle_seconds` ago (a run's row is committed the moment
    it starts, so by then no smaller run_id can still appear). The first scrape folds the whole
    table in one GROUP BY; a table emptied and restarted (max(run_id) below the frontier) is folded
    again from scratch. Immutable: a refresh that fails keeps the previous tally."""

    jobs: tuple[str, ...]
    settle_seconds: float = 300.0
    frontier: int = 0
    pending: frozenset[int] = frozenset()
    settled: JobTotals = field(default_factory=JobTotals)

    def advance(self, conn: Connection, now: datetime) -> tuple[JobTotals, JobRunTally]:
        """(totals to show at `now`, the tally to keep), reading only runs after the frontier or pending."""
        tally = self
        top = conn.execute(text("SELECT max(run_id) FROM job_runs")).scalar()
        if tally.frontier and (top is None or top < tally.frontier):
            tally = JobRunTally(self.jobs, self.settle_seconds)
        if tally.frontier == 0:  # the one full read of the table (~0.1 s per 100 k runs) may outlast a scrape's timeout
            conn.execute(text(f"SET LOCAL statement_timeout = {FOLD_TIMEOUT_MS}"))
        rows = conn.execute(text(_JOB_RUNS_DELTA), {
            "frontier": tally.frontier, "pending": sorted(tally.pending), "jobs": list(tally.jobs),
            "settle": float(tally.settle_seconds), "now": now}).all()
        folded: defaultdict[tuple[str, str], _Agg] = defaultdict(_Agg)
        transient: defaultdict[tuple[str, str], _Agg] = defaultdict(_Agg)
        started: dict[str, float] = {}
        pending: set[int] = set()
        upto = tally.frontier
        for row in rows:
            settled, job, outcome, runs, rows_read, rows_written, timed, seconds = row[:8]
            bucket_counts = tuple(int(n) for n in row[8:8 + len(BUCKETS)])
            last_started, last_finished, running_id, row_upto = row[8 + len(BUCKETS):]
            upto = max(upto, int(row_upto))
            started[job] = max(last_started, started.get(job, last_started))
            if outcome == "running":
                if settled:
                    pending.add(int(running_id))
                continue
            if outcome not in OUTCOMES:
                continue  # a final outcome outside the label domain: only its start time shows
            agg = _Agg(int(runs), int(rows_read), int(rows_written), int(timed), float(seconds), bucket_counts,
                       last_finished)
            target = folded if settled else transient
            target[(job, outcome)] = target[(job, outcome)] + agg
        # started_at never changes, so every start seen can be kept, settled or not
        settled_totals = tally.settled.merged(JobTotals(dict(folded), started))
        kept = replace(tally, frontier=upto, pending=frozenset(pending), settled=settled_totals)
        return settled_totals.merged(JobTotals(dict(transient), {})), kept


# ---------------------------------------------------------------- the other reads
# One pass over rollup_payments, pre-aggregated per site before `sites` is joined. The card brands
# of card attempts come along (the card networks of the dispute families), and whether a row is a
# successful card payment of the current UTC month (revwatch_card_payments_month): the pass reads
# every row anyway, so the month costs no second read.
_PAYMENTS = """
    SELECT r.gateway, r.payment_method_type, coalesce(s.region, :unknown) AS region, r.status, r.code, r.brand,
           sum(r.n)::bigint, coalesce(sum(r.n_month), 0)::bigint
    FROM (SELECT site_id, gateway, payment_method_type, status,
                 CASE WHEN status = 'failed' THEN failure_code END AS code,
                 CASE WHEN payment_method_type = 'card' THEN card_brand ELSE '' END AS brand,
                 sum(attempts) AS n,
                 sum(attempts) FILTER (WHERE hour >= date_trunc('month', CAST(:now AS timestamptz), 'UTC')) AS n_month
          FROM rollup_payments GROUP BY 1, 2, 3, 4, 5, 6) r
    LEFT JOIN sites s ON s.site_id = r.site_id
    GROUP BY 1, 2, 3, 4, 5, 6"""

_SITE_CURRENCIES = "SELECT DISTINCT currency FROM sites WHERE currency IS NOT NULL"

# metrics/figures/billing_accuracy.py: billable / correct counts, leakage and overcharge as the negative
# and positive parts of difference_minor (billed - expected).
_BILLING = """
    SELECT coalesce(r.currency, :unknown) AS currency,
           count(*) FILTER (WHERE r.billable) AS judged,
           count(*) FILTER (WHERE r.billable AND r.class = 'correct') AS correct,
           coalesce(sum(greatest(-r.difference_minor, 0)), 0)::bigint AS leakage_minor,
           coalesce(sum(greatest(r.difference_minor, 0)), 0)::bigint AS overcharge_minor
    FROM billing_findings r
    WHERE r.exited_at >= CAST(:now AS timestamptz) - interval '24 hours'
    GROUP BY 1"""

_OPEN_BREAKS = f"""
    SELECT i.stage, i.currency, i.item_type, i.break_type, coalesce(i.gateway, :unknown) AS gateway,
           count(*) AS breaks, coalesce(sum({_AT_STAKE}), 0)::bigint AS at_stake_minor,
           greatest(extract(epoch FROM CAST(:now AS timestamptz) - min(i.occurred_at)), 0)::float8 AS oldest_seconds
    FROM recon_items i {_BREAK_JOIN}
    WHERE i.status = 'break' AND {_CLASS} = 'open'
    GROUP BY 1, 2, 3, 4, 5"""

_RECON_ITEMS = "SELECT stage, status, count(*) FROM recon_items GROUP BY 1, 2"

# The current UTC month; local_date is within a day of the UTC date, so `local_date >= first UTC
# day - 1` lets the local_date index bound the read to the month before `hour` decides.
_MONTH = """r.local_date >= (date_trunc('month', CAST(:now AS timestamptz), 'UTC') AT TIME ZONE 'UTC')::date - 1
            AND r.hour >= date_trunc('month', CAST(:now AS timestamptz), 'UTC')"""
_DISPUTES_MONTH = f"""
    SELECT r.card_brand, sum(r.disputes)::bigint FROM rollup_disputes r
    WHERE {_MONTH} AND r.card_brand <> '' GROUP BY 1"""


def _scheduler_intervals(cfg: Any) -> dict[str, int] | None:
    """collectors.scheduler.intervals(cfg), or None while that module is not there."""
    if importlib.util.find_spec("collectors.scheduler") is None:
        return None
    scheduler = importlib.import_module("collectors.scheduler")
    return {str(job): int(seconds) for job, seconds in scheduler.intervals(cfg).items()}


def _family_shapes() -> list[Metric]:
    """Every family with its type and labels, without samples: describe(), and each refresh fills a fresh set."""
    counter, gauge = CounterMetricFamily, GaugeMetricFamily
    return [
        counter("revwatch_payment_attempts_total", "Payment attempts, any status (rollup_payments).",
                labels=["gateway", "method", "region"]),
        counter("revwatch_payment_successes_total", "Payment attempts with status succeeded.",
                labels=["gateway", "method", "region"]),
        counter("revwatch_payment_failures_total", "Payment attempts with status failed, per decline class.",
                labels=["gateway", "method", "decline_class"]),
        gauge("revwatch_billing_sessions_judged", "Billable sessions judged, exited in the last 24 h.",
              labels=["currency"]),
        gauge("revwatch_billing_sessions_correct", "Billable sessions billed correctly, exited in the last 24 h.",
              labels=["currency"]),
        gauge("revwatch_billing_leakage_minor", "Under-billing (expected - billed where positive), minor units, "
              "sessions exited in the last 24 h.", labels=["currency"]),
        gauge("revwatch_billing_overcharge_minor", "Over-billing (billed - expected where positive), minor units, "
              "sessions exited in the last 24 h.", labels=["currency"]),
        gauge("revwatch_recon_open_breaks", "Open reconciliation breaks.", labels=["stage", "currency"]),
        gauge("revwatch_recon_unreconciled_minor", "Money at stake in open breaks, minor units.",
              labels=["stage", "currency"]),
        gauge("revwatch_recon_oldest_open_break_age_seconds", "Age of the oldest open break (0 when none).",
              labels=["stage"]),
        gauge("revwatch_recon_payouts_missing_in_bank", "Open S3 breaks: payouts no bank line carries.",
              labels=["gateway", "currency"]),
        gauge("revwatch_recon_payouts_missing_in_bank_minor", "Money of payouts missing in the bank, minor units.",
              labels=["gateway", "currency"]),
        gauge("revwatch_recon_items", "Reconciliation items per stage and status.", labels=["stage", "status"]),
        gauge("revwatch_disputes_month", "Disputes opened in the current UTC month, per card network.",
              labels=["network"]),
        gauge("revwatch_card_payments_month", "Successful card payments in the current UTC month, per card network.",
              labels=["network"]),
        counter("revwatch_job_runs_total", "Finished job runs per outcome.", labels=["job", "outcome"]),
        counter("revwatch_job_rows_read_total", "Rows read by finished job runs.", labels=["job"]),
        counter("revwatch_job_rows_written_total", "Rows written by finished job runs.", labels=["job"]),
        HistogramMetricFamily("revwatch_job_duration_seconds", "Duration of finished job runs.", labels=["job"]),
        gauge("revwatch_job_last_run_timestamp_seconds", "Start of the newest run (unix seconds).", labels=["job"]),
        gauge("revwatch_job_last_success_timestamp_seconds", "End of the newest succeeded run (unix seconds).",
              labels=["job"]),
        gauge("revwatch_job_interval_seconds", "The worker's configured interval per job.", labels=["job"]),
        gauge("revwatch_exporter_up", "1 when the exporter could read the store, else 0."),
        gauge("revwatch_exporter_collect_duration_seconds", "Seconds the served snapshot took to read."),
    ]


def _samples(fam: Mapping[str, Metric], name: str) -> CounterMetricFamily | GaugeMetricFamily:
    """The counter or gauge family `name` of `fam`, to add samples to."""
    family = fam[name]
    if not isinstance(family, CounterMetricFamily | GaugeMetricFamily):
        raise TypeError(f"{name} is a {type(family).__name__}, not a counter or gauge family")
    return family


def _histogram(fam: Mapping[str, Metric], name: str) -> HistogramMetricFamily:
    """The histogram family `name` of `fam`, to add samples to."""
    family = fam[name]
    if not isinstance(family, HistogramMetricFamily):
        raise TypeError(f"{name} is a {type(family).__name__}, not a histogram family")
    return family


@dataclass(frozen=True)
class Snapshot:
    families: tuple[Metric, ...]
    up: bool
    duration: float
    taken: float  # monotonic clock


class RevwatchCollector(Collector):
    """Reads the store into Prometheus families at scrape time, one snapshot per `cache_seconds`.

    `jobs` defaults to the names of collectors.jobs.JOBS; `settle_seconds` is how long the newest
    job runs are re-read before the tally folds them; `statement_timeout_ms` bounds every read."""

    def __init__(self, engine: Engine, cfg: Any, cache_seconds: float = 15, *, jobs: Sequence[str] | None = None,
                 settle_seconds: float = 300, statement_timeout_ms: int = 10_000) -> None:
        self.engine = engine
        self.cfg = cfg
        self.cache_seconds = float(cache_seconds)
        self.jobs = tuple(jobs) if jobs is not None else _job_names()
        self.statement_timeout_ms = int(statement_timeout_ms)
        self._tally = JobRunTally(self.jobs, float(settle_seconds))
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    # ------------------------------------------------------------ Collector protocol
    def describe(self) -> Iterable[Metric]:
        """Names and types only, so registering never touches the database."""
        return _family_shapes()

    def collect(self) -> Iterable[Metric]:
        return self.snapshot().families

    def snapshot(self) -> Snapshot:
        """The cached snapshot, or a new one when it is older than `cache_seconds`."""
        with self._lock:
            snap = self._snapshot
            if snap is None or time.monotonic() - snap.taken >= self.cache_seconds:
                snap = self._snapshot = self._refresh()
            return snap

    # ------------------------------------------------------------ reading
    def _refresh(self) -> Snapshot:
        started = time.monotonic()
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                with conn.begin():
                    conn.execute(text(f"SET LOCAL statement_timeout = {self.statement_timeout_ms}"))
                    families, tally = self._read(conn)
        except Exception:  # unreachable store, timeout, anything: a scrape never raises
            log.exception("revwatch exporter: reading the store failed; serving revwatch_exporter_up 0")
            return self._finish([], up=False, started=started)
        self._tally = tally  # only a complete read moves the job tally on
        return self._finish(families, up=True, started=started)

    def _finish(self, families: list[Metric], up: bool, started: float) -> Snapshot:
        duration = time.monotonic() - started
        families = [*families,
                    GaugeMetricFamily("revwatch_exporter_up", "1 when the exporter could read the store, else 0.",
                                      value=1 if up else 0),
                    GaugeMetricFamily("revwatch_exporter_collect_duration_seconds",
                                      "Seconds the served snapshot took to read.", value=duration)]
        return Snapshot(tuple(families), up, duration, time.monotonic())

    def _read(self, conn: Connection) -> tuple[list[Metric], JobRunTally]:
        shapes = {m.name: m for m in _family_shapes()}
        fam = {name: m for name, m in shapes.items() if not name.startswith("revwatch_exporter_")}
        now = clock.now()
        p = {"unknown": UNKNOWN, "now": now}

        # payments: attempts and successes per (gateway, method, region); failures per (gateway, method, class)
        attempts: dict[tuple[str, str, str], int] = defaultdict(int)
        successes: dict[tuple[str, str, str], int] = defaultdict(int)
        failures: dict[tuple[str, str, str], int] = {
            (g, m, c): 0 for g in GATEWAYS for m in METHODS for c in declines.CLASSES}
        networks: set[str] = set()
        card_payments: dict[str, int] = defaultdict(int)
        for gateway, method, region, status, code, brand, n, n_month in conn.execute(text(_PAYMENTS), p):
            if brand:  # a card attempt's brand
                networks.add(brand)
                card_payments[brand] += n_month if status == "succeeded" else 0
            key = (gateway, method, region)
            attempts[key] += n
            successes[key] += n if status == "succeeded" else 0
            if status == "failed":
                for c in declines.CLASSES:
                    failures.setdefault((gateway, method, c), 0)
                cls = declines.classify(gateway, code).decline_class
                failures[(gateway, method, cls)] += n
        for key in sorted(attempts):
            _samples(fam, "revwatch_payment_attempts").add_metric(list(key), attempts[key])
            _samples(fam, "revwatch_payment_successes").add_metric(list(key), successes[key])
        for key in sorted(failures):
            _samples(fam, "revwatch_payment_failures").add_metric(list(key), failures[key])

        currencies = {c for (c,) in conn.execute(text(_SITE_CURRENCIES))}

        # billing accuracy, trailing 24 h of exits
        billing = dict.fromkeys(currencies, (0, 0, 0, 0))
        for currency, judged, correct, leakage, overcharge in conn.execute(text(_BILLING), p):
            billing[currency] = (judged, correct, leakage, overcharge)
        for currency in sorted(billing):
            judged, correct, leakage, overcharge = billing[currency]
            _samples(fam, "revwatch_billing_sessions_judged").add_metric([currency], judged)
            _samples(fam, "revwatch_billing_sessions_correct").add_metric([currency], correct)
            _samples(fam, "revwatch_billing_leakage_minor").add_metric([currency], leakage)
            _samples(fam, "revwatch_billing_overcharge_minor").add_metric([currency], overcharge)

        # reconciliation: open breaks, money at stake, age, payouts missing in the bank
        open_rows = conn.execute(text(_OPEN_BREAKS), p).all()
        recon_currencies = currencies | {r.currency for r in open_rows}
        breaks = {(s, c): [0, 0] for s in STAGES for c in recon_currencies}
        oldest = dict.fromkeys(STAGES, 0.0)
        missing = {(g, c): [0, 0] for g in GATEWAYS for c in recon_currencies}
        for stage, currency, item_type, break_type, gateway, n, at_stake, age in open_rows:
            cell = breaks.setdefault((stage, currency), [0, 0])
            cell[0] += n
            cell[1] += at_stake
            oldest[stage] = max(oldest.get(stage, 0.0), age)
            if stage == "S3" and item_type == "payout" and break_type == "missing":
                cell = missing.setdefault((gateway, currency), [0, 0])
                cell[0] += n
                cell[1] += at_stake
        for cell_key in sorted(breaks):
            _samples(fam, "revwatch_recon_open_breaks").add_metric(list(cell_key), breaks[cell_key][0])
            _samples(fam, "revwatch_recon_unreconciled_minor").add_metric(list(cell_key), breaks[cell_key][1])
        for stage in sorted(oldest):
            _samples(fam, "revwatch_recon_oldest_open_break_age_seconds").add_metric([stage], oldest[stage])
        for cell_key in sorted(missing):
            _samples(fam, "revwatch_recon_payouts_missing_in_bank").add_metric(list(cell_key), missing[cell_key][0])
            _samples(fam, "revwatch_recon_payouts_missing_in_bank_minor").add_metric(list(cell_key), missing[cell_key][1])
        items = {(s, t): 0 for s in STAGES for t in STATUSES}
        for stage, status, n in conn.execute(text(_RECON_ITEMS)):
            items[(stage, status)] = items.get((stage, status), 0) + n
        for item_key in sorted(items):
            _samples(fam, "revwatch_recon_items").add_metric(list(item_key), items[item_key])

        # disputes and successful card payments of the current UTC month, per network
        disputes: dict[str, int] = dict(conn.execute(text(_DISPUTES_MONTH), p).all())
        for network in sorted(networks):
            _samples(fam, "revwatch_disputes_month").add_metric([network], disputes.get(network, 0))
            _samples(fam, "revwatch_card_payments_month").add_metric([network], card_payments.get(network, 0))

        # jobs
        totals, tally = self._tally.advance(conn, now)
        self._add_jobs(fam, totals)
        try:
            intervals = _scheduler_intervals(self.cfg)
        except (Exception, SystemExit):  # SettingsError is a SystemExit: a bad WORKER_SCHEDULE
            log.exception("revwatch exporter: collectors.scheduler.intervals(cfg) failed; interval family left out")
            intervals = None
        if intervals is None:
            del fam["revwatch_job_interval_seconds"]
        else:
            for job in self.jobs:
                if job in intervals:
                    _samples(fam, "revwatch_job_interval_seconds").add_metric([job], intervals[job])
        return list(fam.values()), tally

    def _add_jobs(self, fam: dict[str, Metric], totals: JobTotals) -> None:
        bounds = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]
        for job in self.jobs:
            per_job, timed = _Agg(), _Agg()
            for outcome in OUTCOMES:
                agg = totals.by_outcome.get((job, outcome), _Agg())
                per_job = per_job + agg
                timed = timed + agg if outcome in TIMED_OUTCOMES else timed
                _samples(fam, "revwatch_job_runs").add_metric([job, outcome], agg.runs)
            _samples(fam, "revwatch_job_rows_read").add_metric([job], per_job.rows_read)
            _samples(fam, "revwatch_job_rows_written").add_metric([job], per_job.rows_written)
            counts = [*timed.buckets, timed.timed]
            _histogram(fam, "revwatch_job_duration_seconds").add_metric([job], list(zip(bounds, counts, strict=True)), timed.seconds)
            if job in totals.last_started:
                _samples(fam, "revwatch_job_last_run_timestamp_seconds").add_metric([job], totals.last_started[job])
            success = totals.by_outcome.get((job, "succeeded"))
            if success is not None and success.last_finished is not None:
                _samples(fam, "revwatch_job_last_success_timestamp_seconds").add_metric([job], success.last_finished)


def register(registry: CollectorRegistry, engine: Engine, cfg: Any) -> RevwatchCollector:
    """Build the exporter for `engine` and register it on `registry` (the worker's /metrics)."""
    collector = RevwatchCollector(engine, cfg, cache_seconds=getattr(cfg, "metrics_cache_seconds", 15))
    registry.register(collector)
    return collector
