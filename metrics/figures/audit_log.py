"""Read queries for the Audit page: search the audit log, and its chain status; the log's head
for /metrics and the weekly report.

Search by who (actor), what (an action prefix such as `break.` or `job.run`, and free text
found in the target or the detail), and when (UTC dates, both ends included); newest first,
at most `limit` rows (the `at` and action indexes serve it); `count` says how many match in all.

`chain_status` verifies the chain against its anchors (revwatch/audit_anchors.py): the anchor
file (read by `anchor_file` before the snapshot opens, so an anchor written meanwhile is never
past the head the snapshot sees) and the weekly reports'. `head` is the newest entry as /metrics
exports it; `head_anchor` the anchor a weekly report stores with its figures.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Connection, text

from revwatch import audit, audit_anchors

COLUMNS = ["seq", "at", "actor", "action", "target", "detail", "entry_hash"]


class Search(NamedTuple):
    actor: str | None = None
    action_prefix: str | None = None
    text: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    limit: int | None = 1000  # None: every matching entry


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(s: Search) -> tuple[str, dict[str, Any]]:
    """The search's WHERE clause (empty when it has no criterion) and its bound parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if s.actor and s.actor.strip():
        where.append("actor = :actor")
        params["actor"] = s.actor.strip()
    if s.action_prefix and s.action_prefix.strip():
        where.append("action LIKE :prefix")
        params["prefix"] = _like(s.action_prefix.strip()) + "%"
    if s.text and s.text.strip():
        where.append("(target ILIKE :q OR detail::text ILIKE :q)")
        params["q"] = "%" + _like(s.text.strip()) + "%"
    if s.day_from is not None:
        where.append("at >= :t0")
        params["t0"] = datetime.combine(s.day_from, time(), UTC)
    if s.day_to is not None:
        where.append("at < :t1")
        params["t1"] = datetime.combine(s.day_to + timedelta(days=1), time(), UTC)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def search(conn: Connection, s: Search) -> pd.DataFrame:
    """Entries matching every given criterion, newest first, up to `s.limit` (None: all); detail as compact
    JSON text."""
    where, params = _where(s)
    sql = f"SELECT seq, at, actor, action, target, detail, entry_hash FROM audit_log{where} ORDER BY seq DESC LIMIT :n"
    rows = conn.execute(text(sql), {**params, "n": None if s.limit is None else int(s.limit)}).all()
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not df.empty:
        df["detail"] = df["detail"].map(lambda d: None if d is None else json.dumps(d, sort_keys=True, ensure_ascii=False))
    return df


def count(conn: Connection, s: Search) -> int:
    """How many entries match the search (its limit aside): the "of M" of a cut list."""
    where, params = _where(s)
    return int(conn.execute(text(f"SELECT count(*) FROM audit_log{where}"), params).scalar_one())


def actors(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT DISTINCT actor FROM audit_log ORDER BY actor")).scalars())


def action_prefixes(conn: Connection) -> list[str]:
    """The distinct actions and their families (`break.`, `job.`, …), for the filter."""
    names = list(conn.execute(text("SELECT DISTINCT action FROM audit_log ORDER BY action")).scalars())
    families = sorted({n.split(".", 1)[0] + "." for n in names if "." in n})
    return families + names


def anchor_file(path: Path) -> audit_anchors.AnchorFile:
    """The anchor file's anchors (read it before opening the snapshot `chain_status` runs in)."""
    return audit_anchors.read_file(path, audit.hmac_key())


def chain_status(conn: Connection, anchors: audit_anchors.AnchorFile | None = None) -> audit.VerifyResult:
    """The chain verified (keyed entries with AUDIT_HMAC_KEY when this process has it) and compared with
    the anchor file's anchors and the weekly reports'."""
    return audit_anchors.check(conn, anchors, audit.hmac_key())


class Head(NamedTuple):
    """The audit log's newest entry as /metrics exports it: seq (0: empty), its time (None: empty), a
    52-bit digest of (seq, hash), HMAC-keyed when AUDIT_HMAC_KEY is set, and whether the entry is keyed."""

    seq: int
    at: datetime | None
    digest: int
    keyed: bool


def head(conn: Connection) -> Head:
    top = audit.head(conn)
    return Head(top.seq, top.at, audit_anchors.head_digest(top.seq, top.entry_hash, audit.hmac_key()),
                audit.is_keyed(top.entry_hash))


def head_anchor(conn: Connection, by: str = audit_anchors.BY_REPORT) -> dict[str, Any]:
    """An anchor of the head as this connection sees it (keyed when AUDIT_HMAC_KEY is set)."""
    return audit_anchors.current(conn, by, audit.hmac_key())
