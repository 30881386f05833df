"""`revwatch show TOPIC`: the page's figures on the command line, through the same metrics/ queries."""
from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from metrics import billing_accuracy as ba
from metrics import overview as ov
from metrics import payments as pm
from metrics import show as sh
from revwatch.cli import main


@pytest.fixture(scope="module")
def world(demo_world):
    return demo_world


@pytest.fixture()
def show(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))

    def run(*args, fmt="json"):
        result = CliRunner().invoke(main, ["show", *args, "--format", fmt])
        assert result.exit_code == 0, result.output
        if fmt == "json":
            return json.loads(result.output)
        if fmt == "csv":
            return list(csv.DictReader(io.StringIO(result.output)))
        return result.output

    return run


def _range(world):
    rng = ov.data_range(world.engine)
    return ov.Filters(rng.last - timedelta(days=6), rng.last)


def _args(f):
    return ["--from", f.start.isoformat(), "--to", f.end.isoformat()]


def _check_formats(show, topic, args, rows):
    """csv carries the same rows (as text), table prints one line per row plus the header."""
    as_csv = show(topic, *args, fmt="csv")
    assert len(as_csv) == len(rows)
    for c, j in zip(as_csv, rows):
        assert c == {k: ("" if v is None else str(v)) for k, v in j.items()}
    table = show(topic, *args, fmt="table")
    assert len(table.strip().splitlines()) == (len(rows) + 2 if rows else 1)


def test_overview(world, show):
    f = _range(world)
    rows = show("overview", *_args(f))
    k = ov.range_kpis(world.engine, f)
    by = {r["kpi"]: r for r in rows if r["currency"] is None}
    assert by["sessions"]["value"] == k.sessions > 0 and by["sessions"]["previous"] == k.previous_sessions
    s = by["success_rate"]
    assert (s["numerator"], s["denominator"]) == (k.payments.succeeded, k.payments.attempts)
    assert s["value"] == pytest.approx(k.payments.succeeded / k.payments.attempts) and 0 <= s["value"] <= 1
    money = [r for r in rows if r["unit"] == "money"]
    assert money and all(isinstance(r["value"], int) and r["currency"] for r in money)
    _check_formats(show, "overview", _args(f), rows)
    assert "%" in show("overview", *_args(f), fmt="table")


def test_payments_per_gateway_and_day(world, show):
    f = _range(world)
    rows = show("payments", *_args(f))
    series = pm.success_series(world.engine, f, "day")
    assert sum(r["attempts"] for r in rows) == int(series["attempts"].sum()) > 0
    got = {(r["local_date"], r["gateway"]): r for r in rows}
    for s in series.itertuples():
        r = got[(s.period.isoformat(), s.gateway)]
        assert (r["attempts"], r["succeeded"], r["failed"]) == (s.attempts, s.succeeded, s.failed)
        assert r["success_rate"] == pytest.approx(s.succeeded / s.attempts)
    day = f.end
    for g in pm.outcomes_by_gateway(world.engine, ov.Filters(day, day)).itertuples():
        r = got[(day.isoformat(), g.gateway)]
        assert (r["invoices_charged"], r["first_succeeded"], r["eventually_succeeded"], r["recovered"]) == (
            g.attempted, g.first_succeeded, g.succeeded, g.recovered)
        assert r["first_attempt_rate"] == pytest.approx(g.first_succeeded / g.attempted)
    _check_formats(show, "payments", _args(f), rows)


@pytest.mark.parametrize("by", ["method", "brand", "region", "site", "decline_class"])
def test_payments_by(world, show, by):
    f = _range(world)
    rows = show("payments", *_args(f), "--by", by)
    assert rows
    if by == "decline_class":
        failed = pm.decline_classes(world.engine, f)
        assert sum(r["failed"] for r in rows) == int(failed["failed"].sum()) == rows[0]["all_failed"]
    else:
        total = int(pm.success_series(world.engine, f, "day")["attempts"].sum())
        assert sum(r["attempts"] for r in rows) == total
        for r in rows:
            assert r["success_rate"] == pytest.approx(r["succeeded"] / r["attempts"])
    _check_formats(show, "payments", [*_args(f), "--by", by], rows)


def test_payments_by_currency_keeps_only_that_currency(world, show):
    f = _range(world)
    rows = show("payments", *_args(f), "--by", "method")
    cur = rows[0]["currency"]
    only = show("payments", *_args(f), "--by", "method", "--currency", cur.lower())
    assert only == [r for r in rows if r["currency"] == cur]


def test_declines(world, show):
    f = _range(world)
    rows = show("declines", *_args(f))
    codes = pm.failure_codes(world.engine, f, limit=100_000)
    assert [(r["gateway"], r["failure_code"], r["decline_class"], r["failed"]) for r in rows] == [
        (c.gateway, c.failure_code, c.decline_class, c.failed) for c in codes.itertuples()]
    total = int(codes["failed"].sum())
    assert all(r["all_failed"] == total and r["share"] == pytest.approx(r["failed"] / total) for r in rows)
    _check_formats(show, "declines", _args(f), rows)


def test_billing(world, show):
    f = _range(world)
    rows = show("billing", *_args(f))
    acc = ba.accuracy(world.engine, f, by=("class", "currency"))
    money = ba.leakage_overcharge(world.engine, f, by="class")
    total = [r for r in rows if r["class"] == "all"]
    per_class = {(r["class"], r["currency"]): r for r in rows if r["class"] != "all"}
    # every row's counts are that class's and currency's own
    assert len(per_class) == len(acc) > 0
    for a in acc.itertuples():
        r = per_class[(a[1], a.currency)]
        assert (r["billable"], r["correct"], r["findings"]) == (a.billable, a.correct, a.findings)
        assert r["accuracy"] == (pytest.approx(a.correct / a.billable) if a.billable else None)
    for m in money.itertuples():
        assert per_class[(m[1], m.currency)]["leakage_minor"] == m.leakage_minor
    # the `all` rows: one per currency, its own counts; summed over currencies = the overall figures
    assert len({r["currency"] for r in total}) == len(total) > 1
    for t in total:
        mine = [r for r in per_class.values() if r["currency"] == t["currency"]]
        assert t["billable"] == sum(r["billable"] for r in mine) and t["correct"] == sum(r["correct"] for r in mine)
        assert t["accuracy"] == pytest.approx(t["correct"] / t["billable"])
    overall = ba.accuracy(world.engine, f, by="site_id")  # what the page's headline adds up
    assert sum(t["billable"] for t in total) == int(overall["billable"].sum()) > 0
    assert sum(t["correct"] for t in total) == int(overall["correct"].sum())
    assert sum(t["findings"] for t in total) == int(overall["findings"].sum())
    (billable, correct), = world.sql(
        "SELECT count(*) FILTER (WHERE billable), count(*) FILTER (WHERE class = 'correct') FROM billing_findings"
        " WHERE local_date BETWEEN %s AND %s", (f.start, f.end))
    assert (sum(t["billable"] for t in total), sum(t["correct"] for t in total)) == (billable, correct)
    for cur, g in money.groupby("currency"):
        t = next(r for r in total if r["currency"] == cur)
        assert (t["leakage_minor"], t["overcharge_minor"]) == (int(g["leakage_minor"].sum()), int(g["overcharge_minor"].sum()))
    cur = total[0]["currency"]
    assert show("billing", *_args(f), "--currency", cur) == [r for r in rows if r["currency"] == cur]
    _check_formats(show, "billing", _args(f), rows)


def test_misbilled(world, show):
    f = _range(world)
    rows = show("misbilled", *_args(f))
    expected = ba.mis_billed(world.engine, f, limit=100_000)
    assert rows and [r["session_id"] for r in rows] == list(expected["session_id"])
    money = ["expected_subtotal_minor", "expected_tax_minor", "expected_total_minor", "billed_currency",
             "billed_subtotal_minor", "billed_tax_minor", "billed_total_minor", "difference_minor"]
    assert list(rows[0]) == ["session_id", "site_id", "local_date", "class", "currency", *money, "invoices",
                             "void_invoices", "problem"]
    findings = {r[0]: r[1:] for r in world.sql(
        "SELECT session_id, " + ", ".join(money) + " FROM billing_findings WHERE class <> 'correct'"
        " AND local_date BETWEEN %s AND %s", (f.start, f.end))}
    assert len(findings) == len(rows)
    for r in rows:
        assert tuple(r[c] for c in money) == findings[r["session_id"]]
        assert r["billed_total_minor"] == r["billed_subtotal_minor"] + r["billed_tax_minor"]
        if r["expected_total_minor"] is not None:
            assert r["expected_total_minor"] == r["expected_subtotal_minor"] + r["expected_tax_minor"]
        if r["expected_total_minor"] is not None and r["difference_minor"] is not None:
            assert r["difference_minor"] == r["billed_total_minor"] - r["expected_total_minor"]
    assert any(r["billed_tax_minor"] for r in rows) and any(r["expected_subtotal_minor"] for r in rows)
    _check_formats(show, "misbilled", _args(f), rows)


def test_breaks(world, show):
    from metrics import reconciliation as rc

    rows = show("breaks")
    expected = rc.breaks(world.engine, rc.BreakFilters(limit=100_000), world.cfg.reporting_currency)
    assert [r["break_id"] for r in rows] == list(expected["break_id"])
    assert all(r["state"] == "open" for r in rows)
    _check_formats(show, "breaks", [], rows)


def test_close(world, show):
    from metrics import reconciliation as rc

    month = ov.data_range(world.engine).last
    rows = show("close", "--month", month.strftime("%Y-%m"))
    cr = rc.close_readiness(world.engine, month, world.cfg)
    assert [(r["stage"], r["currency"], r["items"], r["reconciled_items"]) for r in rows] == [
        (s.stage, s.currency, s["items"], s.reconciled_items) for _, s in cr.shares.iterrows()]
    for r in rows:
        assert r["ready"] == cr.ready
        if r["items"]:
            assert r["item_share"] == pytest.approx(r["reconciled_items"] / r["items"])
    _check_formats(show, "close", ["--month", month.strftime("%Y-%m")], rows)


def test_health(world, show):
    rows = show("health")
    from collectors.jobs import JOBS

    assert set(JOBS) <= {r["job"] for r in rows}
    assert all(r["last_outcome"] for r in rows if r["job"] in JOBS)
    table = show("health", fmt="table")
    assert "rollup-payments" in table


def test_refunds_and_disputes(world, show):
    f = _range(world)
    rows = show("refunds", *_args(f))
    kpis = pm.refund_kpis(world.engine, f)
    assert [(r["currency"], r["refunds"], r["amount_minor"]) for r in rows] == [
        (k.currency, k.refunds, k.amount_minor) for k in kpis.itertuples()]
    _check_formats(show, "refunds", _args(f), rows)
    rows = show("disputes", *_args(f))
    ratios = pm.dispute_ratios(world.engine, f)
    assert [(r["card_brand"], r["disputes"], r["card_payments"]) for r in rows] == [
        (d.card_brand, d.disputes, d.card_payments) for d in ratios.itertuples()]
    for r in rows:
        if r["card_payments"]:
            assert r["ratio"] == pytest.approx(r["disputes"] / r["card_payments"])
    _check_formats(show, "disputes", _args(f), rows)


@pytest.mark.parametrize("args,problem", [
    (["nope"], "nope"),
    (["payments", "--from", "2026-13-01"], "2026-13-01"),
    (["payments", "--from", "2026-11-20", "--to", "2026-11-19"], "--to is before --from"),
    (["payments", "--currency", "XXX"], "unknown currency"),
    (["payments", "--format", "xml"], "xml"),
    (["close", "--month", "2026-1"], "2026-1"),
])
def test_bad_arguments_exit_nonzero_with_one_line(world, monkeypatch, args, problem):
    monkeypatch.setenv("DATABASE_URL", world.url)
    result = CliRunner().invoke(main, ["show", *args])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and problem in errors[0], result.output


def test_render_is_pure():
    import pandas as pd

    df = pd.DataFrame([{"currency": "USD", "amount_minor": 123456, "success_rate": 0.5, "attempts": 2}])
    assert json.loads(sh.render(df, "json")) == [{"currency": "USD", "amount_minor": 123456, "success_rate": 0.5, "attempts": 2}]
    assert sh.render(df, "csv").splitlines() == ["currency,amount_minor,success_rate,attempts", "USD,123456,0.5,2"]
    table = sh.render(df, "table")
    assert "USD 1,234.56" in table and "50.00%" in table
