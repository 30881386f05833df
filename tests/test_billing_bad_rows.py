"""One bad billing row never stops the others (issue 15, point 3): `ingest-billing` sets aside a row
our copy cannot take (no value where the input contract requires one, a key the source holds twice)
into `quarantine`, once, and takes every other row; the entry goes when the source fixes the row.

The demo world's billing schema keeps the contract with NOT NULL and primary keys; each test drops
the one constraint it needs to break, as a source that does not keep the contract would have it."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.ingest.billing import TABLES
from collectors.jobs import JOBS
from tests.worlds.demo import SMALL_WORLD

INGEST = JOBS["ingest-billing"]
QUARANTINE = ("SELECT file_name, line_number, reason, record FROM quarantine WHERE source = 'billing'"
              " ORDER BY file_name, record")


def _ingest(world):
    return INGEST.run(world.engine, world.cfg, None, None)


def _only_in_source(world, table: str) -> list[tuple]:
    """Source rows our copy does not hold as they are (the key first)."""
    cols = ", ".join(next(t for t in TABLES if t.name == table).columns)
    return world.sql(f"SELECT {cols} FROM billing.{table} EXCEPT SELECT {cols} FROM public.{table} ORDER BY 1")


def _only_in_copy(world, table: str) -> list[tuple]:
    cols = ", ".join(next(t for t in TABLES if t.name == table).columns)
    return world.sql(f"SELECT {cols} FROM public.{table} EXCEPT SELECT {cols} FROM billing.{table} ORDER BY 1")


def _source(world, *statements: str, params=None) -> None:
    with psycopg.connect(world.libpq) as conn:
        for statement in statements:
            conn.execute(statement, params)


@pytest.fixture
def world(make_world):
    return make_world(demo=SMALL_WORLD, collect=False)


NO_SITE = ("INSERT INTO billing.parking_sessions (session_id, site_id, entered_at, exited_at, customer_id, updated_at)"
           " SELECT %(id)s, NULL, max(entered_at), NULL, NULL, max(updated_at) FROM billing.parking_sessions")


@pytest.mark.parametrize("first_load", [True, False], ids=["first load", "incremental"])
def test_a_session_with_no_site_is_quarantined_and_every_other_row_goes_in(world, first_load):
    _source(world, "ALTER TABLE billing.parking_sessions ALTER COLUMN site_id DROP NOT NULL")
    if not first_load:
        assert _ingest(world).outcome == "succeeded"
    _source(world, NO_SITE, params={"id": "no-site-1"})
    run = _ingest(world)
    assert run.outcome == "succeeded"
    for table in TABLES:  # everything but the one row went in
        missing = _only_in_source(world, table.name)
        assert missing == ([] if table.name != "parking_sessions" else [missing[0]]), table.name
        assert _only_in_copy(world, table.name) == [], table.name
    assert _only_in_source(world, "parking_sessions")[0][:2] == ("no-site-1", None)
    (file_name, line, reason, record), = world.sql(QUARANTINE)
    assert (file_name, line) == ("parking_sessions", 0)
    assert reason == "no value for site_id (the input contract requires one)"
    assert json.loads(record)["session_id"] == "no-site-1" and json.loads(record)["site_id"] is None

    again = _ingest(world)  # read again in the lookback: the same one entry, nothing written
    assert again.outcome == "succeeded" and again.rows_written == 0
    assert len(world.sql(QUARANTINE)) == 1

    # fixed at the source: taken, and out of quarantine
    _source(world, "UPDATE billing.parking_sessions SET site_id = (SELECT min(site_id) FROM billing.sites),"
                   " updated_at = updated_at + interval '1 minute' WHERE session_id = 'no-site-1'")
    assert _ingest(world).rows_written == 1
    assert _only_in_source(world, "parking_sessions") == [] and world.sql(QUARANTINE) == []


LATER = "(SELECT max(updated_at) + interval '1 second' FROM billing.invoices)"  # a change the next run reads


def test_several_missing_values_and_a_key_held_twice(world):
    assert _ingest(world).outcome == "succeeded"
    _source(world,
            "ALTER TABLE billing.invoices DROP CONSTRAINT invoices_pkey",
            "ALTER TABLE billing.invoices ALTER COLUMN total_minor DROP NOT NULL",
            "ALTER TABLE billing.invoices ALTER COLUMN currency DROP NOT NULL",
            # one invoice's id twice (a second, different row), one with no currency nor total, one voided
            f"INSERT INTO billing.invoices SELECT invoice_id, session_id, currency, subtotal_minor, tax_minor,"
            f" total_minor + 1, issued_at, status, {LATER} FROM billing.invoices"
            " WHERE invoice_id = (SELECT max(invoice_id) FROM billing.invoices)",
            f"UPDATE billing.invoices SET updated_at = {LATER} WHERE invoice_id = (SELECT max(invoice_id) FROM billing.invoices)",
            f"UPDATE billing.invoices SET currency = NULL, total_minor = NULL, updated_at = {LATER}"
            " WHERE invoice_id = (SELECT min(invoice_id) FROM billing.invoices)",
            f"UPDATE billing.invoices SET status = 'void', updated_at = {LATER}"
            " WHERE invoice_id = (SELECT min(invoice_id) FROM billing.invoices WHERE status = 'paid' AND currency IS NOT NULL)")
    twice, none = world.sql("SELECT max(invoice_id), min(invoice_id) FROM billing.invoices")[0]
    run = _ingest(world)
    assert run.outcome == "succeeded" and run.rows_written == 1  # the voided invoice went in
    entries = {(json.loads(r)["invoice_id"], reason) for f, _, reason, r in world.sql(QUARANTINE)}
    assert entries == {(twice, "the source holds 2 rows with this key"),
                       (none, "no value for currency, total_minor (the input contract requires one)")}
    assert len(world.sql(QUARANTINE)) == 3  # both copies of the key held twice
    assert _ingest(world).rows_written == 0 and len(world.sql(QUARANTINE)) == 3


def test_a_site_row_set_aside_keeps_its_last_good_copy(world):
    assert _ingest(world).outcome == "succeeded"
    site, currency = world.sql("SELECT site_id, currency FROM billing.sites ORDER BY site_id LIMIT 1")[0]
    _source(world, "ALTER TABLE billing.sites ALTER COLUMN currency DROP NOT NULL",
            "UPDATE billing.sites SET currency = NULL WHERE site_id = %(s)s", params={"s": site})
    assert _ingest(world).outcome == "succeeded"
    assert world.sql("SELECT currency FROM sites WHERE site_id = %s", (site,)) == [(currency,)]  # not deleted
    (file_name, _, reason, _), = world.sql(QUARANTINE)
    assert (file_name, reason) == ("sites", "no value for currency (the input contract requires one)")
    _source(world, "UPDATE billing.sites SET currency = 'EUR' WHERE site_id = %(s)s", params={"s": site})
    assert _ingest(world).rows_written == 1
    assert world.sql("SELECT currency FROM sites WHERE site_id = %s", (site,)) == [("EUR",)]
    assert world.sql(QUARANTINE) == []


# ---------------------------------------------------------------- property: any mix of good and bad rows
T0 = datetime(2026, 3, 1, tzinfo=UTC)
REASONS = {"no_site": "no value for site_id (the input contract requires one)",
           "no_entry": "no value for entered_at (the input contract requires one)",
           "no_id": "no value for session_id (the input contract requires one)",
           "twice": "the source holds 2 rows with this key"}


@pytest.fixture(scope="module")
def blank(make_world):
    """A world whose billing schema (demoworld/billing.sql, no keys) lets sessions lack an id, a site or an entry."""
    from demoworld.writer import ddl

    world = make_world()
    tables, _ = ddl()
    _source(world, tables, *(f"ALTER TABLE billing.parking_sessions ALTER COLUMN {c} DROP NOT NULL"
                             for c in ("session_id", "site_id", "entered_at")))
    return world


ROW = st.tuples(st.sampled_from(["good", "good", "good", "no_site", "no_entry", "no_id", "twice"]),
                st.integers(0, 1), st.integers(0, 10_000))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, max_size=40))
def test_any_mix_loads_every_good_row_and_quarantines_every_bad_one(blank, rows):
    """Two runs (a first load, then an incremental one): nothing raises, every good session is
    copied, every bad one is in quarantine once with its reason, a re-run writes nothing."""
    _source(blank, "TRUNCATE billing.parking_sessions, parking_sessions, quarantine, sync_state, pending_windows")
    good, bad = set(), []
    for batch in (0, 1):
        source = []
        for n, (kind, b, minute) in enumerate(rows):
            if b != batch:
                continue
            sid, at = f"s{n}", T0 + timedelta(days=10 * batch, minutes=minute)  # batch 1 after batch 0
            row = {"good": (sid, "S1", at), "no_site": (sid, None, at), "no_entry": (sid, "S1", None),
                   "no_id": (None, "S1", at), "twice": (sid, "S1", at)}[kind]
            source.append((*row, f"cus_{n}", at + timedelta(minutes=1)))
            if kind == "twice":
                source.append((*row, f"cus_{n}_again", at + timedelta(minutes=1)))
                bad += [(sid, REASONS[kind])] * 2
            elif kind == "good":
                good.add(sid)
            else:
                bad.append((row[0], REASONS[kind]))
        with psycopg.connect(blank.libpq) as conn:
            conn.cursor().executemany(
                "INSERT INTO billing.parking_sessions (session_id, site_id, entered_at, customer_id, updated_at)"
                " VALUES (%s, %s, %s, %s, %s)", source)
        assert _ingest(blank).outcome == "succeeded"
        assert {r[0] for r in blank.sql("SELECT session_id FROM parking_sessions")} == good
        entries = [(json.loads(r[3])["session_id"], r[2]) for r in blank.sql(QUARANTINE)]
        assert sorted(entries, key=str) == sorted(bad, key=str)
    again = _ingest(blank)
    assert again.rows_written == 0 and len(blank.sql(QUARANTINE)) == len(bad)
