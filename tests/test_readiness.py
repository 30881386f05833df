"""Known, not computed yet, nothing found: metrics/figures/readiness.py read off a run log written by hand."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics.figures.readiness import TOPIC_JOBS, jobs_of, readiness
from revwatch.schedule import CATALOGUE, INGESTS

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(make_world):
    return make_world()


def _run(world, job: str, minute: int, outcome: str = "succeeded", rows: int = 0, error: str | None = None,
         minutes: int = 1) -> None:
    start = T0 + timedelta(minutes=minute)
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written, error) "
              "VALUES (%s, %s, %s, %s, %s, %s)",
              (job, start, None if outcome == "running" else start + timedelta(minutes=minutes), outcome, rows, error))


def test_every_topic_names_catalogue_jobs_and_every_compute_job_reads_ingests():
    for topic, jobs in TOPIC_JOBS.items():
        assert set(jobs) <= set(CATALOGUE), topic
    for spec in CATALOGUE.values():
        assert set(spec.inputs) <= set(INGESTS), spec.name
        assert (spec.kind == "compute") == bool(spec.inputs), spec.name
    assert jobs_of("reconciliation") == (*INGESTS, "reconcile")


def test_nothing_run_is_not_computed_and_says_which_jobs(world):
    r = readiness(world.engine, "billing_accuracy", T0)
    assert not r.known
    assert r.reasons == ("ingest-billing has not run yet", "classify-billing has not run yet")
    assert r.message == "Not computed yet: ingest-billing has not run yet; classify-billing has not run yet."


def test_compute_that_ran_before_the_data_arrived_is_not_computed(world):
    for j in ("ingest-billing", "ingest-stripe", "ingest-adyen", "ingest-ledger", "ingest-fx"):
        _run(world, j, 0, rows=10)
    _run(world, "ingest-bank", 0, rows=0)     # no bank statement yet
    _run(world, "reconcile", 5)               # reconciles what there is
    assert readiness(world.engine, "reconciliation", T0 + timedelta(minutes=7)).known
    _run(world, "ingest-bank", 10, rows=40)   # the bank statements arrive
    r = readiness(world.engine, "reconciliation", T0 + timedelta(minutes=12))
    assert r.reasons == ("reconcile has not run since the bank statements arrived",)
    _run(world, "reconcile", 13, outcome="running")
    r = readiness(world.engine, "reconciliation", T0 + timedelta(minutes=14))
    assert r.reasons == ("reconcile has not run since the bank statements arrived (running since 20 Nov 08:13 UTC)",)
    world.sql("UPDATE job_runs SET outcome = 'succeeded', finished_at = started_at + interval '1 minute' "
              "WHERE outcome = 'running'")
    assert readiness(world.engine, "reconciliation", T0 + timedelta(minutes=15)).known


def test_failed_first_run_says_why_and_an_unconfigured_source_blocks_nothing(world):
    _run(world, "ingest-billing", 0, rows=5)
    _run(world, "ingest-stripe", 0, outcome="skipped", error="STRIPE_API_KEY is not set: Stripe is not read")
    _run(world, "ingest-adyen", 0, outcome="failed", error="could not read report.csv\ntraceback …")
    _run(world, "match-gateway-payments", 2)
    r = readiness(world.engine, "gateway_mismatches", T0 + timedelta(minutes=3))
    assert r.reasons == ("ingest-adyen has not succeeded yet (its last run failed: could not read report.csv)",)
    _run(world, "ingest-adyen", 4, rows=0)
    assert readiness(world.engine, "gateway_mismatches", T0 + timedelta(minutes=6)).known


def test_a_later_run_does_not_count_before_as_of(world):
    _run(world, "ingest-billing", 0, rows=5)
    _run(world, "classify-billing", 30)
    assert not readiness(world.engine, "billing_accuracy", T0 + timedelta(minutes=10)).known
    assert readiness(world.engine, "billing_accuracy", T0 + timedelta(minutes=40)).known


def test_stripe_first_load_says_how_far_it_has_come(world):
    _run(world, "ingest-stripe", 0, outcome="running")
    as_of = T0 + timedelta(minutes=5)
    r = readiness(world.engine, "disputes", as_of, since=date(2026, 11, 10))
    assert "ingest-stripe is running its first load, nothing read yet (running since 20 Nov 08:00 UTC)" in r.reasons
    world.sql("INSERT INTO stripe_charges (id, created, currency, raw, amount, amount_refunded, status) VALUES ('ch_1', %s, 'USD', '{}', 100, 0, 'succeeded')",
              (as_of - timedelta(days=2, hours=12),))
    r = readiness(world.engine, "disputes", as_of, since=date(2026, 11, 10))
    # reached 17 Nov 20:05 of a range from 10 Nov 00:00 to 20 Nov 08:05: 60 of 248.08 hours, 24 %
    assert "ingest-stripe is running its first load, back to 17 Nov 2026, 24 % of the selected days " \
           "(running since 20 Nov 08:00 UTC)" in r.reasons


def test_a_compute_job_waiting_for_a_first_load_says_so(world):
    _run(world, "ingest-billing", 0, outcome="running")
    _run(world, "classify-billing", 1, outcome="skipped",
         error="waiting for the first load of ingest-billing: classify-billing runs once its data is in")
    r = readiness(world.engine, "billing_accuracy", T0 + timedelta(minutes=3))
    assert r.reasons == ("ingest-billing is running its first load (running since 20 Nov 08:00 UTC)",
                         "classify-billing has not succeeded yet (waiting for the first load of ingest-billing:"
                         " classify-billing runs once its data is in)")
