"""Each payment incident of the demo world shows up in the product with the manifest's magnitude.

The manifest (demoworld/manifest.py) counts every figure from the rows it wrote; here the
same figures are read back from what the product computed from its copies: the
`match-gateway-payments` findings, `rollup_payments` and `rollup_disputes`.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest

from collectors.compute import gateway_mismatches as gm
from metrics.figures import gateway_mismatches as mm
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
