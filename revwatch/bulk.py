"""Bulk writes into an empty table with its indexes set aside and built once after.

Building a b-tree once from sorted input is several times faster than maintaining it row by row over
random text keys (billing ingest's first loads; reconcile's first run, millions of items). DDL is
transactional, so a crash still leaves the table as it was. Index and constraint definitions come from
the catalog itself, never from outside input.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql


@contextmanager
def indexes_set_aside(dst: psycopg.Connection[Any], table: str) -> Iterator[None]:
    """Drop `table`'s indexes (and the constraints they back) for the block, and build them again after it."""
    target = sql.Identifier(table)
    indexes = dst.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid"
        " WHERE x.indrelid = %s::regclass",
        (table,),
    ).fetchall()
    for index, _, constraint, _ in indexes:
        if constraint:
            dst.execute(sql.SQL("ALTER TABLE {t} DROP CONSTRAINT {c}").format(t=target, c=sql.Identifier(constraint)))
        else:
            dst.execute(sql.SQL("DROP INDEX {i}").format(i=sql.Identifier(index)))
    yield
    for _, index_def, constraint, constraint_def in indexes:
        if constraint:
            dst.execute(sql.SQL("ALTER TABLE {t} ADD CONSTRAINT {c} ").format(t=target, c=sql.Identifier(constraint))
                        + sql.SQL(constraint_def))
        else:
            dst.execute(sql.SQL(index_def))
