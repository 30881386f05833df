"""One definition, many faces (issue 19): the Work queue page, `revwatch show queue` and /metrics give the queue
figure's (metrics/figures/work_queue.py) numbers, on the hand-built world of tests/worlds/work_queue.py as of
Friday 4 December 2026 15:00 UTC; and each says "not computed yet" rather than "nothing found" before the jobs ran."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from metrics.faces.exporter import register
from metrics.figures.work_queue import QueueFilters, configured_queue, counts_by_type
from revwatch.cli import main
from revwatch.cli.common import EXIT_NOT_COMPUTED
from revwatch.money import format_money
from revwatch.work_items import BY_NAME
from tests.worlds.work_queue import NOW, gathered, ran

PAGE = "pages/work_queue.py"


@pytest.fixture
def world(make_world, pin_clock):
    return gathered(make_world, pin_clock)


def figure(world):
    with world.engine.connect() as conn:
        return configured_queue(conn, QueueFilters(), world.cfg, NOW)


def show(world, *args):
    env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir)}
    return CliRunner(env=env).invoke(main, ["show", "queue", *args])


def test_show_queue_lists_the_figure_s_items_and_counts(world):
    ran(world)
    q = figure(world)
    result = show(world, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    want = q.items[["work_type", "source_key", "amount_minor", "amount_reporting_minor", "overdue"]].astype(object)
    assert [(r["work_type"], r["source_key"], r["amount_minor"], r["amount_reporting_minor"], r["overdue"])
            for r in rows] == [tuple(None if v is pd.NA else v for v in row) for row in want.itertuples(index=False)]
    assert rows[0]["due_at"].startswith("2026-12-03T15:00:00") and rows[0]["time_left_hours"] == -24
    counts = json.loads(show(world, "--by", "type", "--format", "json").stdout)
    assert [(r["work_type"], r["open"], r["overdue"]) for r in counts] == [
        (c.work_type, c.open, c.overdue) for c in counts_by_type(q)]
    assert {r["work_type"]: r["oldest_age_days"] for r in counts}["break"] == 11
    refunds = json.loads(show(world, "--type", "refund_stuck", "--currency", "USD", "--format", "json").stdout)
    assert [r["source_key"] for r in refunds] == ["re_failed", "re_slow"]
    table = show(world, "--team", "payments operations").stdout
    assert "refund_stuck" in table and "dispute_evidence" not in table
    refused = show(world, "--stage", "S1")
    assert refused.exit_code == 2 and "--stage applies to breaks only" in refused.output


def test_show_queue_says_not_computed_yet_before_the_job_ran(world):
    result = show(world)
    assert result.exit_code == EXIT_NOT_COMPUTED, result.output  # the figures, but not known yet
    assert "Not computed yet" in result.stderr and "work-queue" in result.stderr


def test_metrics_serve_the_figure_s_counts_per_type_and_state(world, monkeypatch):
    monkeypatch.setenv("WORK_PAGE_CUSTOMER_OVERDUE", "true")
    from revwatch.settings import load_settings

    registry = CollectorRegistry()
    register(registry, world.engine, load_settings(database_url=world.url))
    assert registry.get_sample_value("revwatch_work_items_open", {"work_type": "break", "state": "unassigned"}) is None
    ran(world)
    registry = CollectorRegistry()
    register(registry, world.engine, load_settings(database_url=world.url))
    q = figure(world)
    for c in counts_by_type(q):
        open_ = sum(registry.get_sample_value("revwatch_work_items_open", {"work_type": c.work_type, "state": s})
                    for s in ("unassigned", "assigned", "awaiting_approval"))
        assert open_ == c.open
        assert registry.get_sample_value("revwatch_work_items_overdue", {"work_type": c.work_type}) == c.overdue
    assert registry.get_sample_value("revwatch_work_items_overdue", {"work_type": "break"}) == 1
    assert registry.get_sample_value("revwatch_work_items_oldest_age_seconds", {"work_type": "break"}) == 11 * 86400
    assert registry.get_sample_value("revwatch_work_items_oldest_age_seconds", {"work_type": "dispute_evidence"}) == 0
    assert registry.get_sample_value("revwatch_work_customer_paging", {}) == 1


def _table(at, *columns):
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise KeyError(columns)


def test_the_page_shows_the_figure_s_items_counts_and_money(world, page_for):
    ran(world)
    q = figure(world)
    at = page_for(world, PAGE)
    assert at.title[0].value == "Work queue"
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Open items"], metrics["Overdue"]) == (f"{q.total:,}", "1")
    assert metrics["Owed to customers (USD)"] == format_money(675 + 2524 + 664 + 500 + 13, "USD")  # CAD 9.00 at 0.75
    assert any(c.value == "Owed to customers, per currency: " + " · ".join(
        [format_money(900, "CAD"), format_money(2524 + 664 + 500 + 13, "USD")]) for c in at.caption)
    per_type = _table(at, "Type", "Open", "Overdue", "Service level")
    assert list(per_type["Open"]) == [c.open for c in counts_by_type(q)]
    assert per_type["Service level"].iloc[0] == "10 days"
    items = _table(at, "Due", "Time left", "Amount")
    assert list(items["Type"]) == [BY_NAME[t].label for t in q.items["work_type"]]
    first = items.iloc[0]
    assert (first["Due"], first["Time left"], first["Amount"]) == ("03 Dec 2026 15:00 UTC", "overdue 1 d 0 h",
                                                                   format_money(75, "USD"))
    dup = items[items["Amount"] == format_money(900, "CAD")].iloc[0]
    assert (dup["In USD"], dup["Customer owed"], dup["Company lost or at risk"]) == (
        format_money(675, "USD"), format_money(900, "CAD"), "–")
    assert items["Trace"].iloc[0] == "trace?id=po_1"
    assert any("All 10 items" in c.value for c in at.caption)
    at.multiselect(key="wq_types").set_value(["refund_stuck"]).run()
    assert len(_table(at, "Due", "Time left", "Amount")) == 2


def test_the_page_says_not_computed_yet_before_the_job_ran(make_world, page_for, pin_clock):
    pin_clock(NOW)
    at = page_for(make_world(), PAGE)
    assert any("Not computed yet" in w.value for w in at.warning)
    assert not at.success  # never "nothing found" while not known
