"""Each payment incident of the demo world shows up in the product with the manifest's magnitude.

The manifest (demoworld/manifest.py) counts every figure from the rows it wrote; here the
same figures are read back from what the product computed from its copies: the
`match-gateway-payments` findings, `rollup_payments` and `rollup_disputes`. And the windows the
Payments page ranks (`worst_hours`, judged by metrics/figures/incident_windows.py) are those
incidents, on the demo world and on synthetic rollup rows whose answers are worked out by hand.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import comb

import pandas as pd
import psycopg
import pytest

from collectors.compute import gateway_mismatches as gm
from metrics.catalogue import MIN_BASELINE_ATTEMPTS
from metrics.figures import gateway_mismatches as mm
from metrics.figures import incident_windows as windows
from metrics.figures import payments as q
from metrics.figures.query import Filters

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants


def _incident(world, name: str) -> dict:
    return next(i for i in world.manifest["incidents"] if i["id"] == name)


def _window(inc: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"])


def _findings(world, kind: str) -> dict:
    """{gateway: {CUR: (count, amount)}} of the job's findings of one kind, and the rows."""
    rows = world.sql("SELECT gateway, currency, count(*), sum(amount_minor)::bigint FROM gateway_mismatches"
                     " WHERE kind = %s GROUP BY 1, 2", (kind,))
    out: dict = defaultdict(dict)
    for gateway, cur, n, amount in rows:
        out[gateway][cur] = (n, amount)
    return dict(out)


def test_the_job_ran_in_the_demo_world(demo_world):
    runs = demo_world.sql("SELECT outcome FROM job_runs WHERE job = %s", (gm.JOB,))
    assert runs and all(r[0] == "succeeded" for r in runs)


def test_unrecorded_success_equals_the_findings(demo_world):
    exp = _incident(demo_world, "unrecorded_success")["expected"]
    found = _findings(demo_world, "unrecorded_success")
    want = {gw: {c: (v["attempts"], v["amount_minor"]) for c, v in x["by_currency"].items()}
            for gw, x in exp["by_gateway"].items() if x["attempts"]}
    assert found == want
    ids = [r[0] for r in demo_world.sql("SELECT attempt_id FROM gateway_mismatches WHERE kind = 'unrecorded_success'"
                                        " ORDER BY attempt_id")]
    assert ids == exp["attempt_ids"]
    assert sum(n for x in found.values() for n, _ in x.values()) == exp["attempts"]


def test_gateway_double_charge_equals_the_findings(demo_world):
    exp = _incident(demo_world, "gateway_double_charge")["expected"]
    found = _findings(demo_world, "no_internal_attempt")
    want = {gw: {c: (v["charges"], v["amount_minor"]) for c, v in x["by_currency"].items()}
            for gw, x in exp["by_gateway"].items() if x["charges"]}
    assert found == want
    for gw, x in exp["by_gateway"].items():
        refs, attempts = zip(*demo_world.sql(
            "SELECT gateway_reference, gateway_attempt_id FROM gateway_mismatches"
            " WHERE kind = 'no_internal_attempt' AND gateway = %s ORDER BY 1", (gw,)), strict=True) or ((), ())
        assert sorted(refs) == x["references"] and sorted(attempts) == x["attempt_ids"]
    stripe_invoices = demo_world.sql("SELECT invoice_id FROM gateway_mismatches WHERE kind = 'no_internal_attempt'"
                                     " AND gateway = 'stripe'")
    assert {r[0] for r in stripe_invoices} <= set(exp["invoice_ids"])  # Adyen lines carry no invoice id


def test_the_page_metrics_show_the_gateway_incidents(demo_world):
    (first, last) = demo_world.sql("SELECT min(local_date), max(local_date) FROM gateway_mismatches")[0]
    by = mm.mismatch_by_currency(demo_world.engine, Filters(first, last))
    got = {(r.currency, r.kind): (r.findings, r.amount_minor) for r in by.itertuples(index=False) if r.findings}
    want: dict = defaultdict(lambda: [0, 0])
    for name, kind, count in (("unrecorded_success", "unrecorded_success", "attempts"),
                              ("gateway_double_charge", "no_internal_attempt", "charges")):
        for x in _incident(demo_world, name)["expected"]["by_gateway"].values():
            for cur, v in x["by_currency"].items():
                want[(cur, kind)][0] += v[count]
                want[(cur, kind)][1] += v["amount_minor"]
    assert got == {k: tuple(v) for k, v in want.items()}


def test_issuer_decline_spike_equals_rollup_payments(demo_world):
    inc = _incident(demo_world, "issuer_decline_spike")
    exp, (s0, s1) = inc["expected"], _window(inc)
    rows = demo_world.sql(
        "SELECT gateway, currency, sum(attempts)::bigint,"
        " coalesce(sum(attempts) FILTER (WHERE status = 'failed' AND failure_code = ANY(%s)), 0)::bigint,"
        " coalesce(sum(amount_minor) FILTER (WHERE status = 'failed' AND failure_code = ANY(%s)), 0)::bigint"
        " FROM rollup_payments WHERE payment_method_type = 'card' AND card_brand = %s AND hour >= %s AND hour < %s"
        " GROUP BY 1, 2",
        ([v["failure_code"] for v in exp["by_gateway"].values()],) * 2 + (exp["brand"], s0, s1))
    codes = {gw: v["failure_code"] for gw, v in exp["by_gateway"].items()}
    # declines counted with each gateway's own issuer-decline code
    per_gw = demo_world.sql(
        "SELECT gateway, sum(attempts)::bigint, coalesce(sum(attempts) FILTER (WHERE status = 'failed'"
        " AND failure_code = CASE gateway WHEN 'stripe' THEN %s ELSE %s END), 0)::bigint"
        " FROM rollup_payments WHERE payment_method_type = 'card' AND card_brand = %s AND hour >= %s AND hour < %s"
        " GROUP BY 1", (codes["stripe"], codes["adyen"], exp["brand"], s0, s1))
    assert {gw: (n, d) for gw, n, d in per_gw} == {gw: (v["attempts"], v["declined"]) for gw, v in exp["by_gateway"].items()}
    assert sum(r[2] for r in rows) == exp["attempts"] and sum(r[3] for r in rows) == exp["declined"]
    per_cur: dict = defaultdict(lambda: [0, 0, 0])
    for _, cur, n, d, m in rows:
        per_cur[cur][0] += n
        per_cur[cur][1] += d
        per_cur[cur][2] += m
    assert {c: tuple(v) for c, v in per_cur.items()} == {
        c: (v["attempts"], v["declined"], v["declined_minor"]) for c, v in exp["by_currency"].items()}


def test_dispute_surge_equals_rollup_disputes(demo_world):
    inc = _incident(demo_world, "dispute_surge")
    exp, (s0, s1) = inc["expected"], _window(inc)
    rows = demo_world.sql(
        "SELECT gateway, currency, sum(disputes)::bigint, sum(amount_minor)::bigint FROM rollup_disputes"
        " WHERE site_id = %s AND hour >= %s AND hour < %s GROUP BY 1, 2", (exp["site_id"], s0, s1))
    got: dict = defaultdict(dict)
    for gw, cur, n, amount in rows:
        got[gw][cur] = {"disputes": n, "amount_minor": amount}
    assert dict(got) == {gw: x for gw, x in exp["by_gateway"].items() if x}
    assert sum(r[2] for r in rows) == exp["disputes"]
    assert sum(r[2] for r in rows if r[0] == "stripe") == exp["stripe_disputes"]
    assert sum(r[2] for r in rows if r[0] == "adyen") == exp["adyen_chargebacks"]
    reasons = demo_world.sql("SELECT DISTINCT reason FROM rollup_disputes WHERE site_id = %s AND gateway = 'stripe'"
                             " AND hour >= %s AND hour < %s", (exp["site_id"], s0, s1))
    assert {r[0] for r in reasons} <= {exp["reason"]}


def test_processing_error_spike_equals_rollup_payments(demo_world):
    inc = _incident(demo_world, "processing_error_spike")
    exp, (s0, s1) = inc["expected"], _window(inc)
    n, failed = demo_world.sql(
        "SELECT sum(attempts)::bigint, coalesce(sum(attempts) FILTER (WHERE status = 'failed' AND failure_code = %s), 0)"
        " FROM rollup_payments WHERE gateway = %s AND hour >= %s AND hour < %s",
        (exp["failure_code"], exp["gateway"], s0, s1))[0]
    assert (n, failed) == (exp["attempts"], exp["failed_with_code"])
    # what became of them: the drill-down of the window (raw, by attempted_at) agrees
    failed_rows = q.failed_attempts(demo_world.engine, Filters(s0.date(), s1.date()), s0, s1, exp["gateway"],
                                    limit=10_000)
    with_code = failed_rows[failed_rows["failure_code"] == exp["failure_code"]]
    assert len(with_code) == exp["failed_with_code"]
    assert int((with_code["invoice_outcome"] != "unpaid").sum()) == exp["recovered"]


# ---------------------------------------------------------------- windows that find incidents
def _episode_key(e) -> tuple[str, datetime, datetime]:
    return e.gateway, e.start, e.end


def test_the_worst_windows_are_the_injected_incidents(demo_world, pin_clock):
    """On the demo world the windows that stand out from their baselines are the injected payment
    incidents and nothing else: the processing-error spike first (the furthest above its baseline),
    then the timeouts, each over exactly its manifest window and with the manifest's figures. The
    issuer-decline spike hits one card brand on both gateways; where a small world's gateway-hours
    show it, its windows lie inside its manifest window (a normal night, however high its rate, never
    shows)."""
    pin_clock(datetime.fromisoformat(demo_world.manifest["period"]["end"]))
    spike, timeouts, declines = (_incident(demo_world, n) for n in (
        "processing_error_spike", "unknown_attempts", "issuer_decline_spike"))
    (first, last), = demo_world.sql("SELECT min(local_date), max(local_date) FROM rollup_payments")
    f = Filters(first, last)
    hours = q.worst_hours(demo_world.engine, f, limit=50)
    eps = q.episodes(hours)
    want = [(inc["expected"]["gateway"], *_window(inc)) for inc in (spike, timeouts)]
    assert [_episode_key(e) for e in eps[:2]] == want
    d0, d1 = _window(declines)
    assert all(d0 <= e.start < e.end <= d1 for e in eps[2:]), [_episode_key(e) for e in eps]
    assert q.episodes(q.worst_hours(demo_world.engine, f, limit=2)) == eps[:2]  # the limit counts windows
    top, timeout = eps[0], eps[1]
    assert top.gateway_errors == spike["expected"]["failed_with_code"] and top.unknown == 0
    assert timeout.unknown == timeouts["expected"]["attempts"]
    assert top.p_value < 1e-6 and timeout.p_value < 1e-6 and top.excess_rate > timeout.excess_rate > 0.2
    # the cost is the money of the window's failed and unknown attempts, per currency
    for e in (top, timeout):
        rows = demo_world.sql(
            "SELECT currency, sum(amount_minor)::bigint FROM payment_attempts WHERE gateway = %s"
            " AND status IN ('failed', 'unknown') AND attempted_at >= %s AND attempted_at < %s GROUP BY 1 ORDER BY 1",
            (e.gateway, e.start, e.end))
        assert e.cost_minor == tuple((c, int(m)) for c, m in rows)
    cost = dict(timeout.cost_minor)  # the timeouts' money, and the window's usual failures
    assert all(cost[c] >= v["amount_minor"] > 0 for c, v in timeouts["expected"]["by_currency"].items())
    # each hour's columns: judged against a baseline, far above it
    assert set(hours.columns) >= {"hour", "gateway", "attempts", "failed", "unknown", "failures", "baseline",
                                  "baseline_rate", "expected", "excess_failures", "p_value", "score", "cost_minor"}
    assert (hours["excess_failures"] > 0).all() and (hours["p_value"] < 1e-3).all()
    assert set(hours["baseline"]) <= {"hour_of_week", "other_gateways", "hour_of_day", "all_hours"}


# ---------------------------------------------------------------- the same rule on synthetic rollup rows
# Five weeks of hourly rollup rows (3 Oct - 8 Nov 2026, UTC): stripe and adyen make 200 attempts an hour
# by day, 5 % failing, and 67 by night (UTC 07-11 h) failing about 40 % (25-29 of 67: retries pile up
# at night in some worlds); newpay joins in the last week with 30 attempts an hour (40 at night), 5 %
# failing. On Thu 5 Nov 15-18 h stripe times out: 60 of its 200 attempts an hour get no answer.
SYNTH_START, SYNTH_DAYS = datetime(2026, 10, 4, tzinfo=UTC), 36
SYNTH_RANGE = Filters(date(2026, 11, 2), date(2026, 11, 8))
TIMEOUT = (datetime(2026, 11, 5, 15, tzinfo=UTC), datetime(2026, 11, 5, 18, tzinfo=UTC))
NIGHT = range(7, 12)
PRICE = 1_250  # minor units an attempt


def _synthetic_rows():
    for k in range(SYNTH_DAYS * 24):
        hour = SYNTH_START + timedelta(hours=k)
        night = hour.hour in NIGHT
        for gw in ("stripe", "adyen", "newpay"):
            if gw == "newpay" and hour.date() < SYNTH_RANGE.start:
                continue
            n = (40 if night else 30) if gw == "newpay" else (67 if night else 200)
            failed = 2 if gw == "newpay" else 25 + k % 5 if night else 10
            unknown = 60 if gw == "stripe" and TIMEOUT[0] <= hour < TIMEOUT[1] else 0
            for status, code, count in (("succeeded", "", n - failed - unknown), ("failed", "insufficient_funds", failed),
                                        ("unknown", "", unknown)):
                if count:
                    yield (hour, hour.date(), "S1", "USD", gw, "card", "visa", status, code, False, count, count * PRICE)


@pytest.fixture(scope="module")
def synthetic(make_world):
    world = make_world()
    with psycopg.connect(world.libpq) as conn, conn.cursor().copy(
            "COPY rollup_payments (hour, local_date, site_id, currency, gateway, payment_method_type, card_brand, status,"
            " failure_code, is_retry, attempts, amount_minor) FROM STDIN") as copy:
        for row in _synthetic_rows():
            copy.write_row(row)
    return world


def test_a_night_hour_failing_at_its_usual_rate_is_no_incident_and_a_timeout_is(synthetic):
    series = q.success_series(synthetic.engine, SYNTH_RANGE, "hour")
    by_rate = series[series["attempts"] >= 10].sort_values("failure_rate", ascending=False)
    worst = by_rate.iloc[0]  # the old "worst hour": a night at its usual rate
    assert worst["failure_rate"] > 0.4 and pd.Timestamp(worst["period"]).tz_convert("UTC").hour in NIGHT
    night = series[(series["gateway"] == "stripe") & (series["failed"] == 27) & (series["attempts"] == 67)]
    assert len(night) > 0
    hours = q.worst_hours(synthetic.engine, SYNTH_RANGE)
    assert list(hours["hour"]) == [TIMEOUT[0] + timedelta(hours=h) for h in range(3)]
    assert set(hours["gateway"]) == {"stripe"} and set(hours["baseline"]) == {"hour_of_week"}
    assert list(hours["unknown"]) == [60] * 3 and list(hours["failures"]) == [70] * 3
    # the baseline: the same hour of the four weeks before, 40 of 800 failed (half a failure and half
    # a success added: never exactly 0)
    assert list(hours["baseline_attempts"]) == [800] * 3 and list(hours["baseline_failures"]) == [40] * 3
    rate = 40.5 / 801
    assert hours["baseline_rate"].tolist() == pytest.approx([rate] * 3)
    assert hours["excess_failures"].tolist() == pytest.approx([70 - 200 * rate] * 3)
    assert list(hours["cost_minor"]) == [{"USD": 70 * PRICE}] * 3
    (ep,) = q.episodes(hours)
    assert (ep.gateway, ep.start, ep.end, ep.attempts, ep.failed, ep.unknown) == ("stripe", *TIMEOUT, 600, 30, 180)
    assert ep.cost_minor == (("USD", 210 * PRICE),) and ep.p_value < 1e-50
    assert ep.expected == pytest.approx(600 * rate) and ep.baseline_rate == pytest.approx(rate)


def test_each_hour_is_judged_against_the_first_pool_with_enough_attempts(synthetic):
    scored = windows.score_hours(q.hourly_failures(synthetic.engine, SYNTH_RANGE), MIN_BASELINE_ATTEMPTS, 1e-3)
    in_range = scored[scored["attempts"] > 0]

    def pools(gateway: str, night: bool) -> set:
        rows = in_range[(in_range["gateway"] == gateway)
                        & (pd.to_datetime(in_range["hour"], utc=True).dt.hour.isin(NIGHT) == night)]
        return set(rows["baseline"])

    # stripe: four earlier weeks of its own hour of the week (268 attempts at night, 800 by day)
    assert pools("stripe", False) == pools("stripe", True) == {"hour_of_week"}
    # newpay is a week old: the other gateways in that very hour (400 by day; 134 at night are too
    # few), else its own hour of the day on its six other days (240)
    assert pools("newpay", False) == {"other_gateways"} and pools("newpay", True) == {"hour_of_day"}
    night = in_range[(in_range["gateway"] == "stripe") & (in_range["failures"] == 27)]
    assert (night["baseline_rate"].between(0.37, 0.43)).all() and (night["p_value"] > 0.3).all()
    assert not night["stands_out"].any()


@pytest.mark.parametrize(("x", "n", "p"), [(27, 67, 0.4), (5, 20, 0.05), (0, 10, 0.3), (10, 10, 0.5), (1, 1, 0.25),
                                           (70, 200, 0.05), (180, 600, 0.0506), (3, 2000, 0.001), (1500, 2000, 0.7)])
def test_the_binomial_tail_is_exact(x, n, p):
    exact_p = Fraction(str(p))
    tail = sum(comb(n, k) * exact_p ** k * (1 - exact_p) ** (n - k) for k in range(x, n + 1))
    want = math.log10(tail.numerator) - math.log10(tail.denominator)
    assert windows.log10_binomial_tail(x, n, p) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_a_27_of_67_hour_at_a_40_percent_baseline_is_not_significant_and_a_3_hour_timeout_is():
    assert 10 ** windows.log10_binomial_tail(27, 67, 0.40) > 0.4
    assert windows.log10_binomial_tail(3 * 70, 3 * 200, 0.05) < -60
