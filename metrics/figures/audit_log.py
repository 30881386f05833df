"""Read queries for the Audit page: search the audit log, and its chain status.

Search by who (actor), what (an action prefix such as `break.` or `job.run`, and free text
found in the target or the detail), and when (UTC dates, both ends included); newest first,
at most `limit` rows (the `at` and action indexes serve it).
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Connection, text

from revwatch import audit

COLUMNS = ["seq", "at", "actor", "action", "target", "detail", "entry_hash"]


class Search(NamedTuple):
    actor: str | None = None
    action_prefix: str | None = None
    text: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    limit: int = 1000


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(conn: Connection, s: Search) -> pd.DataFrame:
    """Entries matching every given criterion, newest first; detail as compact JSON text."""
    where: list[str] = []
    params: dict[str, Any] = {"n": int(s.limit)}
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
    sql = ("SELECT seq, at, actor, action, target, detail, entry_hash FROM audit_log"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC LIMIT :n")
    rows = conn.execute(text(sql), params).all()
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not df.empty:
        df["detail"] = df["detail"].map(lambda d: None if d is None else json.dumps(d, sort_keys=True, ensure_ascii=False))
    return df


def actors(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT DISTINCT actor FROM audit_log ORDER BY actor")).scalars())


def action_prefixes(conn: Connection) -> list[str]:
    """The distinct actions and their families (`break.`, `job.`, …), for the filter."""
    names = list(conn.execute(text("SELECT DISTINCT action FROM audit_log ORDER BY action")).scalars())
    families = sorted({n.split(".", 1)[0] + "." for n in names if "." in n})
    return families + names


def chain_status(conn: Connection) -> audit.VerifyResult:
    return audit.verify(conn)
