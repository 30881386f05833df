"""`revwatch show billing` and `revwatch show misbilled` on a hand-built billing world.

The world is tests/worlds/billing.py's (SESSIONS: one USD site, every class once) plus a
second site in EUR with two sessions, so that rows split per currency. Every figure below is
worked out by hand from that definition and written as a literal; the JSON output must equal
it exactly, the page's query functions (same Filters) must give the same figures, the Billing
accuracy page run headless must show them, csv must carry the same rows, table must format
them, and `--currency` must keep only that currency's rows.

Billing accuracy has one definition (metrics/figures/billing_accuracy.py `accuracy_totals`): every
face (the page, `show billing`, the exporter's gauges, the weekly report's figures) must give the
same per-currency numbers on this world (TOTALS).
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from collectors.compute import billing_classification as bc
from collectors.compute import rollups
from collectors.compute.windows import run_rollup
from metrics.actions import weekly_report as reports
from metrics.faces import exporter
from metrics.figures import billing_accuracy as ba
from metrics.figures.query import Filters
from revwatch.cli import main
from revwatch.money import format_money
from tests.worlds.billing import WANT, H, T, add_billed_site, build
from tests.worlds.computed import all_computed

DAY = date(2026, 3, 1)  # every judged session exits on this (UTC) local day
ARGS = ("--from", DAY.isoformat(), "--to", DAY.isoformat())
# Site S2 (EUR, same plan and 10 % tax): a 2 h session is again 600 + 60 = 660.
EUR_SESSIONS = {
    "EC": (T + 2 * H, [("EUR", 600, 60, 660, "paid")]),  # correct
    "EU": (T + 2 * H, [("EUR", 450, 45, 495, "paid")]),  # under_billed: 495 - 660 = -165
}


@pytest.fixture(scope="module")
def world(make_world):
    w = build(make_world())
    add_billed_site(w, "S2", "EUR", EUR_SESSIONS)
    bc.run_job(w.engine)  # as test_billing_classification: judged up to WM - 2 h (L and W are not)
    for r in (rollups.SESSIONS, rollups.INVOICES):  # the pages' data range comes from the rollups
        run_rollup(w.engine, r, T - 24 * H, T + 48 * H)
    all_computed(w)  # its figures known (tests/test_show_states.py: not computed yet)
    return w


@pytest.fixture
def show(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))

    def run(topic, *extra, fmt="json"):
        result = CliRunner().invoke(main, ["show", topic, *ARGS, *extra, "--format", fmt])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if fmt == "json" else result.stdout

    return run


def _b(cls, cur, billable, correct, findings, leakage, overcharge):
    """A `show billing` row; sessions = findings (both count the judged sessions)."""
    return {"class": cls, "currency": cur, "billable": billable, "correct": correct,
            "accuracy": correct / billable if billable else None, "findings": findings, "sessions": findings,
            "leakage_minor": leakage, "overcharge_minor": overcharge}


# Per currency (class "all") first, then per class and currency, sorted.
BILLING = [
    _b("all", "EUR", 2, 1, 2, 165, 0),  # EC correct, EU under-billed 165: accuracy 1/2
    # USD: 10 judged (C M D O U X E N V R); N within grace is not billable -> 9; correct C, R -> 2/9.
    # leakage: M 660 + U 330 + X 12 + V 660 = 1662; overcharge: D 660 + O 330 + N 330 = 1320 (E: no difference)
    _b("all", "USD", 9, 2, 10, 1662, 1320),
    _b("correct", "EUR", 1, 1, 1, 0, 0),                      # EC
    _b("correct", "USD", 2, 2, 2, 0, 0),                      # C, and R (void replaced by a paid one)
    _b("currency_mismatch", "USD", 1, 0, 1, 0, 0),            # E billed in EUR: no difference, no money
    _b("duplicate_invoice", "USD", 1, 0, 1, 0, 660),          # D: 1320 billed for 660
    _b("invoice_not_due", "USD", 0, 0, 1, 0, 330),            # N: 5 min, within grace, billed 330; no accuracy
    _b("missing_invoice", "USD", 1, 0, 1, 660, 0),            # M: nothing billed for 660
    _b("over_billed", "USD", 1, 0, 1, 0, 330),                # O: 990 for 660
    _b("tax_error", "USD", 1, 0, 1, 12, 0),                   # X: tax 48 instead of 60
    _b("under_billed", "EUR", 1, 0, 1, 165, 0),               # EU: 495 for 660
    _b("under_billed", "USD", 1, 0, 1, 330, 0),               # U: 330 for 660
    _b("voided_without_replacement", "USD", 1, 0, 1, 660, 0),  # V: only a void invoice
]


# The one figure per currency: (billable, correct, findings, leakage, overcharge), as BILLING's "all" rows.
TOTALS = {"EUR": (2, 1, 2, 165, 0), "USD": (9, 2, 10, 1662, 1320)}
WEEK = "2026-W09"  # Monday 23 February - Sunday 1 March 2026: DAY is its Sunday


def _m(sid, cls, expected, billed_cur, billed, diff, invoices=1, void=0, site="S1", cur="USD"):
    """A `show misbilled` row: expected and billed (subtotal, tax, total)."""
    return {"session_id": sid, "site_id": site, "local_date": DAY.isoformat(), "class": cls, "currency": cur,
            "expected_subtotal_minor": expected[0], "expected_tax_minor": expected[1],
            "expected_total_minor": expected[2], "billed_currency": billed_cur, "billed_subtotal_minor": billed[0],
            "billed_tax_minor": billed[1], "billed_total_minor": billed[2], "difference_minor": diff,
            "invoices": invoices, "void_invoices": void, "problem": None}


TWO_H, NOTHING = (600, 60, 660), (0, 0, 0)  # a 2 h stay: 2 x 300 + 10 %
# Biggest |difference| first, then latest exit (N exits at 10:05, before the others' 12:00), then id.
MISBILLED = [
    _m("D", "duplicate_invoice", TWO_H, "USD", (1200, 120, 1320), 660, invoices=2),
    _m("M", "missing_invoice", TWO_H, None, NOTHING, -660, invoices=0),
    _m("V", "voided_without_replacement", TWO_H, None, NOTHING, -660, invoices=0, void=1),
    _m("O", "over_billed", TWO_H, "USD", (900, 90, 990), 330),
    _m("U", "under_billed", TWO_H, "USD", (300, 30, 330), -330),
    _m("N", "invoice_not_due", NOTHING, "USD", (300, 30, 330), 330),
    _m("EU", "under_billed", TWO_H, "EUR", (450, 45, 495), -165, site="S2", cur="EUR"),
    _m("X", "tax_error", TWO_H, "USD", (600, 48, 648), -12),
    _m("E", "currency_mismatch", TWO_H, "EUR", TWO_H, None),  # expected in the site's USD, billed in EUR
]


def test_hand_figures_agree_with_the_classification_test():
    """The literals above restate WANT (class, billed total, difference) for the USD site."""
    assert {r["session_id"]: (r["class"], r["billed_total_minor"], r["difference_minor"]) for r in MISBILLED
            if r["site_id"] == "S1"} == {s: w for s, w in WANT.items() if w[0] != "correct"}


def _exact(rows):
    """Rows with each value's type beside it: 660.0 is not integer minor units."""
    return [[(k, type(v).__name__, v) for k, v in r.items()] for r in rows]


def _plain(df):
    """Query rows as plain values (NaN -> None, dates -> ISO), for comparing with the literals."""
    return [{k: None if pd.isna(v) else v.isoformat() if isinstance(v, date) else v for k, v in r.items()}
            for r in df.to_dict("records")]


@pytest.mark.parametrize(("topic", "want"), [("billing", BILLING), ("misbilled", MISBILLED)])
def test_json_equals_the_hand_figures(show, topic, want):
    assert _exact(show(topic)) == _exact(want)


def test_page_queries_give_the_same_figures(world):
    f = Filters(DAY, DAY)  # what the CLI's --from/--to give, and the page's default (the one day with data)
    totals = {r["currency"]: r for r in BILLING if r["class"] == "all"}
    assert _plain(ba.accuracy(world.engine, f, by="site_id")) == [
        {"site_id": s, **{k: totals[c][k] for k in ("billable", "correct", "findings")}}
        for s, c in (("S1", "USD"), ("S2", "EUR"))]
    assert _plain(ba.leakage_overcharge(world.engine, f, by="site_id")) == [
        {"site_id": s, **{k: totals[c][k] for k in ("currency", "sessions", "leakage_minor", "overcharge_minor")}}
        for s, c in (("S1", "USD"), ("S2", "EUR"))]
    per_class = [r for r in BILLING if r["class"] != "all"]
    assert _plain(ba.leakage_overcharge(world.engine, f, by="class")) == [
        {k: r[k] for k in ("class", "currency", "sessions", "leakage_minor", "overcharge_minor")} for r in per_class]
    assert _plain(ba.class_counts(world.engine, f).drop(columns="difference_minor")) == [
        {k: r[k] for k in ("class", "currency", "sessions")} for r in per_class]
    assert _plain(ba.mis_billed(world.engine, f)[list(MISBILLED[0])]) == MISBILLED


def test_page_shows_the_cli_figures(world, show, page_for):
    at = page_for(world, "pages/billing_accuracy.py")
    assert at.sidebar.date_input(key="days").value == (DAY, DAY)
    rows, listed = show("billing"), show("misbilled")
    totals = [r for r in rows if r["class"] == "all"]
    shown = {m.label: m.value for m in at.metric}
    correct, billable = sum(r["correct"] for r in totals), sum(r["billable"] for r in totals)
    assert (correct, billable) == (3, 11)  # 2 + 1 correct of 9 + 2 billable
    assert shown["Billing accuracy"] == f"{correct / billable * 100:.2f}%" == "27.27%"
    assert shown["Billable sessions"] == "11"
    assert shown["Mis-billed sessions"] == str(len(listed)) == "9"
    for r in totals:
        assert shown[f"Leakage · {r['currency']}"] == format_money(r["leakage_minor"], r["currency"])
        assert shown[f"Overcharge · {r['currency']}"] == format_money(r["overcharge_minor"], r["currency"])
    table = next(t.value for t in at.dataframe if "net difference" in t.value.columns)
    assert [(r["class"], r["currency"], r["sessions"], r["leakage"], r["overcharge"]) for r in table.to_dict("records")] == [
        (ba.CLASS_LABELS.get(r["class"], r["class"]), r["currency"], r["findings"],  # the page's label of the class
         format_money(r["leakage_minor"], r["currency"]),
         format_money(r["overcharge_minor"], r["currency"])) for r in rows if r["class"] != "all"]
    page_list = next(t.value for t in at.dataframe if "difference" in t.value.columns and "session_id" in t.value.columns)
    assert page_list["session_id"].tolist() == [r["session_id"] for r in listed]
    assert page_list["billed"].tolist() == [  # billed money in the invoice's currency (E: EUR 6.60)
        "–" if r["billed_total_minor"] is None or not r["billed_currency"]
        else format_money(r["billed_total_minor"], r["billed_currency"])
        for r in listed]
    assert "EUR 6.60" in page_list["billed"].tolist()
    assert page_list["difference"].tolist() == [
        "–" if r["difference_minor"] is None else format_money(r["difference_minor"], r["currency"]) for r in listed]


@pytest.mark.parametrize(("topic", "want"), [("billing", BILLING), ("misbilled", MISBILLED)])
def test_csv_equals_the_json_rows_as_text(show, topic, want):
    as_csv = list(csv.DictReader(io.StringIO(show(topic, fmt="csv"))))
    assert as_csv == [{k: "" if v is None else str(v) for k, v in r.items()} for r in show(topic)]
    assert as_csv == [{k: "" if v is None else str(v) for k, v in r.items()} for r in want]


@pytest.mark.parametrize(("topic", "want"), [("billing", BILLING), ("misbilled", MISBILLED)])
def test_table_formats_money_and_ratios(show, topic, want):
    lines = show(topic, "--wide", fmt="table").strip().splitlines()
    assert len(lines) == len(want) + 2  # header, rule, one line per row
    cols = list(want[0])  # money under its name without `_minor` (csv and json keep it)
    assert lines[0].split() == [c.removesuffix("_minor") for c in cols] and set(lines[1].replace(" ", "")) == {"-"}
    if topic == "billing":
        assert "22.22%" in lines[3] and "USD 16.62" in lines[3] and "USD 13.20" in lines[3]  # all USD: 2/9, cents
        assert "50.00%" in lines[2] and "EUR 1.65" in lines[2] and "EUR 0.00" in lines[2]  # all EUR: 1/2
        assert lines[2 + 6].split()[:5] == ["invoice_not_due", "USD", "0", "0", "–"]  # nothing billable: no ratio
    else:
        assert [line.split()[0] for line in lines[2:]] == [r["session_id"] for r in want]
        d = " ".join(lines[2].split())  # D: expected 6.00 + 0.60 = 6.60, billed 12.00 + 1.20 = 13.20, +6.60
        assert "USD 6.00 USD 0.60 USD 6.60 USD USD 12.00 USD 1.20 USD 13.20 USD 6.60" in d


def test_misbilled_table_shows_billed_money_in_the_billed_currency(show):
    """E is expected in USD (the site's) but billed EUR 6.60: the billed columns must say EUR."""
    e = " ".join(show("misbilled", "--wide", fmt="table").strip().splitlines()[2 + 8].split())
    assert e.startswith("E S1 2026-03-01 currency_mismatch USD USD 6.00 USD 0.60 USD 6.60 EUR EUR 6.00 EUR 0.60 EUR 6.60 –")


def test_currency_narrows_to_that_currency(show):
    assert show("billing", "--currency", "eur") == [r for r in BILLING if r["currency"] == "EUR"] == [
        BILLING[0], BILLING[2], BILLING[10]]
    assert show("billing", "--currency", "USD") == [r for r in BILLING if r["currency"] == "USD"]
    # E was billed in EUR but is judged in its site's USD: only EU is a EUR mis-billing
    assert show("misbilled", "--currency", "EUR") == [MISBILLED[6]]
    assert show("misbilled", "--currency", "USD") == [r for r in MISBILLED if r["currency"] == "USD"]
    assert show("billing", "--currency", "GBP") == []


def test_every_face_gives_the_one_billing_accuracy_figure(world, show, page_for, pin_clock):
    f = Filters(DAY, DAY)
    totals = ba.accuracy_totals(world.engine, f)
    assert {t.currency: (t.billable, t.correct, t.findings, t.leakage_minor, t.overcharge_minor)
            for t in totals} == TOTALS
    assert [t.currency for t in totals] == ["EUR", "USD"]
    assert [t.accuracy for t in totals] == [1 / 2, 2 / 9]
    assert ba.overall_accuracy(totals) == 3 / 11
    # the same figure over the exporter's window: every exit since an instant, by exited_at
    assert ba.accuracy_totals(world.engine, ba.ExitedSince(T)) == totals
    assert ba.accuracy_totals(world.engine, ba.ExitedSince(T + 3 * H)) == ()  # every judged session exits by 12:00

    # `revwatch show billing`: its per-currency rows
    assert {r["currency"]: (r["billable"], r["correct"], r["findings"], r["leakage_minor"], r["overcharge_minor"])
            for r in show("billing") if r["class"] == "all"} == TOTALS
    assert [r["accuracy"] for r in show("billing") if r["class"] == "all"] == [t.accuracy for t in totals]

    # the Billing accuracy page: the headline
    shown = {m.label: m.value for m in page_for(world, "pages/billing_accuracy.py").metric}
    assert shown["Billing accuracy"] == f"{ba.overall_accuracy(totals) * 100:.2f}%"
    assert shown["Billable sessions"] == str(sum(t.billable for t in totals))
    assert shown["Mis-billed sessions"] == str(sum(t.findings - t.correct for t in totals))
    for t in totals:
        assert shown[f"Leakage · {t.currency}"] == format_money(t.leakage_minor, t.currency)
        assert shown[f"Overcharge · {t.currency}"] == format_money(t.overcharge_minor, t.currency)

    # the weekly report's figures for the week whose Sunday is DAY
    week = reports.figures(world.engine, WEEK, world.cfg)
    assert (week.billable, week.correct, week.accuracy) == (11, 3, 3 / 11)
    assert week.leakage_minor == {c: v[3] for c, v in TOTALS.items()}
    assert week.overcharge_minor == {c: v[4] for c, v in TOTALS.items()}

    # the exporter's gauges (the trailing 24 h of exits), scraped on a fresh registry as of DAY 22:00 UTC
    pin_clock(T + 12 * H)
    registry = CollectorRegistry()
    exporter.register(registry, world.engine, world.cfg)
    for currency, (billable, correct, _, leakage, overcharge) in TOTALS.items():
        labels = {"currency": currency}
        assert registry.get_sample_value("revwatch_billing_sessions_judged", labels) == billable
        assert registry.get_sample_value("revwatch_billing_sessions_correct", labels) == correct
        assert registry.get_sample_value("revwatch_billing_leakage_minor", labels) == leakage
        assert registry.get_sample_value("revwatch_billing_overcharge_minor", labels) == overcharge
