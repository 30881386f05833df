"""Reconciliation read queries (metrics/figures/reconciliation/) and the auditors' workbook
(metrics/faces/export.py) over hand-built recon_items / recon_breaks / fx_rates and source copies,
every expected figure worked out by hand below.

The world (October 2026, judged as of 5 Nov 2026 12:00 UTC): tests/worlds/recon.py, whose docstring
tabulates every item.
"""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest
from openpyxl import load_workbook

from metrics.faces import export
from metrics.figures import reconciliation as q
from metrics.figures.reconciliation import scope
from tests.worlds.recon import AS_OF, OCT, add_item, add_rate, october_world, t

TH = q.CloseThresholds(Decimal("0.999"), Decimal("0.9999"), 100_000, 30, "USD")


@pytest.fixture(scope="module")
def world(make_world):
    return october_world(make_world)


def _by(df, *keys):
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in df.to_dict("records")}


# ---------------------------------------------------------------- funnel
def test_funnel_counts_and_amounts_per_stage_and_currency(world):
    f = q.funnel(world.engine, q.ReconFilters(OCT, OCT))
    rows = _by(f, "stage", "currency")
    assert set(rows) == {("S1", "USD"), ("S1", "EUR"), ("S2", "USD"), ("S2", "EUR"), ("S3", "USD")}  # no JPY: November
    s1 = rows[("S1", "USD")]
    assert (s1["items"], s1["matched_items"], s1["expected_items"], s1["break_items"]) == (5, 2, 1, 2)
    assert (s1["open_items"], s1["resolved_items"], s1["written_off_items"]) == (1, 1, 0)
    assert (s1["amount_minor"], s1["matched_minor"], s1["expected_minor"], s1["break_minor"]) == (5000, 3000, 300, 1700)
    assert (s1["open_minor"], s1["resolved_minor"], s1["at_stake_minor"]) == (500, 1200, 500)
    eur = rows[("S1", "EUR")]
    assert (eur["items"], eur["matched_minor"], eur["break_minor"], eur["at_stake_minor"]) == (2, 3000, 700, 50)
    s2 = rows[("S2", "EUR")]
    assert (s2["break_items"], s2["written_off_items"], s2["open_items"], s2["at_stake_minor"]) == (1, 1, 0, 0)
    s3 = rows[("S3", "USD")]
    assert (s3["matched_items"], s3["open_items"], s3["amount_minor"], s3["at_stake_minor"]) == (1, 1, 3699, 999)


def test_funnel_filters(world):
    eur = q.funnel(world.engine, q.ReconFilters(OCT, OCT, currencies=("EUR",)))
    assert set(eur["currency"]) == {"EUR"} and int(eur["items"].sum()) == 3
    stripe_s1 = q.funnel(world.engine, q.ReconFilters(OCT, OCT, stages=("S1",), gateways=("stripe",)))
    assert list(stripe_s1["items"]) == [5]
    w1 = q.funnel(world.engine, q.ReconFilters(OCT, OCT, site_ids=("W1",)))
    assert list(w1["items"]) == [3] and list(w1["amount_minor"]) == [3500]
    both = q.funnel(world.engine, q.ReconFilters(OCT, date(2026, 11, 1), stages=("S1",)))
    assert _by(both, "stage", "currency")[("S1", "JPY")]["at_stake_minor"] == 700
    assert q.months(world.engine) == [OCT, date(2026, 11, 1)]


# Month counts beside the items they count: what the triggers keep must equal what the items say
_COUNTED = """SELECT accounting_month, stage, currency, gateway, site_id, status, occurred_on, items, amount_minor
              FROM recon_month_counts WHERE items <> 0 OR amount_minor <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7"""
_RECOUNTED = """SELECT accounting_month, stage, currency, coalesce(gateway, ''), coalesce(site_id, ''), status,
                       (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(abs(amount_minor))
                FROM recon_items GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7"""
# the funnel as it read the items themselves before the month counts (issue 17), for every month
_FUNNEL_OF_ITEMS = f"""
    SELECT i.stage, i.currency, count(*) AS items, count(*) FILTER (WHERE i.status = 'matched') AS matched_items,
           count(*) FILTER (WHERE i.status = 'expected') AS expected_items,
           count(*) FILTER (WHERE i.status = 'break') AS break_items,
           count(*) FILTER (WHERE {scope.CLASS} = 'open') AS open_items,
           count(*) FILTER (WHERE {scope.CLASS} = 'resolved') AS resolved_items,
           count(*) FILTER (WHERE {scope.CLASS} = 'written_off') AS written_off_items,
           coalesce(sum(abs(i.amount_minor)), 0)::bigint AS amount_minor,
           coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'matched'), 0)::bigint AS matched_minor,
           coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'expected'), 0)::bigint AS expected_minor,
           coalesce(sum(abs(i.amount_minor)) FILTER (WHERE i.status = 'break'), 0)::bigint AS break_minor,
           coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {scope.CLASS} = 'open'), 0)::bigint AS open_minor,
           coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {scope.CLASS} = 'resolved'), 0)::bigint AS resolved_minor,
           coalesce(sum(abs(i.amount_minor)) FILTER (WHERE {scope.CLASS} = 'written_off'), 0)::bigint AS written_off_minor,
           coalesce(sum({scope.AT_STAKE}) FILTER (WHERE {scope.CLASS} = 'open'), 0)::bigint AS at_stake_minor
    FROM recon_items i {scope.BREAK_JOIN} WHERE i.accounting_month BETWEEN :m0 AND :m1 AND {scope.ITEM_SCOPE}
    GROUP BY 1, 2 ORDER BY 1, 2"""


def test_month_counts_follow_every_write_to_the_items_and_the_funnel_reads_them(make_world):
    """recon_month_counts is kept by statement triggers on recon_items: after inserts, updates of status,
    amount, gateway and month, and deletes, it equals the items counted again, and the funnel read from it
    equals the funnel read from the items, under every filter."""
    from sqlalchemy import text

    world = october_world(make_world)
    nov = date(2026, 11, 1)
    filters = [q.ReconFilters(OCT, nov), q.ReconFilters(OCT, OCT, currencies=("EUR",)),
               q.ReconFilters(OCT, nov, stages=("S1",), gateways=("stripe",)), q.ReconFilters(OCT, OCT, site_ids=("W1",))]

    def agree() -> None:
        assert world.sql(_COUNTED) == world.sql(_RECOUNTED)
        for f in filters:
            with world.engine.connect() as conn:
                items = pd.read_sql(text(_FUNNEL_OF_ITEMS), conn, params=f.params())
            pd.testing.assert_frame_equal(q.funnel(world.engine, f), items, check_dtype=False)

    agree()
    assert world.sql("SELECT count(*) FROM recon_month_counts")[0][0] > 0
    for change in ("UPDATE recon_items SET status = 'break', break_amount_minor = 10"
                   " WHERE item_key = (SELECT min(item_key) FROM recon_items WHERE status = 'matched')",
                   "UPDATE recon_items SET amount_minor = amount_minor + 7, gateway = 'adyen' WHERE stage = 'S1'",
                   "UPDATE recon_items SET accounting_month = DATE '2026-11-01', occurred_at = occurred_at + interval '31 days'"
                   " WHERE currency = 'EUR'",
                   "DELETE FROM recon_items WHERE item_key = (SELECT max(item_key) FROM recon_items)",
                   "INSERT INTO recon_items SELECT stage, item_key || '-again', item_type, status, break_type, missing_side,"
                   " gateway, site_id, currency, amount_minor, counter_amount_minor, break_amount_minor, left_ref, right_ref,"
                   " match_rule, occurred_at, accounting_month, due_at, detail, fingerprint, examined_at FROM recon_items"):
        world.sql(change)
        agree()
    world.sql("DELETE FROM recon_items")
    assert world.sql(_COUNTED) == [] and q.funnel(world.engine, filters[0]).empty


# ---------------------------------------------------------------- breaks
def _ids(df) -> list[int]:
    return [int(b) for b in df["break_id"]]


def test_breaks_default_open_sorted_by_converted_amount(world):
    ids = world.ids
    df = q.breaks(world.engine, q.BreakFilters(), "USD", AS_OF)
    # at stake in USD cents: bank9 999, a3 500, a9 ¥700 x 0.0065 = 455, a5 EUR 0.50 x 1.07 (2 Nov) = 53.5 -> 54
    assert _ids(df) == [ids["bank9"], ids["a3"], ids["a9"], ids["a5"]]
    rows = _by(df, "break_id")
    assert [rows[ids[k]]["at_stake_reporting_minor"] for k in ("bank9", "a3", "a9", "a5")] == [999, 500, 455, 54]
    a5 = rows[ids["a5"]]
    assert (a5["state"], a5["assignee"], a5["age_days"], a5["left_ref"], a5["right_ref"]) == (
        "open", "dana", 6, "a5", "PSP5")
    assert (a5["break_type"], a5["amount_minor"], a5["counter_amount_minor"], a5["break_amount_minor"]) == (
        "amount_mismatch", 700, 650, 50)
    assert rows[ids["a3"]]["age_days"] == 35 and rows[ids["a9"]]["age_days"] == 2


def test_breaks_sort_by_age_and_filters(world):
    ids = world.ids
    eng = world.engine
    by_age = q.breaks(eng, q.BreakFilters(sort="age"), "USD", AS_OF)
    assert _ids(by_age) == [ids["a3"], ids["bank9"], ids["a5"], ids["a9"]]
    big = q.breaks(eng, q.BreakFilters(min_amount=Decimal("5.00")), "USD", AS_OF)  # major units of each currency
    assert set(_ids(big)) == {ids["bank9"], ids["a3"], ids["a9"]}
    assert _ids(q.breaks(eng, q.BreakFilters(min_age_days=30), "USD", AS_OF)) == [ids["a3"]]
    assert set(_ids(q.breaks(eng, q.BreakFilters(max_age_days=7), "USD", AS_OF))) == {ids["a5"], ids["a9"]}
    assert _ids(q.breaks(eng, q.BreakFilters(stages=("S3",)), "USD", AS_OF)) == [ids["bank9"]]
    assert _ids(q.breaks(eng, q.BreakFilters(break_types=("amount_mismatch",)), "USD", AS_OF)) == [ids["a5"]]
    assert _ids(q.breaks(eng, q.BreakFilters(gateways=("adyen",)), "USD", AS_OF)) == [ids["a5"]]
    assert _ids(q.breaks(eng, q.BreakFilters(currencies=("JPY",)), "USD", AS_OF)) == [ids["a9"]]
    assert _ids(q.breaks(eng, q.BreakFilters(site_ids=("W1",)), "USD", AS_OF)) == [ids["a3"]]
    assert _ids(q.breaks(eng, q.BreakFilters(states=("resolved",)), "USD", AS_OF)) == [ids["ch_x"]]
    assert _ids(q.breaks(eng, q.BreakFilters(states=("written_off",)), "USD", AS_OF)) == [ids["ady7"]]
    assert _ids(q.breaks(eng, q.BreakFilters(states=("cleared",)), "USD", AS_OF)) == [ids["a1"]]
    assert len(q.breaks(eng, q.BreakFilters(states=()), "USD", AS_OF)) == 7
    octo = q.breaks(eng, q.BreakFilters.of(q.ReconFilters(OCT, OCT)), "USD", AS_OF)
    assert ids["a9"] not in _ids(octo) and len(octo) == 3
    assert _ids(q.breaks(eng, q.BreakFilters(limit=1), "USD", AS_OF)) == [ids["bank9"]]
    # how many the list has uncut: its "first N of M"
    assert q.breaks_total(eng, q.BreakFilters(limit=1), AS_OF) == 4
    assert q.breaks_total(eng, q.BreakFilters(states=(), limit=1), AS_OF) == 7
    assert q.breaks_total(eng, q.BreakFilters.of(q.ReconFilters(OCT, OCT)), AS_OF) == 3
    assert q.breaks_total(eng, q.BreakFilters(min_age_days=30), AS_OF) == 1
    with pytest.raises(ValueError, match="min_amount must be a Decimal or an int, not a float"):
        q.BreakFilters(min_amount=5.0)
    with pytest.raises(ValueError, match="cannot sort breaks by 'size'"):
        q.BreakFilters(sort="size")


# ---------------------------------------------------------------- drill-downs
def test_break_detail_has_both_sides_and_the_history(world):
    d = q.break_detail(world.engine, world.ids["a5"])
    assert d.brk["state"] == "open" and d.item["break_amount_minor"] == 50
    assert (d.left_side, d.right_side) == ("billing", "gateway")
    left = {s.title: s.rows for s in d.left}
    assert list(left["Billing payment attempt"]["attempt_id"]) == ["a5"]
    assert list(left["Billing invoice"]["total_minor"]) == [700]
    (adyen,) = d.right
    assert list(adyen.rows["psp_reference"]) == ["PSP5"] and list(adyen.rows["gross_credit_minor"]) == [650]
    assert list(d.events["action"]) == ["opened"] and list(d.events["actor"]) == ["reconcile"]
    assert q.break_detail(world.engine, 999_999) is None

    bank = q.break_detail(world.engine, world.ids["bank9"])
    (line,) = bank.right
    assert list(line.rows["amount_minor"]) == [999] and (bank.left_side, bank.right_side) == ("payout", "bank")


def test_payout_view_side_by_side(world):
    v = q.payout_view(world.engine, "payout:stripe:po_1")
    assert (v.gateway, v.reference, v.currency, v.amount_minor) == ("stripe", "po_1", "USD", 2700)
    assert list(v.payout["id"]) == ["po_1"]
    assert sorted(v.entries["id"]) == ["txn_c1", "txn_c2"]  # by the payout column, not txn_zz of po_2
    rec = dict(zip(v.reconstruction_table()["component"], v.reconstruction_table()["minor"], strict=True))
    assert (rec["gross"], rec["fees"], rec["reconstructed net"], rec["difference (payout − net)"]) == (3000, 300, 2700, 0)
    assert [(r["file_sha256"], r["line_number"]) for r in v.bank.to_dict("records")] == [("sha1", 3)]
    assert v.bank_detail["bank_amount_minor"] == 2700
    assert list(v.journal["journal_id"]) == ["J1", "J1", "J1"]
    assert list(v.items["stage"]) == ["S2", "S3"]
    p = q.payouts(world.engine, q.ReconFilters(OCT, OCT))
    rows = _by(p, "payout_key")
    assert set(rows) == {"payout:stripe:po_1", "payout:adyen:7"}
    po = rows["payout:stripe:po_1"]
    assert (po["reference"], po["s2_status"], po["s3_status"], po["s4_status"]) == ("po_1", "matched", "matched", None)
    assert rows["payout:adyen:7"]["s2_break"] == "amount_mismatch"
    assert q.payout_count(world.engine, q.ReconFilters(OCT, OCT)) == 2
    assert len(q.payouts(world.engine, q.ReconFilters(OCT, OCT), limit=1)) == 1
    assert len(q.payouts(world.engine, q.ReconFilters(OCT, OCT), limit=None)) == 2
    assert q.payout_count(world.engine, q.ReconFilters(OCT, OCT, gateways=("adyen",))) == 1
    ady = q.payout_view(world.engine, "payout:adyen:7")
    assert list(ady.payout["type"]) == ["MerchantPayout"] and list(ady.entries["psp_reference"]) == ["PSP4"]
    assert q.payout_view(world.engine, "payout:stripe:po_nope") is None
    assert q.payout_view(world.engine, "attempt:a1") is None


# ---------------------------------------------------------------- month close
def test_close_readiness_shares_ages_fx_and_verdict(world):
    c = q.close_readiness(world.engine, date(2026, 10, 17), TH, AS_OF)
    assert c.month == OCT and not c.ready
    sh = _by(c.shares, "stage", "currency")
    s1 = sh[("S1", "USD")]
    # matched 2 + resolved 1 of 5 items; 1000 + 2000 + 1200 of 5000
    assert (s1["reconciled_items"], s1["item_share"], s1["amount_share"]) == (3, 0.6, 0.84)
    assert s1["matched_share"] == 0.4
    assert sh[("S2", "EUR")]["item_share"] == 1.0 and sh[("S2", "EUR")]["written_off_items"] == 1
    assert sh[("S3", "USD")]["amount_share"] == 2700 / 3699

    ages = _by(c.age_buckets, "currency", "bucket")
    assert {k: v["breaks"] for k, v in ages.items() if v["breaks"]} == {
        ("USD", "31–60"): 1, ("USD", "8–30"): 1, ("EUR", "0–7"): 1}
    assert ages[("USD", "8–30")]["at_stake_minor"] == 999 and ages[("USD", ">60")]["breaks"] == 0
    assert c.oldest_open_age_days == 35

    un = _by(c.unreconciled, "currency")
    assert (un["USD"]["unreconciled_minor"], un["USD"]["reporting_minor"], un["USD"]["exact_rate"]) == (1499, 1499, True)
    eur = un["EUR"]
    assert (eur["open_breaks"], eur["unreconciled_minor"], eur["rate"], eur["rate_date"], eur["exact_rate"]) == (
        1, 50, Decimal("1.09"), date(2026, 10, 30), False)
    assert eur["reporting_minor"] == 55  # 0.50 EUR x 1.09 = 0.545 USD, half up
    assert c.unreconciled_reporting_minor == 1554

    # from EUR's first item of the month (20 Oct): the 14th is before EUR was used, the 31st is a gap
    assert [(g["currency"], g["rate_date"]) for g in c.fx_gaps.to_dict("records")] == [("EUR", date(2026, 10, 31))]
    assert list(c.fx_gaps["weekday"]) == ["Sat"]

    reasons = {(r.check, r.scope): r for r in c.reasons}
    assert set(reasons) == {
        ("items", "S4"),
        ("close_min_matched_share", "S1 USD"), ("close_min_matched_share", "S1 EUR"),
        ("close_min_matched_share", "S3 USD"),
        ("close_min_amount_share", "S1 USD"), ("close_min_amount_share", "S1 EUR"),
        ("close_min_amount_share", "S3 USD"),
        ("close_max_break_age_days", "2026-10"), ("fx_rate", "EUR"),
    }
    assert "2026-10-31" in reasons[("fx_rate", "EUR")].text and "rate of 2026-10-30" in reasons[("fx_rate", "EUR")].text
    r = reasons[("close_min_matched_share", "S1 USD")]
    assert r.measured == Fraction(3, 5) and r.text == (
        "S1 billing ↔ gateway, USD: at least 99.9 % of items must be matched or explained; 60 % are (3 of 5)")
    a = reasons[("close_min_amount_share", "S1 EUR")]
    assert a.measured == Fraction(3000, 3700) and a.text == (
        "S1 billing ↔ gateway, EUR: at least 99.99 % of the amount must be matched or explained; 81.1 % is "
        "(EUR 30.00 of EUR 37.00)")
    age = reasons[("close_max_break_age_days", "2026-10")]
    assert (age.measured, age.limit) == (35, 30)
    assert age.text == "No open break may be older than 30 days; the oldest is 35 days old"
    assert not [r.text for r in c.reasons if "close_" in r.text]  # sentences for people: no setting names


def test_close_thresholds_each_named_with_the_measured_value(world):
    loose = q.CloseThresholds(Decimal("0.4"), Decimal("0.7"), 1554, 35, "USD")
    c = q.close_readiness(world.engine, OCT, loose, AS_OF)
    # S1 USD 60% >= 40%, S1 EUR 50%, S3 50%; amounts 84%, 81.08%, 72.99% >= 70%; 1554 <= 1554; 35 <= 35;
    # but EUR has no rate for 31 Oct, the day the close converts at
    assert [(r.check, r.scope) for r in c.reasons] == [("items", "S4"), ("fx_rate", "EUR")]
    tighter = q.close_readiness(world.engine, OCT, q.CloseThresholds(Decimal("0.4"), Decimal("0.7"), 1553, 34, "USD"),
                                AS_OF)
    by = {r.check: r for r in tighter.reasons}
    assert by["close_max_unreconciled_minor"].measured == 1554
    assert by["close_max_unreconciled_minor"].text == (
        "At most USD 15.53 may stay unreconciled in open breaks (converted to USD); USD 15.54 is")
    assert by["close_max_break_age_days"].measured == 35
    # judged later, the oldest break is older
    later = q.close_readiness(world.engine, OCT, loose, AS_OF + timedelta(days=2))
    assert later.oldest_open_age_days == 37 and any(r.check == "close_max_break_age_days" for r in later.reasons)


def test_close_fx_exact_rate_and_missing_rate(make_world):
    w = make_world()
    sep = date(2026, 9, 1)
    with w.engine.begin() as conn:
        for stage in q.STAGES:
            add_item(conn, stage, f"k:{stage}", "payment", "matched", "EUR", 1000, t("2026-09-10"))
        add_item(conn, "S1", "k:brk", "payment", "break", "EUR", 999, t("2026-09-29"), break_type="missing",
                 break_amount_minor=333)
        add_item(conn, "S1", "k:gbp", "payment", "break", "GBP", 100, t("2026-09-29"), break_type="missing",
                 break_amount_minor=100)
        add_rate(conn, date(2026, 9, 30), "EUR", "1.0950")  # the exact last day
        add_rate(conn, date(2026, 9, 29), "EUR", "2")
    th = q.CloseThresholds(Decimal("0"), Decimal("0"), 10**9, 1000, "USD")
    c = q.close_readiness(w.engine, sep, th, datetime(2026, 10, 1, tzinfo=UTC))
    un = _by(c.unreconciled, "currency")
    # 3.33 EUR x 1.095 = 3.64635 USD -> 365 cents
    assert (un["EUR"]["rate"], un["EUR"]["rate_date"], un["EUR"]["exact_rate"], un["EUR"]["reporting_minor"]) == (
        Decimal("1.095"), date(2026, 9, 30), True, 365)
    assert un["GBP"]["rate"] is None and un["GBP"]["reporting_minor"] is None
    assert c.unreconciled_reporting_minor is None
    assert [(r.check, r.scope) for r in c.reasons] == [("fx_rate", "GBP")]
    assert "No FX rate for GBP on or before 2026-09-30" in c.reasons[0].text
    # gaps from each currency's first item of the month: EUR 10-28 Sep, GBP 29-30 Sep
    assert len(c.fx_gaps[c.fx_gaps["currency"] == "EUR"]) == 19 and len(c.fx_gaps[c.fx_gaps["currency"] == "GBP"]) == 2
    # an earlier GBP rate converts, but stale: the close names it
    with w.engine.begin() as conn:
        add_rate(conn, date(2026, 9, 15), "GBP", "1.25")
    stale = q.close_readiness(w.engine, sep, th, datetime(2026, 10, 1, tzinfo=UTC))
    assert stale.unreconciled_reporting_minor == 365 + 125
    assert _by(stale.unreconciled, "currency")["GBP"]["exact_rate"] is False
    assert [(r.check, r.scope) for r in stale.reasons] == [("fx_rate", "GBP")]
    assert "converted at the rate of 2026-09-15" in stale.reasons[0].text
    # ready: every stage present, thresholds met, every rate known for the closing day
    with w.engine.begin() as conn:
        add_rate(conn, date(2026, 9, 30), "GBP", "1.26")
    ok = q.close_readiness(w.engine, sep, th, datetime(2026, 10, 1, tzinfo=UTC))
    assert ok.ready and ok.reasons == () and ok.unreconciled_reporting_minor == 365 + 126


def test_a_share_just_below_its_threshold_never_reads_as_the_threshold(make_world):
    """99.899 % of the amount against 99.9 %: the reason says 99.899 %, not "99.9 % must be; 99.9 % is"."""
    w = make_world()
    with w.engine.begin() as conn:
        add_item(conn, "S1", "k:ok", "payment", "matched", "USD", 99899, t("2026-09-10"))
        add_item(conn, "S1", "k:brk", "payment", "break", "USD", 101, t("2026-09-10"), break_type="missing")
    th = q.CloseThresholds(Decimal("0.5"), Decimal("0.999"), 10**9, 1000, "USD")
    c = q.close_readiness(w.engine, date(2026, 9, 1), th, datetime(2026, 10, 1, tzinfo=UTC))
    (amount,) = [r for r in c.reasons if r.check == "close_min_amount_share"]
    assert amount.text == ("S1 billing ↔ gateway, USD: at least 99.9 % of the amount must be matched or explained; "
                           "99.899 % is (USD 998.99 of USD 1,000.00)")


def test_close_of_an_empty_month_is_not_ready(world):
    c = q.close_readiness(world.engine, date(2026, 1, 1), TH, AS_OF)
    assert not c.ready and [r.check for r in c.reasons] == ["items"] and c.shares.empty


def test_to_reporting_is_decimal_half_up():
    assert q.to_reporting(50, "EUR", Decimal("1.09"), "USD") == 55
    assert q.to_reporting(-50, "EUR", Decimal("1.09"), "USD") == -55
    assert q.to_reporting(12345, "JPY", Decimal("0.0067"), "USD") == 8271  # ¥12,345 -> $82.7115
    assert q.to_reporting(1, "USD", Decimal("150.5"), "JPY") == 2  # 0.01 x 150.5 = 1.505 yen -> 2
    assert q.to_reporting(10**15, "USD", Decimal("1.0000000001"), "USD") == 10**15 + 100_000


# ---------------------------------------------------------------- exports
def test_excel_workbook_has_a_sheet_per_table_and_the_figures(world):
    eng = world.engine
    c = q.close_readiness(eng, OCT, TH, AS_OF)
    sheets = {"breaks": q.breaks(eng, q.BreakFilters(), "USD", AS_OF), "funnel": q.funnel(eng, q.ReconFilters(OCT, OCT)),
              "close": c.shares, "close_verdict": q.verdict_table(c), "close_unreconciled": c.unreconciled,
              "payouts": q.payouts(eng, q.ReconFilters(OCT, OCT))}
    data = export.workbook(sheets, about={"month": OCT, "reporting currency": "USD"}, reporting_currency="USD")
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["about", "breaks", "funnel", "close", "close_verdict", "close_unreconciled", "payouts"]

    def records(name):
        rows = list(wb[name].iter_rows(values_only=True))
        return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]

    brk = {r["break_id"]: r for r in records("breaks")}
    a5 = brk[world.ids["a5"]]
    assert (a5["break_amount_minor"], a5["break_amount"], a5["currency"], a5["assignee"]) == (50, 0.5, "EUR", "dana")
    assert (a5["at_stake_reporting_minor"], a5["at_stake_reporting"]) == (54, 0.54)
    assert a5["occurred_at"] == datetime(2026, 10, 30, 12, tzinfo=UTC).replace(tzinfo=None)  # UTC, no zone (Excel has none)
    fun = {(r["stage"], r["currency"]): r for r in records("funnel")}
    assert (fun[("S1", "USD")]["items"], fun[("S1", "USD")]["amount_minor"], fun[("S1", "USD")]["amount"]) == (5, 5000, 50)
    un = {r["currency"]: r for r in records("close_unreconciled")}
    assert (un["EUR"]["reporting_minor"], un["EUR"]["rate"], un["EUR"]["exact_rate"]) == (55, 1.09, False)
    verdict = records("close_verdict")
    assert verdict[0]["measured"] == "not ready" and len(verdict) == 1 + len(c.reasons)
    assert {r["payout_key"] for r in records("payouts")} == {"payout:stripe:po_1", "payout:adyen:7"}
    about = dict(r for r in wb["about"].iter_rows(min_row=2, values_only=True))
    assert about["reporting currency"] == "USD"
    assert {k: v for k, v in about.items() if k.startswith("rows in sheet")} == {
        f"rows in sheet {name}": len(df) for name, df in sheets.items()}  # every row of every table, and says so


def test_export_helpers():
    df = pd.DataFrame({"currency": ["JPY", "USD"], "amount_minor": [700, 1234], "detail": [{"a": 1}, None]})
    out = export.major_units(df)
    assert list(out.columns) == ["currency", "amount_minor", "amount", "detail"]
    assert list(out["amount"]) == [Decimal("700"), Decimal("12.34")]
    assert export.csv_bytes(df).decode().splitlines()[0] == "currency,amount_minor,detail"
    taken: set[str] = set()
    assert export.sheet_name("a/b:c" + "x" * 40, taken) == ("a_b_c" + "x" * 40)[:31]
    assert export.sheet_name("A/B:C" + "x" * 40, taken).endswith("_2")
