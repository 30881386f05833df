"""Stripe ingest: against localstripe (an independent Stripe-compatible server), and against a
tiny list server behind a fault-injecting proxy (500, 429, dropped connections, a crash)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import stripe

from collectors.ingest import stripe as stripe_ingest
from collectors.ingest.stripe import Retry, ingest, make_client
from tests.processes import free_port
from tests.stripe_faults import FakeStripe, FaultProxy

KEY = "sk_test_not_a_secret_0123456789"
BASE = 1_790_000_000  # 2026-09-21, seconds
FAST = Retry(attempts=6, base_delay=0.01, max_delay=0.05)
LOOKBACK = timedelta(minutes=10)


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def charge(i: int, created: int, **extra) -> dict:
    return {"id": f"ch_{i:05d}", "object": "charge", "created": created, "amount": 100 + i, "amount_refunded": 0,
            "currency": "usd", "status": "succeeded", "failure_code": None,
            "outcome": {"type": "authorized", "reason": None}, "payment_method_details": {"card": {"brand": "visa"}},
            "metadata": {"attempt_id": f"att_{i}", "invoice_id": f"inv_{i}"}, "balance_transaction": f"txn_ch_{i:05d}",
            **extra}


def _runs(world) -> list[tuple]:
    return world.sql("SELECT outcome, rows_read, rows_written, error FROM job_runs WHERE job = 'ingest-stripe' ORDER BY run_id")


# ---------------------------------------------------------------- fake list server
@pytest.fixture
def fake():
    server = FakeStripe(page_cap=10)
    yield server
    server.close()


def test_every_kind_copied_with_normalized_columns_and_open_objects_reread(make_world, fake):
    world = make_world()
    fake.add("charges", charge(1, BASE))
    fake.add("charges", charge(2, BASE + 60, status="failed", failure_code="card_declined", balance_transaction=None,
                               outcome={"type": "issuer_declined", "reason": "insufficient_funds"},
                               payment_method_details={"card": {"brand": "mastercard"}}, metadata={}))
    fake.add("refunds", {"id": "re_1", "object": "refund", "created": BASE + 120, "amount": 40, "currency": "usd",
                         "charge": "ch_00001", "status": "succeeded", "reason": "requested_by_customer",
                         "balance_transaction": {"id": "txn_re_1", "object": "balance_transaction"}})
    fake.add("disputes", {"id": "dp_1", "object": "dispute", "created": BASE + 180, "amount": 101, "currency": "usd",
                          "charge": "ch_00001", "status": "needs_response", "reason": "fraudulent"})
    for txn, amount, fee, payout in (("txn_ch_00001", 101, 33, "po_1"), ("txn_re_1", -40, 0, "po_2")):
        fake.add("balance_transactions",
                 {"id": txn, "object": "balance_transaction", "created": BASE + 200, "amount": amount, "fee": fee,
                  "net": amount - fee, "currency": "usd", "type": "charge" if amount > 0 else "refund",
                  "reporting_category": "charge" if amount > 0 else "refund", "source": "ch_00001",
                  "available_on": BASE + 86400 * 2, "status": "pending"}, payout=payout)
    for po, status, created in (("po_1", "paid", BASE + 300), ("po_2", "in_transit", BASE + 100)):
        fake.add("payouts", {"id": po, "object": "payout", "created": created, "amount": 61, "currency": "usd",
                             "status": status, "arrival_date": BASE + 86400 * 3, "balance_transaction": f"txn_{po}"})
    client = make_client(KEY, fake.url)
    no_lookback = timedelta(0)  # so that only the open-payout rule can bring back po_2 below

    first = ingest(world.engine, client, {}, no_lookback, retry=FAST)
    assert first.outcome == "succeeded" and first.rows_read == 10
    assert first.rows_written == 10  # 8 objects, and the 2 transactions again once their payout is known
    assert world.sql(
        "SELECT id, created, currency, amount, status, failure_code, outcome_type, outcome_reason, card_brand,"
        " attempt_id, invoice_id, balance_transaction FROM stripe_charges ORDER BY id"
    ) == [
        ("ch_00001", _ts(BASE), "USD", 101, "succeeded", None, "authorized", None, "visa", "att_1", "inv_1", "txn_ch_00001"),
        ("ch_00002", _ts(BASE + 60), "USD", 102, "failed", "card_declined", "issuer_declined", "insufficient_funds",
         "mastercard", None, None, None),
    ]
    assert world.sql("SELECT id, charge, amount, balance_transaction, raw->>'reason' FROM stripe_refunds") == [
        ("re_1", "ch_00001", 40, "txn_re_1", "requested_by_customer")]
    assert world.sql("SELECT id, charge, amount, status FROM stripe_disputes") == [("dp_1", "ch_00001", 101, "needs_response")]
    assert world.sql("SELECT id, amount, fee, net, payout, available_on FROM stripe_balance_transactions ORDER BY id") == [
        ("txn_ch_00001", 101, 33, 68, "po_1", _ts(BASE + 86400 * 2)), ("txn_re_1", -40, 0, -40, "po_2", _ts(BASE + 86400 * 2))]
    assert world.sql("SELECT id, status, arrival_date FROM stripe_payouts ORDER BY id") == [
        ("po_1", "paid", _ts(BASE + 86400 * 3)), ("po_2", "in_transit", _ts(BASE + 86400 * 3))]

    again = ingest(world.engine, client, {}, no_lookback, retry=FAST)
    assert again.rows_written == 0 and again.rows_read >= 9

    # Long after: the open payout is paid and holds one more transaction; both show up even
    # though they are far older than the watermark minus the lookback.
    fake.add("charges", charge(3, BASE + 86400 * 5))
    fake.objects["payouts"][1]["status"] = "paid"
    fake.objects["disputes"][0]["status"] = "won"  # decided weeks later: still re-read, being open
    fake.add("balance_transactions", {"id": "txn_late", "object": "balance_transaction", "created": BASE - 3600,
                                      "amount": 5, "fee": 0, "net": 5, "currency": "usd", "type": "adjustment",
                                      "reporting_category": "other_adjustment", "source": None,
                                      "available_on": None, "status": "available"}, payout="po_2")
    third = ingest(world.engine, client, {}, no_lookback, retry=FAST)
    assert third.rows_written == 4  # the new charge, the dispute's and the payout's status, the late transaction
    assert world.sql("SELECT status FROM stripe_payouts WHERE id = 'po_2'") == [("paid",)]
    assert world.sql("SELECT status, raw->>'status' FROM stripe_disputes WHERE id = 'dp_1'") == [("won", "won")]
    assert world.sql("SELECT payout FROM stripe_balance_transactions WHERE id = 'txn_late'") == [("po_2",)]
    assert world.sql("SELECT table_name, watermark FROM sync_state WHERE source = 'stripe' ORDER BY 1") == [
        ("stripe_balance_transactions", _ts(BASE + 200)), ("stripe_charges", _ts(BASE + 86400 * 5)),
        ("stripe_disputes", _ts(BASE + 180)), ("stripe_payouts", _ts(BASE + 300)), ("stripe_refunds", _ts(BASE + 120))]
    assert [r[0] for r in _runs(world)] == ["succeeded"] * 3


def _fill(fake: FakeStripe, first: int, count: int) -> None:
    for i in range(first, first + count):
        fake.add("charges", charge(i, BASE + 20 * i))  # three a minute: ties at page edges are exercised too


def test_faults_500_429_and_dropped_connections_still_give_exact_rows(make_world, fake):
    world = make_world()
    _fill(fake, 0, 300)  # 30 pages of 10

    def fault(n: int, path: str) -> str | None:
        return "429" if n % 5 == 0 else "drop" if n % 7 == 0 else "500" if n % 11 == 0 else None

    proxy = FaultProxy(fake.url, fault)
    try:
        stats = ingest(world.engine, make_client(KEY, proxy.url), {}, LOOKBACK, retry=FAST)
    finally:
        proxy.close()
    kinds = {f[2] for f in proxy.faults}
    assert kinds == {"429", "drop", "500"}, proxy.faults
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT count(*), count(DISTINCT id), sum(amount) FROM stripe_charges") == [(300, 300, sum(100 + i for i in range(300)))]
    assert stats.rows_written == 300
    assert _runs(world)[-1][0] == "succeeded"


def test_crash_half_way_then_a_normal_run_gives_exact_rows_and_watermark(make_world, fake):
    world = make_world()
    _fill(fake, 0, 150)
    client = make_client(KEY, fake.url)
    ingest(world.engine, client, {}, LOOKBACK, retry=FAST)
    wm = world.sql("SELECT watermark FROM sync_state WHERE table_name = 'stripe_charges'")
    assert wm == [(_ts(BASE + 20 * 149),)]

    _fill(fake, 150, 150)  # 150 newer charges: 15 pages, newest first
    seen = {"charges": 0}

    def broken_after_page_3(n: int, path: str) -> str | None:
        if urlsplit(path).path == "/v1/charges":
            seen["charges"] += 1
            return "500" if seen["charges"] > 3 else None
        return None

    proxy = FaultProxy(fake.url, broken_after_page_3)
    try:
        with pytest.raises(stripe.APIError):
            ingest(world.engine, make_client(KEY, proxy.url), {}, LOOKBACK, retry=FAST, batch=10)  # a batch per page
    finally:
        proxy.close()
    outcome, _, written, error = _runs(world)[-1]
    assert outcome == "failed" and written == 30 and "APIError" in error and KEY not in error
    assert world.sql("SELECT count(*) FROM stripe_charges") == [(180,)]  # 150 old + 3 newest pages: a gap between
    assert world.sql("SELECT watermark FROM sync_state WHERE table_name = 'stripe_charges'") == wm  # not moved

    stats = ingest(world.engine, client, {}, LOOKBACK, retry=FAST)
    assert stats.rows_written == 120  # exactly the gap
    assert world.sql("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM stripe_charges") == [(300, 300, "ch_00000", "ch_00299")]
    assert world.sql("SELECT watermark FROM sync_state WHERE table_name = 'stripe_charges'") == [(_ts(BASE + 20 * 299),)]


def test_without_an_api_key_the_job_is_skipped_with_a_reason(make_world):
    world = make_world()
    stats = stripe_ingest.run_job(world.engine, world.cfg, {})
    assert stats.outcome == "skipped"
    assert _runs(world) == [("skipped", 0, 0, "STRIPE_API_KEY is not set: Stripe is not read")]


def test_bounded_retries_then_the_run_fails(make_world, fake):
    world = make_world()
    _fill(fake, 0, 5)
    proxy = FaultProxy(fake.url, lambda n, p: "429")
    try:
        with pytest.raises(stripe.RateLimitError):
            ingest(world.engine, make_client(KEY, proxy.url), {}, LOOKBACK, retry=FAST, batch=10)  # a batch per page
    finally:
        proxy.close()
    assert len(proxy.faults) == FAST.attempts
    assert _runs(world)[-1][0] == "failed"


# ---------------------------------------------------------------- localstripe
@pytest.fixture
def localstripe(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("localstripe did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def _localstripe_gaps(path: str) -> str | dict:
    """localstripe has no disputes and filters only charges by `created` (and only with gt):
    drop the filter (it then lists everything, which the idempotent upsert absorbs) and
    answer disputes with an empty list. Everything else goes through untouched."""
    parts = urlsplit(path)
    if parts.path == "/v1/disputes":
        return {"object": "list", "url": parts.path, "data": [], "has_more": False}
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.startswith("created")]
    return parts.path + ("?" + urlencode(query) if query else "")


def test_localstripe_charges_declines_and_refunds_are_found_exactly(make_world, localstripe):
    world = make_world()
    client = stripe.StripeClient(KEY, base_addresses={"api": localstripe})

    def card(number: str) -> str:
        return client.v1.payment_methods.create(
            params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}).id

    good, declining = card("4242424242424242"), card("4000000000000341")  # localstripe declines the latter on charge
    expected: dict[str, tuple] = {}
    for i, amount in enumerate((1250, 999, 4000)):
        ch = client.v1.charges.create(params={"amount": amount, "currency": "usd", "source": good,
                                              "metadata": {"attempt_id": f"att_{i}", "invoice_id": f"inv_{i}"}})
        expected[ch.id] = (amount, "succeeded", None, f"att_{i}")
    for i, amount in enumerate((700, 1800), start=10):
        with pytest.raises(stripe.CardError) as declined:
            client.v1.charges.create(params={"amount": amount, "currency": "usd", "source": declining,
                                             "metadata": {"attempt_id": f"att_{i}"}})
        expected[declined.value.error.charge] = (amount, "failed", "card_declined", f"att_{i}")
    paid = [cid for cid, e in expected.items() if e[1] == "succeeded"]
    refunds = {client.v1.refunds.create(params={"charge": paid[0], "amount": 250}).id: (paid[0], 250),
               client.v1.refunds.create(params={"charge": paid[1]}).id: (paid[1], 999)}

    proxy = FaultProxy(localstripe, adapt=_localstripe_gaps)
    try:
        reader = make_client(KEY, proxy.url)
        first = ingest(world.engine, reader, {}, LOOKBACK, retry=FAST)
        rows = {r[0]: r[1:] for r in world.sql("SELECT id, amount, status, failure_code, attempt_id FROM stripe_charges")}
        assert rows == expected
        assert world.sql("SELECT currency, count(*) FROM stripe_charges GROUP BY 1") == [("USD", 5)]
        assert {r[0]: r[1:] for r in world.sql("SELECT id, charge, amount FROM stripe_refunds")} == refunds
        assert world.sql("SELECT id, amount_refunded FROM stripe_charges WHERE amount_refunded > 0 ORDER BY amount") == sorted(
            [(paid[1], 999), (paid[0], 250)], key=lambda r: expected[r[0]][0])
        txns = world.sql("SELECT source, amount, type FROM stripe_balance_transactions")
        assert sorted(txns) == sorted([(c, expected[c][0], "charge") for c in paid] + [(r, -a, "refund") for r, (_, a) in refunds.items()])
        assert first.rows_written == 5 + 2 + 5

        second = ingest(world.engine, reader, {}, LOOKBACK, retry=FAST)
        assert second.rows_written == 0 and second.rows_read == first.rows_read
    finally:
        proxy.close()


@pytest.mark.bench
def test_bench_stripe_ingest_objects_per_second(make_world, capsys):
    """20k charges from a local list server (pages of 100): the ingest's own cost, without Stripe's latency."""
    world = make_world()
    server = FakeStripe(page_cap=100)
    try:
        for i in range(20_000):
            server.add("charges", charge(i, BASE + i))
        started = time.perf_counter()
        stats = ingest(world.engine, make_client(KEY, server.url), {}, LOOKBACK, retry=FAST)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = ingest(world.engine, make_client(KEY, server.url), {}, timedelta(days=3650), retry=FAST)
        second = time.perf_counter() - started
    finally:
        server.close()
    assert stats.rows_written == 20_000 and again.rows_written == 0
    with capsys.disabled():
        print(f"\nstripe ingest: {stats.rows_read} charges in {first:.2f}s = {stats.rows_read / first:,.0f} objects/s (first load);"
              f" re-read unchanged {again.rows_read} in {second:.2f}s = {again.rows_read / second:,.0f} objects/s")


def test_changed_objects_days_apart_queue_their_hours_not_the_days_between(make_world):
    """Issue 17: a batch holding a charge settled days after it was made and a new one queued every hour
    between them for the rollups and reconcile; each consumer gets the two hours."""
    world = make_world()
    kind = stripe_ingest.CHARGES
    rows = stripe_ingest._rows(kind, [charge(1, BASE), charge(2, BASE + 3 * 86400 + 1800)])
    assert stripe_ingest._upsert(world.engine, kind, rows, ["reconcile"]) == 2
    hour = timedelta(hours=1)
    first, second = (_ts(BASE).replace(minute=0, second=0), _ts(BASE + 3 * 86400 + 1800).replace(minute=0, second=0))
    assert world.sql("SELECT consumer, window_start, window_end FROM pending_windows ORDER BY 2") == [
        ("reconcile", first, first + hour), ("reconcile", second, second + hour)]
    assert stripe_ingest._upsert(world.engine, kind, rows, ["reconcile"]) == 0  # nothing changed: nothing queued
    assert len(world.sql("SELECT 1 FROM pending_windows")) == 2
