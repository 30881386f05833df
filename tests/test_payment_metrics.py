"""Payment rollups and read queries: a hand-built dataset whose answers are worked out by hand,
and each rollup against an independent plain-SQL computation over the raw rows of a demo world.
The hand-built world: tests/worlds/payments.py."""
from __future__ import annotations

from datetime import date, datetime

import psycopg
import pytest

from collectors.jobs import JOBS
from metrics.figures import disputes, refunds
from metrics.figures import payments as q
from metrics.figures.query import Filters
from tests.worlds.payments import build, t


@pytest.fixture(scope="module")
def hand(make_world):
    return build(make_world())


NOV10 = Filters(date(2026, 11, 10), date(2026, 11, 12))


def test_hand_invoice_outcomes_and_headline(hand):
    h = q.headline(hand.engine, NOV10)
    assert (h.attempts, h.succeeded, h.failed, h.gateway_errors) == (8, 3, 5, 1)
    assert (h.invoices, h.attempted, h.first_succeeded, h.eventually_succeeded, h.recovered) == (5, 5, 1, 3, 2)
    assert h.first_attempt_rate == 1 / 5 and h.eventual_rate == 3 / 5 and h.recovery_rate == 2 / 4
    assert h.recovered_minor == {"USD": 2000, "CAD": 1500}
    assert h.unpaid_minor == {"USD": 3000, "CAD": 4000}
    west = q.headline(hand.engine, Filters(NOV10.start, NOV10.end, regions=("west",)))
    assert (west.invoices, west.attempted, west.first_succeeded, west.eventually_succeeded, west.recovered) == (3, 3, 1, 2, 1)
    assert west.first_attempt_rate == 1 / 3 and west.eventual_rate == 2 / 3 and west.recovered_minor == {"USD": 2000}


def test_hand_funnel_and_recovery_by_class(hand):
    funnel = q.retry_funnel(hand.engine, NOV10)
    assert dict(zip(funnel["stage"], funnel["invoices"], strict=True)) == {
        "Invoices issued": 5, "Charged": 5, "Paid first try": 1, "Failed first try": 4, "Retried": 3,
        "Recovered by retry": 2, "Still unpaid": 2}
    rec = q.recovery_by_class(hand.engine, NOV10)
    got = {(g, c, cur): (int(f), int(rt), int(rc), int(m)) for g, c, cur, f, rt, rc, m, _ in rec.itertuples(index=False)}
    assert got == {("stripe", "soft", "USD"): (1, 1, 1, 2000), ("adyen", "hard", "USD"): (1, 0, 0, 0),
                   ("adyen", "gateway_error", "CAD"): (1, 1, 0, 0), ("adyen", "unclassified", "CAD"): (1, 1, 1, 1500)}
    by_gw = q.outcomes_by_gateway(hand.engine, NOV10).set_index("gateway")
    assert by_gw.loc["stripe", "first_attempt_rate"] == 1 / 2 and by_gw.loc["stripe", "eventual_rate"] == 1
    assert by_gw.loc["adyen", "first_attempt_rate"] == 0 and by_gw.loc["adyen", "eventual_rate"] == 1 / 3


def test_hand_declines_series_and_breakdown(hand):
    classes = {(g, c): int(n) for g, c, n in q.decline_classes(hand.engine, NOV10).itertuples(index=False)}
    assert classes == {("stripe", "soft"): 1, ("adyen", "hard"): 1, ("adyen", "gateway_error"): 1,
                       ("adyen", "soft"): 1, ("adyen", "unclassified"): 1}
    codes = q.failure_codes(hand.engine, NOV10)
    labels = dict(zip(codes["failure_code"], zip(codes["label"], codes["decline_class"], strict=True), strict=True))
    assert labels["weird_new_code"] == ("weird_new_code", "unclassified")
    assert labels["insufficient_funds"] == ("Insufficient funds", "soft")
    daily = q.success_series(hand.engine, NOV10, "day")
    got = {(d, g): (int(a), int(s), int(e))
           for d, g, a, s, e in daily[["period", "gateway", "attempts", "succeeded", "gateway_errors"]].itertuples(index=False)}
    # a3 at 02:00 UTC on the 11th is still the 10th in Los Angeles; a6 is the 12th in Toronto
    assert got == {(date(2026, 11, 10), "stripe"): (3, 2, 0), (date(2026, 11, 10), "adyen"): (4, 1, 1),
                   (date(2026, 11, 12), "adyen"): (1, 0, 0)}
    rates = daily.set_index(["period", "gateway"]).loc[(date(2026, 11, 10), "adyen")]
    assert (rates["success_rate"], rates["failure_rate"], rates["gateway_error_share"]) == (1 / 4, 3 / 4, 1 / 3)
    b = q.breakdown(hand.engine, NOV10)
    row = b[(b["gateway"] == "adyen") & (b["region"] == "east")].iloc[0]
    assert (row["method"], row["card_brand"], row["currency"], row["attempts"], row["succeeded"], row["succeeded_minor"]) == (
        "card", "mastercard", "CAD", 4, 1, 1500)


def test_hand_failed_window_cost_and_drill_down(hand):
    start, end = t("2026-11-10 18:00"), t("2026-11-10 20:00")
    cost = q.failed_cost(hand.engine, NOV10, start, end).set_index("currency")
    assert cost.loc["USD"].to_dict() == dict(failed=2, gateway_errors=0, failed_minor=5000, recovered=1,
                                             recovered_minor=2000, unpaid=1, unpaid_minor=3000)
    assert cost.loc["CAD"].to_dict() == dict(failed=2, gateway_errors=1, failed_minor=5500, recovered=1,
                                             recovered_minor=1500, unpaid=1, unpaid_minor=4000)
    adyen = q.failed_cost(hand.engine, NOV10, start, end, gateway="adyen")
    assert int(adyen["failed"].sum()) == 3
    rows = q.failed_attempts(hand.engine, NOV10, start, end)
    assert list(rows["attempt_id"]) == ["a7", "a5", "a4", "a2"]  # newest first
    assert dict(zip(rows["attempt_id"], rows["invoice_outcome"], strict=True)) == {
        "a7": "recovered later", "a5": "unpaid", "a4": "unpaid", "a2": "recovered later"}
    assert list(q.failed_attempts(hand.engine, NOV10, start, end, limit=1)["attempt_id"]) == ["a7"]
    east = q.failed_attempts(hand.engine, Filters(NOV10.start, NOV10.end, regions=("east",)), start, end)
    assert set(east["attempt_id"]) == {"a5", "a7"}

    trail = q.attempt_trail(hand.engine, "a1")
    assert trail.invoice["invoice_id"] == "i1" and trail.session["session_id"] == "s1" and trail.site["site_id"] == "W1"
    assert trail.stripe_charge == {"id": "ch_a1", "object": "charge"}
    assert list(trail.refunds["refund_id"]) == ["r1"] and trail.adyen_lines["type"].tolist() == ["Settled"]
    trail = q.attempt_trail(hand.engine, "a8")
    assert trail.stripe_charge is None
    assert trail.adyen_lines["type"].tolist() == ["Chargeback", "Chargeback", "ChargebackReversed"]
    assert trail.attempts["attempt_id"].tolist() == ["a7", "a8"]
    assert q.attempt_trail(hand.engine, "nope") is None


def test_hand_refunds(hand):
    f = Filters(date(2026, 11, 10), date(2026, 11, 11))
    k = refunds.refund_kpis(hand.engine, f).set_index("currency")
    assert k.loc["USD", ["refunds", "amount_minor", "succeeded", "failed", "failed_minor"]].tolist() == [2, 2400, 1, 1, 2000]
    assert k.loc["USD", "mean_seconds_to_refund"] == (86_400 + 21_600) / 2
    assert k.loc["CAD", ["refunds", "amount_minor", "mean_seconds_to_refund"]].tolist() == [1, 1500, 7_200]
    daily = {(d, c): int(n) for d, c, n, _ in refunds.refunds_daily(hand.engine, f).itertuples(index=False)}
    # r3 at 01:00 UTC on the 11th is the evening of the 10th in Toronto
    assert daily == {(date(2026, 11, 11), "USD"): 2, (date(2026, 11, 10), "CAD"): 1}
    reasons = refunds.refunds_by_reason(hand.engine, f)
    assert set(zip(reasons["reason"], reasons["failed"], strict=True)) == {("customer_complaint", 0), ("duplicate", 1), ("goodwill", 0)}


def test_hand_disputes_and_ratios(hand):
    f = Filters(date(2026, 11, 1), date(2026, 11, 30))
    k = disputes.dispute_kpis(hand.engine, f).set_index("currency")
    assert k.loc["USD"].to_dict() == dict(disputes=2, amount_minor=3000, won=0, lost=1, open=1, lost_minor=1000)
    assert k.loc["CAD"].to_dict() == dict(disputes=2, amount_minor=2200, won=1, lost=1, open=0, lost_minor=700)
    by = disputes.disputes_by_reason(hand.engine, f)
    assert set(zip(by["gateway"], by["reason"], by["card_brand"], by["disputes"], strict=True)) == {
        ("stripe", "fraudulent", "visa", 1), ("stripe", "product_not_received", "visa", 1), ("adyen", "", "mastercard", 2)}
    r = disputes.dispute_ratios(hand.engine, f).set_index("card_brand")
    assert r.loc["visa", ["disputes", "card_payments", "ratio", "threshold"]].tolist() == [2, 2, 1.0, 0.009]
    assert r.loc["mastercard", ["disputes", "card_payments", "ratio", "threshold"]].tolist() == [2, 1, 2.0, 0.015]
    assert r["over_threshold"].all()
    west = disputes.dispute_kpis(hand.engine, Filters(f.start, f.end, regions=("west",)))
    assert west["currency"].tolist() == ["USD"]  # the unmatched chargeback belongs to no site


def test_late_retry_and_late_reversal_widen_the_window(make_world):
    """A retry made days after the invoice, and a reversal days after the chargeback, queued for
    the hour they happened only, still reach the rows of the invoice / dispute they change."""
    world = build(make_world())
    late = t("2026-11-24 09:30")
    with psycopg.connect(world.libpq) as conn:
        conn.execute("INSERT INTO payment_attempts VALUES ('a9', 'i5', 3, 'adyen', '8800000000000009', 'idem-a9', 4000,"
                     " 'CAD', 'succeeded', NULL, 'card', 'mastercard', %s, %s)", (late, late))
        conn.execute("INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, psp_reference,"
                     " created_at, type, gross_currency, gross_credit_minor, net_currency, batch_number)"
                     " VALUES ('f4', 1, 'M', '8899999999999999', %s, 'ChargebackReversed', 'CAD', 700, 'CAD', 4)", (late,))
        conn.execute("INSERT INTO pending_windows (table_name, consumer, window_start, window_end) VALUES"
                     " ('payment_attempts', 'rollup-invoice-outcomes', '2026-11-24 09:00+00', '2026-11-24 10:00+00'),"
                     " ('adyen_settlement_lines', 'rollup-disputes', '2026-11-24 09:00+00', '2026-11-24 10:00+00')")
    out = JOBS["rollup-invoice-outcomes"].run(world.engine, world.cfg, None, None)
    assert out.window_start == t("2026-11-10 19:00") and out.window_end == t("2026-11-24 10:00")
    h = q.headline(world.engine, NOV10)
    assert (h.eventually_succeeded, h.recovered, h.recovered_minor) == (4, 3, {"USD": 2000, "CAD": 5500})
    d = JOBS["rollup-disputes"].run(world.engine, world.cfg, None, None)
    assert d.window_start == t("2026-11-22 16:00")
    k = disputes.dispute_kpis(world.engine, Filters(date(2026, 11, 1), date(2026, 11, 30))).set_index("currency")
    assert k.loc["CAD", ["won", "lost"]].tolist() == [2, 0]
    assert world.sql("SELECT count(*) FROM pending_windows")[0][0] == 0


# ---------------------------------------------------------------- rollups == plain SQL on a demo world
# Independent computations: window functions instead of the rollups' array_agg, local dates redone.
RAW_OUTCOMES = """
    WITH a AS (SELECT a.*, row_number() OVER (PARTITION BY invoice_id ORDER BY attempt_number, attempted_at, attempt_id) AS k,
                      row_number() OVER (PARTITION BY invoice_id, status = 'failed' ORDER BY attempt_number, attempted_at, attempt_id) AS kf,
                      row_number() OVER (PARTITION BY invoice_id, status = 'succeeded' ORDER BY attempt_number, attempted_at, attempt_id) AS ks
               FROM payment_attempts a),
    per AS (SELECT i.invoice_id, i.currency, i.status, i.total_minor, coalesce(p.site_id, '(unknown)') AS site_id,
                   (i.issued_at AT TIME ZONE coalesce(s.timezone, 'UTC'))::date AS d,
                   f.gateway AS g, f.status AS first_status, coalesce(ff.failure_code, '') AS fc, fs.amount_minor AS paid,
                   coalesce(c.n, 0) AS n
            FROM invoices i LEFT JOIN parking_sessions p USING (session_id) LEFT JOIN sites s ON s.site_id = p.site_id
            LEFT JOIN a f ON f.invoice_id = i.invoice_id AND f.k = 1
            LEFT JOIN a ff ON ff.invoice_id = i.invoice_id AND ff.status = 'failed' AND ff.kf = 1
            LEFT JOIN a fs ON fs.invoice_id = i.invoice_id AND fs.status = 'succeeded' AND fs.ks = 1
            LEFT JOIN (SELECT invoice_id, count(*) AS n FROM payment_attempts GROUP BY 1) c ON c.invoice_id = i.invoice_id)
    SELECT site_id, d, currency, status, coalesce(g, ''), CASE WHEN n > 0 THEN fc ELSE '' END, count(*), sum(total_minor)::bigint,
           count(*) FILTER (WHERE n > 0), count(*) FILTER (WHERE first_status = 'succeeded'),
           count(paid), count(*) FILTER (WHERE n > 1), count(paid) FILTER (WHERE first_status <> 'succeeded'),
           coalesce(sum(paid) FILTER (WHERE first_status <> 'succeeded'), 0)::bigint, coalesce(sum(paid), 0)::bigint,
           coalesce(sum(total_minor) FILTER (WHERE paid IS NULL), 0)::bigint
    FROM per GROUP BY 1, 2, 3, 4, 5, 6"""
ROLLUP_OUTCOMES = """
    SELECT site_id, local_date, currency, status, first_gateway, first_failure_code, sum(invoices)::bigint,
           sum(total_minor)::bigint, sum(attempted)::bigint, sum(first_succeeded)::bigint, sum(succeeded)::bigint,
           sum(retried)::bigint, sum(recovered)::bigint, sum(recovered_minor)::bigint, sum(succeeded_minor)::bigint,
           sum(unpaid_minor)::bigint
    FROM rollup_invoice_outcomes GROUP BY 1, 2, 3, 4, 5, 6"""
RAW_REFUNDS = """
    SELECT coalesce(p.site_id, '(unknown)'), (r.created_at AT TIME ZONE coalesce(s.timezone, 'UTC'))::date, r.currency,
           r.gateway, r.status, coalesce(r.reason, ''), count(*), sum(r.amount_minor)::bigint, count(a.attempt_id),
           coalesce(sum(round(extract(epoch FROM r.created_at - a.attempted_at))), 0)::bigint
    FROM refunds r LEFT JOIN payment_attempts a USING (attempt_id) LEFT JOIN invoices i ON i.invoice_id = r.invoice_id
    LEFT JOIN parking_sessions p USING (session_id) LEFT JOIN sites s ON s.site_id = p.site_id
    GROUP BY 1, 2, 3, 4, 5, 6"""
ROLLUP_REFUNDS = """
    SELECT site_id, local_date, currency, gateway, status, reason, sum(refunds)::bigint, sum(amount_minor)::bigint,
           sum(timed_refunds)::bigint, sum(refund_seconds)::bigint
    FROM rollup_refunds GROUP BY 1, 2, 3, 4, 5, 6"""
RAW_DISPUTES = """
    WITH x AS (
        SELECT 'stripe' AS gw, d.created AS at, d.currency AS cur, d.amount AS amt,
               CASE WHEN d.status IN ('won', 'warning_closed', 'prevented') THEN 'won' WHEN d.status = 'lost' THEN 'lost'
                    ELSE 'open' END AS outcome,
               (SELECT invoice_id FROM payment_attempts WHERE gateway_reference = d.charge LIMIT 1) AS inv
        FROM stripe_disputes d
        UNION ALL
        SELECT 'adyen', min(created_at), min(gross_currency),
               (array_agg(gross_debit_minor ORDER BY created_at, file_sha256, line_number))[1],
               CASE WHEN psp_reference IN (SELECT psp_reference FROM adyen_settlement_lines WHERE type = 'ChargebackReversed')
                    THEN 'won' ELSE 'lost' END,
               (SELECT invoice_id FROM payment_attempts WHERE gateway_reference = psp_reference LIMIT 1)
        FROM adyen_settlement_lines WHERE type = 'Chargeback' GROUP BY psp_reference)
    SELECT coalesce(p.site_id, '(unknown)'), (x.at AT TIME ZONE coalesce(s.timezone, 'UTC'))::date, x.gw, x.cur, x.outcome,
           count(*), sum(x.amt)::bigint
    FROM x LEFT JOIN invoices i ON i.invoice_id = x.inv LEFT JOIN parking_sessions p USING (session_id)
    LEFT JOIN sites s ON s.site_id = p.site_id GROUP BY 1, 2, 3, 4, 5"""
ROLLUP_DISPUTES = """
    SELECT site_id, local_date, gateway, currency, outcome, sum(disputes)::bigint, sum(amount_minor)::bigint
    FROM rollup_disputes GROUP BY 1, 2, 3, 4, 5"""
PAIRS = {"outcomes": (RAW_OUTCOMES, ROLLUP_OUTCOMES), "refunds": (RAW_REFUNDS, ROLLUP_REFUNDS),
         "disputes": (RAW_DISPUTES, ROLLUP_DISPUTES)}


@pytest.mark.parametrize("name", PAIRS)
def test_rollup_equals_plain_sql_on_the_demo_world(demo_world, name):
    raw, rolled = PAIRS[name]
    expected = sorted(demo_world.sql(raw))
    assert sorted(demo_world.sql(rolled)) == expected
    if name != "disputes":  # disputes come with the gateway ingest
        assert expected


@pytest.mark.parametrize("name", PAIRS)
def test_rollup_equals_plain_sql_on_the_hand_world(hand, name):
    raw, rolled = PAIRS[name]
    expected = sorted(hand.sql(raw))
    assert expected and sorted(hand.sql(rolled)) == expected


def test_spike_window_cost_matches_the_manifest(demo_world):
    spike = next(i for i in demo_world.manifest["incidents"] if i["id"] == "processing_error_spike")
    exp = spike["expected"]
    start, end = datetime.fromisoformat(spike["start"]), datetime.fromisoformat(spike["end"])
    (first, last), = demo_world.sql("SELECT min(local_date), max(local_date) FROM rollup_payments")
    f = Filters(first, last)
    eps = q.episodes(q.worst_hours(demo_world.engine, f))
    top = eps[0]
    assert (top.gateway, top.start, top.end) == (exp["gateway"], start, end)
    assert top.failure_rate == top.failed / top.attempts
    cost = q.failed_cost(demo_world.engine, f, start, end, exp["gateway"])
    assert int(cost["gateway_errors"].sum()) == exp["failed_with_code"] == top.gateway_errors
    assert q.window_counts(cost) == {c: int(cost[c].sum()) for c in ("failed", "gateway_errors", "recovered", "unpaid")}
    raw = demo_world.sql(
        "SELECT a.currency, count(*), sum(a.amount_minor) FROM payment_attempts a WHERE a.status = 'failed'"
        " AND a.gateway = %s AND a.attempted_at >= %s AND a.attempted_at < %s GROUP BY 1", (exp["gateway"], start, end))
    assert {c: (int(n), int(m)) for c, n, m in raw} == {
        c: (int(n), int(m)) for c, n, m in cost[["currency", "failed", "failed_minor"]].itertuples(index=False)}
    unpaid = demo_world.sql(
        "SELECT count(*) FROM payment_attempts a WHERE a.status = 'failed' AND a.gateway = %s AND a.attempted_at >= %s"
        " AND a.attempted_at < %s AND NOT EXISTS (SELECT 1 FROM payment_attempts b WHERE b.invoice_id = a.invoice_id"
        " AND b.status = 'succeeded')", (exp["gateway"], start, end))[0][0]
    assert int(cost["unpaid"].sum()) == unpaid
    later = demo_world.sql(
        "SELECT count(*) FROM payment_attempts a WHERE a.status = 'failed' AND a.gateway = %s AND a.attempted_at >= %s"
        " AND a.attempted_at < %s AND EXISTS (SELECT 1 FROM payment_attempts b WHERE b.invoice_id = a.invoice_id"
        " AND b.status = 'succeeded' AND b.attempted_at > a.attempted_at)", (exp["gateway"], start, end))[0][0]
    assert int(cost["recovered"].sum()) == later > 0
    assert int(cost["recovered"].sum()) + unpaid == int(cost["failed"].sum())


def test_queries_bind_values(hand):
    evil = Filters(NOV10.start, NOV10.end, regions=("x'); DROP TABLE sites; --",))
    assert q.headline(hand.engine, evil) == q.Headline()
    assert q.failed_attempts(hand.engine, evil, t("2026-11-10 00:00"), t("2026-11-11 00:00"), gateway="'; --").empty
    assert hand.sql("SELECT count(*) FROM sites")[0][0] == 2
