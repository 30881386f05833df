"""Rows of the billing source the product's schema cannot take, set aside into `quarantine` (issue 15).

The stage has the table's types but none of its constraints. A row with no value where the input contract
(SOURCES.md §1, mirrored by the NOT NULL columns of our copy) requires one, or whose key the source holds
twice, is moved from the stage into BAD (source 'billing', file_name the table, line 0, the reason, the row as
JSON; `file_sha256` is the hash of the row's key, its identity across runs) and recorded in `quarantine`
once however often it is read again; it leaves quarantine when it is taken (fixed at the source) or, for a
table copied whole, when the source drops it.
"""
from __future__ import annotations

import psycopg
from psycopg import sql

from collectors.ingest.billing_tables import SOURCE, SourceTable, cols, key_match
from revwatch import clock
from revwatch.db import fetch_one

BAD = "stage_bad"  # the stage's rows the table cannot take: key, reason, the row as JSON, its identity


def _ident(table: SourceTable) -> sql.Composable:
    """The identity of stage row `s` in quarantine: the hash of its table and key (of the whole row
    when the key is incomplete), so a row read again is the same entry."""
    null_key = sql.SQL(" OR ").join(sql.SQL("s.{k} IS NULL").format(k=sql.Identifier(k)) for k in table.key)
    return sql.SQL(
        "encode(sha256(convert_to(CASE WHEN {null_key} THEN row_to_json(s)::text"
        " ELSE json_build_array({name}, {keys})::text END, 'UTF8')), 'hex')"
    ).format(null_key=null_key, name=sql.Literal(table.name), keys=cols(table.key, "s"))


def _set_aside(dst: psycopg.Connection, table: SourceTable, using: sql.Composable, where: sql.Composable,
               reason: sql.Composable) -> int:
    """Move the stage rows `s` (joined with `using`) matching `where` into BAD with `reason`."""
    gone = sql.SQL(
        "WITH gone AS (DELETE FROM stage s {using} WHERE {where}"
        " RETURNING {keys}, {reason} AS q_reason, row_to_json(s)::text AS q_record, {ident} AS q_ident)"
        " INSERT INTO {bad} ({bare}, q_reason, q_record, q_ident) SELECT {bare}, q_reason, q_record, q_ident FROM gone"
    ).format(using=using, where=where, keys=cols(table.key, "s"), reason=reason, ident=_ident(table),
             bad=sql.Identifier(BAD), bare=cols(table.key))
    return dst.execute(gone).rowcount


def set_aside_missing(dst: psycopg.Connection, table: SourceTable) -> int:
    """Open BAD and move into it the stage rows with no value in a column our copy holds NOT NULL: the
    columns SOURCES.md §1 does not mark NULL-able. Return how many."""
    dst.execute(sql.SQL(
        "CREATE TEMP TABLE {bad} ON COMMIT DROP AS SELECT {keys}, NULL::text AS q_reason, NULL::text AS q_record,"
        " NULL::text AS q_ident FROM {t} WITH NO DATA").format(bad=sql.Identifier(BAD), keys=cols(table.key),
                                                               t=sql.Identifier(table.name)))
    not_null = {r[0] for r in dst.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attnotnull",
        (table.name,)).fetchall()}
    required = [c for c in table.columns if c in not_null]
    if not required:
        return 0
    missing = sql.SQL(", ").join(sql.SQL("CASE WHEN s.{c} IS NULL THEN {n} END").format(c=sql.Identifier(c), n=sql.Literal(c))
                                 for c in required)
    return _set_aside(
        dst, table, sql.SQL(""),
        sql.SQL(" OR ").join(sql.SQL("s.{c} IS NULL").format(c=sql.Identifier(c)) for c in required),
        sql.SQL("'no value for ' || concat_ws(', ', {missing}) || ' (the input contract requires one)'").format(missing=missing))


def set_aside_duplicates(dst: psycopg.Connection, table: SourceTable) -> int:
    """Move every copy of a key the stage holds more than once into BAD: which one is right is not ours to guess."""
    using = sql.SQL("USING (SELECT {keys}, count(*) AS n FROM stage GROUP BY {keys} HAVING count(*) > 1) d").format(
        keys=cols(table.key))
    return _set_aside(dst, table, using, key_match(table, "s", "d"),
                      sql.SQL("'the source holds ' || d.n || ' rows with this key'"))


def record_quarantine(dst: psycopg.Connection, table: SourceTable) -> None:
    """BAD into `quarantine`, each row once: entries no longer true (the row was taken, or is bad in
    another way; for a table copied whole, also a row gone from the source) are removed, new ones added."""
    mine = sql.SQL("q.source = {src} AND q.file_name = {t}").format(src=sql.Literal(SOURCE), t=sql.Literal(table.name))
    bad = sql.Identifier(BAD)
    same = sql.SQL("b.q_ident = q.file_sha256 AND b.q_reason = q.reason AND b.q_record = q.record")
    if fetch_one(dst.execute(sql.SQL("SELECT EXISTS (SELECT FROM quarantine q WHERE {mine})").format(mine=mine)))[0]:
        if table.incremental:  # only the rows read again can say anything about their entries
            stale = sql.SQL(
                "q.file_sha256 IN (SELECT {ident} FROM stage s) OR EXISTS (SELECT FROM {bad} b"
                " WHERE b.q_ident = q.file_sha256 AND (b.q_reason, b.q_record) IS DISTINCT FROM (q.reason, q.record))"
            ).format(ident=_ident(table), bad=bad)
        else:
            stale = sql.SQL("NOT EXISTS (SELECT FROM {bad} b WHERE {same})").format(bad=bad, same=same)
        dst.execute(sql.SQL("DELETE FROM quarantine q WHERE {mine} AND ({stale})").format(mine=mine, stale=stale))
    dst.execute(sql.SQL(
        "INSERT INTO quarantine (source, file_name, file_sha256, line_number, reason, record, created_at)"
        " SELECT DISTINCT {src}, {t}, b.q_ident, 0, b.q_reason, b.q_record, {at}::timestamptz FROM {bad} b"
        " WHERE NOT EXISTS (SELECT FROM quarantine q WHERE {mine} AND {same})"
    ).format(src=sql.Literal(SOURCE), t=sql.Literal(table.name), at=sql.Literal(clock.now()), bad=bad, mine=mine,
             same=same))
