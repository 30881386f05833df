"""Ingest of the billing database (SOURCES.md §1) into the product's own tables.

Incremental by the source's `updated_at` watermark, re-reading a lookback window because
rows commit late; upserts keyed by the source ids write only rows that really changed, so a
re-run writes nothing. Rows stream source -> product with COPY (no Python loop over rows),
land in a temporary stage, and are merged set-based in one product transaction together with
the new watermark and the event-time windows the compute jobs must recompute.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text

from collectors.compute.windows import queue_recompute, refresh_statistics
from revwatch.db import fetch_one, libpq_url, psycopg_connection
from revwatch.runlog import RunStats, recorded_run, try_job_lock

SOURCE = "billing"
JOB = "ingest-billing"


@dataclass(frozen=True)
class SourceTable:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    event_column: str | None = None  # event time that places a row in rollup windows
    incremental: bool = True  # has updated_at; reference tables are small and copied whole


TABLES: tuple[SourceTable, ...] = (
    SourceTable("sites", ("site_id",), ("site_id", "name", "region", "timezone", "currency", "tax_jurisdiction"), incremental=False),
    SourceTable(
        "rate_plans", ("rate_plan_id",),
        ("rate_plan_id", "site_id", "effective_from", "effective_to", "grace_minutes", "increment_minutes",
         "increment_price_minor", "daily_max_minor"),
        incremental=False,
    ),
    SourceTable("tax_rates", ("jurisdiction", "effective_from"), ("jurisdiction", "rate", "effective_from", "effective_to"), incremental=False),
    SourceTable(
        "parking_sessions", ("session_id",),
        ("session_id", "site_id", "entered_at", "exited_at", "customer_id", "updated_at"), "entered_at",
    ),
    SourceTable(
        "invoices", ("invoice_id",),
        ("invoice_id", "session_id", "currency", "subtotal_minor", "tax_minor", "total_minor", "issued_at", "status", "updated_at"),
        "issued_at",
    ),
    SourceTable(
        "payment_attempts", ("attempt_id",),
        ("attempt_id", "invoice_id", "attempt_number", "gateway", "gateway_reference", "idempotency_key", "amount_minor",
         "currency", "status", "failure_code", "payment_method_type", "card_brand", "attempted_at", "updated_at"),
        "attempted_at",
    ),
    SourceTable(
        "refunds", ("refund_id",),
        ("refund_id", "invoice_id", "attempt_id", "gateway", "gateway_reference", "amount_minor", "currency", "reason",
         "status", "created_at", "updated_at"),
        "created_at",
    ),
)


def _cols(names: Sequence[str], prefix: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, n) if prefix else sql.Identifier(n) for n in names)


def _source_query(table: SourceTable, since: datetime | None) -> sql.Composable:
    query = sql.SQL("SELECT {cols} FROM {src}").format(cols=_cols(table.columns), src=sql.Identifier(SOURCE, table.name))
    if table.incremental and since is not None:
        query += sql.SQL(" WHERE updated_at >= {since}").format(since=sql.Literal(since))
    return query


def _stream(src: psycopg.Connection, dst: psycopg.Connection, table: SourceTable, since: datetime | None) -> int:
    """COPY the source rows into a temporary stage on the product side; return rows read."""
    dst.execute(sql.SQL("CREATE TEMP TABLE stage (LIKE {t}) ON COMMIT DROP").format(t=sql.Identifier(table.name)))
    copy_out = sql.SQL("COPY ({q}) TO STDOUT").format(q=_source_query(table, since))
    copy_in = sql.SQL("COPY stage ({cols}) FROM STDIN").format(cols=_cols(table.columns))
    with src.cursor().copy(copy_out) as out, dst.cursor().copy(copy_in) as inp:
        for block in out:
            inp.write(block)
    dst.execute("ANALYZE stage")  # a temp table has no statistics until told; the merge joins need them
    return int(fetch_one(dst.execute("SELECT count(*) FROM stage"))[0])


def _changed(table: SourceTable) -> sql.Composable:
    """Stage rows that are new or differ from what we hold."""
    on = sql.SQL(" AND ").join(sql.SQL("t.{k} = s.{k}").format(k=sql.Identifier(k)) for k in table.key)
    return sql.SQL(
        "FROM stage s LEFT JOIN {t} t ON {on} WHERE t.{k0} IS NULL OR ({sc}) IS DISTINCT FROM ({tc})"
    ).format(t=sql.Identifier(table.name), on=on, k0=sql.Identifier(table.key[0]),
             sc=_cols(table.columns, "s"), tc=_cols(table.columns, "t"))


def _touched_span(dst: psycopg.Connection, table: SourceTable) -> tuple[datetime | None, datetime | None]:
    """Event-time span of changed rows, old and new values both (a moved row dirties two places)."""
    if table.event_column is None:
        raise ValueError(f"{table.name} has no event column to span")
    ev = sql.Identifier(table.event_column)
    query = sql.SQL("SELECT min(least(s.{ev}, t.{ev})), max(greatest(s.{ev}, t.{ev})) ").format(ev=ev) + _changed(table)
    lo, hi = fetch_one(dst.execute(query))
    return lo, hi


def _bulk_load(dst: psycopg.Connection, table: SourceTable) -> int:
    """First load into an empty table: plain insert with the indexes dropped and rebuilt after.

    Building a b-tree once from sorted input is several times faster than maintaining it row by
    row over random text keys; DDL is transactional, so a crash still leaves the table as it was.
    """
    target = sql.Identifier(table.name)
    indexes = dst.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid)"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid"
        " WHERE x.indrelid = %s::regclass",
        (table.name,),
    ).fetchall()
    for index, _, constraint, _ in indexes:
        if constraint:
            dst.execute(sql.SQL("ALTER TABLE {t} DROP CONSTRAINT {c}").format(t=target, c=sql.Identifier(constraint)))
        else:
            dst.execute(sql.SQL("DROP INDEX {i}").format(i=sql.Identifier(index)))
    written = dst.execute(
        sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM stage").format(t=target, cols=_cols(table.columns))
    ).rowcount
    for _, index_def, constraint, constraint_def in indexes:
        if constraint:  # definitions come from the catalog itself, not from outside input
            dst.execute(sql.SQL("ALTER TABLE {t} ADD CONSTRAINT {c} ").format(t=target, c=sql.Identifier(constraint))
                        + sql.SQL(constraint_def))
        else:
            dst.execute(sql.SQL(index_def))
    return written


def _merge(dst: psycopg.Connection, table: SourceTable, staged: int) -> int:
    """Upsert stage into the table, touching only rows that differ; return rows written."""
    target = sql.Identifier(table.name)
    if staged and fetch_one(dst.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {t})").format(t=target)))[0]:
        return _bulk_load(dst, table)
    non_key = [c for c in table.columns if c not in table.key]
    upsert = sql.SQL(
        "INSERT INTO {t} AS t ({cols}) SELECT {cols} FROM stage ON CONFLICT ({key}) DO UPDATE SET {sets}"
        " WHERE ({tc}) IS DISTINCT FROM ({ec})"
    ).format(
        t=target, cols=_cols(table.columns), key=_cols(table.key),
        sets=sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in non_key),
        tc=_cols(non_key, "t"), ec=_cols(non_key, "excluded"),
    )
    written = dst.execute(upsert).rowcount
    if not table.incremental:  # a whole copy: rows gone at the source go here too
        on = sql.SQL(" AND ").join(sql.SQL("s.{k} = t.{k}").format(k=sql.Identifier(k)) for k in table.key)
        written += dst.execute(
            sql.SQL("DELETE FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE {on})").format(t=target, on=on)
        ).rowcount
    return written


def ingest(
    product: Engine,
    billing_url: str,
    consumers: Mapping[str, Sequence[str]],
    lookback: timedelta,
    since: datetime | None = None,
) -> RunStats:
    """Sync every billing table once; `since` re-reads from that time instead of the watermark.

    `consumers` maps a table to the compute jobs that must recompute what its changes touch.
    """
    with recorded_run(product, JOB) as stats, product.begin() as conn:
        try_job_lock(conn, JOB)
        dst = psycopg_connection(conn)
        with psycopg.connect(libpq_url(billing_url)) as src:
            src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot for all tables
            for table in TABLES:
                wm = conn.execute(
                    text("SELECT watermark FROM sync_state WHERE source = :s AND table_name = :t"), {"s": SOURCE, "t": table.name}
                ).scalar()
                start = since if since is not None else (wm - lookback if wm else None)
                staged = _stream(src, dst, table, start)
                stats.rows_read += staged
                if table.event_column and consumers.get(table.name):
                    queue_recompute(conn, table.name, consumers[table.name], *_touched_span(dst, table))
                written = _merge(dst, table, staged)
                refresh_statistics(conn, table.name, written)
                stats.rows_written += written
                if table.incremental:
                    conn.execute(
                        text(
                            "INSERT INTO sync_state (source, table_name, watermark) SELECT :s, :t, max(updated_at) FROM stage"
                            " ON CONFLICT (source, table_name) DO UPDATE"
                            " SET watermark = greatest(sync_state.watermark, excluded.watermark)"
                        ),
                        {"s": SOURCE, "t": table.name},
                    )
                dst.execute("DROP TABLE stage")
    return stats
