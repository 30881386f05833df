"""The read snapshot every face reads its figures in (metrics/figures/query.py `snapshot`): one
moment for every read in it, no writes, and a slow query cancelled by the statement timeout."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from metrics.figures.query import read_rows, snapshot


@pytest.fixture(scope="module")
def engine(make_db):
    conninfo = make_db()
    eng = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo))
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (n int)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    yield eng
    eng.dispose()


def test_every_read_in_a_snapshot_sees_the_same_moment(engine):
    with snapshot(engine) as conn:
        before = read_rows(conn, "SELECT count(*) FROM t", {})[1]
        with engine.begin() as other:
            other.execute(text("INSERT INTO t VALUES (2)"))
        assert read_rows(conn, "SELECT count(*) FROM t", {})[1] == before
    assert read_rows(engine, "SELECT count(*) FROM t", {})[1] == [(before[0][0] + 1,)]


def test_a_snapshot_cannot_write(engine):
    with pytest.raises(DBAPIError, match="read-only transaction"), snapshot(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))


def test_a_slow_read_is_cancelled_by_the_timeout(engine):
    with pytest.raises(DBAPIError, match="statement timeout"), snapshot(engine, timeout_ms=50) as conn:
        conn.execute(text("SELECT pg_sleep(2)"))
    with snapshot(engine) as conn:  # the setting was local to that transaction
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "30s"
