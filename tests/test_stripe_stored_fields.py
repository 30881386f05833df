"""Store only what is needed (issue 15, point 6): Stripe objects are cut down to an allowlist of
fields before anything is written or logged, so no card number, CVC, fingerprint, expiry, last4,
e-mail, name, phone or address reaches the database, the logs or the exports, whatever a server
sends; migration 0009 cut the rows stored before the same way.

Before the allowlist, `stripe_charges.raw` kept the charge verbatim (the first test's scan found
the PAN, the fingerprint, the e-mail ... in it, and Stripe's own DEBUG log line carried every
response body)."""
from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from collectors.ingest.stripe import Retry, ingest, make_client
from collectors.ingest.stripe_client import UnreadableBody
from collectors.ingest.stripe_fields import ALLOWLISTS, KEEP, REF, keep
from metrics.faces import export
from metrics.figures.payments import attempt_trail
from revwatch.migrate import upgrade
from tests.stripe_faults import FakeStripe, FaultProxy
from tests.worlds import stripe_objects as so

KEY = "sk_test_not_a_secret_0123456789"
BASE = 1_790_000_000
FAST = Retry(attempts=6, base_delay=0.01, max_delay=0.05)
TABLES = ("stripe_charges", "stripe_refunds", "stripe_disputes", "stripe_balance_transactions", "stripe_payouts")


@pytest.fixture
def fake():
    server = FakeStripe(page_cap=10)
    yield server
    server.close()


def _fill(fake: FakeStripe) -> None:
    """Two charges, a refund, a dispute, their balance transactions (sources expanded) in a payout."""
    for i in (1, 2):
        fake.add("charges", so.charge(i, BASE + 60 * i))
    fake.add("refunds", so.refund(1, BASE + 300, "ch_00001", 400))
    fake.add("disputes", so.dispute(1, BASE + 400, "ch_00002", 1002))
    for txn, amount, source in (("txn_ch_00001", 1001, "ch_00001"), ("txn_ch_00002", 1002, "ch_00002"),
                                ("txn_re_00001", -400, "re_00001")):
        fake.add("balance_transactions", so.balance_transaction(txn, BASE + 500, amount, source, fee=30,
                                                                expanded_source=True), payout="po_1")
    fake.add("payouts", so.payout("po_1", BASE + 600, 1543))


def _text_columns(conn) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(text(
        "SELECT table_name, column_name FROM information_schema.columns c WHERE table_schema = 'public'"
        " AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'character')"
        " AND EXISTS (SELECT 1 FROM information_schema.tables t WHERE t.table_schema = 'public'"
        "             AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE')"
        " ORDER BY 1, 2")).all()]


def leaks_in_database(engine) -> list[tuple[str, str, str]]:
    """(table, column, what) for every forbidden value found in any text or json column of the
    product schema, and every forbidden JSON key in a stored Stripe object."""
    found = []
    values = [*so.FORBIDDEN_VALUES, '"cvc"']
    keys = [f'"{k}":' for k in so.FORBIDDEN_KEYS]
    with engine.connect() as conn:
        for table, column in _text_columns(conn):
            for needle in values + (keys if table in TABLES else []):
                hit = conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE strpos("{column}"::text, :n) > 0)'),
                                   {"n": needle}).scalar()
                if hit:
                    found.append((table, column, needle))
    return found


def leaks_in(blob: str) -> list[str]:
    """Forbidden values, and card keys as JSON or a Python repr would quote them."""
    keys = [f"{q}{k}{q}" for k in ("cvc", "exp_month", "exp_year", "fingerprint", "last4") for q in "\"'"]
    return [v for v in (*so.FORBIDDEN_VALUES, *keys) if v in blob]


def test_no_cardholder_or_personal_data_reaches_the_database_the_logs_or_the_exports(make_world, fake, caplog):
    caplog.set_level(logging.DEBUG)  # the most a deployment could log: Stripe's own DEBUG lines carry whole bodies
    world = make_world()
    _fill(fake)
    stats = ingest(world.engine, make_client(KEY, fake.url), {}, timedelta(minutes=10), retry=FAST)
    assert stats.outcome == "succeeded" and stats.rows_read == 11  # 8 objects, the 3 transactions again under their payout

    # What Revwatch reads is all there ...
    assert world.sql("SELECT id, amount, status, card_brand, attempt_id, invoice_id, balance_transaction FROM stripe_charges"
                     " ORDER BY id") == [("ch_00001", 1001, "succeeded", "visa", "att_1", "inv_1", "txn_ch_00001"),
                                         ("ch_00002", 1002, "succeeded", "visa", "att_2", "inv_2", "txn_ch_00002")]
    assert world.sql("SELECT charge, balance_transaction, raw->>'reason' FROM stripe_refunds") == [
        ("ch_00001", "txn_re_00001", "requested_by_customer")]
    assert world.sql("SELECT source, payout FROM stripe_balance_transactions ORDER BY id") == [
        ("ch_00001", "po_1"), ("ch_00002", "po_1"), ("re_00001", "po_1")]
    # ... and the stored charge is exactly its allowlist
    (raw,) = world.sql("SELECT raw FROM stripe_charges WHERE id = 'ch_00001'")[0]
    assert raw == {
        "id": "ch_00001", "object": "charge", "created": BASE + 60, "livemode": False, "currency": "usd",
        "amount": 1001, "amount_captured": 1001, "amount_refunded": 0, "captured": True, "paid": True,
        "refunded": False, "disputed": False, "status": "succeeded", "failure_code": None,
        "outcome": {"type": "authorized", "reason": None, "network_status": "approved_by_network", "risk_level": "normal"},
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "wallet": {"type": "apple_pay"}}},
        "metadata": {"attempt_id": "att_1", "invoice_id": "inv_1"},
        "balance_transaction": "txn_ch_00001",
    }

    # Nothing else anywhere in the product schema (the run log and the audit log included)
    assert leaks_in_database(world.engine) == []

    # nor in any log line, Stripe's library's included
    assert leaks_in(caplog.text) == []
    assert leaks_in("\n".join(str(r.args) for r in caplog.records)) == []

    # nor in the faces: the Payments drill-down's "Stripe charge" and the auditors' CSV and Excel exports
    with world.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference,"
            " idempotency_key, amount_minor, currency, status, payment_method_type, card_brand, attempted_at, updated_at)"
            " VALUES ('att_1', 'inv_1', 1, 'stripe', 'ch_00001', 'k1', 1001, 'USD', 'succeeded', 'card', 'visa', :t, :t)"),
            {"t": datetime.fromtimestamp(BASE, UTC)})
    trail = attempt_trail(world.engine, "att_1")
    assert trail is not None and trail.stripe_charge == raw
    assert leaks_in(json.dumps(trail.stripe_charge)) == []
    with world.engine.connect() as conn:
        frames = {t: pd.read_sql_query(text(f"SELECT * FROM {t}"), conn) for t in TABLES}
    for df in frames.values():
        assert leaks_in(export.csv_bytes(df).decode()) == []
    book = load_workbook(io.BytesIO(export.workbook(frames)))
    cells = "\n".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row)
    assert "ch_00001" in cells and leaks_in(cells) == []


def test_each_object_type_keeps_only_its_allowlist():
    """Expanded references become their id; a list or object where a plain value is allowed is
    dropped (a server cannot smuggle a card in under an allowed name); unknown names are dropped."""
    assert set(ALLOWLISTS) == {"charges", "refunds", "disputes", "balance_transactions", "payouts"}
    spec = {"id": KEEP, "charge": REF, "status": KEEP, "outcome": {"type": KEEP}}
    assert keep(spec, {"id": "x", "charge": {"id": "ch_1", "billing_details": {"email": so.EMAIL}},
                       "status": {"number": so.PAN}, "outcome": {"type": "authorized", "seller_message": so.NAME},
                       "email": so.EMAIL}) == {"id": "x", "charge": "ch_1", "outcome": {"type": "authorized"}}
    assert keep(spec, {"id": "x", "charge": None, "outcome": None}) == {"id": "x", "charge": None, "outcome": None}
    assert keep(spec, {"id": "x", "charge": ["ch_1"], "outcome": "authorized"}) == {"id": "x"}
    assert keep(spec, {"id": "x", "charge": {"object": "charge"}}) == {"id": "x"}  # an expanded object without its id
    for name, obj in (("charges", so.charge(1, BASE)), ("refunds", so.refund(1, BASE, "ch_1", 5)),
                      ("disputes", so.dispute(1, BASE, "ch_1", 5)),
                      ("balance_transactions", so.balance_transaction("txn_1", BASE, 5, "ch_1", expanded_source=True)),
                      ("payouts", so.payout("po_1", BASE, 5))):
        kept = keep(ALLOWLISTS[name], obj)
        assert kept["id"] == obj["id"] and leaks_in(json.dumps(kept)) == [], name
        assert not _keys(kept) & set(so.FORBIDDEN_KEYS), name


def _keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def test_a_body_cut_short_is_retried_and_never_echoed_into_the_run_log(make_world, fake, caplog):
    """Stripe's library puts an unparseable body into its error message: the run log, the audit
    log and the raised error would carry the card data of that page. Retried like a dropped
    connection; when retries run out the error says what happened without the body."""
    caplog.set_level(logging.DEBUG)
    world = make_world()
    _fill(fake)
    proxy = FaultProxy(fake.url, lambda n, p: "truncate" if n % 3 == 1 else None)
    try:
        stats = ingest(world.engine, make_client(KEY, proxy.url), {}, timedelta(minutes=10), retry=FAST)
    finally:
        proxy.close()
    assert stats.outcome == "succeeded" and {f[2] for f in proxy.faults} == {"truncate"}
    assert world.sql("SELECT count(*) FROM stripe_charges") == [(2,)]

    always = FaultProxy(fake.url, lambda n, p: "truncate")
    try:
        with pytest.raises(UnreadableBody) as raised:
            ingest(world.engine, make_client(KEY, always.url), {}, timedelta(minutes=10), retry=FAST)
    finally:
        always.close()
    assert leaks_in(str(raised.value)) == [] and len(always.faults) == FAST.attempts
    (outcome, error), = world.sql("SELECT outcome, error FROM job_runs ORDER BY run_id DESC LIMIT 1")
    assert outcome == "failed" and "body" in error and "ch_0000" not in error
    assert leaks_in_database(world.engine) == [] and leaks_in(caplog.text) == []


def test_migration_0009_cuts_the_rows_stored_before_exactly_as_ingest_would(make_db):
    """Rows written verbatim under 0008 come out of the upgrade as the allowlist makes them today,
    so the next ingest finds nothing changed (an equal object is not rewritten)."""
    conninfo = make_db()
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool)
    try:
        upgrade(engine, "0008")
        objects = {
            "stripe_charges": [so.charge(1, BASE), so.charge(2, BASE + 1, currency="cad"),
                               {**so.charge(3, BASE + 2), "balance_transaction": None, "outcome": None,
                                "payment_method_details": {"type": "us_bank_account", "us_bank_account": {
                                    "last4": "6789", "routing_number": so.ROUTING, "fingerprint": so.FINGERPRINT}}},
                               {**so.charge(4, BASE + 3), "balance_transaction": {"object": "balance_transaction"},
                                "outcome": "authorized", "metadata": None, "status": ["succeeded"],
                                "amount": {"value": 5}, "failure_code": 7, "payment_method_details": {"card": None}}],
            "stripe_refunds": [so.refund(1, BASE, "ch_00001", 400)],
            "stripe_disputes": [so.dispute(1, BASE, "ch_00002", 1002)],
            "stripe_balance_transactions": [so.balance_transaction("txn_1", BASE, 5, "ch_00001", expanded_source=True),
                                            so.balance_transaction("txn_2", BASE, 5, None)],
            "stripe_payouts": [so.payout("po_1", BASE, 1543), {**so.payout("po_2", BASE, 7), "destination": "ba_1"}],
        }
        service = {"stripe_charges": "charges", "stripe_refunds": "refunds", "stripe_disputes": "disputes",
                   "stripe_balance_transactions": "balance_transactions", "stripe_payouts": "payouts"}
        with engine.begin() as conn:
            for table, objs in objects.items():
                for o in objs:
                    cols = {"id": o["id"], "created": datetime.fromtimestamp(o["created"], UTC), "currency": "USD",
                            "raw": json.dumps(o)}
                    cols |= {"stripe_charges": {"amount": 1, "amount_refunded": 0, "status": "succeeded"},
                             "stripe_refunds": {"amount": 1, "status": "succeeded"},
                             "stripe_disputes": {"charge": "ch_1", "amount": 1, "status": "won"},
                             "stripe_balance_transactions": {"amount": 1, "fee": 0, "net": 1, "type": "charge"},
                             "stripe_payouts": {"amount": 1, "status": "paid"}}[table]
                    names = ", ".join(cols)
                    values = ", ".join(f"CAST(:{c} AS jsonb)" if c == "raw" else f":{c}" for c in cols)
                    conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({values})"), cols)
        assert leaks_in_database(engine) != []  # what 0008 held
        upgrade(engine)
        assert leaks_in_database(engine) == []
        with engine.connect() as conn:
            for table, objs in objects.items():
                stored = dict(conn.execute(text(f"SELECT id, raw FROM {table}")).all())
                assert stored == {o["id"]: keep(ALLOWLISTS[service[table]], o) for o in objs}, table
    finally:
        engine.dispose()
