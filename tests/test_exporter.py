"""The Prometheus exporter (metrics/faces/exporter.py) over hand-built rows, scraped through a fresh
CollectorRegistry and read back with get_sample_value; every expected value is worked out by hand
below. Times are relative to revwatch.clock's now (H = the current hour, P = an hour of the
previous month), so the 24 h and current-month windows hold whenever the test runs.

rollup_payments (site-a us-east USD, site-b ca-west CAD, '(unknown)' a site the store lacks):
  H site-a stripe card visa        succeeded            10
  H site-a stripe card visa        failed insufficient_funds (soft)   3
  H site-a stripe card visa        failed fraudulent (fraud)          2
  H site-b adyen  wallet           succeeded             7
  H site-b adyen  card mastercard  failed Acquirer Error (gateway_error) 4
  H site-b adyen  card mastercard  failed Brand New Code (unclassified)  1
  H site-a stripe ach              pending               5
  H (unknown) stripe card visa     succeeded             2
  P site-a stripe card visa        succeeded             6
  P site-b adyen  card amex        succeeded             9
  -> attempts/successes: stripe card us-east 21/16, adyen wallet ca-west 7/7, adyen card ca-west
     14/9, stripe ach us-east 5/0, stripe card (unknown) 2/2; failures stripe soft 3, fraud 2,
     adyen gateway_error 4, unclassified 1, every other class 0; card payments this month visa 12,
     mastercard 0, amex 0 (networks: the card brands of card attempts).
rollup_disputes: H visa 2, H mastercard 1, P visa 5 (last month), H '' 1 (no brand), H applepay 3
  (not a card network) -> disputes this month visa 2, mastercard 1, amex 0; no applepay series.
billing_findings (exited within 24 h unless said): USD correct x2, under_billed -150, over_billed
  +70, invoice_not_due +500 (not billable), unrated (billable NULL); CAD missing_invoice -1000;
  USD under_billed -999 exited 10 days ago -> judged USD 4 / correct 2 / leakage 150 / overcharge
  570; CAD 1 / 0 / 1000 / 0.
recon_items / recon_breaks:
  S1 m1, m2 USD, m3 CAD matched; e1 USD expected; b1 USD break 500, 3 days old, open;
  S1 ch_r USD break 900 resolved; S2 payout:adyen:7 CAD break, amount -250 and no break amount
  (at stake 250), 2 days, open; S3 payout:stripe:po_1 USD payout missing in bank 10000, 1 day,
  open; S3 bank credit USD 999 missing payout, 5 days, open; S3 payout:adyen:8 CAD payout missing
  7000 written off; S4 revenue_day USD break 42, 6 hours, no workflow row yet (counts open, as on
  the Reconciliation page) ->
  open (S1,USD) 1/500, (S2,CAD) 1/250, (S3,USD) 2/10999, (S4,USD) 1/42; ages S1 3 d, S2 2 d,
  S3 5 d, S4 6 h; payouts missing in bank (stripe,USD) 1/10000, others 0; items S1 matched 3,
  expected 1, break 2; S2 break 1; S3 break 3; S4 break 1; others 0.
job_runs: reconcile succeeded 0.05 s, 2 s, 70 s and failed 0.3 s (rows read 10+20+30+5, written
  1+2+3+0); ingest-billing succeeded 2 s six hours ago, then abandoned after an hour and skipped 0.01 s;
  every other ingest succeeded 1 s six hours ago, rollup-payments, rollup-disputes and classify-billing 3 s
  four hours ago (none wrote rows); rollup-sessions running (its first run); 'not-a-job' ignored.
  -> figures computed (revwatch_figure_computed 1): payments, declines, billing_accuracy, reconciliation,
     disputes, trace (its ingests succeeded); not yet (0): overview (rollup-sessions on its first run, the other
     rollups never ran), gateway_mismatches (match-gateway-payments never ran), refunds, weekly_report.
"""
from __future__ import annotations

import socket
import threading
from datetime import date, datetime, timedelta

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, event
from sqlalchemy.pool import NullPool

from collectors.jobs import JOBS
from metrics.faces import exporter
from metrics.faces.exporter import BUCKETS, OUTCOMES, RevwatchCollector, max_series, register
from metrics.figures import billing_accuracy
from metrics.figures.declines import CLASSES
from metrics.figures.query import Filters
from metrics.figures.readiness import TOPIC_JOBS
from revwatch import clock
from revwatch.schedule import CATALOGUE, FOLLOW_UPS

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants

DAY = timedelta(days=1)
FAMILY_LABELS = {
    "revwatch_work_items_open": {"work_type", "state"},
    "revwatch_work_items_overdue": {"work_type"},
    "revwatch_work_items_oldest_age_seconds": {"work_type"},
    "revwatch_work_customer_paging": set(),
    "revwatch_work_resolve_seconds": {"work_type"},
    "revwatch_payment_attempts": {"gateway", "method", "region"},
    "revwatch_payment_successes": {"gateway", "method", "region"},
    "revwatch_payment_failures": {"gateway", "method", "decline_class"},
    "revwatch_billing_sessions_judged": {"currency"},
    "revwatch_billing_sessions_correct": {"currency"},
    "revwatch_billing_leakage_minor": {"currency"},
    "revwatch_billing_overcharge_minor": {"currency"},
    "revwatch_recon_open_breaks": {"stage", "currency"},
    "revwatch_recon_unreconciled_minor": {"stage", "currency"},
    "revwatch_recon_oldest_open_break_age_seconds": {"stage"},
    "revwatch_recon_payouts_missing_in_bank": {"gateway", "currency"},
    "revwatch_recon_payouts_missing_in_bank_minor": {"gateway", "currency"},
    "revwatch_recon_items": {"stage", "status"},
    "revwatch_disputes_month": {"network"},
    "revwatch_close_adjustments": {"month"},
    "revwatch_card_payments_month": {"network"},
    "revwatch_job_runs": {"job", "outcome"},
    "revwatch_job_rows_read": {"job"},
    "revwatch_job_rows_written": {"job"},
    "revwatch_job_duration_seconds": {"job"},
    "revwatch_job_last_run_timestamp_seconds": {"job"},
    "revwatch_job_last_success_timestamp_seconds": {"job"},
    "revwatch_job_interval_seconds": {"job"},
    "revwatch_gateway_object_refused": {"gateway", "object"},
    "revwatch_worker_last_job_start_timestamp_seconds": set(),
    "revwatch_audit_head_seq": set(),
    "revwatch_audit_head_digest": set(),
    "revwatch_figure_computed": {"topic"},
    "revwatch_exporter_up": set(),
    "revwatch_exporter_collect_duration_seconds": set(),
}
TYPES = {"revwatch_payment_attempts": "counter", "revwatch_payment_successes": "counter",
         "revwatch_payment_failures": "counter", "revwatch_job_runs": "counter", "revwatch_job_rows_read": "counter",
         "revwatch_job_rows_written": "counter", "revwatch_job_duration_seconds": "histogram"}
SITES = ("site-a", "site-b")


# ---------------------------------------------------------------- builders
def _insert(conn, table: str, rows: list[dict]) -> None:
    cols = list(rows[0])
    conn.cursor().executemany(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('%(' + c + ')s' for c in cols)})", rows)


def _payment(hour, site, currency, gateway, method, brand, status, code, attempts) -> dict:
    return dict(hour=hour, local_date=hour.date(), site_id=site, currency=currency, gateway=gateway,
                payment_method_type=method, card_brand=brand, status=status, failure_code=code, is_retry=False,
                attempts=attempts, amount_minor=attempts * 1000)


def _dispute(hour, site, currency, gateway, brand, outcome, n) -> dict:
    return dict(hour=hour, local_date=hour.date(), site_id=site, currency=currency, gateway=gateway, card_brand=brand,
                reason="", outcome=outcome, disputes=n, amount_minor=n * 1000)


def _finding(sid, site, exited, currency, cls, billable, difference) -> dict:
    return dict(session_id=sid, site_id=site, exited_at=exited, hour=exited.replace(minute=0, second=0, microsecond=0),
                local_date=exited.date(), currency=currency, class_=cls, billable=billable, billed_subtotal_minor=0,
                billed_tax_minor=0, billed_total_minor=0, invoices=1, void_invoices=0, difference_minor=difference)


def _item(stage, key, item_type, status, currency, amount, occurred, break_type=None, gateway=None,
          break_amount=None) -> dict:
    return dict(stage=stage, item_key=key, item_type=item_type, status=status, break_type=break_type, gateway=gateway,
                currency=currency, amount_minor=amount, break_amount_minor=break_amount, occurred_at=occurred,
                accounting_month=date(occurred.year, occurred.month, 1), fingerprint=f"fp-{key}")


def _run(job, outcome, started, seconds=None, read=0, written=0) -> dict:
    finished = None if seconds is None else started + timedelta(seconds=seconds)
    return dict(job=job, outcome=outcome, started_at=started, finished_at=finished, rows_read=read,
                rows_written=written)


def db_now(world) -> datetime:
    """The exporter's now: revwatch.clock, which it passes to every query."""
    return clock.now()


def build(world) -> dict:
    """Every hand-built row of the module docstring; returns the times the expectations need."""
    now = db_now(world)
    h = now.replace(minute=0, second=0, microsecond=0)
    p = now.replace(day=1, hour=12, minute=0, second=0, microsecond=0) - timedelta(days=5)
    with psycopg.connect(world.libpq) as conn:
        _insert(conn, "sites", [
            dict(site_id="site-a", name="Alpha", region="us-east", timezone="America/New_York", currency="USD",
                 tax_jurisdiction="US-NY"),
            dict(site_id="site-b", name="Beta", region="ca-west", timezone="America/Vancouver", currency="CAD",
                 tax_jurisdiction="CA-BC")])
        _insert(conn, "rollup_payments", [
            _payment(h, "site-a", "USD", "stripe", "card", "visa", "succeeded", "", 10),
            _payment(h, "site-a", "USD", "stripe", "card", "visa", "failed", "insufficient_funds", 3),
            _payment(h, "site-a", "USD", "stripe", "card", "visa", "failed", "fraudulent", 2),
            _payment(h, "site-b", "CAD", "adyen", "wallet", "", "succeeded", "", 7),
            _payment(h, "site-b", "CAD", "adyen", "card", "mastercard", "failed", "Acquirer Error", 4),
            _payment(h, "site-b", "CAD", "adyen", "card", "mastercard", "failed", "Brand New Code", 1),
            _payment(h, "site-a", "USD", "stripe", "ach", "", "pending", "", 5),
            _payment(h, "site-a", "USD", "stripe", "ach", "", "failed", "insufficient_funds", 1),  # an ACH return
            _payment(h, "(unknown)", "USD", "stripe", "card", "visa", "succeeded", "", 2),
            _payment(p, "site-a", "USD", "stripe", "card", "visa", "succeeded", "", 6),
            _payment(p, "site-b", "CAD", "adyen", "card", "amex", "succeeded", "", 9)])
        _insert(conn, "rollup_disputes", [
            _dispute(h, "site-a", "USD", "stripe", "visa", "open", 2),
            _dispute(h, "site-b", "CAD", "adyen", "mastercard", "lost", 1),
            _dispute(p, "site-a", "USD", "stripe", "visa", "lost", 5),
            _dispute(h, "site-b", "CAD", "adyen", "", "lost", 1),
            _dispute(h, "site-b", "CAD", "adyen", "applepay", "lost", 3)])
        findings = [
            _finding("sess-1", "site-a", now - timedelta(hours=1), "USD", "correct", True, 0),
            _finding("sess-2", "site-a", now - timedelta(hours=5), "USD", "correct", True, 0),
            _finding("sess-3", "site-a", now - timedelta(hours=10), "USD", "under_billed", True, -150),
            _finding("sess-4", "site-a", now - timedelta(hours=20), "USD", "over_billed", True, 70),
            _finding("sess-5", "site-a", now - timedelta(hours=3), "USD", "invoice_not_due", False, 500),
            _finding("sess-6", "site-a", now - timedelta(hours=4), "USD", "unrated", None, None),
            _finding("sess-7", "site-b", now - timedelta(hours=6), "CAD", "missing_invoice", True, -1000),
            _finding("sess-8", "site-a", now - 10 * DAY, "USD", "under_billed", True, -999)]
        cols = [c if c != "class_" else '"class"' for c in findings[0]]
        conn.cursor().executemany(
            f"INSERT INTO billing_findings ({', '.join(cols)}) VALUES ({', '.join('%(' + c + ')s' for c in findings[0])})",
            findings)
        _insert(conn, "recon_items", [
            _item("S1", "attempt:m1", "payment", "matched", "USD", 100, now - 2 * DAY),
            _item("S1", "attempt:m2", "payment", "matched", "USD", 200, now - 2 * DAY),
            _item("S1", "attempt:m3", "payment", "matched", "CAD", 300, now - 2 * DAY),
            _item("S1", "attempt:e1", "payment", "expected", "USD", 400, now - DAY),
            _item("S1", "attempt:b1", "payment", "break", "USD", 500, now - 3 * DAY, "missing", "stripe", 500),
            _item("S1", "stripe:ch_r", "gateway_payment", "break", "USD", 900, now - 10 * DAY, "missing", "stripe", 900),
            _item("S2", "payout:adyen:7", "payout", "break", "CAD", -250, now - 2 * DAY, "amount_mismatch", "adyen"),
            _item("S3", "payout:stripe:po_1", "payout", "break", "USD", 10000, now - DAY, "missing", "stripe", 10000),
            _item("S3", "bank:sha:9", "bank_credit", "break", "USD", 999, now - 5 * DAY, "missing", None, 999),
            _item("S3", "payout:adyen:8", "payout", "break", "CAD", 7000, now - 4 * DAY, "missing", "adyen", 7000),
            _item("S4", "revenue_day:site-a", "revenue_day", "break", "USD", 42, now - timedelta(hours=6), "missing",
                  None, 42)])
        _insert(conn, "recon_breaks", [
            dict(stage="S1", item_key="attempt:b1", state="open"),
            dict(stage="S1", item_key="stripe:ch_r", state="resolved"),
            dict(stage="S2", item_key="payout:adyen:7", state="open"),
            dict(stage="S3", item_key="payout:stripe:po_1", state="open"),
            dict(stage="S3", item_key="bank:sha:9", state="open"),
            dict(stage="S3", item_key="payout:adyen:8", state="written_off")])
        _insert(conn, "job_runs", [
            _run("reconcile", "succeeded", now - timedelta(hours=2), 0.05, 10, 1),
            _run("reconcile", "succeeded", now - timedelta(hours=1), 2, 20, 2),
            _run("reconcile", "succeeded", now - timedelta(minutes=30), 70, 30, 3),
            _run("reconcile", "failed", now - timedelta(minutes=20), 0.3, 5, 0),
            _run("ingest-billing", "skipped", now - timedelta(hours=3), 0.01),
            _run("ingest-billing", "abandoned", now - timedelta(hours=5), 3600),
            _run("rollup-sessions", "running", now - timedelta(minutes=10)),
            _run("not-a-job", "succeeded", now - timedelta(hours=1), 1, 7, 7),
            _run("ingest-billing", "succeeded", now - timedelta(hours=6), 2),
            *(_run(j, "succeeded", now - timedelta(hours=6), 1)
              for j in ("ingest-stripe", "ingest-adyen", "ingest-bank", "ingest-ledger", "ingest-fx")),
            *(_run(j, "succeeded", now - timedelta(hours=4), 3)
              for j in ("rollup-payments", "rollup-disputes", "classify-billing"))])
    return {"now": now}


@pytest.fixture(scope="module")
def built(make_world):
    world = make_world()
    times = build(world)
    registry = CollectorRegistry()
    collector = register(registry, world.engine, world.cfg)
    return world, registry, collector, times


def value(registry, name: str, **labels) -> float | None:
    return registry.get_sample_value(name, labels)


def samples(registry) -> list:
    return [(m, s) for m in registry.collect() for s in m.samples]


# ---------------------------------------------------------------- values
def test_register_returns_the_collector_and_the_store_is_up(built):
    world, registry, collector, _ = built
    assert isinstance(collector, RevwatchCollector) and collector.engine is world.engine
    assert value(registry, "revwatch_exporter_up") == 1
    assert value(registry, "revwatch_exporter_collect_duration_seconds") > 0


def test_payment_counters(built):
    _, registry, _, _ = built
    expected = {("stripe", "card", "us-east"): (21, 16), ("adyen", "wallet", "ca-west"): (7, 7),
                ("adyen", "card", "ca-west"): (14, 9), ("stripe", "ach", "us-east"): (6, 0),
                ("stripe", "card", "(unknown)"): (2, 2)}
    got = {tuple(s.labels[k] for k in ("gateway", "method", "region")): s.value for m, s in samples(registry)
           if s.name == "revwatch_payment_attempts_total"}
    assert got == {k: a for k, (a, _) in expected.items()}
    for (gateway, method, region), (_attempts, successes) in expected.items():
        assert value(registry, "revwatch_payment_successes_total", gateway=gateway, method=method,
                     region=region) == successes
    failures = {(s.labels["gateway"], s.labels["method"], s.labels["decline_class"]): s.value
                for m, s in samples(registry) if s.name == "revwatch_payment_failures_total"}
    want = {(g, m, c): 0 for g in ("stripe", "adyen") for m in ("card", "wallet", "ach") for c in CLASSES}
    want.update({("stripe", "card", "soft"): 3, ("stripe", "card", "fraud"): 2, ("stripe", "ach", "soft"): 1,
                 ("adyen", "card", "gateway_error"): 4, ("adyen", "card", "unclassified"): 1})
    assert failures == want


def test_billing_gauges_and_the_billing_accuracy_definitions(built):
    world, registry, _, times = built
    want = {"USD": (4, 2, 150, 570), "CAD": (1, 0, 1000, 0)}
    for currency, (judged, correct, leakage, overcharge) in want.items():
        assert value(registry, "revwatch_billing_sessions_judged", currency=currency) == judged
        assert value(registry, "revwatch_billing_sessions_correct", currency=currency) == correct
        assert value(registry, "revwatch_billing_leakage_minor", currency=currency) == leakage
        assert value(registry, "revwatch_billing_overcharge_minor", currency=currency) == overcharge
    # the page's own queries over the same sessions (local dates of the last two days; the
    # 10-day-old finding is outside both) give the same leakage, overcharge, billable and correct
    today = times["now"].date()
    f = Filters(today - 2 * DAY, today)
    money = billing_accuracy.leakage_overcharge(world.engine, f, by="class").groupby("currency").sum(numeric_only=True)
    acc = billing_accuracy.accuracy(world.engine, f, by="site_id").set_index("site_id")
    for currency, site in (("USD", "site-a"), ("CAD", "site-b")):
        assert money.loc[currency, "leakage_minor"] == want[currency][2]
        assert money.loc[currency, "overcharge_minor"] == want[currency][3]
        assert (acc.loc[site, "billable"], acc.loc[site, "correct"]) == want[currency][:2]


def test_reconciliation_gauges(built):
    _, registry, _, _ = built
    opened = {(s.labels["stage"], s.labels["currency"]): s.value for m, s in samples(registry)
              if s.name == "revwatch_recon_open_breaks"}
    at_stake = {(s.labels["stage"], s.labels["currency"]): s.value for m, s in samples(registry)
                if s.name == "revwatch_recon_unreconciled_minor"}
    zeros = {(st, c): 0 for st in ("S1", "S2", "S3", "S4") for c in ("USD", "CAD")}
    assert opened == {**zeros, ("S1", "USD"): 1, ("S2", "CAD"): 1, ("S3", "USD"): 2, ("S4", "USD"): 1}
    assert at_stake == {**zeros, ("S1", "USD"): 500, ("S2", "CAD"): 250, ("S3", "USD"): 10999, ("S4", "USD"): 42}
    ages = {"S1": 3 * 86400, "S2": 2 * 86400, "S3": 5 * 86400, "S4": 6 * 3600}
    for stage, age in ages.items():  # the scrape's now is a few seconds after the rows were built
        assert value(registry, "revwatch_recon_oldest_open_break_age_seconds", stage=stage) == pytest.approx(age, abs=120)
    missing = {(s.labels["gateway"], s.labels["currency"]): s.value for m, s in samples(registry)
               if s.name == "revwatch_recon_payouts_missing_in_bank"}
    assert missing == {(g, c): 0 for g in ("stripe", "adyen") for c in ("USD", "CAD")} | {("stripe", "USD"): 1}
    assert value(registry, "revwatch_recon_payouts_missing_in_bank_minor", gateway="stripe", currency="USD") == 10000
    items = {(s.labels["stage"], s.labels["status"]): s.value for m, s in samples(registry)
             if s.name == "revwatch_recon_items"}
    want = {(st, t): 0 for st in ("S1", "S2", "S3", "S4") for t in ("matched", "expected", "break")}
    want.update({("S1", "matched"): 3, ("S1", "expected"): 1, ("S1", "break"): 2, ("S2", "break"): 1,
                 ("S3", "break"): 3, ("S4", "break"): 1})
    assert items == want


def test_figure_computed_per_topic(built):
    _, registry, _, _ = built
    computed = {s.labels["topic"]: s.value for m, s in samples(registry) if s.name == "revwatch_figure_computed"}
    assert computed == {"payments": 1, "declines": 1, "billing_accuracy": 1, "reconciliation": 1, "disputes": 1,
                        "trace": 1, "overview": 0, "gateway_mismatches": 0, "refunds": 0, "weekly_report": 0,
                        "work_queue": 0}
    assert set(computed) == set(TOPIC_JOBS)


GATED_FAMILIES = ("revwatch_payment_attempts", "revwatch_payment_successes", "revwatch_payment_failures",
                  "revwatch_card_payments_month", "revwatch_billing_sessions_judged", "revwatch_billing_sessions_correct",
                  "revwatch_billing_leakage_minor", "revwatch_billing_overcharge_minor", "revwatch_recon_open_breaks",
                  "revwatch_recon_unreconciled_minor", "revwatch_recon_oldest_open_break_age_seconds",
                  "revwatch_recon_payouts_missing_in_bank", "revwatch_recon_payouts_missing_in_bank_minor",
                  "revwatch_recon_items", "revwatch_disputes_month")


def test_figures_not_computed_yet_have_no_series_never_zeros(make_world):
    """Rows in the store but no job has run: every figure family of a topic not computed yet is left out (not
    served as the partial or zero values it would read), its topic's computed gauge says 0; the job families
    (every job at 0 runs), the audit head and the exporter's own are served."""
    world = make_world()
    now = db_now(world)
    with psycopg.connect(world.libpq) as conn:
        _insert(conn, "rollup_payments", [
            _payment(now.replace(minute=0, second=0, microsecond=0), "s", "USD", "stripe", "card", "visa", "succeeded", "", 3)])
        _insert(conn, "job_runs", [_run("ingest-billing", "succeeded", now - timedelta(minutes=5), 2, 10, 10)])
    registry = _registry(RevwatchCollector(world.engine, world.cfg, cache_seconds=0))
    names = {m.name for m in registry.collect() if m.samples}
    assert not names & set(GATED_FAMILIES), names & set(GATED_FAMILIES)
    assert {"revwatch_job_runs", "revwatch_audit_head_seq", "revwatch_figure_computed", "revwatch_exporter_up"} <= names
    computed = {s.labels["topic"]: s.value for m, s in samples(registry) if s.name == "revwatch_figure_computed"}
    assert computed == dict.fromkeys(TOPIC_JOBS, 0)
    assert value(registry, "revwatch_job_runs_total", job="ingest-billing", outcome="succeeded") == 1
    # rollup-payments runs after the billing data arrived: the payment families appear, whole
    with psycopg.connect(world.libpq) as conn:
        _insert(conn, "job_runs", [_run("rollup-payments", "succeeded", now - timedelta(minutes=1), 1)])
    assert value(registry, "revwatch_figure_computed", topic="payments") == 1
    assert value(registry, "revwatch_payment_attempts_total", gateway="stripe", method="card", region="(unknown)") == 3
    assert value(registry, "revwatch_recon_items", stage="S1", status="matched") is None  # reconcile never ran


def test_a_statement_timeout_leaves_one_section_out_in_one_line(built, caplog):
    """A busy store (here: reconcile's table locked, as a long first load or reconcile holds it): the
    reconciliation section runs into the statement timeout; its families are left out of those scrapes with one
    log line (not one a scrape) and no traceback, every other family is served, and once the store answers
    again the families are back and a line says so."""
    import logging

    world = built[0]
    collector = RevwatchCollector(world.engine, world.cfg, cache_seconds=0, statement_timeout_ms=300)
    registry = _registry(collector)
    caplog.set_level(logging.INFO)
    with psycopg.connect(world.libpq) as locker:
        locker.execute("LOCK TABLE recon_items IN ACCESS EXCLUSIVE MODE")
        caplog.clear()
        names = {m.name for m in registry.collect() if m.samples}
        assert not {m.name for m in registry.collect() if m.samples} & {"revwatch_recon_items"}  # a second scrape
    lines = [r for r in caplog.records if "not exported this scrape" in r.getMessage()]
    assert [r.getMessage() for r in lines] == [
        "revwatch exporter: reconciliation figures not exported this scrape: statement timeout"]
    assert all(r.exc_info is None for r in caplog.records) and "Traceback" not in caplog.text
    assert not names & {n for n in GATED_FAMILIES if n.startswith("revwatch_recon_")}
    assert {"revwatch_payment_attempts", "revwatch_billing_sessions_judged", "revwatch_disputes_month",
            "revwatch_job_runs", "revwatch_figure_computed"} <= names
    assert value(registry, "revwatch_exporter_up") == 1
    assert value(registry, "revwatch_recon_open_breaks", stage="S1", currency="USD") == 1  # lock released
    assert "revwatch exporter: reconciliation figures exported again" in caplog.text


def test_month_gauges_per_card_network(built):
    _, registry, _, _ = built
    disputes = {s.labels["network"]: s.value for m, s in samples(registry) if s.name == "revwatch_disputes_month"}
    payments = {s.labels["network"]: s.value for m, s in samples(registry) if s.name == "revwatch_card_payments_month"}
    assert disputes == {"visa": 2, "mastercard": 1, "amex": 0}
    assert payments == {"visa": 12, "mastercard": 0, "amex": 0}


def test_job_families(built):
    _, registry, _, times = built
    now = times["now"]
    runs = {(s.labels["job"], s.labels["outcome"]): s.value for m, s in samples(registry)
            if s.name == "revwatch_job_runs_total"}
    want = {(j, o): 0 for j in JOBS for o in OUTCOMES}
    want.update({(j, "succeeded"): 1 for j in ("ingest-billing", "ingest-stripe", "ingest-adyen", "ingest-bank",
                                                "ingest-ledger", "ingest-fx", "rollup-payments", "rollup-disputes",
                                                "classify-billing")})
    want.update({("reconcile", "succeeded"): 3, ("reconcile", "failed"): 1, ("ingest-billing", "skipped"): 1,
                 ("ingest-billing", "abandoned"): 1})
    assert runs == want  # every job of the catalogue, before its first run too; never 'not-a-job'
    assert value(registry, "revwatch_job_rows_read_total", job="reconcile") == 65
    assert value(registry, "revwatch_job_rows_written_total", job="reconcile") == 6
    assert value(registry, "revwatch_job_rows_read_total", job="rollup-sessions") == 0

    def bucket(job, le):
        return value(registry, "revwatch_job_duration_seconds_bucket", job=job, le=le)

    les = ["0.1", "0.5", "1.0", "5.0", "15.0", "60.0", "300.0", "900.0", "+Inf"]
    assert [bucket("reconcile", le) for le in les] == [1, 2, 2, 3, 3, 3, 4, 4, 4]
    assert value(registry, "revwatch_job_duration_seconds_count", job="reconcile") == 4
    assert value(registry, "revwatch_job_duration_seconds_sum", job="reconcile") == pytest.approx(72.35)
    # the abandoned hour is not a duration: only the skipped and the succeeded runs are timed
    assert [bucket("ingest-billing", le) for le in les] == [1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert value(registry, "revwatch_job_duration_seconds_sum", job="ingest-billing") == pytest.approx(2.01)
    assert [bucket("rollup-refunds", le) for le in les] == [0] * 9

    def ts(name, job):
        return value(registry, f"revwatch_job_{name}_timestamp_seconds", job=job)

    assert ts("last_run", "reconcile") == pytest.approx((now - timedelta(minutes=20)).timestamp())
    assert ts("last_success", "reconcile") == pytest.approx((now - timedelta(minutes=30, seconds=-70)).timestamp())
    assert ts("last_run", "rollup-sessions") == pytest.approx((now - timedelta(minutes=10)).timestamp())
    assert ts("last_success", "rollup-sessions") is None  # no sample before a first success
    assert ts("last_run", "ingest-billing") == pytest.approx((now - timedelta(hours=3)).timestamp())
    assert ts("last_success", "ingest-billing") == pytest.approx((now - timedelta(hours=6, seconds=-2)).timestamp())
    assert ts("last_run", "rollup-refunds") is None  # no sample before a first run


def test_types_labels_no_ids_and_counters_non_negative(built):
    world, registry, _, _ = built
    metrics = list(registry.collect())
    for m in metrics:
        assert m.name in FAMILY_LABELS, m.name
        assert m.type == TYPES.get(m.name, "gauge"), m.name
        for s in m.samples:
            assert set(s.labels) - {"le"} == FAMILY_LABELS[m.name], (s.name, s.labels)
            if m.type in ("counter", "histogram"):
                assert s.value >= 0, s
    ids = {r[0] for r in world.sql("SELECT site_id FROM sites UNION SELECT item_key FROM recon_items"
                                   " UNION SELECT session_id FROM billing_findings UNION SELECT run_id::text FROM job_runs"
                                   " UNION SELECT break_id::text FROM recon_breaks")}
    ids |= {"not-a-job", "site-a", "site-b"}
    values = {v for m in metrics for s in m.samples for k, v in s.labels.items() if k != "le"}
    assert not values & ids
    allowed = ({"stripe", "adyen", "card", "wallet", "ach", "us-east", "ca-west", "(unknown)", "USD", "CAD",
                "S1", "S2", "S3", "S4", "matched", "expected", "break", "visa", "mastercard", "amex"}
               | set(CLASSES) | set(JOBS) | set(OUTCOMES) | set(TOPIC_JOBS))
    assert values <= allowed, values - allowed


# ---------------------------------------------------------------- behaviour
class Statements:
    """Counts the statements an engine sends, through SQLAlchemy's own event hook."""

    def __init__(self, engine):
        self.engine, self.n = engine, 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args):
        self.n += 1

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._count)


@pytest.fixture
def statements(built):
    counter = Statements(built[0].engine)
    yield counter
    counter.close()


def test_two_scrapes_inside_the_cache_window_read_once(built, statements):
    world = built[0]
    registry = CollectorRegistry()
    collector = RevwatchCollector(world.engine, world.cfg, cache_seconds=60)
    registry.register(collector)
    assert statements.n == 0  # describe() gives the names: registering reads nothing
    first = value(registry, "revwatch_payment_attempts_total", gateway="stripe", method="card", region="us-east")
    once = statements.n
    assert once > 0
    assert value(registry, "revwatch_payment_attempts_total", gateway="stripe", method="card",
                 region="us-east") == first
    list(registry.collect())
    assert statements.n == once
    # concurrent scrapes inside the window wait for the snapshot instead of reading again
    threads = [threading.Thread(target=lambda: list(registry.collect())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statements.n == once
    # a collector whose window has passed reads again
    expired = RevwatchCollector(world.engine, world.cfg, cache_seconds=0)
    list(expired.collect())
    n = statements.n
    list(expired.collect())
    assert statements.n > n


def test_concurrent_first_scrapes_read_once(built, statements):
    world = built[0]
    list(RevwatchCollector(world.engine, world.cfg, cache_seconds=60).collect())
    one_read = statements.n
    collector = RevwatchCollector(world.engine, world.cfg, cache_seconds=60)
    barrier = threading.Barrier(6)

    def scrape():
        barrier.wait()
        list(collector.collect())

    threads = [threading.Thread(target=scrape) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statements.n == 2 * one_read  # six scrapes at once: one read
    list(collector.collect())
    assert statements.n == 2 * one_read
    assert value(_registry(collector), "revwatch_exporter_up") == 1


def _registry(collector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_is_up_0_and_never_raises(built, caplog):
    world = built[0]
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nowhere", poolclass=NullPool,
                           connect_args={"connect_timeout": 3})
    registry = CollectorRegistry()
    collector = register(registry, engine, world.cfg)
    metrics = list(registry.collect())
    assert value(registry, "revwatch_exporter_up") == 0
    assert value(registry, "revwatch_exporter_collect_duration_seconds") >= 0
    assert {m.name for m in metrics} == {"revwatch_exporter_up", "revwatch_exporter_collect_duration_seconds"}
    assert "reading the store failed" in caplog.text
    assert collector.snapshot().up is False


def test_interval_family_is_the_configured_schedule(built):
    world = built[0]
    cfg = world.cfg.model_copy(update={"worker_schedule": "reconcile=600,ingest-billing=30"})
    registry = _registry(RevwatchCollector(world.engine, cfg, cache_seconds=0))
    got = {s.labels["job"]: s.value for m, s in samples(registry) if s.name == "revwatch_job_interval_seconds"}
    assert got == {**{name: spec.every for name, spec in CATALOGUE.items()}, "reconcile": 600, "ingest-billing": 30}
    assert got["rollup-payments"] == 120 and got["ingest-fx"] == 300  # the catalogue's defaults
    assert value(registry, "revwatch_exporter_up") == 1


def test_interval_family_left_out_when_the_schedule_names_an_unknown_job(built, caplog):
    world = built[0]
    cfg = world.cfg.model_copy(update={"worker_schedule": "not-a-job=5"})  # the worker refuses it too
    registry = _registry(RevwatchCollector(world.engine, cfg, cache_seconds=0))
    names = {m.name for m in registry.collect()}
    assert "revwatch_job_interval_seconds" not in names and "revwatch_job_runs" in names
    assert value(registry, "revwatch_exporter_up") == 1
    assert "interval family left out" in caplog.text and "not-a-job" in caplog.text


def test_interval_family_is_what_the_worker_schedules(built):
    """The exporter and the worker read one catalogue: the same jobs, the same seconds."""
    from collectors.scheduler import Worker

    world = built[0]
    registry = _registry(RevwatchCollector(world.engine, world.cfg, cache_seconds=0))
    got = {s.labels["job"]: s.value for m, s in samples(registry) if s.name == "revwatch_job_interval_seconds"}
    assert got == Worker(world.engine, world.cfg).intervals
    assert list(got) == list(JOBS)


# ---------------------------------------------------------------- job_runs, incrementally
def _reference(world, jobs) -> dict:
    """The job families recomputed from scratch by one GROUP BY over job_runs."""
    rows = world.sql(f"""
        SELECT job, outcome, count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_written), 0),
               count(finished_at), coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)::float8,
               {', '.join(f"count(*) FILTER (WHERE extract(epoch FROM finished_at - started_at) <= {b})" for b in BUCKETS)},
               extract(epoch FROM max(started_at))::float8, extract(epoch FROM max(finished_at))::float8
        FROM job_runs WHERE job = ANY(%s) GROUP BY 1, 2""", (list(jobs),))
    out: dict = {}
    for job in jobs:
        out[("runs", job)] = dict.fromkeys(OUTCOMES, 0)
        out[("read", job)] = out[("written", job)] = 0
        out[("buckets", job)] = [0] * (len(BUCKETS) + 1)
        out[("sum", job)] = 0.0
    for job, outcome, n, read, written, timed, secs, *rest in rows:
        buckets, (last_start, last_finish) = rest[:len(BUCKETS)], rest[len(BUCKETS):]
        out[("last_run", job)] = max(out.get(("last_run", job), 0), last_start)
        if outcome == "succeeded":
            out[("last_success", job)] = last_finish
        if outcome in OUTCOMES:
            out[("runs", job)][outcome] = n
            out[("read", job)] += read
            out[("written", job)] += written
        if outcome in exporter.TIMED_OUTCOMES:
            out[("buckets", job)] = [a + b for a, b in zip(out[("buckets", job)], [*buckets, timed], strict=True)]
            out[("sum", job)] += secs
    return out


def _shown(registry, jobs) -> dict:
    """The job families of one scrape, shaped like `_reference`."""
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}

    def v(name, **labels):
        return got.get((name, tuple(sorted(labels.items()))))

    out: dict = {}
    les = [exporter.floatToGoString(b) for b in BUCKETS] + ["+Inf"]
    for job in jobs:
        out[("runs", job)] = {o: v("revwatch_job_runs_total", job=job, outcome=o) for o in OUTCOMES}
        out[("read", job)] = v("revwatch_job_rows_read_total", job=job)
        out[("written", job)] = v("revwatch_job_rows_written_total", job=job)
        out[("buckets", job)] = [v("revwatch_job_duration_seconds_bucket", job=job, le=le) for le in les]
        out[("sum", job)] = pytest.approx(v("revwatch_job_duration_seconds_sum", job=job))
        for name in ("last_run", "last_success"):
            ts = v(f"revwatch_job_{name}_timestamp_seconds", job=job)
            if ts is not None:
                out[(name, job)] = pytest.approx(ts)
    return out


def test_job_runs_are_read_incrementally_and_stay_exact(make_world):
    world = make_world()
    jobs = ("reconcile", "ingest-billing", "rollup-payments")
    now = db_now(world)
    with psycopg.connect(world.libpq) as conn:
        _insert(conn, "job_runs", [
            _run("reconcile", "succeeded", now - timedelta(hours=3), 1.5, 10, 1),
            _run("reconcile", "running", now - timedelta(hours=2)),           # finishes later
            _run("ingest-billing", "succeeded", now - timedelta(hours=1), 0.2, 5, 5),
            _run("rollup-payments", "failed", now - timedelta(minutes=2), 3)])  # recent: re-read until settled
    collector = RevwatchCollector(world.engine, world.cfg, cache_seconds=0, jobs=jobs)
    registry = _registry(collector)
    assert _shown(registry, jobs) == _reference(world, jobs)
    ids = {(job, outcome): run_id for run_id, job, outcome in world.sql("SELECT run_id, job, outcome FROM job_runs")}
    tally = collector._tally
    assert tally.pending == {ids[("reconcile", "running")]}
    assert tally.frontier == ids[("ingest-billing", "succeeded")]  # stops before the recent run

    # the running run finishes, the recent one settles, new runs arrive (one recent, one running)
    with psycopg.connect(world.libpq) as conn:
        conn.execute("UPDATE job_runs SET outcome = 'succeeded', finished_at = started_at + interval '400 seconds',"
                     " rows_read = 7 WHERE run_id = %s", (ids[("reconcile", "running")],))
        conn.execute("UPDATE job_runs SET started_at = started_at - interval '1 hour',"
                     " finished_at = finished_at - interval '1 hour' WHERE run_id = %s",
                     (ids[("rollup-payments", "failed")],))
        _insert(conn, "job_runs", [
            _run("ingest-billing", "skipped", now - timedelta(seconds=30), 0.01),
            _run("rollup-payments", "running", now - timedelta(seconds=10))])
    shown = _shown(registry, jobs)
    assert shown == _reference(world, jobs)
    assert shown[("runs", "reconcile")]["succeeded"] == 2
    tally = collector._tally
    assert tally.pending == set()  # the finished run was folded once, by key
    assert tally.frontier == ids[("rollup-payments", "failed")]  # the two new runs are recent
    assert _shown(registry, jobs) == _reference(world, jobs)  # and a scrape more changes nothing

    # a run log emptied and restarted (ids start again) is folded from scratch
    with psycopg.connect(world.libpq) as conn:
        conn.execute("TRUNCATE job_runs RESTART IDENTITY")
        _insert(conn, "job_runs", [_run("reconcile", "failed", now - timedelta(hours=1), 0.7, 3, 0)])
    shown = _shown(registry, jobs)
    assert shown == _reference(world, jobs)
    assert shown[("runs", "reconcile")] == {"succeeded": 0, "failed": 1, "skipped": 0, "abandoned": 0, "partial": 0}


# ---------------------------------------------------------------- series bound
def test_max_series_formula():
    j = len(JOBS) + len(FOLLOW_UPS)  # the auto-explain rules' runs, once configured
    for r, c, n in ((4, 2, 6), (1, 1, 0), (10, 5, 6)):
        assert max_series(r, c, n) == 12 * r + 16 * c + 2 * n + 21 * j + 164
    assert max_series(4, 2, 6, jobs=16) == 592


def test_demo_world_series_within_the_bound(demo_world):
    registry = CollectorRegistry()
    register(registry, demo_world.engine, demo_world.cfg)
    series = samples(registry)
    regions, currencies = demo_world.sql("SELECT count(DISTINCT region), count(DISTINCT currency) FROM sites")[0]
    unknown = demo_world.sql("SELECT EXISTS (SELECT 1 FROM rollup_payments r WHERE NOT EXISTS"
                             " (SELECT 1 FROM sites s WHERE s.site_id = r.site_id))")[0][0]
    networks = {s.labels["network"] for m, s in series if m.name == "revwatch_disputes_month"}
    assert value(registry, "revwatch_exporter_up") == 1
    assert len(networks) <= 6
    assert len(series) <= max_series(regions + int(unknown), currencies, 6)
    # and the counters agree with the rollups they sum
    total = demo_world.sql("SELECT sum(attempts) FROM rollup_payments")[0][0]
    assert sum(s.value for m, s in series if s.name == "revwatch_payment_attempts_total") == total
    for m, s in series:
        assert set(s.labels) - {"le"} == FAMILY_LABELS[m.name]


def test_audit_head_refused_gateway_objects_and_partial_runs(make_world):
    """The audit log's head, the object types a gateway refused, and a partial run's freshness, as the
    figure functions give them (metrics/figures/audit_log.head, health.gateway_access, job_runs.DONE)."""
    from metrics.figures.audit_log import head
    from revwatch import audit

    world = make_world()
    now = db_now(world)
    with world.engine.begin() as conn:
        for n in range(3):
            audit.append(conn, "ana", "break.comment", f"break:{n}", {"note": "seen"})
    with psycopg.connect(world.libpq) as conn:
        _insert(conn, "gateway_access", [
            dict(gateway="stripe", object_type="disputes", state="refused", http_status=403, reason="refused",
                 since=now, checked_at=now),
            dict(gateway="stripe", object_type="payouts", state="read", http_status=None, reason=None,
                 since=now, checked_at=now)])
        _insert(conn, "job_runs", [_run("ingest-stripe", "succeeded", now - timedelta(hours=2), 1.0),
                                   _run("ingest-stripe", "partial", now - timedelta(minutes=5), 2.0)])
    registry = CollectorRegistry()
    register(registry, world.engine, world.cfg)
    with world.engine.connect() as conn:
        top = head(conn)
    assert top.seq >= 3
    assert value(registry, "revwatch_audit_head_seq") == top.seq
    assert value(registry, "revwatch_audit_head_digest") == top.digest
    assert value(registry, "revwatch_gateway_object_refused", gateway="stripe", object="disputes") == 1
    assert value(registry, "revwatch_gateway_object_refused", gateway="stripe", object="payouts") == 0
    assert value(registry, "revwatch_job_runs_total", job="ingest-stripe", outcome="partial") == 1
    # the worker's newest job start, Health's "worker stuck" figure
    assert value(registry, "revwatch_worker_last_job_start_timestamp_seconds") == (now - timedelta(minutes=5)).timestamp()
    # a partial run brought data: the newest success for freshness (CollectorStale) is its end
    assert value(registry, "revwatch_job_last_success_timestamp_seconds", job="ingest-stripe") == (
        now - timedelta(minutes=5) + timedelta(seconds=2)).timestamp()


# ---------------------------------------------------------------- the kept figure sections (issue 17)
def _figures(world) -> dict:
    """The gated figure families of a fresh scrape: {(sample name, labels): value}."""
    from metrics.faces.exporter_figures import GATED

    names = {name for _, families in GATED.values() for name in families}
    collector = RevwatchCollector(world.engine, world.cfg, cache_seconds=0)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for m in collector.collect() if m.name in names for s in m.samples}


def test_kept_figures_are_served_while_current_and_read_live_once_not(make_world, pin_clock):
    """The worker keeps the figure sections after the jobs that feed them (metrics/faces/exporter_snapshot.py): a
    cold scrape then reads one row a section. A kept section says what a live read says; it is served until a
    run of a job it reads finishes, a break event comes (reconciliation) or the hour turns."""
    from metrics.faces import exporter_snapshot

    world = make_world()
    now = pin_clock(db_now(world).replace(minute=10, second=0, microsecond=0))
    build(world)
    live = _figures(world)  # nothing kept yet: read live
    assert exporter_snapshot.refresh(world.engine) == list(exporter_snapshot.SECTION_JOBS)
    assert _figures(world) == live
    attempts = ("revwatch_payment_attempts_total", (("gateway", "adyen"), ("method", "wallet"), ("region", "ca-west")))
    judged = ("revwatch_billing_sessions_judged", (("currency", "CAD"),))
    opened = ("revwatch_recon_open_breaks", (("currency", "USD"), ("stage", "S1")))
    assert (live[attempts], live[judged], live[opened]) == (7, 1, 1)

    # rows changed by hand, no job run recorded: the kept figures are what a scrape serves
    world.sql("UPDATE rollup_payments SET attempts = attempts + 100 WHERE site_id = 'site-b' AND payment_method_type = 'wallet'")
    world.sql("UPDATE billing_findings SET currency = 'CAD' WHERE session_id = 'sess-3'")
    world.sql("UPDATE recon_breaks SET state = 'resolved' WHERE item_key = 'attempt:b1'")
    assert (_figures(world)[attempts], _figures(world)[judged], _figures(world)[opened]) == (7, 1, 1)
    # the break's age moves on with the clock, as a live read's would
    age = ("revwatch_recon_oldest_open_break_age_seconds", (("stage", "S1"),))
    pin_clock(now + timedelta(minutes=20))
    assert _figures(world)[age] == live[age] + 20 * 60

    # rollup-payments finishes a run: payments (and disputes) are read live; billing stays kept
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome) VALUES"
              " ('rollup-payments', %s, %s, 'succeeded')", (now, now))
    assert (_figures(world)[attempts], _figures(world)[judged]) == (107, 1)
    # a person resolves a break (the workflow appends an event): reconciliation is read live
    (break_id,) = world.sql("SELECT break_id FROM recon_breaks WHERE item_key = 'attempt:b1'")[0]
    world.sql("INSERT INTO recon_break_events (break_id, at, actor, action, note) VALUES (%s, %s, 'ana', 'resolved', 'x')",
              (break_id, now))
    assert _figures(world)[opened] == 0
    # the next hour: every section is read live (the billing window starts at an hour)
    pin_clock(now + timedelta(hours=1))
    assert _figures(world)[judged] == 2
    # kept again after the jobs ran: served from the snapshot once more
    exporter_snapshot.refresh(world.engine)
    world.sql("UPDATE billing_findings SET currency = 'USD' WHERE session_id = 'sess-3'")
    assert _figures(world)[judged] == 2

