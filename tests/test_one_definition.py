"""One definition, every face: on the demo world the pages, `revwatch show`, the exporter's /metrics
and the weekly report give the same number for billing accuracy, the payouts missing in the bank
and the stale jobs, because each face calls the one figure function (metrics/figures/)."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from metrics.catalogue import STALE_AFTER_INTERVALS
from metrics.faces.exporter import register
from metrics.figures import billing_accuracy as ba
from metrics.figures import health, overview
from metrics.figures import reconciliation as rc
from metrics.figures import weekly_report as report
from metrics.figures.query import Filters
from revwatch.cli import main
from revwatch.money import format_money
from revwatch.schedule import intervals
from tests.worlds.demo import q


@pytest.fixture
def show(demo_world, monkeypatch):
    """`revwatch show TOPIC ARGS --format json` on the demo world, as rows."""
    monkeypatch.setenv("DATABASE_URL", demo_world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(demo_world.cfg.revwatch_data_dir))

    def run(topic: str, *args: str) -> list[dict]:
        result = CliRunner().invoke(main, ["show", topic, *args, "--format", "json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    return run


def scrape(world) -> dict[str, dict[tuple, float]]:
    """The exporter's samples on a fresh registry: per sample name, label values -> value."""
    registry = CollectorRegistry()
    register(registry, world.engine, world.cfg)
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in registry.collect():
        for s in family.samples:
            out[s.name][tuple(s.labels.values())] = s.value
    return out


def test_billing_accuracy_is_one_figure_on_every_face(demo_world, show, page_for, pin_clock):
    rng = overview.data_range(demo_world.engine)
    assert rng is not None
    whole = Filters(rng.first, rng.last)
    totals = ba.accuracy_totals(demo_world.engine, whole)
    assert sum(t.billable for t in totals) > 0 and sum(t.correct for t in totals) > 0

    # `revwatch show billing` over the same days: its per-currency rows
    rows = [r for r in show("billing", "--from", str(whole.start), "--to", str(whole.end)) if r["class"] == "all"]
    assert {r["currency"]: (r["billable"], r["correct"], r["accuracy"], r["leakage_minor"], r["overcharge_minor"])
            for r in rows} == {t.currency: (t.billable, t.correct, t.accuracy, t.leakage_minor, t.overcharge_minor)
                               for t in totals}

    # the Billing accuracy page (its default range: the last 30 days with data, here all 14)
    shown = {m.label: m.value for m in page_for(demo_world, "pages/billing_accuracy.py").metric}
    assert shown["Billing accuracy"] == f"{ba.overall_accuracy(totals) * 100:.2f}%"
    assert shown["Billable sessions"] == f"{sum(t.billable for t in totals):,}"
    for t in totals:
        assert shown[f"Leakage · {t.currency}"] == format_money(t.leakage_minor, t.currency)

    # the weekly report of a whole ISO week inside the data
    monday = rng.first + timedelta(days=(7 - rng.first.weekday()) % 7)
    week = report.figures(demo_world.engine, report.week_of(monday), demo_world.cfg)
    in_week = ba.accuracy_totals(demo_world.engine, Filters(monday, monday + timedelta(days=6)))
    assert (week.billable, week.correct, week.accuracy) == (
        sum(t.billable for t in in_week), sum(t.correct for t in in_week), ba.overall_accuracy(in_week))

    # the exporter: the sessions exited in the 24 hours before the scrape
    (last_exit,) = q(demo_world.libpq, "SELECT max(exited_at) FROM billing_findings")[0]
    (computed,) = q(demo_world.libpq, "SELECT max(finished_at) FROM job_runs")[0]
    at = max(last_exit + timedelta(hours=1), computed + timedelta(seconds=1))  # once the jobs behind it ran
    pin_clock(at)
    window = ba.accuracy_totals(demo_world.engine, ba.ExitedSince(at - timedelta(hours=24)))
    assert window
    samples = scrape(demo_world)
    for t in window:
        assert samples["revwatch_billing_sessions_judged"][(t.currency,)] == t.billable
        assert samples["revwatch_billing_sessions_correct"][(t.currency,)] == t.correct
        assert samples["revwatch_billing_leakage_minor"][(t.currency,)] == t.leakage_minor


def test_payouts_missing_in_the_bank_is_one_figure_on_every_face(demo_world, show):
    figure = {(r.gateway, r.currency): (r.breaks, r.at_stake_minor) for r in rc.payouts_missing_in_bank(demo_world.engine)}
    assert figure, "the demo world has a payout missing in the bank"

    # `revwatch show breaks` narrowed to that kind of break lists exactly them
    listed: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in show("breaks", "--stage", "S3", "--item-type", "payout", "--break-type", "missing"):
        cell = listed[(r["gateway"], r["currency"])]
        cell[0] += 1
        cell[1] += r["at_stake_minor"]
    assert {k: tuple(v) for k, v in listed.items()} == figure

    # the exporter's samples, which PayoutMissingInBank fires on
    samples = scrape(demo_world)
    assert {k: v for k, v in samples["revwatch_recon_payouts_missing_in_bank"].items() if v} == {
        k: n for k, (n, _) in figure.items()}
    assert {k: v for k, v in samples["revwatch_recon_payouts_missing_in_bank_minor"].items() if v} == {
        k: m for k, (_, m) in figure.items()}


def test_stale_is_one_definition_on_every_face(demo_world, show, page_for, pin_clock):
    schedule = intervals(demo_world.cfg)
    ((newest,),) = q(demo_world.libpq, "SELECT max(finished_at) FROM job_runs WHERE outcome = 'succeeded'")
    # a moment when the every-minute billing ingest is stale but the five-minute jobs are not
    at = newest + timedelta(seconds=STALE_AFTER_INTERVALS * schedule["ingest-billing"] + 90)
    pin_clock(at)
    jobs = {j.job: j for j in health.job_health(demo_world.engine, at, schedule)}
    statuses = {name: j.status for name, j in jobs.items()}
    assert statuses["ingest-billing"] == "stale" and "ok" in statuses.values(), statuses

    # `revwatch show health`
    assert {r["job"]: r["status"] for r in show("health")} == statuses

    # the exporter: the CollectorStale condition over its samples (time() - last success > N x interval)
    samples = scrape(demo_world)
    success = samples["revwatch_job_last_success_timestamp_seconds"]
    interval = samples["revwatch_job_interval_seconds"]
    by_alert = {job: at.timestamp() - success[(job,)] > STALE_AFTER_INTERVALS * interval[(job,)]
                for (job,) in success}
    assert by_alert == {job: jobs[job].stale for job in by_alert}

    # the Health page: its count and its table
    page = page_for(demo_world, "pages/health.py")
    shown = {m.label: m.value for m in page.metric}
    assert shown["Stale"] == str(sum(s == "stale" for s in statuses.values()))
    table = next(d.value for d in page.dataframe if "status" in d.value.columns and "job" in d.value.columns)
    assert dict(zip(table["job"], table["status"], strict=True)) == statuses
