"""The audit log: append-only, hash-chained entries for every human action and every job run.

`append(conn, actor, action, target, detail)` writes one entry in the caller's transaction (so
the entry commits or rolls back with the action it records). Under a transaction advisory lock
(`AUDIT_LOCK_KEY`) it reads the last entry, gives the new one seq = last + 1 and
`entry_hash = sha256(prev_hash + canonical JSON of (seq, at, actor, action, target, detail))`;
the first entry's prev_hash is 64 zeros. `at` comes from Python (UTC, microseconds) and is
hashed in ISO form, so the hash never depends on how the database formats timestamps.

With AUDIT_HMAC_KEY set (in the environment only: never in the database, the settings entry
or a log), the hash is keyed: `entry_hash = "hmac:" + HMAC-SHA256(key, prev_hash + JSON)`, so
nobody without the key can recompute it after an edit. Entries written before the key was set
keep their plain sha256 hash and are verified as such; they are protected by the keyed entries
after them (whose hashes cover the link to them) and by the anchors. Once an entry is keyed,
every later one must be: an unkeyed entry after a keyed one is a rewrite by someone without the
key (or a writer whose environment lacks it: set the key for the worker, the dashboard and the
CLI alike).

`verify(conn, key=…)` walks the chain up to its head (read first) in seq order, in keyset
batches (bounded memory at any size), and names the first entry that was altered (its hash does
not match its content), deleted (a seq gap, or a link to a hash no entry has), reordered (its
prev_hash is the hash of an entry other than the one before it) or rewritten (unkeyed after a
keyed one). What happens at the end of the chain (entries deleted there, a truncate, a rewrite
with every later hash recomputed) leaves no trace inside the table: revwatch/audit_anchors.py
compares the chain with anchors of its head kept outside it. The database itself refuses
UPDATE, DELETE and TRUNCATE on audit_log (migration 0007); the chain and its anchors catch what
a superuser does around that.

`record_settings(conn, cfg, actor)` writes `settings.loaded` with a fingerprint of the
non-secret settings, only when it differs from the last such entry.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from revwatch import clock

GENESIS = "0" * 64
KEY_ENV = "AUDIT_HMAC_KEY"
KEYED = "hmac:"  # a keyed entry's hash: "hmac:" + HMAC-SHA256 hex; a plain one is sha256 hex
log = logging.getLogger("revwatch.audit")
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


class Head(NamedTuple):
    """The newest entry: seq 0 and the genesis hash when the log is empty."""

    seq: int
    entry_hash: str
    at: datetime | None


class VerifyResult(NamedTuple):
    """What `verify` found: ok, how many entries it checked, and the first bad one (seq, problem);
    the head it walked to, where the keyed entries begin, how many keyed entries it could not check
    (no key), and (revwatch/audit_anchors.py) what it was compared with and what it could not tell."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None  # altered | deleted | reordered | rewritten | truncated | forged anchor
    message: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS
    keyed_from: int | None = None
    unchecked: int = 0
    against: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------- the hash (pure)
def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iso_at(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("an audit entry's time must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def hmac_key() -> bytes | None:
    """AUDIT_HMAC_KEY from the environment (surrounding blanks dropped), or None when unset."""
    value = os.environ.get(KEY_ENV, "").strip()
    return value.encode("utf-8") if value else None


def is_keyed(digest: str) -> bool:
    return digest.startswith(KEYED)


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str | None,
               detail: Any, key: bytes | None = None) -> str:
    """sha256 (hex) of prev_hash followed by the canonical JSON of the entry's content; with a key,
    "hmac:" + HMAC-SHA256 (hex) of the same bytes."""
    body = canonical_json({"seq": int(seq), "at": iso_at(at), "actor": actor, "action": action,
                           "target": target, "detail": detail})
    data = (prev_hash + body).encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return KEYED + hmac.new(key, data, hashlib.sha256).hexdigest()


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
    key = hmac_key()
    if key is None and is_keyed(prev):
        log.warning("the audit log is keyed but %s is not set here: entry %d is written unkeyed and "
                    "`revwatch audit verify` will report it; set the key for every process that writes", KEY_ENV, seq)
    digest = entry_hash(prev, seq, at, actor, action, target, detail, key=key)
    conn.execute(text("""
        INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, entry_hash)
        VALUES (:seq, :at, :actor, :action, :target, CAST(:detail AS jsonb), :prev, :hash)"""),
                 {"seq": seq, "at": at, "actor": actor, "action": action, "target": target,
                  "detail": None if detail is None else canonical_json(detail), "prev": prev, "hash": digest})
    return AuditEntry(seq, at, actor, action, target, detail, prev, digest)


# ---------------------------------------------------------------- verify
def head(conn: Connection) -> Head:
    row = conn.execute(text("SELECT seq, entry_hash, at FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
    return Head(0, GENESIS, None) if row is None else Head(int(row.seq), row.entry_hash, row.at)


def _rows(conn: Connection, batch: int, upto: int) -> Iterator[Any]:
    last = 0
    while True:
        rows = conn.execute(text(
            "SELECT seq, at, actor, action, target, detail, prev_hash, entry_hash FROM audit_log"
            " WHERE seq > :last AND seq <= :upto ORDER BY seq LIMIT :n"),
            {"last": last, "upto": upto, "n": batch}).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].seq


def _seq_with_hash(conn: Connection, digest: str) -> int | None:
    return conn.execute(text("SELECT seq FROM audit_log WHERE entry_hash = :h LIMIT 1"), {"h": digest}).scalar()


def _link_problem(conn: Connection, row: Any, prev_seq: int) -> tuple[int, str, str]:
    """Why `row` does not link to the entry before it (prev_seq): (first bad seq, problem, message)."""
    other = _seq_with_hash(conn, row.prev_hash)
    if other is not None and other != prev_seq:
        return row.seq, "reordered", f"entry {row.seq} reordered: it links to entry {other}, not to entry {prev_seq}"
    if prev_seq == 0:
        return row.seq, "deleted", f"entry {row.seq} links to an entry that is gone: entries before it were deleted"
    # seqs are contiguous but the link points nowhere: the entry before was rewritten and rehashed
    return prev_seq, "altered", f"entry {prev_seq} altered: its hash no longer is the one entry {row.seq} links to"


def verify(conn: Connection, batch: int = BATCH, *, key: bytes | None = None) -> VerifyResult:
    """Walk the chain up to its head in seq order; the first altered, deleted, reordered or rewritten
    entry, or ok. Keyed entries are checked with `key`; without it only their links are (counted
    as `unchecked`)."""
    top = head(conn)
    prev_seq, prev_hash, checked, keyed_from, unchecked = 0, GENESIS, 0, None, 0

    def bad(seq: int, problem: str, message: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, problem, message, top.seq, top.entry_hash, keyed_from, unchecked)

    for row in _rows(conn, batch, top.seq):
        if row.seq != prev_seq + 1:
            missing = prev_seq + 1
            span = f"{missing}" if row.seq == missing + 1 else f"{missing}–{row.seq - 1}"
            return bad(missing, "deleted", f"entry {span} deleted: the chain jumps from seq {prev_seq} to {row.seq}")
        if row.prev_hash != prev_hash:
            return bad(*_link_problem(conn, row, prev_seq))
        content = (row.prev_hash, row.seq, row.at, row.actor, row.action, row.target, row.detail)
        if is_keyed(row.entry_hash):
            keyed_from = keyed_from or row.seq
            if key is None:
                unchecked += 1
            elif not hmac.compare_digest(entry_hash(*content, key=key), row.entry_hash):
                return bad(row.seq, "altered", f"entry {row.seq} altered: its content no longer matches its keyed hash"
                                               f" (or {KEY_ENV} is not the key it was written with)")
        elif keyed_from is not None:
            return bad(row.seq, "rewritten", f"entry {row.seq} rewritten: it is not keyed although the entries from"
                                             f" {keyed_from} on are (hashes recomputed by someone without {KEY_ENV},"
                                             " or written by a process that lacks it)")
        elif entry_hash(*content) != row.entry_hash:
            return bad(row.seq, "altered", f"entry {row.seq} altered: its content no longer matches its hash")
        prev_seq, prev_hash = row.seq, row.entry_hash
        checked += 1
    return VerifyResult(True, checked, None, None, f"audit log intact: {checked} entries", top.seq, top.entry_hash,
                        keyed_from, unchecked)


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
