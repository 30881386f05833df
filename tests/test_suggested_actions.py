"""The suggested action per work item, with the figures it needs (issue 19; metrics/figures/suggested_actions.py), on
the hand-built world of tests/worlds/work_queue.py plus the records the actions point at and three ledger breaks;
the journal lines are worked out by hand, and on the demo world every ledger break's lines balance."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from collectors.compute import work_queue as job
from metrics.figures import suggested_actions as sa
from metrics.figures.work_queue import QueueFilters, configured_queue
from revwatch.cli import main
from tests.worlds.recon import add_item
from tests.worlds.work_queue import NOW, PENDING, build, ran


def ledger_break(conn, key: str, item_type: str, break_type: str, amount: int, ref: str, detail: dict) -> None:
    add_item(conn, "S4", key, item_type, "break", "USD", amount, NOW - timedelta(days=2), break_type=break_type,
             left_ref=ref, detail=detail, missing_side="ledger" if break_type == "missing" else None)
    conn.execute(text("INSERT INTO recon_breaks (stage, item_key, state, opened_at) VALUES ('S4', :k, 'open', :at)"),
                 {"k": key, "at": NOW - timedelta(days=1)})


@pytest.fixture
def world(make_world, pin_clock):
    pin_clock(NOW)
    w = make_world()
    build(w)
    with w.engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO invoices (invoice_id, session_id, currency, subtotal_minor, tax_minor, total_minor, issued_at,
                                  status, updated_at)
            VALUES ('inv_a', 'ses_dup', 'CAD', 900, 0, 900, :t1, 'paid', :t1), ('inv_b', 'ses_dup', 'CAD', 900, 0, 900,
                    :t2, 'paid', :t2), ('inv_c', 'ses_tax_over', 'USD', 1000, 13, 1013, :t1, 'open', :t1)"""),
                     {"t1": NOW - timedelta(days=2), "t2": NOW - timedelta(days=2) + timedelta(minutes=5)})
        conn.execute(text("""
            INSERT INTO payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference,
                idempotency_key, amount_minor, currency, status, payment_method_type, attempted_at, updated_at)
            VALUES ('pa_b1', 'inv_b', 1, 'stripe', 'ch_b1', 'k1', 900, 'CAD', 'failed', 'card', :t, :t),
                   ('pa_b2', 'inv_b', 2, 'stripe', 'ch_b2', 'k2', 900, 'CAD', 'succeeded', 'card', :t2, :t2)"""),
                     {"t": NOW - timedelta(days=2), "t2": NOW - timedelta(days=1)})
        ledger_break(conn, "rev:S1:2026-12-02:USD", "revenue_day", "missing", 32763, "REV-S1-2026-12-02",
                     {"subtotal_minor": 30125, "tax_minor": 2638, "gl_revenue_minor": None})
        ledger_break(conn, "payout:adyen:16", "payout_journal", "duplicate", 410580, "ADYEN-16",
                     {"cash_minor": 821160, "fees_minor": 21098, "clearing_minor": 842258, "expected_fees_minor": 10549})
        ledger_break(conn, "refund:rf_1", "refund_journal", "missing", 1176, "rf_1", {})
        job.sync(conn, NOW, PENDING)
    ran(w)
    return w


def actions(world):
    with world.engine.connect() as conn:
        return sa.suggestions(conn, configured_queue(conn, QueueFilters(), world.cfg, NOW), world.cfg)


def test_each_item_gets_its_action_with_the_figures_it_needs(world):
    found = actions(world)
    assert list(found) == list(sa.ACTIONS)
    refunds = found["refund_customer"].set_index("session_id")
    assert refunds.loc["ses_dup"][["how", "invoice_id", "attempt_id", "gateway_reference", "currency", "refund_minor"]
                                  ].tolist() == ["refund", "inv_b", "pa_b2", "ch_b2", "CAD", 900]  # the later invoice
    unpaid = refunds.loc["ses_tax_over"]
    assert [unpaid["how"], unpaid["invoice_id"], unpaid["refund_minor"]] == ["credit note", "inv_c", 13]
    assert pd.isna(unpaid["attempt_id"])  # unpaid: credited, not refunded
    reinvoice = found["reinvoice"].set_index("session_id")["reinvoice_minor"].to_dict()
    assert reinvoice == {"ses_short": 300, "ses_missing": 1250}
    assert found["record_payment"][["attempt_id", "gateway_reference", "amount_minor"]].values.tolist() == [
        ["pa_1", "ch_unrecorded", 2524]]
    assert found["refund_double_charge"].empty
    assert sorted(found["retry_refund"]["refund_id"]) == ["re_failed", "re_slow"]
    evidence = found["submit_evidence"].set_index("dispute_id")
    assert evidence.loc["dp_due", "due_at"] == world.due_by and evidence.loc["dp_due", "amount_minor"] == 4316
    assert found["investigate_break"]["item_type"].tolist() == ["payout"]  # S3: no journal fixes a bank deposit


def test_journal_lines_bring_the_ledger_to_what_it_should_hold_and_balance(world):
    journal = actions(world)["post_journal"]
    lines = {(r.reference, r.account): (r.debit_minor, r.credit_minor) for r in journal.itertuples()}
    cfg = world.cfg
    assert lines == {
        # a revenue day never posted: clearing debit, revenue and tax credit
        ("REV-S1-2026-12-02", cfg.gl_account_clearing): (32763, 0),
        ("REV-S1-2026-12-02", cfg.gl_account_revenue): (0, 30125),
        ("REV-S1-2026-12-02", cfg.gl_account_tax): (0, 2638),
        # a payout booked twice: the second journal reversed
        ("ADYEN-16", cfg.gl_account_cash): (0, 410580),
        ("ADYEN-16", cfg.gl_account_fees): (0, 10549),
        ("ADYEN-16", cfg.gl_account_clearing): (421129, 0),
        # a refund never posted
        ("rf_1", cfg.gl_account_refunds): (1176, 0),
        ("rf_1", cfg.gl_account_clearing): (0, 1176),
    }
    for _, per in journal.groupby("item_ref"):
        assert per["debit_minor"].sum() == per["credit_minor"].sum()


def test_show_actions_exports_each_type_as_the_page_does(world):
    env = {"DATABASE_URL": world.url, "REVWATCH_DATA_DIR": str(world.cfg.revwatch_data_dir)}

    def show(*args):
        result = CliRunner(env=env).invoke(main, ["show", "actions", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    found = actions(world)
    summary = {(r["action"], r["currency"]): r for r in json.loads(show("--format", "json"))}
    assert summary[("refund_customer", "CAD")]["amount_minor"] == 900
    assert summary[("reinvoice", "USD")]["items"] == 2 and summary[("refund_double_charge", None)]["items"] == 0
    rows = list(csv.DictReader(io.StringIO(show("--by", "post_journal", "--format", "csv"))))
    assert len(rows) == len(found["post_journal"]) == 8
    assert list(rows[0]) == list(found["post_journal"].columns)


def test_on_the_demo_world_every_ledger_break_gets_balanced_lines_or_an_investigation(demo_world):
    with demo_world.engine.connect() as conn:
        found = sa.suggestions(conn, configured_queue(conn, QueueFilters(types=("break",)), demo_world.cfg),
                               demo_world.cfg)
    journal, other = found["post_journal"], found["investigate_break"]
    open_breaks = demo_world.sql("SELECT count(*) FROM recon_breaks WHERE state = 'open'")[0][0]
    assert journal["item_ref"].nunique() + len(other) == open_breaks
    for _, per in journal.groupby("item_ref"):
        assert per["debit_minor"].sum() == per["credit_minor"].sum() > 0
    missing_day = next(i["expected"] for i in demo_world.manifest["incidents"] if i["id"] == "revenue_day_missing")
    posted = journal[journal["account"] == demo_world.cfg.gl_account_revenue]
    assert missing_day["subtotal_minor"] in set(posted["credit_minor"])


def test_the_page_counts_each_action_type_as_the_figure_does(world, page_for):
    found = actions(world)
    at = page_for(world, "pages/work_queue.py")
    table = next(d.value for d in at.dataframe if list(d.value.columns) == ["Action", "Items", "Money"])
    assert table["Items"].tolist() == [df["item_ref"].nunique() if len(df) else 0 for df in found.values()]
    assert table.set_index("Action").loc[sa.ACTIONS["refund_customer"], "Money"].startswith("CAD 9.00")
