"""The audit log: append-only, hash-chained entries for every human action and every job run.

`append(conn, actor, action, target, detail)` writes one entry in the caller's transaction (so
the entry commits or rolls back with the action it records). Under a transaction advisory lock
(`AUDIT_LOCK_KEY`) it reads the last entry, gives the new one seq = last + 1 and
`entry_hash = sha256(prev_hash + canonical JSON of (seq, at, actor, action, target, detail))`;
the first entry's prev_hash is 64 zeros. `at` comes from Python (UTC, microseconds) and is
hashed in ISO form, so the hash never depends on how the database formats timestamps.

`verify(conn)` walks the chain in seq order, in keyset batches (bounded memory at any size),
and names the first entry that was altered (its hash does not match its content), deleted (a
seq gap, or a link to a hash no entry has) or reordered (its prev_hash is the hash of an entry
other than the one before it). The database itself refuses UPDATE, DELETE and TRUNCATE on
audit_log (migration 0007); the chain catches what a superuser does around that.

`record_settings(conn, cfg, actor)` writes `settings.loaded` with a fingerprint of the
non-secret settings, only when it differs from the last such entry.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from revwatch import clock

GENESIS = "0" * 64
# pg_advisory_xact_lock(bigint): a constant key of our own (hashtext would be stable too, but a
# literal is visible in pg_locks as is). 0x7265767761746368 = b"revwatch"
AUDIT_LOCK_KEY = 0x7265767761746368 & 0x7FFFFFFFFFFFFFFF
BATCH = 5000
SYSTEM_ACTOR = "revwatch"  # jobs the worker or the CLI run


class AuditEntry(NamedTuple):
    """One audit_log row as written."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: Any
    prev_hash: str
    entry_hash: str


class VerifyResult(NamedTuple):
    """What `verify` found: ok, how many entries it checked, and the first bad one (seq, problem)."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None  # "altered" | "deleted" | "reordered"
    message: str = ""


# ---------------------------------------------------------------- the hash (pure)
def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iso_at(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("an audit entry's time must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str | None,
               detail: Any) -> str:
    """sha256 (hex) of prev_hash followed by the canonical JSON of the entry's content."""
    body = canonical_json({"seq": int(seq), "at": iso_at(at), "actor": actor, "action": action,
                           "target": target, "detail": detail})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _plain(detail: Any) -> Any:
    """The detail as JSON gives it back (dates and Decimals as strings), so what is hashed is what is stored."""
    return None if detail is None else json.loads(json.dumps(detail, default=str))


# ---------------------------------------------------------------- append
def append(conn: Connection, actor: str, action: str, target: str | None = None, detail: Any = None) -> AuditEntry:
    """Append one entry in the caller's transaction (strictly ordered by the audit lock)."""
    actor = (actor or "").strip()
    if not actor or not action:
        raise ValueError("an audit entry needs an actor and an action")
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
    last = conn.execute(text("SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (1, GENESIS) if last is None else (last.seq + 1, last.entry_hash)
    at = clock.now()
    detail = _plain(detail)
    digest = entry_hash(prev, seq, at, actor, action, target, detail)
    conn.execute(text("""
        INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, entry_hash)
        VALUES (:seq, :at, :actor, :action, :target, CAST(:detail AS jsonb), :prev, :hash)"""),
                 {"seq": seq, "at": at, "actor": actor, "action": action, "target": target,
                  "detail": None if detail is None else canonical_json(detail), "prev": prev, "hash": digest})
    return AuditEntry(seq, at, actor, action, target, detail, prev, digest)


# ---------------------------------------------------------------- verify
def _rows(conn: Connection, batch: int) -> Iterator[Any]:
    last = None
    while True:
        rows = conn.execute(text(
            "SELECT seq, at, actor, action, target, detail, prev_hash, entry_hash FROM audit_log"
            + ("" if last is None else " WHERE seq > :last") + " ORDER BY seq LIMIT :n"),
            {"last": last, "n": batch}).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].seq


def _seq_with_hash(conn: Connection, digest: str) -> int | None:
    return conn.execute(text("SELECT seq FROM audit_log WHERE entry_hash = :h LIMIT 1"), {"h": digest}).scalar()


def verify(conn: Connection, batch: int = BATCH) -> VerifyResult:
    """Walk the chain in seq order; the first altered, deleted or reordered entry, or ok."""
    prev_seq, prev_hash, checked = 0, GENESIS, 0
    for row in _rows(conn, batch):
        if row.seq != prev_seq + 1:
            missing = prev_seq + 1
            span = f"{missing}" if row.seq == missing + 1 else f"{missing}–{row.seq - 1}"
            return VerifyResult(False, checked, missing, "deleted",
                                f"entry {span} deleted: the chain jumps from seq {prev_seq} to {row.seq}")
        if row.prev_hash != prev_hash:
            other = _seq_with_hash(conn, row.prev_hash)
            if other is not None and other != prev_seq:
                return VerifyResult(False, checked, row.seq, "reordered",
                                    f"entry {row.seq} reordered: it links to entry {other}, not to entry {prev_seq}")
            if prev_seq == 0:
                return VerifyResult(False, checked, row.seq, "deleted",
                                    f"entry {row.seq} links to an entry that is gone: entries before it were deleted")
            # seqs are contiguous but the link points nowhere: the entry before was rewritten and rehashed
            return VerifyResult(False, checked, prev_seq, "altered",
                                f"entry {prev_seq} altered: its hash no longer is the one entry {row.seq} links to")
        detail = row.detail
        if entry_hash(row.prev_hash, row.seq, row.at, row.actor, row.action, row.target, detail) != row.entry_hash:
            return VerifyResult(False, checked, row.seq, "altered",
                                f"entry {row.seq} altered: its content no longer matches its hash")
        prev_seq, prev_hash = row.seq, row.entry_hash
        checked += 1
    return VerifyResult(True, checked, message=f"audit log intact: {checked} entries")


# ---------------------------------------------------------------- settings
SECRET_WORDS = ("key", "secret", "password", "token", "credential")
URL_FIELDS = ("database_url", "billing_database_url")


def _without_password(url: str | None) -> str | None:
    """The URL with any password dropped (user, host, database kept)."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}" if parts.username else host))
    except ValueError:
        return "<unparsable url>"


def settings_snapshot(cfg: Any) -> dict[str, Any]:
    """The settings without secrets: URLs without passwords, keys and tokens only as set/unset."""
    values = cfg.model_dump() if hasattr(cfg, "model_dump") else dict(cfg)
    out: dict[str, Any] = {}
    for name, value in sorted(values.items()):
        if any(word in name.lower() for word in SECRET_WORDS):
            out[name] = "set" if value else "unset"
        elif name in URL_FIELDS or (name.endswith("_url") and isinstance(value, str) and "@" in value):
            out[name] = _without_password(value)
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return _plain(out)


def settings_fingerprint(cfg: Any) -> str:
    return hashlib.sha256(canonical_json(settings_snapshot(cfg)).encode("utf-8")).hexdigest()


def record_settings(conn: Connection, cfg: Any, actor: str = SYSTEM_ACTOR) -> AuditEntry | None:
    """`settings.loaded` with the non-secret settings' fingerprint, unless the last one had the same."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})  # no two starts race
    fingerprint = settings_fingerprint(cfg)
    last = conn.execute(text("SELECT detail->>'fingerprint' FROM audit_log WHERE action = 'settings.loaded'"
                             " ORDER BY seq DESC LIMIT 1")).scalar()
    if last == fingerprint:
        return None
    return append(conn, actor, "settings.loaded", "settings",
                  {"fingerprint": fingerprint, "settings": settings_snapshot(cfg)})
