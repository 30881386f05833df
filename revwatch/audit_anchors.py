"""Anchors of the audit log's head, kept outside the table they protect (revwatch/audit.py).

The hash chain shows an entry altered, deleted or moved *inside* the log, but not what happens at
its end: entries deleted there, a TRUNCATE, or a rewrite that recomputes every later hash leave a
chain that is intact in itself. An anchor is the head of the chain at a moment,

    {"v": 1, "db": <database>, "seq": <head seq>, "hash": <head entry_hash>, "at": <UTC ISO>, "by": <who>}

plus, when AUDIT_HMAC_KEY is set, "mac": HMAC-SHA256 (hex) over the canonical JSON of the rest, so
an anchor cannot be forged or edited without the key. Anchors are kept

- in the anchor file (`$REVWATCH_DATA_DIR/audit-anchors.jsonl`, or AUDIT_ANCHOR_FILE): one JSON
  line each, only ever appended (O_APPEND, fsync), by every `revwatch audit verify` that found the
  log intact and by every weekly report build;
- in every weekly report's stored figures (`weekly_reports.figures -> 'audit_head'`), and in the
  report e-mailed;
- in Prometheus: /metrics exports the head's seq and a 52-bit digest of (seq, hash), keyed when
  the key is set (`head_digest`), so its history shows the log shrinking or its head changing.

`check(conn, file, key)` verifies the chain (audit.verify) and every anchor it can read (the file's
anchors of this database and the weekly reports'): an anchor past the head means entries deleted
at the end (all of them: truncated), an anchor whose entry now has another hash means the entries
up to it were rewritten, an anchor whose MAC does not match was altered or forged. Anchors are
read before the head, so one written meanwhile never looks like a deletion.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from revwatch import audit, clock

VERSION = 1
FILE_NAME = "audit-anchors.jsonl"
FIELDS = ("v", "db", "seq", "hash", "at", "by")
BY_VERIFY = "audit verify"
BY_REPORT = "weekly report"


class Anchor(NamedTuple):
    """One anchor as read back: where it is, what it says, and its MAC's state: "ok", "bad",
    "none" (written without a key) or "unchecked" (no key here to check it)."""

    where: str
    db: str | None
    seq: int
    hash: str
    at: str
    by: str
    mac: str


class AnchorFile(NamedTuple):
    path: Path
    exists: bool
    anchors: tuple[Anchor, ...] = ()
    unreadable: tuple[int, ...] = ()  # line numbers that are not anchors


# ---------------------------------------------------------------- making anchors (pure but for the head)
def _mac(key: bytes, body: dict[str, Any]) -> str:
    data = audit.canonical_json({k: body.get(k) for k in FIELDS}).encode("utf-8")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def database(conn: Connection) -> str:
    return str(conn.execute(text("SELECT current_database()")).scalar_one())


def anchor_of(db: str, seq: int, digest: str, by: str, key: bytes | None) -> dict[str, Any]:
    """An anchor of the head (seq, digest) of `db`'s audit log, taken now; with a MAC when keyed."""
    body: dict[str, Any] = {"v": VERSION, "db": db, "seq": int(seq), "hash": digest,
                            "at": audit.iso_at(clock.now()), "by": by}
    if key is not None:
        body["mac"] = _mac(key, body)
    return body


def current(conn: Connection, by: str, key: bytes | None) -> dict[str, Any]:
    """An anchor of the log's head as this connection sees it."""
    top = audit.head(conn)
    return anchor_of(database(conn), top.seq, top.entry_hash, by, key)


def head_digest(seq: int, digest: str, key: bytes | None) -> int:
    """(seq, hash) as a 52-bit integer (exact in a Prometheus float): HMAC-SHA256 with the key, sha256
    without; what /metrics exports as the head's digest."""
    data = f"{int(seq)}:{digest}".encode()
    full = hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()
    return int(full[:13], 16)


# ---------------------------------------------------------------- reading anchors back
def parse(value: Any, where: str, key: bytes | None) -> Anchor | None:
    """An anchor from its stored JSON, or None when it is not one."""
    if not isinstance(value, dict):
        return None
    seq, digest, at = value.get("seq"), value.get("hash"), value.get("at")
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 and isinstance(digest, str)
            and isinstance(at, str)):
        return None
    mac = value.get("mac")
    if mac is None:
        state = "none"
    elif key is None:
        state = "unchecked"
    else:
        state = "ok" if isinstance(mac, str) and hmac.compare_digest(_mac(key, value), mac) else "bad"
    db = value.get("db")
    return Anchor(where, db if isinstance(db, str) else None, seq, digest, at, str(value.get("by") or "?"), state)


def read_file(path: Path, key: bytes | None) -> AnchorFile:
    """Every anchor of the anchor file (a line that is not one is counted, never fatal)."""
    if not path.exists():
        return AnchorFile(path, False)
    anchors: list[Anchor] = []
    unreadable: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                got = parse(json.loads(line), f"{path.name} line {n}", key)
            except ValueError:
                got = None
            if got is None:
                unreadable.append(n)
            else:
                anchors.append(got)
    return AnchorFile(path, True, tuple(anchors), tuple(unreadable))


def append_file(path: Path, anchor: dict[str, Any]) -> None:
    """Append one anchor as one line (O_APPEND: whole lines, even with several writers), synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (audit.canonical_json(anchor) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def report_anchors(conn: Connection, key: bytes | None) -> tuple[Anchor, ...]:
    """The anchor stored with each weekly report build, oldest first."""
    rows = conn.execute(text("SELECT report_id, iso_week, figures -> 'audit_head' AS head FROM weekly_reports"
                             " WHERE jsonb_typeof(figures -> 'audit_head') = 'object' ORDER BY report_id")).all()
    out = (parse(r.head, f"weekly report #{r.report_id} ({r.iso_week})", key) for r in rows)
    return tuple(a for a in out if a is not None)


# ---------------------------------------------------------------- checking
def _when(at: str) -> str:
    return at[:19].replace("T", " ") + " UTC"


def _short(digest: str | None) -> str:
    return "(none)" if digest is None else digest.removeprefix(audit.KEYED)[:12] + "…"


def _describe(label: str, anchors: Sequence[Anchor]) -> str:
    if not anchors:
        return f"{label}: no anchor"
    newest = max(anchors, key=lambda a: (a.seq, a.at))
    macs = {s: sum(a.mac == s for a in anchors) for s in ("ok", "bad", "none", "unchecked")}
    kinds = ", ".join(f"{n} {name}" for s, name in (("ok", "with a valid MAC"), ("bad", "with a BAD MAC"),
                                                    ("none", "without MAC"), ("unchecked", "MAC not checked (no key)"))
                      if (n := macs[s]))
    return f"{label}: {len(anchors)} anchor(s) ({kinds}); the furthest: entry {newest.seq} ({newest.where}, {_when(newest.at)})"


def _key_line(key: bytes | None, chain: audit.VerifyResult) -> tuple[str, str | None]:
    """What the key covered (against) and, without it, what cannot be told (a note)."""
    if key is None:
        unkeyed = (f"{audit.KEY_ENV} is not set: a rewrite of the log that recomputes every later hash cannot be"
                   " detected from the database; only the anchors outside it can show it, and only up to the"
                   " furthest anchor")
        if chain.keyed_from is not None:
            unkeyed += f"; the {chain.unchecked} keyed entries from {chain.keyed_from} on were checked for links only"
        return f"key: {audit.KEY_ENV} not set", unkeyed + "."
    if chain.head_seq == 0:
        return f"key: {audit.KEY_ENV} set (the log is empty)", None
    if chain.keyed_from is None:
        return (f"key: {audit.KEY_ENV} set, but no entry is keyed yet (every entry was written before it was set:"
                " protected by the anchors only)"), None
    legacy = f"; entries 1–{chain.keyed_from - 1} predate the key (sha256)" if chain.keyed_from > 1 else ""
    return f"key: {audit.KEY_ENV} set; entries {chain.keyed_from}–{chain.head_seq} keyed and their HMACs checked{legacy}", None


def _anchor_problems(conn: Connection, anchors: Sequence[Anchor], top: int) -> list[tuple[int, str, str]]:
    """(first bad seq, problem, message) for anchors past the head or disagreeing with the chain."""
    problems: list[tuple[int, str, str]] = []
    beyond = [a for a in anchors if a.seq > top]
    if beyond:
        far = max(beyond, key=lambda a: a.seq)
        saw = f"{far.where} saw the log at entry {far.seq} on {_when(far.at)}"
        if top == 0:
            problems.append((1, "truncated", f"the audit log is empty but {saw}: entries 1–{far.seq} deleted"))
        else:
            span = f"{top + 1}" if far.seq == top + 1 else f"{top + 1}–{far.seq}"
            problems.append((top + 1, "deleted", f"entry {span} deleted at the end: {saw}, the log now ends at entry {top}"))
    within = sorted({a.seq for a in anchors if 0 < a.seq <= top})
    hashes: dict[int, str] = {}
    for i in range(0, len(within), 10_000):
        rows = conn.execute(text("SELECT seq, entry_hash FROM audit_log WHERE seq = ANY(:s)"), {"s": within[i:i + 10_000]})
        hashes.update((int(r.seq), r.entry_hash) for r in rows)
    wrong = sorted((a for a in anchors if 0 < a.seq <= top and hashes.get(a.seq) != a.hash), key=lambda a: a.seq)
    if wrong:
        low = wrong[0]
        good = max((a.seq for a in anchors if a.seq < low.seq and (a.seq == 0 or hashes.get(a.seq) == a.hash)), default=0)
        span = f"{low.seq}" if good + 1 == low.seq else f"{good + 1}–{low.seq}"
        problems.append((low.seq, "rewritten", f"entry {low.seq} is not the entry {low.where} anchored on {_when(low.at)}"
                         f" (hash {_short(low.hash)} then, {_short(hashes.get(low.seq))} now): entries {span}"
                         " were rewritten with their hashes recomputed (the first of them is in that range)"))
    return problems


def check(conn: Connection, file: AnchorFile | None, key: bytes | None, batch: int = audit.BATCH) -> audit.VerifyResult:
    """The chain verified and compared with every anchor found (the anchor file's, read by the
    caller before this, and the weekly reports'); the first problem named, the others in notes."""
    reports = report_anchors(conn, key)  # before the head: an anchor written meanwhile is never past it
    chain = audit.verify(conn, batch, key=key)
    db = database(conn)
    mine = tuple(a for a in file.anchors if a.db in (None, db)) if file else ()
    others = sorted({a.db or "?" for a in file.anchors if a.db not in (None, db)}) if file else []
    every = (*mine, *reports)

    problems: list[tuple[int, int, str, str]] = []  # (seq, order, problem, message)
    if not chain.ok:
        problems.append((chain.first_bad_seq or 0, 0, chain.problem or "altered", chain.message))
    problems += [(seq, 1, p, m) for seq, p, m in _anchor_problems(conn, [a for a in every if a.mac != "bad"], chain.head_seq)]
    problems += [(1 << 62, 2, "forged anchor", f"{a.where}: its MAC does not match: the anchor was altered or forged"
                  f" (or written with another {audit.KEY_ENV})") for a in every if a.mac == "bad"]
    problems.sort(key=lambda p: (p[0], p[1]))

    key_line, key_note = _key_line(key, chain)
    against = [key_line]
    if file is not None:
        against.append(_describe(f"anchor file {file.path}", mine) if file.exists
                       else f"anchor file {file.path}: none yet")
    against.append(_describe("weekly reports", reports))
    notes = [key_note] if key_note else []
    if file is not None and file.unreadable:
        notes.append(f"{len(file.unreadable)} line(s) of {file.path.name} are not anchors (first: line {file.unreadable[0]})")
    if others:
        notes.append(f"anchors of other databases in {file.path.name if file else '?'} not compared: {', '.join(others)}")
    if not every:
        notes.append("no anchor outside the database yet: entries deleted at the end of the log, or the log truncated,"
                     " before now cannot be detected")
    if key is not None and any(a.mac == "none" for a in every):
        notes.append(f"some anchors predate {audit.KEY_ENV} (no MAC): trusted as written")
    notes += [f"also: {m}" for _, _, _, m in problems[1:]]
    result = chain._replace(against=tuple(against), notes=tuple(notes))
    if not problems:
        return result
    seq, _, problem, message = problems[0]
    return result._replace(ok=False, first_bad_seq=None if seq == 1 << 62 else seq, problem=problem, message=message)
