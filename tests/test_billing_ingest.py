"""Billing ingest against a real demo world: complete, idempotent, incremental, crash-safe."""
import time
from datetime import timedelta

import psycopg
import pytest

from collectors.ingest.billing import TABLES
from collectors.jobs import JOBS, consumers
from revwatch import clock
from tests.worlds.copies import INDEXES, differences
from tests.worlds.demo import SMALL_WORLD

INGEST = JOBS["ingest-billing"]


def _ingest(world):
    return INGEST.run(world.engine, world.cfg, None, None)


@pytest.fixture(scope="module")
def world(make_world):
    return make_world(demo=SMALL_WORLD, collect=False)


def test_first_sync_copies_every_row_then_rerun_writes_nothing(world):
    indexes = world.sql(INDEXES)
    first = _ingest(world)
    assert world.sql(INDEXES) == indexes  # the bulk first load rebuilt every index and key it dropped
    source_rows = sum(world.sql(f"SELECT count(*) FROM billing.{t.name}")[0][0] for t in TABLES)
    assert first.outcome == "succeeded"
    # read: the first load, then the usual pass after it (the lookback behind the newest row, and the small
    # tables copied whole) again
    assert first.rows_written == source_rows > 1000 and source_rows < first.rows_read < source_rows * 1.1
    for table in TABLES:
        assert differences(world, table) == 0, table.name

    again = _ingest(world)
    assert again.outcome == "succeeded" and again.rows_written == 0
    assert again.rows_read < first.rows_read  # only the lookback window (plus small reference tables) is re-read
    runs = world.sql("SELECT outcome, rows_written, finished_at IS NOT NULL FROM job_runs WHERE job = 'ingest-billing' ORDER BY run_id")
    assert runs[-2:] == [("succeeded", first.rows_written, True), ("succeeded", 0, True)]


def test_changes_at_the_source_arrive_exactly(world):
    _ingest(world)
    now = clock.now()  # the source's clock: its updated_at moves on from the world's
    with psycopg.connect(world.libpq) as conn:
        conn.execute(
            "UPDATE billing.invoices SET status = 'void', updated_at = %(now)s"
            " WHERE invoice_id IN (SELECT invoice_id FROM billing.invoices WHERE status = 'paid' ORDER BY invoice_id LIMIT 5)",
            {"now": now},
        )
        conn.execute(
            "UPDATE billing.parking_sessions SET exited_at = entered_at + interval '95 minutes', updated_at = %(now)s"
            " WHERE session_id = (SELECT session_id FROM billing.parking_sessions WHERE exited_at IS NULL ORDER BY session_id LIMIT 1)",
            {"now": now},
        )
        conn.execute(
            "INSERT INTO billing.parking_sessions (session_id, site_id, entered_at, exited_at, customer_id, updated_at)"
            " SELECT 'new-' || g, (SELECT min(site_id) FROM billing.sites), %(now)s - interval '1 hour', NULL, NULL, %(now)s"
            " FROM generate_series(1, 2) g",
            {"now": now},
        )
        conn.execute("UPDATE billing.rate_plans SET grace_minutes = grace_minutes + 1"
                     " WHERE rate_plan_id = (SELECT min(rate_plan_id) FROM billing.rate_plans)")
    changed = _ingest(world)
    assert changed.rows_written == 5 + 1 + 2 + 1
    for table in TABLES:
        assert differences(world, table) == 0, table.name
    assert world.sql("SELECT count(*) FROM invoices WHERE status = 'void' AND updated_at > %s - interval '1 hour'",
                     (now,))[0][0] >= 5
    assert _ingest(world).rows_written == 0


def test_late_row_inside_lookback_is_picked_up(world):
    _ingest(world)
    watermark = world.sql("SELECT watermark FROM sync_state WHERE table_name = 'invoices'")[0][0]
    late = watermark - timedelta(minutes=world.cfg.ingest_lookback_minutes - 5)
    with psycopg.connect(world.libpq) as conn:
        conn.execute(
            "UPDATE billing.invoices SET tax_minor = tax_minor + 1, total_minor = total_minor + 1, updated_at = %s"
            " WHERE invoice_id = (SELECT min(invoice_id) FROM billing.invoices)",
            (late,),
        )
    assert _ingest(world).rows_written == 1
    assert differences(world, next(t for t in TABLES if t.name == "invoices")) == 0


def test_changes_queue_recompute_windows_for_their_hours(world):
    _ingest(world)
    world.sql("DELETE FROM pending_windows")  # start from a clean queue
    with psycopg.connect(world.libpq) as conn:
        issued = conn.execute(
            "UPDATE billing.invoices SET status = 'uncollectible', updated_at = %s"
            " WHERE invoice_id = (SELECT max(invoice_id) FROM billing.invoices) RETURNING issued_at", (clock.now(),)
        ).fetchone()[0]
    _ingest(world)
    windows = world.sql("SELECT consumer, window_start, window_end FROM pending_windows WHERE table_name = 'invoices'")
    assert sorted(w[0] for w in windows) == sorted(consumers()["invoices"]) and "rollup-invoices" in consumers()["invoices"]
    for _, start, end in windows:
        assert start <= issued < end and end - start == timedelta(hours=1)


def test_changes_far_apart_queue_their_hours_not_the_days_between(world):
    """Issue 17: one invoice of last week changing beside the newest one queued the whole week for every
    consumer; each consumer gets the two hours."""
    _ingest(world)
    world.sql("DELETE FROM pending_windows")
    with psycopg.connect(world.libpq) as conn:
        issued = [r[0] for r in conn.execute(
            "UPDATE billing.invoices SET status = 'uncollectible', updated_at = %s WHERE invoice_id IN"
            " ((SELECT min(invoice_id) FROM billing.invoices), (SELECT max(invoice_id) FROM billing.invoices))"
            " RETURNING issued_at", (clock.now(),)).fetchall()]
    assert max(issued) - min(issued) > timedelta(days=2)
    _ingest(world)
    windows = world.sql("SELECT window_start, window_end FROM pending_windows"
                        " WHERE table_name = 'invoices' AND consumer = 'rollup-invoices' ORDER BY 1")
    hour = timedelta(hours=1)
    assert windows == [(at.replace(minute=0, second=0, microsecond=0),
                        at.replace(minute=0, second=0, microsecond=0) + hour) for at in sorted(issued)]


def test_a_failed_run_changes_nothing_and_the_next_one_resumes(world):
    _ingest(world)
    before = world.sql("SELECT table_name, watermark FROM sync_state ORDER BY 1")
    with psycopg.connect(world.libpq) as conn:
        conn.execute("UPDATE billing.parking_sessions SET customer_id = 'cus_changed', updated_at = %s"
                     " WHERE session_id = (SELECT min(session_id) FROM billing.parking_sessions)", (clock.now(),))
        conn.execute("ALTER TABLE billing.refunds RENAME TO refunds_gone")  # the last table now fails mid-run
    with pytest.raises(psycopg.errors.UndefinedTable):
        _ingest(world)
    failed = world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-billing' ORDER BY run_id DESC LIMIT 1")[0]
    assert failed[0] == "failed" and "refunds" in failed[1]
    assert world.sql("SELECT count(*) FROM parking_sessions WHERE customer_id = 'cus_changed'")[0][0] == 0
    assert world.sql("SELECT table_name, watermark FROM sync_state ORDER BY 1") == before
    with psycopg.connect(world.libpq) as conn:
        conn.execute("ALTER TABLE billing.refunds_gone RENAME TO refunds")
    assert _ingest(world).rows_written == 1
    assert world.sql("SELECT count(*) FROM parking_sessions WHERE customer_id = 'cus_changed'")[0][0] == 1


def test_big_changes_refresh_planner_statistics(make_world):
    from collectors.compute.windows import BIG_CHANGE, refresh_statistics

    world = make_world()
    last_analyze = "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'invoices'"
    with world.engine.begin() as conn:
        refresh_statistics(conn, "invoices", BIG_CHANGE)  # small change: autovacuum's business
    assert world.sql(last_analyze) == [(False,)]
    with world.engine.begin() as conn:
        refresh_statistics(conn, "invoices", BIG_CHANGE + 1)
    assert world.sql(last_analyze) == [(True,)]


def _scans(world, table: str) -> tuple[int, int]:
    """(sequential scans, index scans) of billing.`table` so far, as the statistics system has them."""
    with psycopg.connect(world.libpq) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                            " WHERE schemaname = 'billing' AND relname = %s", (table,)).fetchone()


def _after_ingest(world, table: str, before: tuple[int, int]) -> tuple[int, int]:
    for _ in range(50):  # a backend reports its counters within a second of its transaction's end
        now = _scans(world, table)
        if now != before:
            return now
        time.sleep(0.1)
    return before


def test_an_incremental_read_goes_through_the_updated_at_index_and_a_table_without_one_is_named(make_world, page_for):
    """Issue 17: each incremental read scanned the source table whole; a table missing the index said nothing."""
    world = make_world(demo=SMALL_WORLD, collect=False)
    _ingest(world)  # the first load reads every row: a scan is right
    before = _scans(world, "parking_sessions")
    _ingest(world)
    seq, idx = _after_ingest(world, "parking_sessions", before)
    assert (seq, idx > before[1]) == (before[0], True)  # from the watermark: through the index, no scan
    assert world.sql("SELECT count(*) FROM sync_state WHERE source = 'billing' AND advice IS NOT NULL") == [(0,)]

    with psycopg.connect(world.libpq) as conn:
        (index,), = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'billing'"
                                 " AND tablename = 'invoices' AND indexdef LIKE '%(updated_at)'").fetchall()
        conn.execute(f'DROP INDEX billing."{index}"')
    _ingest(world)
    advice = dict(world.sql("SELECT table_name, advice FROM sync_state WHERE source = 'billing' AND advice IS NOT NULL"))
    assert advice == {"invoices": "billing.invoices has no index on updated_at: every incremental read scans the whole"
                                  " table. Ask its owners for: CREATE INDEX ON billing.invoices (updated_at);"}
    at = page_for(world, "pages/health.py")
    shown = [w.value.replace("\\", "") for w in at.warning]  # markdown-escaped on the page
    assert any(advice["invoices"] in w for w in shown), shown
