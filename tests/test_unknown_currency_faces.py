"""Codes outside ISO 4217 never crash a face (issue 15, point 4): a site billing in `QQQ` and an
invoice (and its attempts) in `XXQ` are shown with their code, in minor units, saying the currency
is unknown, by `revwatch show billing | misbilled | payments` and by the Overview, Billing accuracy
and Payments pages. The world: tests/worlds/odd_billing.py."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from collectors.jobs import JOBS
from revwatch.cli import main
from revwatch.money import format_money
from tests.worlds.billing import H, T
from tests.worlds.computed import all_computed
from tests.worlds.odd_billing import add_unknown_currencies, build

DAY = T.date()
ARGS = ("--from", DAY.isoformat(), "--to", DAY.isoformat())


@pytest.fixture(scope="module")
def world(make_world):
    w = build(make_world())
    add_unknown_currencies(w)
    for job in JOBS.values():
        if job.kind == "compute":
            job.run(w.engine, w.cfg, T - 24 * H, T + 48 * H)
    all_computed(w)
    return w


@pytest.fixture
def show(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))

    def run(*args):
        result = CliRunner().invoke(main, ["show", *args, "--wide"])
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


def test_format_money_of_an_unknown_code_says_so():
    assert format_money(1234, "QQQ") == "QQQ 1234 (minor units, unknown currency)"
    assert format_money(-5, "XXQ") == "XXQ -5 (minor units, unknown currency)"
    assert format_money(1234, "USD") == "USD 12.34"


QQQ_660 = "QQQ 660 (minor units, unknown currency)"
XXQ_660 = "XXQ 660 (minor units, unknown currency)"


def test_show_billing_and_misbilled_print_the_codes(show):
    table = show("billing", *ARGS, "--format", "table")
    assert "QQQ 330 (minor units, unknown currency)" in table  # Q2's leakage
    rows = {(r["class"], r["currency"]): r for r in json.loads(show("billing", *ARGS, "--format", "json"))}
    assert rows[("all", "QQQ")]["leakage_minor"] == 330 and rows[("all", "QQQ")]["correct"] == 1
    table = show("misbilled", *ARGS, "--format", "table")
    q2 = next(line for line in table.splitlines() if line.startswith("Q2 "))
    assert QQQ_660 in q2 and "QQQ -330 (minor units, unknown currency)" in q2
    xq = next(line for line in table.splitlines() if line.startswith("XQ "))
    assert "currency_mismatch" in xq and XXQ_660 in xq and "USD 6.60" in xq
    found = {r["session_id"]: r for r in json.loads(show("misbilled", *ARGS, "--format", "json"))}
    assert (found["XQ"]["billed_currency"], found["XQ"]["billed_total_minor"]) == ("XXQ", 660)
    assert "XXQ" in show("misbilled", *ARGS, "--format", "csv")


def test_show_payments_prints_the_codes(show):
    table = show("payments", *ARGS, "--format", "table")
    assert XXQ_660 in next(line for line in table.splitlines() if " XXQ " in line)  # recovered by the retry
    rows = {r["currency"]: r for r in json.loads(show("payments", *ARGS, "--format", "json"))}
    assert (rows["QQQ"]["attempts"], rows["QQQ"]["succeeded"]) == (2, 1)
    assert (rows["XXQ"]["recovered"], rows["XXQ"]["recovered_minor"]) == (1, 660)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_overview_page_shows_the_codes(world, page_for, pin_clock):
    pin_clock(T + 12 * H)  # "today" is the world's day: revenue to date per currency, QQQ and XXQ included
    shown = _metrics(page_for(world, "pages/overview.py"))
    assert shown["Today · QQQ"] == "QQQ 990 (minor units, unknown currency)"  # Q1 660 + Q2 330
    assert shown["Today · XXQ"] == XXQ_660


def _row(at, column: str, key: str, value) -> dict:
    """The row whose `key` is `value` of the first table that has `column` and such a row."""
    for t in at.dataframe:
        df = t.value
        if column in df.columns and key in df.columns and value in set(df[key]):
            return df[df[key] == value].iloc[0].to_dict()
    raise AssertionError(f"no table with {column} and a row {key} = {value!r}")


def test_billing_accuracy_page_shows_the_codes(world, page_for):
    at = page_for(world, "pages/billing_accuracy.py")
    shown = _metrics(at)
    assert shown["Leakage · QQQ"] == "QQQ 330 (minor units, unknown currency)"
    assert shown["Overcharge · QQQ"] == "QQQ 0 (minor units, unknown currency)"
    q2 = _row(at, "billed", "session_id", "Q2")
    assert (q2["expected"], q2["billed"]) == (QQQ_660, "QQQ 330 (minor units, unknown currency)")
    assert q2["difference"] == "QQQ -330 (minor units, unknown currency)"
    xq = _row(at, "billed", "session_id", "XQ")
    assert (xq["class"], xq["expected"], xq["billed"]) == ("Currency mismatch", "USD 6.60", XXQ_660)


def test_payments_page_shows_the_codes(world, page_for):
    at = page_for(world, "pages/payments.py")
    qqq = _row(at, "attempted amount", "currency", "QQQ")
    assert (qqq["attempted amount"], qqq["succeeded amount"]) == ("QQQ 990 (minor units, unknown currency)", QQQ_660)
    xxq = _row(at, "attempted amount", "currency", "XXQ")
    assert (xxq["attempted amount"], xxq["succeeded amount"]) == ("XXQ 1320 (minor units, unknown currency)", XXQ_660)
    assert _row(at, "recovered amount", "currency", "XXQ")["recovered amount"] == XXQ_660
