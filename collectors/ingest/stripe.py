"""Ingest of Stripe (SOURCES.md §2) through the official `stripe` library.

Incremental by `created` with a lookback. Stripe lists newest first, so a watermark taken
from a half-read list would skip the unread older part: each page is upserted (idempotent)
in its own transaction as it comes, but an object type's watermark moves only once the
whole type has been read. A crash therefore resumes from the old watermark, without gaps,
and the upsert by id makes the re-read pages write nothing. Rows are written only when the
object (raw jsonb) changed. Payouts that are not final yet are re-read on every run, with
the balance transactions listed under them, because their status and contents still move.

Every object is cut down to its type's allowlist (stripe_fields.py) the moment it is read, before
it is normalized, written or could reach a log line: no cardholder or personal data is kept. An
object type the key may not read (403) or the server does not have (404) is recorded so
(gateway_access.py), the other types are read, and the run ends `partial`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import stripe
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, text

from collectors.compute.windows import queue_hours, refresh_statistics
from collectors.ingest.gateway_access import Access, Refused
from collectors.ingest.stripe_client import Retry, get, make_client
from collectors.ingest.stripe_fields import ALLOWLISTS, keep
from revwatch import clock
from revwatch.db import fetch_one, psycopg_connection
from revwatch.runlog import JobSkipped, RunStats, recorded_run, try_job_lock

log = logging.getLogger(__name__)

SOURCE = "stripe"
JOB = "ingest-stripe"
PAGE_SIZE = 100  # Stripe's maximum
BATCH_OBJECTS = 2_000  # objects per upsert transaction
DEFAULT_RETRY = Retry()


# ---------------------------------------------------------------- normalization
@overload
def _ts(value: int) -> datetime: ...
@overload
def _ts(value: None) -> None: ...
def _ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _ref(value: Any) -> str | None:
    """An expandable field: an id, or the expanded object carrying one."""
    return value.get("id") if isinstance(value, dict) else value


def _common(o: dict) -> tuple:
    return o["id"], _ts(o["created"]), o["currency"].upper()


def _charge(o: dict, _payout: str | None) -> tuple:
    outcome = o.get("outcome") or {}
    card = (o.get("payment_method_details") or {}).get("card") or {}
    meta = o.get("metadata") or {}
    return (*_common(o), o["amount"], o.get("amount_refunded") or 0, o["status"], o.get("failure_code"),
            outcome.get("type"), outcome.get("reason"), card.get("brand"), meta.get("attempt_id"),
            meta.get("invoice_id"), _ref(o.get("balance_transaction")))


def _refund(o: dict, _payout: str | None) -> tuple:
    return (*_common(o), _ref(o.get("charge")), o["amount"], o["status"], o.get("reason"),
            _ref(o.get("balance_transaction")))


def _dispute(o: dict, _payout: str | None) -> tuple:
    return (*_common(o), _ref(o.get("charge")), o["amount"], o["status"], o.get("reason"))


def _balance_transaction(o: dict, payout: str | None) -> tuple:
    return (*_common(o), o["amount"], o["fee"], o["net"], o["type"], o.get("reporting_category"),
            _ref(o.get("source")), _ts(o.get("available_on")), o.get("status"), payout)


def _payout(o: dict, _payout: str | None) -> tuple:
    return (*_common(o), o["amount"], o["status"], _ts(o.get("arrival_date")), _ref(o.get("balance_transaction")))


@dataclass(frozen=True)
class Kind:
    """One Stripe object type: its list service on `client.v1`, its table and columns."""

    table: str
    service: str
    columns: tuple[str, ...]  # after id, created, currency; raw comes last
    normalize: Callable[[dict, str | None], tuple]
    keep_if_null: tuple[str, ...] = field(default=())  # set by one listing, absent from another
    # Statuses after which the object no longer changes. Objects not yet final are re-read every
    # run however old they are: lists are read by `created`, and a dispute decided in week 6 or a
    # payout paid days later would otherwise never be seen again.
    final_statuses: tuple[str, ...] = field(default=())

    @property
    def all_columns(self) -> tuple[str, ...]:
        return ("id", "created", "currency", *self.columns, "raw")

    def keep(self, obj: dict) -> dict:
        """The object cut down to what Revwatch keeps of this type (stripe_fields.ALLOWLISTS)."""
        return keep(ALLOWLISTS[self.service], obj)


CHARGES = Kind("stripe_charges", "charges", ("amount", "amount_refunded", "status", "failure_code", "outcome_type",
               "outcome_reason", "card_brand", "attempt_id", "invoice_id", "balance_transaction"), _charge)
REFUNDS = Kind("stripe_refunds", "refunds", ("charge", "amount", "status", "reason", "balance_transaction"), _refund,
               final_statuses=("succeeded", "failed", "canceled"))
DISPUTES = Kind("stripe_disputes", "disputes", ("charge", "amount", "status", "reason"), _dispute,
                final_statuses=("won", "lost", "warning_closed", "prevented"))
BALANCE_TRANSACTIONS = Kind(
    "stripe_balance_transactions", "balance_transactions",
    ("amount", "fee", "net", "type", "reporting_category", "source", "available_on", "status", "payout"),
    _balance_transaction, keep_if_null=("payout",),
)
PAYOUTS = Kind("stripe_payouts", "payouts", ("amount", "status", "arrival_date", "balance_transaction"), _payout,
               final_statuses=("paid", "failed", "canceled"))
KINDS: tuple[Kind, ...] = (CHARGES, REFUNDS, DISPUTES, BALANCE_TRANSACTIONS, PAYOUTS)


# ---------------------------------------------------------------- reading
def _pages(fetch: Callable[[dict], dict], params: Mapping[str, Any], retry: Retry) -> Iterator[list[dict]]:
    """Each page of a list as plain dicts, following `starting_after`; each fetch retried."""
    params = {**params, "limit": PAGE_SIZE}
    while True:
        page = retry.call(lambda: fetch(dict(params)))
        objects = page["data"]
        if objects:
            yield objects
        if not page.get("has_more") or not objects:
            return
        params["starting_after"] = objects[-1]["id"]


def _batches(pages: Iterator[list[dict]], size: int = BATCH_OBJECTS) -> Iterator[list[dict]]:
    """Pages regrouped into bigger batches: one upsert transaction per batch, not per page."""
    batch: list[dict] = []
    for objects in pages:
        batch.extend(objects)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------- writing
def _idents(names: Sequence[str], prefix: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, n) if prefix else sql.Identifier(n) for n in names)


def _upsert(engine: Engine, kind: Kind, rows: Sequence[tuple], consumers: Sequence[str]) -> int:
    """Upsert one batch in its own transaction; only rows whose content differs are written, and their hours
    queued for `consumers`."""
    cols = kind.all_columns
    non_key = [c for c in cols if c != "id"]
    new = [
        sql.SQL("coalesce(excluded.{c}, t.{c})" if c in kind.keep_if_null else "excluded.{c}").format(c=sql.Identifier(c))
        for c in non_key
    ]
    upsert = sql.SQL(
        "WITH w AS (INSERT INTO {t} AS t ({cols}) SELECT DISTINCT ON (id) {cols} FROM stage"
        " ON CONFLICT (id) DO UPDATE SET ({nk}) = ROW({new}) WHERE ({tnk}) IS DISTINCT FROM ({new})"
        " RETURNING t.created)"
        " SELECT count(*), coalesce(array_agg(DISTINCT date_trunc('hour', created, 'UTC')), '{{}}') FROM w"
    ).format(t=sql.Identifier(kind.table), cols=_idents(cols), nk=_idents(non_key), new=sql.SQL(", ").join(new),
             tnk=_idents(non_key, "t"))
    with engine.begin() as conn:
        pg = psycopg_connection(conn)
        pg.execute(sql.SQL("CREATE TEMP TABLE stage (LIKE {t}) ON COMMIT DROP").format(t=sql.Identifier(kind.table)))
        with pg.cursor().copy(sql.SQL("COPY stage ({cols}) FROM STDIN").format(cols=_idents(cols))) as copy:
            for row in rows:
                copy.write_row(row)
        written, hours = fetch_one(pg.execute(upsert))
        queue_hours(conn, kind.table, consumers, hours)  # each run of hours: an old charge settling is not a week
    return written


def _rows(kind: Kind, objects: Sequence[dict], payout: str | None = None) -> list[tuple]:
    return [(*kind.normalize(o, payout), Jsonb(o)) for o in objects]


def _watermark(engine: Engine, table: str) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT watermark FROM sync_state WHERE source = :s AND table_name = :t"), {"s": SOURCE, "t": table}
        ).scalar()


def _advance(engine: Engine, table: str, newest: datetime | None) -> None:
    if newest is None:
        return
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sync_state (source, table_name, watermark) VALUES (:s, :t, :w)"
                " ON CONFLICT (source, table_name) DO UPDATE SET watermark = greatest(sync_state.watermark, excluded.watermark)"
            ),
            {"s": SOURCE, "t": table, "w": newest},
        )


@dataclass
class _Reader:
    """What one run shares: where to write, what to read with, and the counters."""

    engine: Engine
    client: stripe.StripeClient
    consumers: Mapping[str, Sequence[str]]
    retry: Retry
    stats: RunStats
    batch: int = BATCH_OBJECTS

    def copy(self, kind: Kind, params: Mapping[str, Any], payout: str | None = None) -> tuple[datetime | None, list[dict]]:
        """Read a whole list, upserting page by page; return the newest `created` and the objects' summaries."""
        def fetch(p: dict) -> dict:
            page = get(self.client, kind.service, f"/v1/{kind.service}", p, listing=True)
            return {**page, "data": [kind.keep(o) for o in page["data"]]}  # before anything else sees them

        newest: datetime | None = None
        seen: list[dict[str, Any]] = []
        written = 0
        for objects in _batches(_pages(fetch, params, self.retry), self.batch):
            self.stats.rows_read += len(objects)
            batch_written = _upsert(self.engine, kind, _rows(kind, objects, payout), self.consumers.get(kind.table, ()))
            written += batch_written
            self.stats.rows_written += batch_written  # counted as it lands: a run that fails later still says so
            newest = max([newest or _ts(0), *(_ts(o["created"]) for o in objects)])
            seen.extend({"id": o["id"], "status": o.get("status")} for o in objects)
        with self.engine.begin() as conn:
            refresh_statistics(conn, kind.table, written)
        return newest, seen

    def since(self, kind: Kind, since: datetime | None, lookback: timedelta) -> dict[str, Any]:
        wm = since if since is not None else _watermark(self.engine, kind.table)
        if wm is None:
            return {}
        start = wm if since is not None else wm - lookback
        return {"created": {"gte": int(start.timestamp())}}

    def open_ids(self, kind: Kind) -> list[str]:
        """Ids we hold of `kind` whose status is not final yet."""
        if not kind.final_statuses:
            return []
        with self.engine.connect() as conn:
            return list(conn.execute(
                text(f"SELECT id FROM {kind.table} WHERE status <> ALL(CAST(:final AS text[])) ORDER BY created"),
                {"final": list(kind.final_statuses)},
            ).scalars())

    def refresh(self, kind: Kind, object_id: str) -> None:
        obj = kind.keep(self.retry.call(lambda: get(self.client, kind.service, f"/v1/{kind.service}/{object_id}")))
        self.stats.rows_read += 1
        self.stats.rows_written += _upsert(self.engine, kind, _rows(kind, [obj]), self.consumers.get(kind.table, ()))

    def copy_and_refresh(self, kind: Kind, params: Mapping[str, Any]) -> tuple[datetime | None, list[dict], list[str]]:
        """Read the list, then re-read the objects that were open before and did not come with it."""
        open_before = self.open_ids(kind)
        newest, seen = self.copy(kind, params)
        read_now = {o["id"] for o in seen}
        for object_id in open_before:
            if object_id not in read_now:
                self.refresh(kind, object_id)
        return newest, seen, open_before

    def payout_entries(self, payout_ids: Sequence[str], access: Access) -> bool:
        """List each payout's balance transactions; False when the key may not read them (the payouts'
        watermark then stays, so the entries of payouts paid meanwhile are listed once it may)."""
        if BALANCE_TRANSACTIONS.service in access.refused:
            return False
        try:
            for payout_id in dict.fromkeys(payout_ids):
                self.copy(BALANCE_TRANSACTIONS, {"payout": payout_id}, payout=payout_id)
        except Refused as refusal:
            access.refuse(refusal)
            return False
        return True


def _finish(engine: Engine, stats: RunStats, access: Access) -> None:
    """Record what each type let us read; a run with a type refused is partial, with none read failed."""
    with engine.begin() as conn:
        access.record(conn, clock.now())
    access.check()
    if access.refused:
        stats.outcome, stats.detail = "partial", access.summary()
        log.warning("%s partial: %s", JOB, stats.detail)


def ingest(
    engine: Engine,
    client: stripe.StripeClient,
    consumers: Mapping[str, Sequence[str]],
    lookback: timedelta,
    since: datetime | None = None,
    retry: Retry = DEFAULT_RETRY,
    kinds: Sequence[Kind] = KINDS,
    batch: int = BATCH_OBJECTS,
) -> RunStats:
    """Copy every Stripe object type once; `since` re-reads from that time instead of the watermark.
    A type refused (403) or absent (404) is skipped and recorded, and the run ends `partial`."""
    with recorded_run(engine, JOB) as stats, engine.begin() as lock:
        try_job_lock(lock, JOB)  # held for the run; the pages commit on their own connections
        reader = _Reader(engine, client, consumers, retry, stats, batch)
        access = Access(SOURCE)
        for kind in kinds:
            if kind is PAYOUTS:
                continue
            try:
                newest, _, _ = reader.copy_and_refresh(kind, reader.since(kind, since, lookback))
            except Refused as refusal:
                access.refuse(refusal)  # no watermark: nothing of it was read
                continue
            access.ok(kind.service)
            _advance(engine, kind.table, newest)
        if PAYOUTS in kinds:
            try:
                newest, seen, open_before = reader.copy_and_refresh(PAYOUTS, reader.since(PAYOUTS, since, lookback))
            except Refused as refusal:
                access.refuse(refusal)
            else:
                access.ok(PAYOUTS.service)
                if reader.payout_entries([*(p["id"] for p in seen), *open_before], access):
                    _advance(engine, PAYOUTS.table, newest)  # only now: the payouts' transactions are in too
        _finish(engine, stats, access)
    return stats


def run_job(engine: Engine, cfg, consumers: Mapping[str, Sequence[str]], since: datetime | None = None) -> RunStats:
    """The scheduled job: skipped, and recorded so, while no API key is configured."""
    if not cfg.stripe_api_key:
        with recorded_run(engine, JOB) as stats:
            raise JobSkipped("STRIPE_API_KEY is not set: Stripe is not read")
        return stats
    client = make_client(cfg.stripe_api_key, cfg.stripe_api_base)
    return ingest(engine, client, consumers, timedelta(minutes=cfg.ingest_lookback_minutes), since=since)
