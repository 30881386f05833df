"""Partial gateway access is partial, not failed (issue 15, point 7): an object type the API key
may not read (403, a restricted key) or the server does not have (404) is recorded as such
(run log, gateway_access, Health, the exporter's figures), the other types are still read, and
the run says `partial`.

Before: a 404 or 403 on /v1/disputes failed `ingest-stripe` as a whole and the balance
transactions and payouts after disputes were never read (S2/S3 starved)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from collectors.ingest.gateway_access import NothingReadable
from collectors.ingest.stripe import Retry, ingest, make_client
from metrics.figures.health.gateway_access import gateway_access
from metrics.figures.health.jobs import job_health
from metrics.figures.job_runs import OUTCOMES, JobRunTally
from revwatch import clock
from tests.stripe_faults import FakeStripe, FaultProxy
from tests.worlds import stripe_objects as so

KEY = "sk_test_not_a_secret_0123456789"
BASE = 1_790_000_000
FAST = Retry(attempts=6, base_delay=0.01, max_delay=0.05)
LOOKBACK = timedelta(minutes=10)
SCHEDULE = {"ingest-stripe": 300}


@pytest.fixture
def fake():
    server = FakeStripe(page_cap=10)
    yield server
    server.close()


def _fill(fake: FakeStripe) -> None:
    for i in (1, 2):
        fake.add("charges", so.charge(i, BASE + 60 * i))
    fake.add("refunds", so.refund(1, BASE + 300, "ch_00001", 400))
    fake.add("disputes", so.dispute(1, BASE + 400, "ch_00002", 1002))
    for txn, amount, source, po in (("txn_ch_00001", 1001, "ch_00001", "po_1"), ("txn_ch_00002", 1002, "ch_00002", "po_1"),
                                    ("txn_re_00001", -400, "re_00001", "po_2")):
        fake.add("balance_transactions", so.balance_transaction(txn, BASE + 500, amount, source), payout=po)
    fake.add("payouts", so.payout("po_1", BASE + 600, 2003))
    fake.add("payouts", so.payout("po_2", BASE + 700, -400, status="in_transit"))


def _refusing(upstream: str, status: str, *paths: str) -> FaultProxy:
    return FaultProxy(upstream, lambda n, p: status if any(urlsplit(p).path.startswith(x) for x in paths) else None)


def _last_run(world) -> tuple:
    return world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-stripe' ORDER BY run_id DESC LIMIT 1")[0]


def _access(world) -> dict[str, tuple]:
    with world.engine.connect() as conn:
        return {a.object_type: (a.state, a.http_status) for a in gateway_access(conn) if a.gateway == "stripe"}


def _counts(world) -> dict[str, int]:
    return {t: world.sql(f"SELECT count(*) FROM stripe_{t}")[0][0]
            for t in ("charges", "refunds", "disputes", "balance_transactions", "payouts")}


@pytest.mark.parametrize(("status", "state"), [("403", "refused"), ("404", "absent")])
def test_disputes_refused_or_absent_give_a_partial_run_and_payouts_are_still_read(make_world, fake, status, state):
    world = make_world()
    _fill(fake)
    proxy = _refusing(fake.url, status, "/v1/disputes")
    try:
        stats = ingest(world.engine, make_client(KEY, proxy.url), {}, LOOKBACK, retry=FAST)
    finally:
        proxy.close()
    assert stats.outcome == "partial"
    assert _counts(world) == {"charges": 2, "refunds": 1, "disputes": 0, "balance_transactions": 3, "payouts": 2}
    assert world.sql("SELECT id, payout FROM stripe_balance_transactions ORDER BY id") == [
        ("txn_ch_00001", "po_1"), ("txn_ch_00002", "po_1"), ("txn_re_00001", "po_2")]

    outcome, error = _last_run(world)
    assert outcome == "partial"
    assert error.startswith(f"disputes {state} (HTTP {status})"), error
    assert "rk_test" not in error and KEY not in error  # the server's message (it names the key) is not kept
    assert "charges, refunds, balance_transactions, payouts read" in error
    assert world.sql("SELECT detail->>'outcome', detail->>'error' FROM audit_log WHERE action = 'job.run'"
                     " ORDER BY seq DESC LIMIT 1") == [("partial", error)]
    # the refused type keeps no watermark (nothing was read); the others moved on
    assert [t for (t,) in world.sql("SELECT table_name FROM sync_state WHERE source = 'stripe' ORDER BY 1")] == [
        "stripe_balance_transactions", "stripe_charges", "stripe_payouts", "stripe_refunds"]

    # Health and the exporter's figures say which type and why
    assert _access(world) == {"charges": ("read", None), "refunds": ("read", None), "disputes": (state, int(status)),
                              "balance_transactions": ("read", None), "payouts": ("read", None)}
    now = clock.now()
    with world.engine.connect() as conn:
        (health,) = [j for j in job_health(conn, now, SCHEDULE) if j.job == "ingest-stripe"]
        totals, _ = JobRunTally(("ingest-stripe",)).advance(conn, now)
    assert health.status == "partial" and health.last_success_at is not None and not health.stale
    assert health.failures_24h == 0
    assert "partial" in OUTCOMES and totals.by_outcome[("ingest-stripe", "partial")].runs == 1

    # The key is given dispute access: the next run reads them and is a plain success again
    again = ingest(world.engine, make_client(KEY, fake.url), {}, LOOKBACK, retry=FAST)
    assert again.outcome == "succeeded" and _last_run(world) == ("succeeded", None)
    assert _counts(world)["disputes"] == 1
    assert _access(world)["disputes"] == ("read", None)
    with world.engine.connect() as conn:
        (health,) = [j for j in job_health(conn, clock.now(), SCHEDULE) if j.job == "ingest-stripe"]
    assert health.status == "ok"


def test_balance_transactions_refused_payouts_still_read_and_their_entries_come_once_allowed(make_world, fake):
    """Payouts are read without their balance transactions; their watermark waits, so the entries of
    payouts already paid are listed under them once the key may read them."""
    world = make_world()
    _fill(fake)
    proxy = _refusing(fake.url, "403", "/v1/balance_transactions")
    try:
        stats = ingest(world.engine, make_client(KEY, proxy.url), {}, timedelta(0), retry=FAST)
    finally:
        proxy.close()
    assert stats.outcome == "partial"
    assert _counts(world) == {"charges": 2, "refunds": 1, "disputes": 1, "balance_transactions": 0, "payouts": 2}
    assert _last_run(world)[1].startswith("balance_transactions refused (HTTP 403)")
    assert world.sql("SELECT count(*) FROM sync_state WHERE table_name IN ('stripe_payouts', 'stripe_balance_transactions')") == [(0,)]

    again = ingest(world.engine, make_client(KEY, fake.url), {}, timedelta(0), retry=FAST)
    assert again.outcome == "succeeded"
    assert world.sql("SELECT id, payout FROM stripe_balance_transactions ORDER BY id") == [
        ("txn_ch_00001", "po_1"), ("txn_ch_00002", "po_1"), ("txn_re_00001", "po_2")]
    assert _access(world)["balance_transactions"] == ("read", None)


def test_every_type_refused_is_a_failed_run_not_a_partial_one(make_world, fake):
    """Nothing readable (a key for another account, a base URL that is not Stripe): the run fails."""
    world = make_world()
    _fill(fake)
    proxy = _refusing(fake.url, "404", "/v1/")
    try:
        with pytest.raises(NothingReadable):
            ingest(world.engine, make_client(KEY, proxy.url), {}, LOOKBACK, retry=FAST)
    finally:
        proxy.close()
    outcome, error = _last_run(world)
    assert outcome == "failed" and "every object type" in error
    assert {s for s, _ in _access(world).values()} == {"absent"}
    with world.engine.connect() as conn:
        (health,) = [j for j in job_health(conn, clock.now(), SCHEDULE) if j.job == "ingest-stripe"]
    assert health.status == "failing"


def test_a_partial_run_is_fresh_but_not_ok_and_goes_stale_like_any_other(make_world):
    """Health: the last run partial -> 'partial' (neither ok nor failing); its success counts for
    freshness, so a worker that stopped after it still goes stale."""
    world = make_world()
    now = clock.now()
    with world.engine.begin() as conn:
        conn.execute(text("INSERT INTO job_runs (job, started_at, finished_at, outcome, error) VALUES"
                          " ('ingest-stripe', :a, :b, 'partial', 'disputes refused (HTTP 403)')"),
                     {"a": now - timedelta(hours=3), "b": now - timedelta(hours=3) + timedelta(seconds=5)})
    with world.engine.connect() as conn:
        (old,) = [j for j in job_health(conn, now, SCHEDULE) if j.job == "ingest-stripe"]
        (fresh,) = [j for j in job_health(conn, now - timedelta(hours=2, minutes=55), SCHEDULE) if j.job == "ingest-stripe"]
    assert old.status == "stale" and fresh.status == "partial"
    assert fresh.p50_seconds == pytest.approx(5.0)
