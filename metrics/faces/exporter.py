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
Billing accuracy, of the sessions that exited since the start of the UTC hour 24 h ago (findings and
the counts of correct sessions, by hour; sessions are judged only after the billing settle delay, so
the newest ~2 h are not in yet); per
currency ('(unknown)' when a finding has none); definitions of metrics/figures/billing_accuracy.py:
- revwatch_billing_sessions_judged{currency} gauge: billable findings (`billable` true).
- revwatch_billing_sessions_correct{currency} gauge: billable findings of class 'correct'.
- revwatch_billing_leakage_minor{currency} gauge: Σ max(expected - billed, 0), every finding in
  the window (`greatest(-difference_minor, 0)`: under-billed, never billed, tax too low).
- revwatch_billing_overcharge_minor{currency} gauge: Σ max(billed - expected, 0), every finding
  in the window (over-billed, duplicates, invoices not due, tax too high).
Reconciliation, from `recon_items` + `recon_breaks` with the Reconciliation page's definitions
(metrics/figures/reconciliation: open_break_totals, payouts_missing_in_bank, item_counts): an open
break is an item with status 'break' whose workflow state is open (the job opens a workflow row
with every break; a break without one counts as open too), its money at stake
`abs(coalesce(break_amount_minor, amount_minor))`:
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
Signed-off months (month_signoffs; follows `reconciliation`):
- revwatch_close_adjustments{month} gauge: how many figures of the signed-off month (YYYY-MM) differ now from
  the snapshot its newest sign-off froze (metrics/figures/reconciliation/close_signoff.py after_close, the
  figure the Month close view, `revwatch show close --by adjustments` and the weekly report list); 0 when none.
The work queue (metrics/figures/work_queue.py `queue`, the figure the Work queue page and `revwatch show queue` list),
read live each refresh: an item's due time and age move with the clock. Every work type (revwatch/work_items.py)
is present, 0 when it has no open item:
- revwatch_work_items_open{work_type,state} gauge: open items per state (unassigned, assigned, awaiting_approval:
  a break's four-eyes request).
- revwatch_work_items_overdue{work_type} gauge: open items past the due time of their service level (WORK_SLAS).
- revwatch_work_items_oldest_age_seconds{work_type} gauge: now - when the oldest open item was found; 0 when none.
- revwatch_work_customer_paging gauge: 1 when WORK_PAGE_CUSTOMER_OVERDUE is set (the CustomerImpactOverdue alert
  pages only then), else 0.
- revwatch_work_resolve_seconds{work_type} gauge histogram: time from found to first resolution of the items first
  resolved in the last 28 days (metrics/figures/work_history.py, the page's and the report's figure), buckets 1 h,
  4 h, 1 d, 2 d, 5 d, 10 d, 30 d, +Inf, with _gcount and _gsum: a window, not a counter, so
  `histogram_quantile(0.5, revwatch_work_resolve_seconds_bucket)` directly, never over rate().
Jobs, from `job_runs`, for every job of the job catalogue (revwatch/schedule.py; rows of other job names ignored):
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
  (revwatch.schedule.intervals(cfg)); the family is left out while WORKER_SCHEDULE names an unknown job.
Figures computed yet (metrics/faces/exporter_figures.py):
- revwatch_figure_computed{topic} gauge: 1 when the readiness topic's figures are known
  (metrics/figures/readiness.py TOPIC_JOBS), 0 while they are not computed yet. The payment, billing,
  reconciliation and dispute families of a topic not computed yet are left out (no series, never zeros);
  the job, gateway-object, worker and audit families are always served.
The exporter itself:
- revwatch_exporter_up gauge: 1 when the snapshot was read, 0 when the store could not be read
  (then no other family but the duration is served; one log line, never raised). A section whose query
  runs into the statement timeout is left out of that scrape (one log line: "… not exported this scrape:
  statement timeout"); the others are served, up stays 1.
- revwatch_exporter_collect_duration_seconds gauge: how long the served snapshot took to read.

Cost, bounded per scrape (at most one refresh per `cache_seconds`)
----------------------------------------------------------------
Every read is a GROUP BY over a rollup or an indexed range, never over a raw event table:
one pass over `rollup_payments`, pre-aggregated by site before `sites` is joined, gives attempts,
successes, failures and this month's card payments (it grows with hours x dimensions, not with
transactions); billing reads 24 h of `billing_findings` and `billing_correct` through their
(site_id, hour) and hour indexes; open breaks come through `recon_items` status 'break' (its partial and (status, stage)
indexes) joined to `recon_breaks` by key; disputes read one month of rollup_disputes through its
local_date index; `recon_items{stage,status}` is one GROUP BY over recon_items (the one read
that grows with the items themselves). `job_runs` (kept forever, a few rows a minute) is never
scanned again after the first scrape: `JobRunTally` aggregates it once in SQL and then keeps the
totals in memory, reading each scrape only the runs after a frontier (primary-key range) plus the
runs it saw still running (by key), the newest `settle_seconds` of runs re-read until they settle.

Series bound
------------
With gateways G = 2, methods M = 3, regions R, currencies C, stages S = 4, item statuses T = 3,
decline classes K = 6, networks N, jobs J = len(JOBS) + len(FOLLOW_UPS) (at most: a follow-up is a job once
configured), outcomes O = 5, histogram buckets B = 9,
gateway object types read (Stripe's) X = 5, work types W = 6, resolve buckets B_r = 8, readiness topics F = len(TOPIC_JOBS) = 11:

    attempts + successes            2 G M R        = 12 R
    failures                        G M K          = 36
    billing (4 families)            4 C
    open breaks, unreconciled       2 S C          =  8 C
    oldest open break age           S              =  4
    payouts missing (count, minor)  2 G C          =  4 C
    recon items                     S T            = 12
    disputes, card payments         2 N
    close adjustments               M_s (signed-off months)
    work queue (open by state, overdue, oldest)  5 W + 1 = 31
    time to resolve (gauge histogram)  W (B_r + 2)  = 60
    job runs                        J O            =  5 J
    rows read, rows written         2 J
    duration histogram              J (B + 2)      = 11 J
    last run, last success, interval 3 J
    gateway objects refused         X              =  5
    worker's newest job start       1
    audit head (seq, digest)        2
    figure computed                 F              = 11
    up, collect duration            2

    max series = 12 R + 16 C + 2 N + 21 J + M_s + 164

R counts region label values (the sites' regions, plus '(unknown)' if a rollup row has an unknown
site), C currency label values (the sites' currencies, plus any other a finding or open break has). Demo world: R = 4, C = 2, N <= 6, J = 17 -> 48 + 32 + 12 + 357 + 164
= 613 series (`max_series(4, 2, 6)`), and one a signed-off month.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from metrics.catalogue.prometheus import FAMILIES, exporter_help
from metrics.faces import exporter_snapshot
from metrics.faces.exporter_figures import BILLING_WINDOW, METHODS, UNKNOWN, Timeouts, guarded, read_figures, samples
from metrics.figures import declines
from metrics.figures.health.jobs import worker_activity
from metrics.figures.job_runs import BUCKETS, DONE, OUTCOMES, TIMED_OUTCOMES, JobRunTally, JobTotals, RunAgg
from metrics.figures.query import snapshot
from metrics.figures.readiness import TOPIC_JOBS
from metrics.figures.reconciliation import GATEWAYS, STAGES, STATUSES
from metrics.figures.work_history import RESOLVE_BUCKETS
from metrics.figures.work_queue import QUEUE_STATES
from revwatch import clock, schedule
from revwatch.work_items import WORK_TYPES

log = logging.getLogger(__name__)

__all__ = ["BILLING_WINDOW", "BUCKETS", "METHODS", "OUTCOMES", "TIMED_OUTCOMES", "UNKNOWN", "RevwatchCollector",
           "max_series", "register"]
GATEWAY_OBJECTS = 5  # object types a gateway ingest reads and records access to (Stripe: charges … payouts)
JOB_FAMILIES = ("revwatch_job_runs", "revwatch_job_rows_read", "revwatch_job_rows_written", "revwatch_job_duration_seconds",
                "revwatch_job_last_run_timestamp_seconds", "revwatch_job_last_success_timestamp_seconds",
                "revwatch_job_interval_seconds", "revwatch_worker_last_job_start_timestamp_seconds")


def max_series(regions: int, currencies: int, networks: int, jobs: int | None = None, signed_months: int = 0) -> int:
    """The most series one scrape can carry (module docstring): 12 R + 16 C + 2 N + 21 J + M_s + 164."""
    g, m, k, s, t, o, b = len(GATEWAYS), len(METHODS), len(declines.CLASSES), len(STAGES), len(STATUSES), \
        len(OUTCOMES), len(BUCKETS) + 1
    j = len(schedule.CATALOGUE) + len(schedule.FOLLOW_UPS) if jobs is None else jobs
    payments = 2 * g * m * regions + g * m * k
    billing = 4 * currencies
    recon = 2 * s * currencies + s + 2 * g * currencies + s * t
    disputes = 2 * networks
    job_families = j * o + 2 * j + j * (b + 2) + 3 * j
    queue = len(WORK_TYPES) * (len(QUEUE_STATES) + 2) + 1 + len(WORK_TYPES) * (len(RESOLVE_BUCKETS) + 1 + 2)
    return (payments + billing + recon + disputes + signed_months + queue + job_families + GATEWAY_OBJECTS + 1 + 2
            + len(TOPIC_JOBS) + 2)


def _family_shapes() -> list[Metric]:
    """Every family with its type and labels, without samples: describe(), and each refresh fills a
    fresh set; names, types, labels and HELP lines are the catalogue's (metrics/catalogue/prometheus.py)."""
    kinds = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "histogram": HistogramMetricFamily,
             "gaugehistogram": GaugeHistogramMetricFamily}
    return [kinds[f.kind](f.name, f.help, labels=list(f.labels)) for f in FAMILIES]


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

    `jobs` defaults to the job catalogue's names and the follow-ups `cfg` enables (revwatch.schedule); `settle_seconds` is how long the newest
    job runs are re-read before the tally folds them; `statement_timeout_ms` bounds every read."""

    def __init__(self, engine: Engine, cfg: Any, cache_seconds: float = 15, *, jobs: Sequence[str] | None = None,
                 settle_seconds: float = 300, statement_timeout_ms: int = 10_000) -> None:
        self.engine = engine
        self.cfg = cfg
        self.cache_seconds = float(cache_seconds)
        self.jobs = tuple(jobs) if jobs is not None else (*schedule.CATALOGUE, *schedule.follow_ups(cfg))
        self.statement_timeout_ms = int(statement_timeout_ms)
        self._tally = JobRunTally(self.jobs, float(settle_seconds))
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._timeouts = Timeouts()  # each section timing out is said once

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
            with snapshot(self.engine, self.statement_timeout_ms) as conn:
                families, tally = self._read(conn)
        except OperationalError as exc:  # unreachable store, a timeout outside any section: one line, no traceback
            log.warning("revwatch exporter: reading the store failed (%s); serving revwatch_exporter_up 0",
                        " ".join(str(exc.orig or exc).split())[:200])
            return self._finish([], up=False, started=started)
        except Exception:  # anything else is a bug: its traceback is logged; a scrape never raises
            log.exception("revwatch exporter: reading the store failed; serving revwatch_exporter_up 0")
            return self._finish([], up=False, started=started)
        if tally is not None:
            self._tally = tally  # only a complete jobs read moves the job tally on
        return self._finish(families, up=True, started=started)

    def _finish(self, families: list[Metric], up: bool, started: float) -> Snapshot:
        duration = time.monotonic() - started
        families = [*families,
                    GaugeMetricFamily("revwatch_exporter_up", exporter_help("revwatch_exporter_up"),
                                      value=1 if up else 0),
                    GaugeMetricFamily("revwatch_exporter_collect_duration_seconds",
                                      exporter_help("revwatch_exporter_collect_duration_seconds"), value=duration)]
        return Snapshot(tuple(families), up, duration, time.monotonic())

    def _read(self, conn: Connection) -> tuple[list[Metric], JobRunTally | None]:
        """Every family, section by section (metrics/faces/exporter_figures.py): a section that runs into the
        statement timeout is left out of this scrape, and a topic not computed yet has no series. The job tally
        (None: its section timed out) moves on only with a complete jobs section."""
        shapes = {m.name: m for m in _family_shapes()}
        fam = {name: m for name, m in shapes.items() if not name.startswith("revwatch_exporter_")}
        now = clock.now()
        _, kept = guarded(conn, fam, "kept figures", [], lambda: exporter_snapshot.current(conn, now), self._timeouts)
        read_figures(conn, fam, now, self._timeouts, kept, self.cfg)
        read, tally = guarded(conn, fam, "job figures", JOB_FAMILIES, lambda: self._jobs(conn, fam, now), self._timeouts)
        return list(fam.values()), tally if read else None

    def _jobs(self, conn: Connection, fam: dict[str, Metric], now: datetime) -> JobRunTally:
        totals, tally = self._tally.advance(conn, now)
        self._add_jobs(fam, totals)
        try:
            intervals: dict[str, int] | None = schedule.judged_intervals(self.cfg)
        except (Exception, SystemExit):  # SettingsError is a SystemExit: a bad WORKER_SCHEDULE
            log.exception("revwatch exporter: revwatch.schedule.intervals(cfg) failed; interval family left out")
            intervals = None
        started = worker_activity(conn, now, intervals or dict.fromkeys(self.jobs, 0)).last_start
        if started is not None:  # Health's "worker stuck" reads the same newest start
            samples(fam, "revwatch_worker_last_job_start_timestamp_seconds").add_metric([], started.timestamp())
        if intervals is None:
            del fam["revwatch_job_interval_seconds"]
        else:
            for job in self.jobs:
                if job in intervals:
                    samples(fam, "revwatch_job_interval_seconds").add_metric([job], intervals[job])
        return tally

    def _add_jobs(self, fam: dict[str, Metric], totals: JobTotals) -> None:
        bounds = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]
        for job in self.jobs:
            per_job, timed = RunAgg(), RunAgg()
            for outcome in OUTCOMES:
                agg = totals.by_outcome.get((job, outcome), RunAgg())
                per_job = per_job + agg
                timed = timed + agg if outcome in TIMED_OUTCOMES else timed
                samples(fam, "revwatch_job_runs").add_metric([job, outcome], agg.runs)
            samples(fam, "revwatch_job_rows_read").add_metric([job], per_job.rows_read)
            samples(fam, "revwatch_job_rows_written").add_metric([job], per_job.rows_written)
            counts = [*timed.buckets, timed.timed]
            _histogram(fam, "revwatch_job_duration_seconds").add_metric([job], list(zip(bounds, counts, strict=True)), timed.seconds)
            if job in totals.last_started:
                samples(fam, "revwatch_job_last_run_timestamp_seconds").add_metric([job], totals.last_started[job])
            done = [a.last_finished for o in DONE if (a := totals.by_outcome.get((job, o))) and a.last_finished]
            if done:  # a partial run read what it could: fresh data, as Health judges it
                samples(fam, "revwatch_job_last_success_timestamp_seconds").add_metric([job], max(done))


def register(registry: CollectorRegistry, engine: Engine, cfg: Any) -> RevwatchCollector:
    """Build the exporter for `engine` and register it on `registry` (the worker's /metrics)."""
    collector = RevwatchCollector(engine, cfg, cache_seconds=getattr(cfg, "metrics_cache_seconds", 15))
    registry.register(collector)
    return collector
