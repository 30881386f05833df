"""The exporter's families, read section by section from the scrape's one snapshot (metrics/faces/exporter.py
serves them; its docstring says what each family means).

- **Statement timeout.** Each section reads in a savepoint of the snapshot's transaction: a query that runs into
  the statement timeout (a busy store: a first load, a long reconcile) leaves that section's families out of
  this scrape, and the other sections are still read and served. It is said in one line, no traceback
  ("payment figures not exported this scrape: statement timeout"), once: while the section keeps timing out
  the next scrapes say it at DEBUG only, and INFO says when it is exported again (`Timeouts`).
- **Not computed yet.** `revwatch_figure_computed{topic}` is 1 when a readiness topic's figures are known
  (metrics/figures/readiness.py: every job they come from succeeded after its data arrived), 0 while they are
  not computed yet. A section of figures whose topic is not known is not read at all and its families are left
  out: Prometheus gets no series rather than zeros that are not true yet, and an alert can tell "not computed"
  (computed 0) from "nothing wrong" (computed 1, value 0). Per family: payments (attempts, successes, failures,
  this month's card payments) follow `payments`; billing follows `billing_accuracy`; every reconciliation
  family follows `reconciliation`, and so do the after-close adjustments of signed-off months; disputes this month follow `disputes` (and need the payments' card
  networks). The job, gateway-object, worker and audit families describe the collectors themselves and are
  always served.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from metrics.catalogue.prometheus import FAMILIES
from metrics.figures import declines
from metrics.figures.audit_log import head as audit_head
from metrics.figures.billing_accuracy import ExitedSince, accuracy_totals
from metrics.figures.health.gateway_access import gateway_access, refused_series
from metrics.figures.payment_totals import attempt_totals, disputes_this_month, site_currencies
from metrics.figures.readiness import TOPIC_JOBS, readiness
from metrics.figures.reconciliation import (
    GATEWAYS,
    STAGES,
    STATUSES,
    after_close,
    item_counts,
    open_break_totals,
    payouts_missing_in_bank,
    signed_off_months,
)
from metrics.figures.work_history import RESOLVE_BUCKETS, resolve_distribution
from metrics.figures.work_queue import QUEUE_STATES, QueueFilters, configured_queue, counts_by_type
from revwatch.settings import load_settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Families = dict[str, Metric]

METHODS = ("card", "wallet", "ach")
UNKNOWN = "(unknown)"
BILLING_WINDOW = timedelta(hours=24)  # billing gauges: findings of the sessions exited this recently
COMPUTED = "revwatch_figure_computed"
PAYMENTS = ("revwatch_payment_attempts", "revwatch_payment_successes", "revwatch_payment_failures",
            "revwatch_card_payments_month")
BILLING = ("revwatch_billing_sessions_judged", "revwatch_billing_sessions_correct", "revwatch_billing_leakage_minor",
           "revwatch_billing_overcharge_minor")
RECON = ("revwatch_recon_open_breaks", "revwatch_recon_unreconciled_minor",
         "revwatch_recon_oldest_open_break_age_seconds", "revwatch_recon_payouts_missing_in_bank",
         "revwatch_recon_payouts_missing_in_bank_minor", "revwatch_recon_items")
DISPUTES = ("revwatch_disputes_month",)
CLOSE = ("revwatch_close_adjustments",)
QUEUE = ("revwatch_work_items_open", "revwatch_work_items_overdue", "revwatch_work_items_oldest_age_seconds",
         "revwatch_work_customer_paging", "revwatch_work_resolve_seconds")
# each gated section's readiness topic (metrics/figures/readiness.py TOPIC_JOBS) and families
GATED: dict[str, tuple[str, tuple[str, ...]]] = {
    "payment figures": ("payments", PAYMENTS), "billing figures": ("billing_accuracy", BILLING),
    "reconciliation figures": ("reconciliation", RECON), "dispute figures": ("disputes", DISPUTES),
    "close figures": ("reconciliation", CLOSE), "work queue figures": ("work_queue", QUEUE),
}


def samples(fam: Mapping[str, Metric], name: str) -> CounterMetricFamily | GaugeMetricFamily:
    """The counter or gauge family `name` of `fam`, to add samples to."""
    family = fam[name]
    if not isinstance(family, CounterMetricFamily | GaugeMetricFamily):
        raise TypeError(f"{name} is a {type(family).__name__}, not a counter or gauge family")
    return family


def timed_out(exc: BaseException) -> bool:
    """The statement timeout (or a cancel) ended the query."""
    return isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.errors.QueryCanceled)


class Timeouts:
    """The sections timing out, so that each is said once: WARNING at the first scrape it times out, DEBUG at the
    next ones, INFO once it is read again. One per collector (its scrapes run one at a time)."""

    def __init__(self) -> None:
        self.sections: set[str] = set()

    def timed_out(self, what: str) -> None:
        level = logging.DEBUG if what in self.sections else logging.WARNING
        self.sections.add(what)
        log.log(level, "revwatch exporter: %s not exported this scrape: statement timeout", what)

    def read(self, what: str) -> None:
        if what in self.sections:
            self.sections.discard(what)
            log.info("revwatch exporter: %s exported again", what)


def guarded(conn: Connection, fam: Families, what: str, families: Iterable[str], read: Callable[[], T],
            timeouts: Timeouts | None = None) -> tuple[bool, T | None]:
    """`read()` in a savepoint: (True, its result); on a statement timeout one log line (`timeouts`), `families`
    left out of `fam` (whatever it had added to them too) and (False, None). Any other error is raised."""
    timeouts = timeouts or Timeouts()
    try:
        with conn.begin_nested():
            result = read()
    except DBAPIError as exc:
        if not timed_out(exc):
            raise
        timeouts.timed_out(what)
        for name in families:
            fam.pop(name, None)
        return False, None
    timeouts.read(what)
    return True, result


def figure_shapes() -> Families:
    """The gated figure families (GATED), without samples."""
    kinds = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "gaugehistogram": GaugeHistogramMetricFamily}
    names = {name for _, families in GATED.values() for name in families}
    shapes = (kinds[f.kind](f.name, f.help, labels=list(f.labels)) for f in FAMILIES if f.kind in kinds)
    return {m.name: m for m in shapes if m.name in names}  # a counter's family name drops its _total


def read_section(conn: Connection, fam: Families, what: str, now: datetime, networks: set[str] | None = None,
                 cfg: Any = None):
    """Read one gated section (a GATED key) into `fam`, as a scrape and the kept sections both do; the payment
    figures return the card networks, which the dispute figures need; the work queue's its settings (`cfg`)."""
    if what == "dispute figures":
        return _disputes(conn, fam, now, networks or set())
    if what == "work queue figures":
        return _work_queue(conn, fam, now, cfg)
    return {"payment figures": _payments, "billing figures": _billing, "reconciliation figures": _reconciliation,
            "close figures": _close}[what](conn, fam, now)


def networks_of(fam: Families) -> set[str]:
    """The card networks a payment section holds (its card payments this month are per network, 0 included)."""
    return {s.labels["network"] for s in fam["revwatch_card_payments_month"].samples}


def load_kept(fam: Families, families: Mapping[str, list]) -> None:
    """Put a kept section's samples ([sample name, labels, value], …) into the scrape's families."""
    for name, kept in families.items():
        if name in fam:
            fam[name].samples = [Sample(n, labels, value) for n, labels, value in kept]


def read_figures(conn: Connection, fam: Families, now: datetime, timeouts: Timeouts | None = None,
                 kept: Mapping[str, Mapping[str, list]] | None = None, cfg: Any = None) -> None:
    """Fill the figure families of `fam` (gated by readiness), the gateway-object and the audit families. A
    section in `kept` (metrics/faces/exporter_snapshot.py: kept by the worker, still current) is served from
    there instead of read."""
    timeouts = timeouts or Timeouts()
    kept = kept or {}
    _, computed = guarded(conn, fam, "figure readiness", [COMPUTED],
                          lambda: {t: readiness(conn, t, now).known for t in TOPIC_JOBS}, timeouts)
    for topic, known in sorted((computed or {}).items()):
        samples(fam, COMPUTED).add_metric([topic], 1 if known else 0)

    def section(what: str, networks: set[str] | None = None) -> tuple[bool, set[str] | None]:
        topic, families = GATED[what]
        if not (computed or {}).get(topic, False):  # not computed yet (or unknown): no series, never zeros
            for name in families:
                fam.pop(name, None)
            return False, None
        if what in kept:
            load_kept(fam, kept[what])
            return True, None
        return guarded(conn, fam, what, families, lambda: read_section(conn, fam, what, now, networks, cfg), timeouts)

    paid, networks = section("payment figures")
    if paid and networks is None:  # served as kept
        networks = networks_of(fam)
    section("billing figures")
    section("reconciliation figures")
    section("close figures")
    section("work queue figures")  # live: its due times and ages move with the clock
    if paid and networks is not None:
        section("dispute figures", networks)
    else:
        for name in DISPUTES:
            fam.pop(name, None)
    guarded(conn, fam, "gateway object access", ["revwatch_gateway_object_refused"], lambda: _access(conn, fam),
            timeouts)
    guarded(conn, fam, "the audit head", ["revwatch_audit_head_seq", "revwatch_audit_head_digest"],
            lambda: _audit(conn, fam), timeouts)


def _payments(conn: Connection, fam: Families, now: datetime) -> set[str]:
    """Attempts and successes per (gateway, method, region); failures per (gateway, method, class); this month's
    successful card payments per network. Returns the networks (the card brands of card attempts)."""
    attempts: dict[tuple[str, str, str], int] = defaultdict(int)
    successes: dict[tuple[str, str, str], int] = defaultdict(int)
    failures: dict[tuple[str, str, str], int] = {
        (g, m, c): 0 for g in GATEWAYS for m in METHODS for c in declines.CLASSES}
    networks: set[str] = set()
    card_payments: dict[str, int] = defaultdict(int)
    for gateway, method, region, status, code, brand, n, n_month in attempt_totals(conn, now, UNKNOWN):
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
        samples(fam, "revwatch_payment_attempts").add_metric(list(key), attempts[key])
        samples(fam, "revwatch_payment_successes").add_metric(list(key), successes[key])
    for key in sorted(failures):
        samples(fam, "revwatch_payment_failures").add_metric(list(key), failures[key])
    for network in sorted(networks):
        samples(fam, "revwatch_card_payments_month").add_metric([network], card_payments.get(network, 0))
    return networks


def _billing(conn: Connection, fam: Families, now: datetime) -> None:
    """Billing accuracy over the sessions exited in the trailing BILLING_WINDOW (the figure's one definition)."""
    billing = dict.fromkeys(site_currencies(conn), (0, 0, 0, 0))
    for t in accuracy_totals(conn, ExitedSince(now - BILLING_WINDOW)):
        billing[t.currency or UNKNOWN] = (t.billable, t.correct, t.leakage_minor, t.overcharge_minor)
    for currency in sorted(billing):
        judged, correct, leakage, overcharge = billing[currency]
        samples(fam, "revwatch_billing_sessions_judged").add_metric([currency], judged)
        samples(fam, "revwatch_billing_sessions_correct").add_metric([currency], correct)
        samples(fam, "revwatch_billing_leakage_minor").add_metric([currency], leakage)
        samples(fam, "revwatch_billing_overcharge_minor").add_metric([currency], overcharge)


def _reconciliation(conn: Connection, fam: Families, now: datetime) -> None:
    """Open breaks, money at stake, age, payouts missing in the bank, items (the figures' one definition)."""
    open_rows = open_break_totals(conn, now)
    missing_rows = payouts_missing_in_bank(conn, now)
    currencies = set(site_currencies(conn)) | {r.currency for r in open_rows}
    breaks = {(s, c): [0, 0] for s in STAGES for c in currencies}
    oldest = dict.fromkeys(STAGES, 0.0)
    missing = {(g, c): [0, 0] for g in GATEWAYS for c in currencies}
    for r in open_rows:
        cell = breaks.setdefault((r.stage, r.currency), [0, 0])
        cell[0] += r.breaks
        cell[1] += r.at_stake_minor
        oldest[r.stage] = max(oldest.get(r.stage, 0.0), r.oldest_age_seconds)
    for m in missing_rows:
        cell = missing.setdefault((m.gateway or UNKNOWN, m.currency), [0, 0])
        cell[0] += m.breaks
        cell[1] += m.at_stake_minor
    for key in sorted(breaks):
        samples(fam, "revwatch_recon_open_breaks").add_metric(list(key), breaks[key][0])
        samples(fam, "revwatch_recon_unreconciled_minor").add_metric(list(key), breaks[key][1])
    for stage in sorted(oldest):
        samples(fam, "revwatch_recon_oldest_open_break_age_seconds").add_metric([stage], oldest[stage])
    for key in sorted(missing):
        samples(fam, "revwatch_recon_payouts_missing_in_bank").add_metric(list(key), missing[key][0])
        samples(fam, "revwatch_recon_payouts_missing_in_bank_minor").add_metric(list(key), missing[key][1])
    items = {(s, t): 0 for s in STAGES for t in STATUSES}
    for count in item_counts(conn):
        items[(count.stage, count.status)] = items.get((count.stage, count.status), 0) + count.items
    for item_key in sorted(items):
        samples(fam, "revwatch_recon_items").add_metric(list(item_key), items[item_key])


def _close(conn: Connection, fam: Families, now: datetime) -> None:
    """Per signed-off month, how many of its figures moved since the sign-off (after_close, the page's figure)."""
    for month in signed_off_months(conn):
        ac = after_close(conn, month, None, now)
        samples(fam, "revwatch_close_adjustments").add_metric([f"{month:%Y-%m}"], len(ac.adjustments) if ac else 0)


def _work_queue(conn: Connection, fam: Families, now: datetime, cfg: Any) -> None:
    """Per work type (every one, 0 when none): open items by state, overdue items, the oldest one's age; and
    whether customer-impact items past their level page (WORK_PAGE_CUSTOMER_OVERDUE)."""
    cfg = cfg or load_settings()
    q = configured_queue(conn, QueueFilters(), cfg, now)
    by_state = q.items.groupby(["work_type", "state"]).size().to_dict() if q.total else {}
    for c in counts_by_type(q):
        for state in QUEUE_STATES:
            samples(fam, "revwatch_work_items_open").add_metric([c.work_type, state], by_state.get((c.work_type, state), 0))
        samples(fam, "revwatch_work_items_overdue").add_metric([c.work_type], c.overdue)
        samples(fam, "revwatch_work_items_oldest_age_seconds").add_metric(
            [c.work_type], 0 if c.oldest_age is None else c.oldest_age.total_seconds())
    samples(fam, "revwatch_work_customer_paging").add_metric([], 1 if cfg.work_page_customer_overdue else 0)
    resolve = fam["revwatch_work_resolve_seconds"]
    if not isinstance(resolve, GaugeHistogramMetricFamily):
        raise TypeError(f"revwatch_work_resolve_seconds is a {type(resolve).__name__}, not a gauge histogram")
    bounds = [floatToGoString(b) for b in RESOLVE_BUCKETS] + ["+Inf"]
    for d in resolve_distribution(conn, now):
        resolve.add_metric([d.work_type], list(zip(bounds, d.cumulative, strict=True)), d.seconds)


def _disputes(conn: Connection, fam: Families, now: datetime, networks: set[str]) -> None:
    """Disputes opened in the current UTC month, per card network (0 when none)."""
    disputes = disputes_this_month(conn, now)
    for network in sorted(networks):
        samples(fam, "revwatch_disputes_month").add_metric([network], disputes.get(network, 0))


def _access(conn: Connection, fam: Families) -> None:
    for gateway, obj, refused in refused_series(gateway_access(conn)):
        samples(fam, "revwatch_gateway_object_refused").add_metric([gateway, obj], refused)


def _audit(conn: Connection, fam: Families) -> None:
    top = audit_head(conn)
    samples(fam, "revwatch_audit_head_seq").add_metric([], top.seq)
    samples(fam, "revwatch_audit_head_digest").add_metric([], top.digest)
