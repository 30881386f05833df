"""A billing first load in chunks (issue 17): each chunk commits on its own with its progress, the copies go
without indexes until the load ends, a stopped load resumes from its last chunk, and the result is the same
copies, queues and figures as a load in one pass. Health, `revwatch show health --by load` and every
figure's readiness say how far along it is."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text

from collectors.ingest.billing import TABLES
from collectors.jobs import JOBS
from collectors.runlocks import first_loads_running
from metrics.faces import show
from metrics.figures import health
from metrics.figures.readiness import readiness
from revwatch import clock
from tests.processes import wait_for
from tests.worlds.copies import INDEXES, differences
from tests.worlds.demo import SMALL_WORLD

BILLING_JOBS = ("ingest-billing", "classify-billing", "rollup-sessions", "rollup-invoices", "rollup-payments",
                "rollup-invoice-outcomes", "rollup-refunds")
DERIVED = ("billing_findings", "billing_correct", "rollup_sessions", "rollup_invoices", "rollup_payments",
           "rollup_invoice_outcomes", "rollup_refunds")
INCREMENTAL = tuple(t for t in TABLES if t.incremental)


def _source_rows(world) -> int:
    return sum(world.sql(f"SELECT count(*) FROM billing.{t.name}")[0][0] for t in INCREMENTAL)


def _in_chunks(world, chunks: int):
    """world's settings with chunks of about 1/`chunks` of its incremental source rows."""
    return world.cfg.model_copy(update={"ingest_chunk_rows": max(_source_rows(world) // chunks, 100)})


def _run_all(world, cfg) -> None:
    for name in BILLING_JOBS:
        assert JOBS[name].run(world.engine, cfg, None, None).outcome == "succeeded", name


def _rows(world, table: str) -> list[tuple]:
    return sorted(world.sql(f"SELECT * FROM {table}"), key=repr)


def test_a_load_in_chunks_copies_queues_and_judges_as_one_pass_does(make_world, caplog):
    chunked, whole = make_world(demo=SMALL_WORLD, collect=False), make_world(demo=SMALL_WORLD, collect=False)
    indexes = chunked.sql(INDEXES)
    cfg = _in_chunks(chunked, 6)
    with caplog.at_level(logging.INFO, logger="collectors.ingest"):
        stats = JOBS["ingest-billing"].run(chunked.engine, cfg, None, None)
    assert stats.outcome == "succeeded"
    said = [r.getMessage() for r in caplog.records]  # the worker's console, chunk by chunk
    assert said[0].startswith(f"ingest-billing first load: about {_source_rows(chunked):,} rows updated from ")
    assert [m.split(",")[0] for m in said if " committed, " in m] == [
        f"ingest-billing first load: chunk {n} committed" for n in range(1, len(said) - 5)]
    assert said[-1] == "ingest-billing first load finished"
    for table in TABLES:
        assert differences(chunked, table) == 0, table.name
    assert chunked.sql(INDEXES) == indexes  # every key and index the copies went without is back
    (done,) = chunked.sql("SELECT rows_expected, rows_loaded, chunks_done, finished_at IS NOT NULL, loaded_to > span_to"
                          " FROM load_progress WHERE job = 'ingest-billing'")
    assert done[0] == done[1] == _source_rows(chunked) and done[2] >= 5 and done[3:] == (True, True)
    # every hour with a row is queued for the rollups over it; the first classify judges every exit itself
    for table, column, consumer in (("parking_sessions", "entered_at", "rollup-sessions"),
                                    ("invoices", "issued_at", "rollup-invoices"),
                                    ("payment_attempts", "attempted_at", "rollup-payments")):
        assert chunked.sql(f"SELECT count(*) FROM {table} x WHERE NOT EXISTS (SELECT FROM pending_windows w"
                           f" WHERE w.consumer = %s AND x.{column} >= w.window_start AND x.{column} < w.window_end)",
                           (consumer,)) == [(0,)], table
    assert chunked.sql("SELECT count(*) FROM pending_site_hours") == [(0,)]
    _run_all(chunked, cfg)
    _run_all(whole, whole.cfg)
    assert whole.sql("SELECT chunks_done FROM load_progress") == [(1,)]
    for table in DERIVED:
        assert _rows(chunked, table) == _rows(whole, table), table
    assert len(_rows(chunked, "billing_findings")) > 10


def _waiting_for_refunds(world, *but: psycopg.Connection) -> list[tuple]:
    """The backends (other than `but`'s) waiting for a lock on billing.refunds."""
    return world.sql("SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'billing.refunds'::regclass"
                     " AND pid <> ALL(%s)", ([c.info.backend_pid for c in but],))


def _let_one_read_through(world, holder: psycopg.Connection) -> psycopg.Connection:
    """`holder` locks billing.refunds and a reader waits for it: queue a new holder behind that reader, then let
    go, so the reader reads once and whoever reads next waits again. Returns the new holder."""
    wait_for(lambda: _waiting_for_refunds(world, holder), 30, "nobody came to read refunds")
    after = psycopg.connect(world.libpq)
    queued = threading.Thread(target=lambda: after.execute("LOCK TABLE billing.refunds IN ACCESS EXCLUSIVE MODE"))
    queued.start()
    wait_for(lambda: len(_waiting_for_refunds(world, holder)) == 2, 30, "the next lock never queued")
    holder.commit()
    holder.close()
    queued.join(30)
    return after


@pytest.fixture
def stopped(make_world):
    """A world whose first load stopped after its first chunk: the source connection of the second was cut
    (as by a database restart) while it waited for a table the test held locked."""
    world = make_world(demo=SMALL_WORLD, collect=False)
    cfg = _in_chunks(world, 6)
    raised: list[BaseException] = []

    def ingest() -> None:
        try:
            JOBS["ingest-billing"].run(world.engine, cfg, None, None)
        except psycopg.errors.AdminShutdown as exc:  # recorded failed; a worker logs it and goes on
            raised.append(exc)

    holder = psycopg.connect(world.libpq)
    holder.execute("LOCK TABLE billing.refunds IN ACCESS EXCLUSIVE MODE")  # the last table a chunk reads
    run = threading.Thread(target=ingest)
    run.start()
    holder = _let_one_read_through(world, holder)  # the load's count of the source
    holder = _let_one_read_through(world, holder)  # its first chunk
    ((pid,),) = wait_for(lambda: _waiting_for_refunds(world, holder), 30, "the second chunk never got to refunds")
    world.sql("SELECT pg_terminate_backend(%s)", (pid,))
    run.join(60)
    holder.commit()
    holder.close()
    assert raised and world.sql("SELECT outcome FROM job_runs WHERE job = 'ingest-billing'") == [("failed",)]
    return world, cfg


def test_a_stopped_first_load_says_how_far_it_got_and_resumes_from_its_last_chunk(stopped, page_for, make_world):
    world, cfg = stopped
    ((expected, loaded, chunks, loaded_to, finished),) = world.sql(
        "SELECT rows_expected, rows_loaded, chunks_done, loaded_to, finished_at FROM load_progress")
    assert chunks == 1 and 0 < loaded < expected and finished is None
    assert sum(world.sql(f"SELECT count(*) FROM {t.name}")[0][0] for t in INCREMENTAL) == loaded
    assert not world.sql("SELECT 1 FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'parking_sessions'")  # none until the end
    # the computes over it wait, and every face says how far along it is
    assert first_loads_running(world.engine, ("ingest-billing",)) == ["ingest-billing"]
    now = clock.now()
    (load,) = health.first_loads(world.engine, now)
    assert (load.state, load.rows_loaded, load.rows_expected, load.chunks_done) == ("stopped", loaded, expected, 1)
    progress = f"{loaded:,} of about {expected:,} rows ({loaded / expected:.0%}), read up to {loaded_to:%Y-%m-%d %H:%M} UTC"
    assert load.progress == progress
    reasons = readiness(world.engine, "billing_accuracy", now).reasons
    assert f"ingest-billing stopped half way through its first load: {progress}; it resumes at its next run" in reasons
    shown = show.health(world.engine, show.Options(by="load", as_of=now)).iloc[0]
    assert (shown.state, shown.rows_loaded, shown.rows_expected, shown.chunks_done) == ("stopped", loaded, expected, 1)
    at = page_for(world, "pages/health.py")
    (bar,) = at.get("progress")
    assert "first load stopped after chunk 1" in bar.proto.text and progress in bar.proto.text

    # a row of the first chunk changes at the source with a time inside the span still to read: read twice
    with psycopg.connect(world.libpq) as conn:
        ((session,),) = conn.execute(
            "UPDATE billing.parking_sessions SET customer_id = 'changed', updated_at = %s WHERE session_id ="
            " (SELECT min(session_id) FROM billing.parking_sessions WHERE updated_at < %s)"
            " RETURNING session_id", (loaded_to + timedelta(seconds=1), loaded_to)).fetchall()
    assert world.sql("SELECT customer_id FROM parking_sessions WHERE session_id = %s", (session,)) != [("changed",)]
    resumed = JOBS["ingest-billing"].run(world.engine, cfg, None, None)
    assert resumed.outcome == "succeeded"
    ((chunks_after, loaded_after, finished_after),) = world.sql(
        "SELECT chunks_done, rows_loaded, finished_at IS NOT NULL FROM load_progress")
    assert chunks_after > 1 and finished_after and loaded_after == expected + 1  # the changed row, read again
    assert resumed.rows_read < expected  # the first chunk is not read again
    for table in TABLES:
        assert differences(world, table) == 0, table.name
    assert world.sql("SELECT customer_id FROM parking_sessions WHERE session_id = %s", (session,)) == [("changed",)]
    assert world.sql(INDEXES) == make_world().sql(INDEXES)
    assert first_loads_running(world.engine, ("ingest-billing",)) == []
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job_runs WHERE job = 'ingest-billing'")).scalar() == 2
