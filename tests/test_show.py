"""`revwatch show TOPIC`: the page's figures on the command line, through the same metrics/ queries.

Two datasets: the hand-built payments world of tests/worlds/payments.py, whose figures are
worked out below by hand, and the demo world, where every row must equal the query function the
page calls (and SQL) at a realistic size. Billing topics: tests/test_show_billing.py;
reconciliation and health: tests/test_show_recon.py.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from collectors.jobs import JOBS
from metrics.faces import show as sh
from metrics.faces import show_format
from metrics.figures import billing_accuracy as ba
from metrics.figures import disputes as dp
from metrics.figures import overview as ov
from metrics.figures import payments as pm
from metrics.figures import refunds as rf
from metrics.figures.query import Filters
from revwatch.cli import main
from revwatch.money import format_money
from tests.worlds.billing import EVERY_JUDGED
from tests.worlds.computed import all_computed
from tests.worlds.payments import build as build_payments
from tests.worlds.payments import t


def cli(world, monkeypatch):
    """`revwatch show ...` against `world`, parsed by format (json: rows, csv: dicts of text)."""
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))

    def run(*args, fmt="json"):
        result = CliRunner().invoke(main, ["show", *args, "--format", fmt])
        assert result.exit_code == 0, result.output
        if fmt == "json":
            return json.loads(result.stdout)
        if fmt == "csv":
            return list(csv.DictReader(io.StringIO(result.stdout)))
        return result.stdout

    return run


@pytest.fixture(scope="module")
def world(demo_world):
    return demo_world


@pytest.fixture
def show(world, monkeypatch):
    return cli(world, monkeypatch)


@pytest.fixture(scope="module")
def hand(make_world):
    """tests/worlds/payments.py's world: 2 sites (W1 Los Angeles USD, E1 Toronto CAD), six
    invoices issued on 10 Nov 2026, eight attempts, three refunds, four disputes; its figures known."""
    world = build_payments(make_world())
    all_computed(world)
    return world


@pytest.fixture
def show_hand(hand, monkeypatch):
    return cli(hand, monkeypatch)


NOV10_12 = ["--from", "2026-11-10", "--to", "2026-11-12"]
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]
PAYMENT_COLUMNS = ["local_date", "gateway", "currency", "attempts", "succeeded", "success_rate", "failed",
                   "gateway_errors", "invoices_charged", "first_succeeded", "first_attempt_rate",
                   "eventually_succeeded", "eventual_rate", "recovered", "recovered_minor"]


def rows_of(columns, *values):
    return [dict(zip(columns, v, strict=True)) for v in values]


# ---------------------------------------------------------------- hand-built: figures worked out by hand
def test_hand_payments_per_day_gateway_and_currency(show_hand, hand):
    # Attempts by their local day: a3 (02:00 UTC on the 11th) is still the 10th in Los Angeles,
    # a6 is the 12th in Toronto. Invoices by their issue day, under the gateway of their first attempt:
    # stripe USD i1 (paid first try), i2 (failed, recovered by a3: 2000); adyen USD i3 (expired, unpaid);
    # adyen CAD i5 (acquirer error then refused: unpaid), i6 (unclassified, recovered by a8: 1500).
    # i4 is void and never charged. Gateway errors: a5's "Acquirer Error" only.
    want = rows_of(
        PAYMENT_COLUMNS,
        ("2026-11-10", "adyen", "CAD", 3, 1, 1 / 3, 2, 1, 2, 0, 0.0, 1, 0.5, 1, 1500),
        ("2026-11-10", "adyen", "USD", 1, 0, 0.0, 1, 0, 1, 0, 0.0, 0, 0.0, 0, 0),
        ("2026-11-10", "stripe", "USD", 3, 2, 2 / 3, 1, 0, 2, 1, 0.5, 2, 1.0, 1, 2000),
        ("2026-11-12", "adyen", "CAD", 1, 0, 0.0, 1, 0, 0, 0, None, 0, None, 0, 0))
    assert show_hand("payments", *NOV10_12) == want
    assert show_hand("payments", *NOV10_12, "--currency", "cad") == [want[0], want[3]]
    assert show_hand("payments", *NOV10_12, "--region", "west") == [want[1], want[2]]
    _check_formats(show_hand, "payments", NOV10_12, want)
    table = show_hand("payments", *NOV10_12, fmt="table")
    assert format_money(1500, "CAD") in table and "33.33%" in table

    # the same figures as the Payments page's query functions, for the same days
    f = Filters(date(2026, 11, 10), date(2026, 11, 12))
    h = pm.headline(hand.engine, f)
    assert (sum(r["attempts"] for r in want), sum(r["succeeded"] for r in want)) == (h.attempts, h.succeeded)
    assert sum(r["recovered"] for r in want) == h.recovered
    assert {r["currency"]: r["recovered_minor"] for r in want if r["recovered_minor"]} == h.recovered_minor


def test_hand_payments_by(show_hand):
    assert show_hand("payments", *NOV10_12, "--by", "method") == rows_of(
        ["gateway", "method", "currency", "attempts", "succeeded", "success_rate", "failed", "amount_minor",
         "succeeded_minor"],
        # adyen CAD: a5, a6 (4000 each, i5), a7, a8 (1500 each, i6); a8 succeeded
        ("adyen", "card", "CAD", 4, 1, 0.25, 3, 11000, 1500),
        ("adyen", "card", "USD", 1, 0, 0.0, 1, 3000, 0),
        # stripe: a1 1000 ok, a2 2000 failed, a3 2000 ok
        ("stripe", "card", "USD", 3, 2, 2 / 3, 1, 5000, 3000))
    assert show_hand("payments", *NOV10_12, "--by", "brand") == rows_of(
        ["gateway", "card_brand", "currency", "attempts", "succeeded", "success_rate", "failed", "amount_minor",
         "succeeded_minor"],
        ("adyen", "mastercard", "CAD", 4, 1, 0.25, 3, 11000, 1500),
        ("adyen", "mastercard", "USD", 1, 0, 0.0, 1, 3000, 0),
        ("stripe", "visa", "USD", 3, 2, 2 / 3, 1, 5000, 3000))
    assert [(r["gateway"], r["region"], r["attempts"]) for r in show_hand("payments", *NOV10_12, "--by", "region")] == [
        ("adyen", "east", 4), ("adyen", "west", 1), ("stripe", "west", 3)]
    assert show_hand("payments", *NOV10_12, "--by", "site") == rows_of(
        ["site_id", "gateway", "attempts", "succeeded", "success_rate", "failed", "gateway_errors"],
        ("E1", "adyen", 4, 1, 0.25, 3, 1), ("W1", "adyen", 1, 0, 0.0, 1, 0), ("W1", "stripe", 3, 2, 2 / 3, 1, 0))
    # five failures, one of each (gateway, class): Acquirer Error, Expired Card, Refused, weird_new_code, insufficient_funds
    assert show_hand("payments", *NOV10_12, "--by", "decline_class") == rows_of(
        ["gateway", "decline_class", "failed", "all_failed", "share"],
        ("adyen", "gateway_error", 1, 5, 0.2), ("adyen", "hard", 1, 5, 0.2), ("adyen", "soft", 1, 5, 0.2),
        ("adyen", "unclassified", 1, 5, 0.2), ("stripe", "soft", 1, 5, 0.2))


def test_hand_declines(show_hand, hand):
    want = rows_of(
        ["gateway", "failure_code", "label", "decline_class", "failed", "all_failed", "share"],
        ("adyen", "Acquirer Error", "Acquirer error", "gateway_error", 1, 5, 0.2),
        ("adyen", "Expired Card", "Expired card", "hard", 1, 5, 0.2),
        ("adyen", "Refused", "Refused", "soft", 1, 5, 0.2),
        ("adyen", "weird_new_code", "weird_new_code", "unclassified", 1, 5, 0.2),  # unknown code: its own label
        ("stripe", "insufficient_funds", "Insufficient funds", "soft", 1, 5, 0.2))
    assert show_hand("declines", *NOV10_12) == want
    _check_formats(show_hand, "declines", NOV10_12, want)
    codes = pm.failure_codes(hand.engine, Filters(date(2026, 11, 10), date(2026, 11, 12)))
    assert list(codes["failure_code"]) == [r["failure_code"] for r in want]


def test_hand_refunds(show_hand):
    # r1 USD 400 succeeded a day after a1 (86 400 s); r2 USD 2000 failed 6 h after a3 (21 600 s);
    # r3 CAD 1500 succeeded 2 h after a8 (7 200 s). The week before has no data: no comparison.
    want = rows_of(
        ["currency", "refunds", "amount_minor", "succeeded", "failed", "pending", "failed_minor", "timed_refunds",
         "refund_seconds", "mean_seconds_to_refund", "previous_refunds", "previous_amount_minor"],
        ("CAD", 1, 1500, 1, 0, 0, 0, 1, 7200, 7200.0, None, None),
        ("USD", 2, 2400, 1, 1, 0, 2000, 2, 108000, 54000.0, None, None))
    assert show_hand("refunds", *NOV10_12) == want
    _check_formats(show_hand, "refunds", NOV10_12, want)
    assert show_hand("refunds", *NOV10_12, "--by", "reason") == rows_of(
        ["reason", "gateway", "currency", "refunds", "amount_minor", "failed"],
        ("customer_complaint", "stripe", "USD", 1, 400, 0), ("duplicate", "stripe", "USD", 1, 2000, 1),
        ("goodwill", "adyen", "CAD", 1, 1500, 0))
    # r3 at 01:00 UTC on the 11th is the evening of the 10th in Toronto
    assert show_hand("refunds", *NOV10_12, "--by", "day") == rows_of(
        ["local_date", "currency", "refunds", "amount_minor"], ("2026-11-10", "CAD", 1, 1500),
        ("2026-11-11", "USD", 2, 2400))


def test_hand_disputes(show_hand):
    # visa: dp_1 (lost) and dp_2 (open) over a1, a3 (two successful visa payments);
    # mastercard: the chargeback on a8 (reported twice, reversed: one dispute, won) and one on an
    # unknown payment (lost), over one successful mastercard payment (a8).
    want = rows_of(
        ["month", "card_brand", "disputes", "card_payments", "ratio", "threshold", "over_threshold"],
        ("2026-11", "mastercard", 2, 1, 2.0, 0.015, True), ("2026-11", "visa", 2, 2, 1.0, 0.009, True))
    assert show_hand("disputes", *NOVEMBER) == want
    _check_formats(show_hand, "disputes", NOVEMBER, want)
    assert show_hand("disputes", *NOVEMBER, "--by", "currency") == rows_of(
        ["currency", "disputes", "amount_minor", "won", "lost", "open", "lost_minor", "previous_disputes"],
        ("CAD", 2, 2200, 1, 1, 0, 700, None), ("USD", 2, 3000, 0, 1, 1, 1000, None))
    by_reason = show_hand("disputes", *NOVEMBER, "--by", "reason")
    assert {(r["gateway"], r["reason"], r["card_brand"], r["disputes"], r["lost_minor"]) for r in by_reason} == {
        ("stripe", "fraudulent", "visa", 1, 1000), ("stripe", "product_not_received", "visa", 1, 0),
        ("adyen", "", "mastercard", 2, 700)}


def test_hand_overview(show_hand, hand):
    # 6 sessions; 8 attempts, 3 succeeded (a1, a3, a8), 5 failed; first attempts a1 a2 a4 a5 a7,
    # of which a1 succeeded. The 3 days before hold no data: no comparison, as on the page.
    rows = show_hand("overview", *NOV10_12)
    counts = {r["kpi"]: (r["value"], r["numerator"], r["denominator"], r["previous"]) for r in rows if not r["currency"]}
    assert counts == {"sessions": (6, None, None, None), "payment_attempts": (8, None, None, None),
                      "success_rate": (3 / 8, 3, 8, None), "first_attempt_success_rate": (1 / 5, 1, 5, None),
                      "failed_attempts": (5, None, None, None)}
    _check_formats(show_hand, "overview", NOV10_12, rows)
    # revenue to date at 20:00 UTC on Thursday 12 Nov: nothing invoiced today; week and month to
    # date: USD i1 + i2 + i3 = 6000 (i4 void), CAD i5 + i6 = 5500; the week and month before had none.
    at = sh.overview(hand.engine, sh.Options(start=date(2026, 11, 10), end=date(2026, 11, 12), as_of=t("2026-11-12 20:00")))
    revenue = {(r["kpi"], r["currency"]): (r["value"], r["previous"]) for r in show_format.records(at) if r["unit"] == "money"}
    assert revenue == {("revenue_today", "CAD"): (0, None), ("revenue_today", "USD"): (0, None),
                       ("revenue_wtd", "CAD"): (5500, None), ("revenue_wtd", "USD"): (6000, None),
                       ("revenue_mtd", "CAD"): (5500, None), ("revenue_mtd", "USD"): (6000, None)}


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_hand_pages_show_the_same_figures(hand, show_hand, page_for):
    """With no range given, command and page both take the last days with data: the same figures."""
    rows = show_hand("payments")
    at = page_for(hand, "pages/payments.py")
    shown = _metrics(at)
    attempts, ok = sum(r["attempts"] for r in rows), sum(r["succeeded"] for r in rows)
    charged = sum(r["invoices_charged"] for r in rows)
    assert shown["Attempt success rate"] == f"{ok / attempts * 100:.2f}%" == "37.50%"
    assert shown["Paid on first try"] == f"{sum(r['first_succeeded'] for r in rows) / charged * 100:.2f}%" == "20.00%"
    assert shown["Paid eventually"] == f"{sum(r['eventually_succeeded'] for r in rows) / charged * 100:.2f}%"
    assert shown["Failed attempts"] == f"{sum(r['failed'] for r in rows):,}"
    recovered = " · ".join(format_money(r["recovered_minor"], r["currency"]) for r in rows if r["recovered_minor"])
    assert any(f"Recovered by retry: {recovered}" in c.value for c in at.caption), recovered

    kpis = {r["kpi"]: r for r in show_hand("overview")}
    shown = _metrics(page_for(hand, "pages/overview.py"))
    assert shown["Sessions"] == f"{kpis['sessions']['value']:,}" == "6"
    assert shown["Payment success rate"] == f"{kpis['success_rate']['value'] * 100:.2f}%" == "37.50%"
    assert shown["First-attempt success rate"] == f"{kpis['first_attempt_success_rate']['value'] * 100:.2f}%" == "20.00%"
    assert shown["Failed attempts"] == f"{kpis['failed_attempts']['value']:,}" == "5"

    at = page_for(hand, "pages/refunds_disputes.py")
    shown = _metrics(at)
    for r in show_hand("refunds"):
        cur = r["currency"]
        assert shown[f"Refunded · {cur}"] == format_money(r["amount_minor"], cur)
        assert shown[f"Refunds · {cur}"] == f"{r['refunds']:,}"
        assert shown[f"Failed refunds · {cur}"] == f"{r['failed']:,}"
    ratios = next(d.value for d in at.dataframe if "card payments" in d.value.columns)  # text for people
    cli_ratios = show_hand("disputes")
    assert [(r["card_brand"], f"{r['card_payments']:,}") for r in cli_ratios] == list(
        zip(ratios["network"], ratios["card payments"], strict=True))


def _range(world):
    rng = ov.data_range(world.engine)
    return Filters(rng.last - timedelta(days=6), rng.last)


def _args(f):
    return ["--from", f.start.isoformat(), "--to", f.end.isoformat()]


def _check_formats(show, topic, args, rows):
    """csv carries the same rows (as text), table (--wide) prints one line per row plus the header."""
    as_csv = show(topic, *args, fmt="csv")
    assert len(as_csv) == len(rows)
    for c, j in zip(as_csv, rows, strict=True):
        assert c == {k: ("" if v is None else str(v)) for k, v in j.items()}
    table = show(topic, *args, "--wide", fmt="table")
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
    series = pm.success_series(world.engine, f, "day", by=("currency",))
    assert sum(r["attempts"] for r in rows) == int(series["attempts"].sum()) > 0
    got = {(r["local_date"], r["gateway"], r["currency"]): r for r in rows}
    for s in series.itertuples():
        r = got[(s.period.isoformat(), s.gateway, s.currency)]
        assert (r["attempts"], r["succeeded"], r["failed"]) == (s.attempts, s.succeeded, s.failed)
        assert r["success_rate"] == pytest.approx(s.succeeded / s.attempts)
    day = f.end
    for g in pm.outcomes_by_gateway(world.engine, Filters(day, day), by=("currency",)).itertuples():
        r = got[(day.isoformat(), g.gateway, g.currency)]
        assert (r["invoices_charged"], r["first_succeeded"], r["eventually_succeeded"], r["recovered"],
                r["recovered_minor"]) == (g.attempted, g.first_succeeded, g.succeeded, g.recovered, g.recovered_minor)
        assert r["first_attempt_rate"] == pytest.approx(g.first_succeeded / g.attempted)
    h = pm.headline(world.engine, f)
    recovered: dict[str, int] = {}
    for r in rows:
        recovered[r["currency"]] = recovered.get(r["currency"], 0) + r["recovered_minor"]
    assert {c: v for c, v in recovered.items() if v} == h.recovered_minor
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
    codes = pm.failure_codes(world.engine, f, limit=None)
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
    for cur_total in total:
        mine = [r for r in per_class.values() if r["currency"] == cur_total["currency"]]
        assert cur_total["billable"] == sum(r["billable"] for r in mine)
        assert cur_total["correct"] == sum(r["correct"] for r in mine)
        assert cur_total["accuracy"] == pytest.approx(cur_total["correct"] / cur_total["billable"])
    overall = ba.accuracy(world.engine, f, by="site_id")  # what the page's headline adds up
    assert sum(t["billable"] for t in total) == int(overall["billable"].sum()) > 0
    assert sum(t["correct"] for t in total) == int(overall["correct"].sum())
    assert sum(t["findings"] for t in total) == int(overall["findings"].sum())
    (billable, correct), = world.sql(
        "SELECT sum(n) FILTER (WHERE billable), sum(n) FILTER (WHERE class = 'correct') FROM " + EVERY_JUDGED
        + " WHERE local_date BETWEEN %s AND %s", (f.start, f.end))
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
    expected = ba.mis_billed(world.engine, f, limit=None)
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
    from metrics.figures import reconciliation as rc

    rows = show("breaks")
    expected = rc.breaks(world.engine, rc.BreakFilters(limit=None), world.cfg.reporting_currency)
    assert [r["break_id"] for r in rows] == list(expected["break_id"])
    assert all(r["state"] == "open" for r in rows)
    _check_formats(show, "breaks", [], rows)


def test_close(world, show):
    from metrics.figures import reconciliation as rc

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
    assert set(JOBS) <= {r["job"] for r in rows}
    assert all(r["last_outcome"] for r in rows if r["job"] in JOBS)
    table = show("health", fmt="table")
    assert "rollup-payments" in table


def test_refunds_and_disputes(world, show):
    f = _range(world)
    rows = show("refunds", *_args(f))
    kpis = rf.refund_kpis(world.engine, f)
    assert [(r["currency"], r["refunds"], r["amount_minor"]) for r in rows] == [
        (k.currency, k.refunds, k.amount_minor) for k in kpis.itertuples()]
    _check_formats(show, "refunds", _args(f), rows)
    rows = show("disputes", *_args(f))
    ratios = dp.dispute_ratios(world.engine, f)
    assert [(r["card_brand"], r["disputes"], r["card_payments"]) for r in rows] == [
        (d.card_brand, d.disputes, d.card_payments) for d in ratios.itertuples()]
    for r in rows:
        if r["card_payments"]:
            assert r["ratio"] == pytest.approx(r["disputes"] / r["card_payments"])
    _check_formats(show, "disputes", _args(f), rows)


@pytest.mark.parametrize(("args", "problem"), [
    (["nope"], "Invalid value for 'TOPIC': 'nope' is not one of 'overview'"),
    (["payments", "--from", "2026-13-01"], "Invalid value for '--from': '2026-13-01' is not a date (YYYY-MM-DD)"),
    (["payments", "--from", "2026-11-20", "--to", "2026-11-19"], "Invalid value for --to: 2026-11-19 is before --from 2026-11-20"),
    (["payments", "--currency", "XXX"], "unknown currency 'XXX'"),
    (["payments", "--format", "xml"], "'xml' is not one of 'table', 'csv', 'json'"),
    (["close", "--month", "2026-1"], "'2026-1' is not a month (YYYY-MM)"),
    (["payments", "--month", "2026-01"], "--month applies to close only, not payments"),
    (["close", "--item-type", "payout"], "--item-type applies to breaks only, not close"),
    (["payments", "--stage", "S3"], "--stage applies to breaks only, not payments"),
    (["breaks", "--item-type", "invoice"], "'invoice' is not one of"),
    (["breaks", "--break-type", "late"], "'late' is not one of"),
    (["breaks", "--by", "age"], "breaks cannot be grouped by 'age' (choices: none)"),
    (["refunds", "--by", "site"], "refunds cannot be grouped by 'site' (choices: reason, day)"),
    (["breaks", "--region", "west"], "breaks cannot be narrowed by --region"),
    (["close", "--site", "S001"], "close cannot be narrowed by --site"),
    (["health", "--from", "2026-11-01"], "health cannot be narrowed by --from"),
    (["declines", "--currency", "USD"], "declines rows have no currency to narrow by"),
    (["payments", "--by", "site", "--currency", "USD"], "payments --by site rows have no currency to narrow by"),
])
def test_bad_arguments_exit_2_with_one_line(world, monkeypatch, args, problem):
    """Only the line that names the problem: no usage text in a script's log."""
    monkeypatch.setenv("DATABASE_URL", world.url)
    result = CliRunner().invoke(main, ["show", *args])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and problem in result.output, \
        result.output


def test_database_problems_are_one_line(server_url, make_db, monkeypatch):
    from sqlalchemy.engine import make_url

    from tests.processes import free_port

    empty = make_url(server_url).set(database=psycopg.conninfo.conninfo_to_dict(make_db())["dbname"])
    for url, problem in ((f"postgresql://postgres@127.0.0.1:{free_port()}/x", "cannot reach the database"),
                         (empty.render_as_string(hide_password=False), "no Revwatch tables yet: run `revwatch db upgrade`")):
        monkeypatch.setenv("DATABASE_URL", url)
        result = CliRunner().invoke(main, ["show", "payments"])
        assert result.exit_code == 1 and result.output.count("\n") == 1 and problem in result.output, result.output


def test_every_topic_runs_on_an_empty_database(make_world, monkeypatch):
    """Nothing ran: every topic prints its (empty) rows, says on stderr that they are not computed yet and exits
    EXIT_NOT_COMPUTED; health needs no computation (tests/test_show_states.py has the three states)."""
    from revwatch.cli.common import EXIT_NOT_COMPUTED

    world = make_world()
    monkeypatch.setenv("DATABASE_URL", world.url)
    for topic in sh.TOPICS:
        for by in (None, *sh.GROUPINGS.get(topic, ())):
            args = ["show", topic, *(["--by", by] if by else [])]
            result = CliRunner().invoke(main, [*args, "--format", "json"])
            assert isinstance(json.loads(result.stdout), list)
            code = 0 if topic == "health" else EXIT_NOT_COMPUTED
            assert result.exit_code == code, (args, result.output)
            assert ("Not computed yet: " in result.stderr) == (code != 0), (args, result.stderr)
            assert CliRunner().invoke(main, args).stdout
    table = CliRunner().invoke(main, ["show", "payments"]).stdout
    assert table.strip() == show_format.NOT_COMPUTED_YET
    assert {r["status"] for r in cli(world, monkeypatch)("health")} == {"never run"}


def test_readme_documents_every_topic_grouping_and_column(world, show):
    """Each row of the README's table names its topic (and grouping) and every column it prints."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = {}
    for line in readme[readme.index("### revwatch show"):].splitlines():
        if line.startswith("| `"):
            head, columns = line.split(" | ", 1)
            rows[head.strip("| `").split(" [")[0].replace("\\|", "|")] = columns
    from metrics.figures import reconciliation as rc

    months = [m.strftime("%Y-%m") for m in rc.months(world.engine)]
    _adjust_a_signed_off_month(world)  # `close --by adjustments` has rows only for a month changed since sign-off
    for topic in sh.TOPICS:
        for by in (None, *sh.GROUPINGS.get(topic, ())):
            key = topic if by is None else next(k for k in rows if k.startswith(f"{topic} --by ") and by in k.split(" ")[-1].split("|"))
            args = [topic, *(["--by", by] if by else [])]
            outs = [show(*args, "--month", m, fmt="csv") for m in months] if topic == "close" else [show(*args, fmt="csv")]
            printed = next((list(out[0]) for out in outs if out), [])
            assert printed, f"{args}: no rows on the demo world to check the columns of"
            assert [c for c in printed if f"`{c}`" not in rows[key]] == [], (args, rows[key])


def _adjust_a_signed_off_month(world) -> None:
    """Sign off the newest month that has ended with an open USD break, then resolve that break (this test runs
    last of those reading the demo world)."""
    from metrics.actions import break_workflow as wf
    from metrics.actions import month_signoff as so
    from metrics.figures import reconciliation as rc
    from revwatch import clock
    from tests.people import CARL

    cfg, now = world.cfg, clock.now()
    (bid, month), = world.sql("""SELECT b.break_id, i.accounting_month FROM recon_breaks b JOIN recon_items i
                                 USING (stage, item_key) WHERE b.state = 'open' AND i.currency = 'USD'
                                   AND i.accounting_month < date_trunc('month', %s::timestamptz)::date
                                 ORDER BY i.accounting_month DESC, b.break_id LIMIT 1""", (now,))
    th = rc.CloseThresholds.of(cfg)
    reasons = rc.close_snapshot(world.engine, month, th, now)["reasons"]
    with world.engine.begin() as conn:
        so.sign_off(conn, month, CARL, th, {so.reason_key(r): "test" for r in reasons}, now)
    with world.engine.begin() as conn:
        wf.resolve(conn, bid, CARL, "other: resolved after the sign-off", wf.ApprovalPolicy(10**15, "USD"))


def test_render_is_pure():
    import pandas as pd

    df = pd.DataFrame([{"currency": "USD", "amount_minor": 123456, "success_rate": 0.5, "attempts": 2}])
    assert json.loads(show_format.render(df, "json")) == [{"currency": "USD", "amount_minor": 123456, "success_rate": 0.5, "attempts": 2}]
    assert show_format.render(df, "csv").splitlines() == ["currency,amount_minor,success_rate,attempts", "USD,123456,0.5,2"]
    table = show_format.render(df, "table")
    assert "USD 1,234.56" in table and "50.00%" in table


def test_show_overview_loads_no_pandas(hand):
    """Issue 17: the CLI imports what a command needs. The Overview's figures are plain values: `revwatch show
    overview` prints them without loading pandas (a second of imports), in every format."""
    import os
    import subprocess
    import sys

    probe = ("import sys\nfrom revwatch.cli import main\n"
             "try:\n    main(sys.argv[1:], standalone_mode=False)\n"
             "finally:\n    print('pandas loaded' if 'pandas' in sys.modules else 'no pandas', file=sys.stderr)\n")
    for fmt in ("table", "csv", "json"):
        run = subprocess.run([sys.executable, "-c", probe, "show", "overview", *NOV10_12, "--format", fmt],
                             check=False, capture_output=True, text=True, env={**os.environ, "DATABASE_URL": hand.url},
                             cwd=Path(__file__).resolve().parent.parent, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "success_rate" in run.stdout and run.stderr.strip().splitlines()[-1] == "no pandas", (fmt, run.stderr)
