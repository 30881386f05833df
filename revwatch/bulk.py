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

MAINTENANCE_WORK_MEM = "SET LOCAL maintenance_work_mem = '1GB'"  # a 10 M-row index sorts in memory, not in 64 MB runs


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
    dst.execute(MAINTENANCE_WORK_MEM)
    for _, index_def, constraint, constraint_def in indexes:
        if constraint:
            dst.execute(sql.SQL("ALTER TABLE {t} ADD CONSTRAINT {c} ").format(t=target, c=sql.Identifier(constraint))
                        + sql.SQL(constraint_def))
        else:
            dst.execute(sql.SQL(index_def))



def drop_indexes(dst: psycopg.Connection[Any], table: str) -> int:
    """Drop every index of `table` and the constraints they back, for a load in many transactions (a first load
    in chunks: each chunk only appends); `restore_indexes` builds them again. Returns how many."""
    indexes = dst.execute(
        "SELECT i.relname, c.conname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid"
        " WHERE x.indrelid = %s::regclass", (table,)).fetchall()
    for index, constraint in indexes:
        if constraint:
            dst.execute(sql.SQL("ALTER TABLE {t} DROP CONSTRAINT {c}").format(t=sql.Identifier(table),
                                                                             c=sql.Identifier(constraint)))
        else:
            dst.execute(sql.SQL("DROP INDEX {i}").format(i=sql.Identifier(index)))
    return len(indexes)


def restore_indexes(dst: psycopg.Connection[Any], table: str) -> int:
    """Build the primary key and the indexes the schema (revwatch.schema, which the migrations match) declares
    on `table` and the database lacks: after a chunked load, or one stopped half way and resumed. Before the
    key, rows of one key (a row the source changed while the load ran, read in two chunks) keep the newest
    `updated_at`. Returns how many were built."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import AddConstraint, CreateIndex

    from revwatch.schema import Base

    declared = Base.metadata.tables[table]
    have = {r[0] for r in dst.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                                      " AND tablename = %s", (table,)).fetchall()}
    key = declared.primary_key
    missing = [ix for ix in declared.indexes if ix.name not in have]
    if key.name in have and not missing:
        return 0
    dst.execute(MAINTENANCE_WORK_MEM)
    dialect = postgresql.dialect()
    if key.name not in have:
        add_key = str(AddConstraint(key).compile(dialect=dialect))
        try:
            with dst.transaction():  # a savepoint: the usual case, no key twice, costs one index build
                dst.execute(add_key)
        except psycopg.errors.UniqueViolation:
            on = sql.SQL(" AND ").join(sql.SQL("a.{c} = b.{c}").format(c=sql.Identifier(c.name)) for c in key.columns)
            dst.execute(sql.SQL("DELETE FROM {t} a USING {t} b WHERE {on}"
                                " AND (a.updated_at, a.ctid) < (b.updated_at, b.ctid)").format(t=sql.Identifier(table),
                                                                                            on=on))
            dst.execute(add_key)
    for ix in missing:
        dst.execute(str(CreateIndex(ix).compile(dialect=dialect)))
    return len(missing) + (key.name not in have)
