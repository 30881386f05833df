"""Ingest of the billing database (SOURCES.md §1) into the product's own tables.

Incremental by the source's `updated_at` watermark, re-reading a lookback window because
rows commit late; upserts keyed by the source ids write only rows that really changed, so a
re-run writes nothing. Rows stream source -> product with COPY (no Python loop over rows),
land in a temporary stage, and are merged set-based in one product transaction together with
the new watermark and the event-time windows the compute jobs must recompute.

A row the product's schema cannot take never stops the others (issue 15): the stage has the
table's types but none of its constraints, and a row with no value where the input contract
(SOURCES.md §1, mirrored by the NOT NULL columns of our copy) requires one, or whose key the source
holds twice, is set aside into `quarantine` (source 'billing', file_name the table, line 0, the
reason, the row as JSON; `file_sha256` is the hash of the row's key, its identity across runs) while
every other row goes through. A quarantined row is listed once however often it is read again, and
leaves quarantine when it is taken (fixed at the source) or, for a table copied whole, when the
source drops it. What the schema holds but the contract frowns on (a time zone PostgreSQL does not
know, a code outside ISO 4217, a negative total) is taken and flagged where it is judged.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from sqlalchemy import Engine, text

from collectors.compute.billing_classification import queue_touched
from collectors.compute.windows import queue_hours, refresh_statistics
from revwatch import clock
from revwatch.bulk import indexes_set_aside
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


# The incremental tables whose updated_at leads an index at the source (SOURCES.md §1 asks for one each)
_INDEXED = """
    SELECT DISTINCT c.relname FROM pg_index x
    JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
    WHERE n.nspname = %s AND a.attname = 'updated_at' AND x.indisvalid"""


def advice(table: SourceTable, indexed: bool) -> str | None:
    """What to ask the source's owners for `table`: the index on updated_at it lacks, else nothing."""
    if not table.incremental or indexed:
        return None
    return (f"{SOURCE}.{table.name} has no index on updated_at: every incremental read scans the whole table. "
            f"Ask its owners for: CREATE INDEX ON {SOURCE}.{table.name} (updated_at);")


def _source_query(table: SourceTable, since: datetime | None) -> sql.Composable:
    query = sql.SQL("SELECT {cols} FROM {src}").format(cols=_cols(table.columns), src=sql.Identifier(SOURCE, table.name))
    if table.incremental and since is not None:
        query += sql.SQL(" WHERE updated_at >= {since}").format(since=sql.Literal(since))
    return query


def _stream(src: psycopg.Connection, dst: psycopg.Connection, table: SourceTable, since: datetime | None,
            by_index: bool = False) -> int:
    """COPY the source rows into a temporary stage on the product side; return rows read. `by_index`: read
    through the source's updated_at index (a source table's statistics may be stale, and a planner that
    takes the newest minutes for a third of the table scans it all)."""
    # the table's types, none of its constraints: a row the table cannot take is set aside, not fatal
    dst.execute(sql.SQL("CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA").format(
        cols=_cols(table.columns), t=sql.Identifier(table.name)))
    copy_out = sql.SQL("COPY ({q}) TO STDOUT").format(q=_source_query(table, since))
    copy_in = sql.SQL("COPY stage ({cols}) FROM STDIN").format(cols=_cols(table.columns))
    src.execute("SET LOCAL enable_seqscan = " + ("off" if by_index else "on"))
    with src.cursor().copy(copy_out) as out, dst.cursor().copy(copy_in) as inp:
        for block in out:
            inp.write(block)
    dst.execute("ANALYZE stage")  # a temp table has no statistics until told; the merge joins need them
    return int(fetch_one(dst.execute("SELECT count(*) FROM stage"))[0])


def _joined(table: SourceTable, whole: bool = False) -> sql.Composable:
    """The stage `s` beside our copy `t` by key; `whole` also keeps the copy's rows the stage lacks."""
    on = _key_match(table, "s", "t")
    join = sql.SQL("FULL JOIN") if whole else sql.SQL("LEFT JOIN")
    return sql.SQL("stage s {join} {t} t ON {on}").format(join=join, t=sql.Identifier(table.name), on=on)


def _differs(table: SourceTable, whole: bool = False) -> sql.Composable:
    """Condition over _joined: the row is new or differs from what we hold (or, `whole`, is gone)."""
    gone = sql.SQL("s.{k0} IS NULL OR ").format(k0=sql.Identifier(table.key[0])) if whole else sql.SQL("")
    return sql.SQL("{gone}t.{k0} IS NULL OR ({sc}) IS DISTINCT FROM ({tc})").format(
        gone=gone, k0=sql.Identifier(table.key[0]), sc=_cols(table.columns, "s"), tc=_cols(table.columns, "t"))


def _changed(table: SourceTable) -> sql.Composable:
    """Stage rows that are new or differ from what we hold."""
    return sql.SQL("FROM {joined} WHERE {differs}").format(joined=_joined(table), differs=_differs(table))


def _touched_hours(dst: psycopg.Connection, table: SourceTable) -> list[datetime]:
    """The UTC hours of the changed rows' event times, old and new values both (a moved row dirties two places)."""
    if table.event_column is None:
        raise ValueError(f"{table.name} has no event column to place its changes")
    ev = sql.Identifier(table.event_column)
    query = (sql.SQL("SELECT h FROM (SELECT date_trunc('hour', s.{ev}, 'UTC') AS new, date_trunc('hour', t.{ev}, 'UTC')"
                     " AS old ").format(ev=ev) + _changed(table)
             + sql.SQL(") c CROSS JOIN LATERAL (VALUES (c.new), (c.old)) v(h) WHERE h IS NOT NULL GROUP BY h"))
    return [row[0] for row in dst.execute(query).fetchall()]


def _bulk_load(dst: psycopg.Connection, table: SourceTable) -> int:
    """First load into an empty table: plain insert with the indexes set aside (revwatch/bulk.py)."""
    with indexes_set_aside(dst, table.name):
        return dst.execute(sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM stage").format(
            t=sql.Identifier(table.name), cols=_cols(table.columns))).rowcount


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
    if not table.incremental:  # a whole copy: rows gone at the source go here too (one set aside keeps its copy)
        written += dst.execute(
            sql.SQL("DELETE FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE {on})"
                    " AND NOT EXISTS (SELECT 1 FROM {bad} s WHERE {on})").format(
                t=target, on=_key_match(table, "s", "t"), bad=sql.Identifier(BAD))
        ).rowcount
    return written


# ---------------------------------------------------------------- rows set aside (quarantine)
BAD = "stage_bad"  # the stage's rows the table cannot take: key, reason, the row as JSON, its identity


def _key_match(table: SourceTable, a: str, b: str) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{a}.{k} = {b}.{k}").format(a=sql.Identifier(a), b=sql.Identifier(b),
                                                                    k=sql.Identifier(k)) for k in table.key)


def _ident(table: SourceTable) -> sql.Composable:
    """The identity of stage row `s` in quarantine: the hash of its table and key (of the whole row
    when the key is incomplete), so a row read again is the same entry."""
    null_key = sql.SQL(" OR ").join(sql.SQL("s.{k} IS NULL").format(k=sql.Identifier(k)) for k in table.key)
    return sql.SQL(
        "encode(sha256(convert_to(CASE WHEN {null_key} THEN row_to_json(s)::text"
        " ELSE json_build_array({name}, {keys})::text END, 'UTF8')), 'hex')"
    ).format(null_key=null_key, name=sql.Literal(table.name), keys=_cols(table.key, "s"))


def _set_aside(dst: psycopg.Connection, table: SourceTable, using: sql.Composable, where: sql.Composable,
               reason: sql.Composable) -> int:
    """Move the stage rows `s` (joined with `using`) matching `where` into BAD with `reason`."""
    gone = sql.SQL(
        "WITH gone AS (DELETE FROM stage s {using} WHERE {where}"
        " RETURNING {keys}, {reason} AS q_reason, row_to_json(s)::text AS q_record, {ident} AS q_ident)"
        " INSERT INTO {bad} ({bare}, q_reason, q_record, q_ident) SELECT {bare}, q_reason, q_record, q_ident FROM gone"
    ).format(using=using, where=where, keys=_cols(table.key, "s"), reason=reason, ident=_ident(table),
             bad=sql.Identifier(BAD), bare=_cols(table.key))
    return dst.execute(gone).rowcount


def _set_aside_missing(dst: psycopg.Connection, table: SourceTable) -> int:
    """Open BAD and move into it the stage rows with no value in a column our copy holds NOT NULL: the
    columns SOURCES.md §1 does not mark NULL-able. Return how many."""
    dst.execute(sql.SQL(
        "CREATE TEMP TABLE {bad} ON COMMIT DROP AS SELECT {keys}, NULL::text AS q_reason, NULL::text AS q_record,"
        " NULL::text AS q_ident FROM {t} WITH NO DATA").format(bad=sql.Identifier(BAD), keys=_cols(table.key),
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


def _set_aside_duplicates(dst: psycopg.Connection, table: SourceTable) -> int:
    """Move every copy of a key the stage holds more than once into BAD: which one is right is not ours to guess."""
    using = sql.SQL("USING (SELECT {keys}, count(*) AS n FROM stage GROUP BY {keys} HAVING count(*) > 1) d").format(
        keys=_cols(table.key))
    return _set_aside(dst, table, using, _key_match(table, "s", "d"),
                      sql.SQL("'the source holds ' || d.n || ' rows with this key'"))


def _merge_taking_what_it_can(dst: psycopg.Connection, table: SourceTable, staged: int) -> int:
    """`_merge`, and when a key the source holds twice stops it, again without those rows."""
    dst.execute("SAVEPOINT billing_merge")
    try:
        written = _merge(dst, table, staged)
    except (psycopg.errors.UniqueViolation, psycopg.errors.CardinalityViolation):
        dst.execute("ROLLBACK TO SAVEPOINT billing_merge")
        _set_aside_duplicates(dst, table)
        written = _merge(dst, table, staged)
    dst.execute("RELEASE SAVEPOINT billing_merge")
    return written


def _record_quarantine(dst: psycopg.Connection, table: SourceTable) -> None:
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


def ingest(
    product: Engine,
    billing_url: str,
    consumers: Mapping[str, Sequence[str]],
    lookback: timedelta,
    since: datetime | None = None,
    site_hour_consumers: Mapping[str, Sequence[str]] | None = None,
) -> RunStats:
    """Sync every billing table once; `since` re-reads from that time instead of the watermark.

    `consumers` maps a table to the compute jobs that must recompute the event-time windows its changes
    touch; `site_hour_consumers` to those that recompute the site-hours of exits its changes make stale
    (collectors/compute/billing_classification.py, TOUCHED).
    """
    site_hour_consumers = site_hour_consumers or {}
    with recorded_run(product, JOB) as stats, product.begin() as conn:
        try_job_lock(conn, JOB)
        dst = psycopg_connection(conn)
        with psycopg.connect(libpq_url(billing_url)) as src:
            src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot for all tables
            indexed = {r[0] for r in src.execute(_INDEXED, (SOURCE,)).fetchall()}
            for table in TABLES:
                wm = conn.execute(
                    text("SELECT watermark FROM sync_state WHERE source = :s AND table_name = :t"), {"s": SOURCE, "t": table.name}
                ).scalar()
                start = since if since is not None else (wm - lookback if wm else None)
                # from the watermark: the newest minutes, through the index; a first load or a backfill: the planner's call
                staged = _stream(src, dst, table, start, by_index=since is None and start is not None
                                 and table.name in indexed)
                stats.rows_read += staged
                _set_aside_missing(dst, table)
                if table.event_column and consumers.get(table.name):
                    queue_hours(conn, table.name, consumers[table.name], _touched_hours(dst, table))
                if site_hour_consumers.get(table.name):
                    whole = not table.incremental
                    queue_touched(conn, table.name, _joined(table, whole).as_string(dst),
                                  _differs(table, whole).as_string(dst), site_hour_consumers[table.name])
                written = _merge_taking_what_it_can(dst, table, staged)
                _record_quarantine(dst, table)
                refresh_statistics(conn, table.name, written)
                stats.rows_written += written
                if table.incremental:
                    conn.execute(
                        text(
                            "INSERT INTO sync_state (source, table_name, watermark, advice)"
                            " SELECT :s, :t, max(updated_at), :advice FROM stage"
                            " ON CONFLICT (source, table_name) DO UPDATE"
                            " SET watermark = greatest(sync_state.watermark, excluded.watermark), advice = excluded.advice"
                        ),
                        {"s": SOURCE, "t": table.name, "advice": advice(table, table.name in indexed)},
                    )
                dst.execute(sql.SQL("DROP TABLE stage, {bad}").format(bad=sql.Identifier(BAD)))
    return stats
