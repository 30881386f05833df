"""Ingest of the billing database (SOURCES.md §1) into the product's own tables.

Incremental by the source's `updated_at` watermark, re-reading a lookback window because
rows commit late; upserts keyed by the source ids write only rows that really changed, so a
re-run writes nothing. Rows stream source -> product with COPY (no Python loop over rows),
land in a temporary stage, and are merged set-based in one product transaction together with
the new watermark and the event-time windows the compute jobs must recompute.

A row the product's schema cannot take never stops the others (issue 15): it is set aside into
`quarantine` (billing_quarantine.py) while every other row goes through. What the schema holds but the
contract frowns on (a time zone PostgreSQL does not know, a code outside ISO 4217, a negative total) is
taken and flagged where it is judged.

A first load (issue 17) reads the source in chunks of `updated_at`, each committed on its own with its
progress (first_load.py): a stopped load resumes from its last chunk. The copies go without indexes until
it ends, and it is followed by the usual pass from the watermarks.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, text

from collectors.compute.billing_classification import queue_touched
from collectors.compute.windows import queue_hours, refresh_statistics
from collectors.ingest import first_load
from collectors.ingest.billing_quarantine import (
    BAD,
    record_quarantine,
    set_aside_duplicates,
    set_aside_missing,
)
from collectors.ingest.billing_tables import SOURCE, TABLES, SourceTable, cols, key_match
from revwatch.bulk import drop_indexes, indexes_set_aside, restore_indexes
from revwatch.db import fetch_one, libpq_url, psycopg_connection
from revwatch.runlog import RunStats, recorded_run, try_job_lock

log = logging.getLogger(__name__)

JOB = "ingest-billing"


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


def _source_query(table: SourceTable, since: datetime | None, until: datetime | None = None) -> sql.Composable:
    """The table's rows updated in [since, until) (either end open when None); a table copied whole: all."""
    bounds = [sql.SQL("updated_at >= {v}").format(v=sql.Literal(since)) if since is not None else None,
              sql.SQL("updated_at < {v}").format(v=sql.Literal(until)) if until is not None else None]
    where = [b for b in bounds if b is not None] if table.incremental else []
    query = sql.SQL("SELECT {cols} FROM {src}").format(cols=cols(table.columns), src=sql.Identifier(SOURCE, table.name))
    return query + sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else query


def _stream(src: psycopg.Connection, dst: psycopg.Connection, table: SourceTable, since: datetime | None,
            until: datetime | None = None, by_index: bool = False) -> int:
    """COPY the source rows into a temporary stage on the product side; return rows read. `by_index`: read
    through the source's updated_at index (a source table's statistics may be stale, and a planner that
    takes the newest minutes for a third of the table scans it all)."""
    # the table's types, none of its constraints: a row the table cannot take is set aside, not fatal
    dst.execute(sql.SQL("CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT {cols} FROM {t} WITH NO DATA").format(
        cols=cols(table.columns), t=sql.Identifier(table.name)))
    copy_out = sql.SQL("COPY ({q}) TO STDOUT").format(q=_source_query(table, since, until))
    copy_in = sql.SQL("COPY stage ({cols}) FROM STDIN").format(cols=cols(table.columns))
    src.execute("SET LOCAL enable_seqscan = " + ("off" if by_index else "on"))
    with src.cursor().copy(copy_out) as out, dst.cursor().copy(copy_in) as inp:
        for block in out:
            inp.write(block)
    dst.execute("ANALYZE stage")  # a temp table has no statistics until told; the merge joins need them
    return int(fetch_one(dst.execute("SELECT count(*) FROM stage"))[0])


def _joined(table: SourceTable, whole: bool = False) -> sql.Composable:
    """The stage `s` beside our copy `t` by key; `whole` also keeps the copy's rows the stage lacks."""
    on = key_match(table, "s", "t")
    join = sql.SQL("FULL JOIN") if whole else sql.SQL("LEFT JOIN")
    return sql.SQL("stage s {join} {t} t ON {on}").format(join=join, t=sql.Identifier(table.name), on=on)


def _differs(table: SourceTable, whole: bool = False) -> sql.Composable:
    """Condition over _joined: the row is new or differs from what we hold (or, `whole`, is gone)."""
    gone = sql.SQL("s.{k0} IS NULL OR ").format(k0=sql.Identifier(table.key[0])) if whole else sql.SQL("")
    return sql.SQL("{gone}t.{k0} IS NULL OR ({sc}) IS DISTINCT FROM ({tc})").format(
        gone=gone, k0=sql.Identifier(table.key[0]), sc=cols(table.columns, "s"), tc=cols(table.columns, "t"))


def _changed(table: SourceTable) -> sql.Composable:
    """Stage rows that are new or differ from what we hold."""
    return sql.SQL("FROM {joined} WHERE {differs}").format(joined=_joined(table), differs=_differs(table))


def _touched_hours(dst: psycopg.Connection, table: SourceTable, only_new: bool = False) -> list[datetime]:
    """The UTC hours of the changed rows' event times, old and new values both (a moved row dirties two places);
    `only_new`: of every stage row (a first-load chunk, not compared with the copy)."""
    if table.event_column is None:
        raise ValueError(f"{table.name} has no event column to place its changes")
    ev = sql.Identifier(table.event_column)
    if only_new:
        return [row[0] for row in dst.execute(sql.SQL("SELECT DISTINCT date_trunc('hour', {ev}, 'UTC') FROM stage"
                                                      " WHERE {ev} IS NOT NULL").format(ev=ev)).fetchall()]
    query = (sql.SQL("SELECT h FROM (SELECT date_trunc('hour', s.{ev}, 'UTC') AS new, date_trunc('hour', t.{ev}, 'UTC')"
                     " AS old ").format(ev=ev) + _changed(table)
             + sql.SQL(") c CROSS JOIN LATERAL (VALUES (c.new), (c.old)) v(h) WHERE h IS NOT NULL GROUP BY h"))
    return [row[0] for row in dst.execute(query).fetchall()]


def _insert_stage(dst: psycopg.Connection, table: SourceTable) -> int:
    """Every stage row into the copy, as it is (no key compared): rows written."""
    return dst.execute(sql.SQL("INSERT INTO {t} ({cols}) SELECT {cols} FROM stage").format(
        t=sql.Identifier(table.name), cols=cols(table.columns))).rowcount


def _bulk_load(dst: psycopg.Connection, table: SourceTable) -> int:
    """First load into an empty table: plain insert with the indexes set aside (revwatch/bulk.py)."""
    with indexes_set_aside(dst, table.name):
        return _insert_stage(dst, table)


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
        t=target, cols=cols(table.columns), key=cols(table.key),
        sets=sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in non_key),
        tc=cols(non_key, "t"), ec=cols(non_key, "excluded"),
    )
    written = dst.execute(upsert).rowcount
    if not table.incremental:  # a whole copy: rows gone at the source go here too (one set aside keeps its copy)
        written += dst.execute(
            sql.SQL("DELETE FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM stage s WHERE {on})"
                    " AND NOT EXISTS (SELECT 1 FROM {bad} s WHERE {on})").format(
                t=target, on=key_match(table, "s", "t"), bad=sql.Identifier(BAD))
        ).rowcount
    return written


def _merge_taking_what_it_can(dst: psycopg.Connection, table: SourceTable, staged: int) -> int:
    """`_merge`, and when a key the source holds twice stops it, again without those rows."""
    dst.execute("SAVEPOINT billing_merge")
    try:
        written = _merge(dst, table, staged)
    except (psycopg.errors.UniqueViolation, psycopg.errors.CardinalityViolation):
        dst.execute("ROLLBACK TO SAVEPOINT billing_merge")
        set_aside_duplicates(dst, table)
        written = _merge(dst, table, staged)
    dst.execute("RELEASE SAVEPOINT billing_merge")
    return written


# ---------------------------------------------------------------- first load in chunks
CHUNK_ROWS = 2_000_000  # source rows a first-load chunk aims at (INGEST_CHUNK_ROWS); each commits on its own
_SPAN = " UNION ALL ".join(f"SELECT min(updated_at), max(updated_at), count(*) FROM {SOURCE}.{t.name}"
                           for t in TABLES if t.incremental)


def _first_load(product: Engine, billing_url: str, chunk_rows: int) -> first_load.FirstLoad | None:
    """The first load to begin or resume; None when there is none to do: it finished, or the copies were made
    before loads were recorded (a watermark is kept), or the source holds nothing yet."""
    with product.begin() as conn:
        load = first_load.unfinished(conn, JOB, chunk_rows)
        if load is not None or first_load.recorded(conn, JOB) or conn.execute(
                text("SELECT EXISTS (SELECT FROM sync_state WHERE source = :s AND watermark IS NOT NULL)"),
                {"s": SOURCE}).scalar_one():
            return load
        with psycopg.connect(libpq_url(billing_url)) as src:
            spans = src.execute(_SPAN).fetchall()
        if not any(r[0] for r in spans):
            return None
        return first_load.begin(conn, JOB, min(r[0] for r in spans if r[0]), max(r[1] for r in spans if r[1]),
                                sum(r[2] for r in spans), chunk_rows)


def ingest(
    product: Engine,
    billing_url: str,
    consumers: Mapping[str, Sequence[str]],
    lookback: timedelta,
    since: datetime | None = None,
    site_hour_consumers: Mapping[str, Sequence[str]] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> RunStats:
    """Sync every billing table once; `since` re-reads from that time instead of the watermark.

    `consumers` maps a table to the compute jobs that must recompute the event-time windows its changes
    touch; `site_hour_consumers` to those that recompute the site-hours of exits its changes make stale
    (collectors/compute/billing_classification.py, TOUCHED).

    A first load (an incremental table without a watermark) first reads the source in chunks of `updated_at`
    (about `chunk_rows` rows each), each committed on its own with its progress in load_progress, so a stopped load resumes from its last
    chunk; then the usual pass from the watermarks (a lookback before the newest row read) follows.
    """
    sync = _Sync(product, billing_url, consumers, site_hour_consumers or {})
    with recorded_run(product, JOB) as stats, product.begin() as lock:
        try_job_lock(lock, JOB)  # held for the run; each chunk commits on a connection of its own
        load = _first_load(product, billing_url, chunk_rows) if since is None else None
        while load is not None and not load.finished:
            start, end = load.next_chunk()

            def commit(conn: Connection, rows: int, load: first_load.FirstLoad = load, end: datetime = end) -> None:
                load.committed(conn, end, rows)

            def chunk_start(_wm: datetime | None, start: datetime = start) -> datetime:
                return start
            sync.once(stats, chunk_start, end, loading=True, commit=commit)
        sync.once(stats, lambda wm: since if since is not None else (wm - lookback if wm else None), None,
                  by_index=since is None, commit=lambda conn, _rows: first_load.finish(conn, JOB))
    return stats


@dataclass
class _Sync:
    """One pass over every billing table, in one product transaction and one source snapshot."""

    product: Engine
    billing_url: str
    consumers: Mapping[str, Sequence[str]]
    site_hour_consumers: Mapping[str, Sequence[str]]

    def once(self, stats: RunStats, start_of: Callable[[datetime | None], datetime | None], end: datetime | None,
             by_index: bool = False, loading: bool = False, commit: Callable[[Connection, int], None] | None = None,
             ) -> None:
        """Read each table's rows updated in [start_of(its watermark), end) (a table copied whole: all of it) and
        merge them; `commit(conn, rows read of the incremental tables)` runs in the same transaction. `by_index`:
        read through the source's updated_at index where it has one (the newest minutes of a usual run).

        `loading`: a chunk of a first load. The incremental copies go without indexes until the load ends (a
        chunk appends; maintaining the indexes row by row made a load in chunks 1.8 times slower than one bulk
        load) and their changes are placed by the rows read alone (what they replace was queued when it was
        read). Any other pass first builds again what a copy lacks (revwatch/bulk.py restore_indexes)."""
        incremental_rows = 0
        with self.product.begin() as conn, psycopg.connect(libpq_url(self.billing_url)) as src:
            dst = psycopg_connection(conn)
            src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot for all tables
            indexed = {r[0] for r in src.execute(_INDEXED, (SOURCE,)).fetchall()}
            for table in TABLES:
                if table.incremental and not loading and restore_indexes(dst, table.name):
                    conn.execute(text(f'ANALYZE "{table.name}"'))
                    log.info("%s: the indexes of %s built", JOB, table.name)
                wm = conn.execute(
                    text("SELECT watermark FROM sync_state WHERE source = :s AND table_name = :t"), {"s": SOURCE, "t": table.name}
                ).scalar()
                start = start_of(wm)
                # from the watermark: the newest minutes, through the index; a first load or a backfill: the planner's call
                staged = _stream(src, dst, table, start, end, by_index=by_index and start is not None
                                 and table.name in indexed)
                stats.rows_read += staged
                incremental_rows += staged if table.incremental else 0
                if table.incremental and loading:
                    drop_indexes(dst, table.name)
                    stats.rows_written += self._append(conn, dst, table)
                else:
                    stats.rows_written += self._merge(conn, dst, table, staged)
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
            if commit is not None:
                commit(conn, incremental_rows)

    def _merge(self, conn: Connection, dst: psycopg.Connection, table: SourceTable, staged: int) -> int:
        """The stage into the copy, keyed: queue what its changes make stale, write the rows that differ."""
        set_aside_missing(dst, table)
        if table.event_column and self.consumers.get(table.name):
            queue_hours(conn, table.name, self.consumers[table.name], _touched_hours(dst, table))
        if self.site_hour_consumers.get(table.name):
            whole = not table.incremental
            queue_touched(conn, table.name, _joined(table, whole).as_string(dst),
                          _differs(table, whole).as_string(dst), self.site_hour_consumers[table.name])
        written = _merge_taking_what_it_can(dst, table, staged)
        record_quarantine(dst, table)
        refresh_statistics(conn, table.name, written)
        return written

    def _append(self, conn: Connection, dst: psycopg.Connection, table: SourceTable) -> int:
        """A first-load chunk into its copy, appended: a key read again (the row changed while the load ran) is
        settled when the key is built (restore_indexes keeps the newest). The hours of the rows read are queued;
        site-hours only for a consumer that has judged before (its first run judges every exit)."""
        set_aside_missing(dst, table)
        set_aside_duplicates(dst, table)  # no key index catches a key the source holds twice
        if table.event_column and self.consumers.get(table.name):
            queue_hours(conn, table.name, self.consumers[table.name], _touched_hours(dst, table, only_new=True))
        judged = [c for c in self.site_hour_consumers.get(table.name, ())
                  if conn.execute(text("SELECT EXISTS (SELECT FROM sync_state WHERE source = :c)"), {"c": c}).scalar_one()]
        if judged:
            queue_touched(conn, table.name, _joined(table).as_string(dst), _differs(table).as_string(dst), judged)
        written = _insert_stage(dst, table)
        record_quarantine(dst, table)
        return written
