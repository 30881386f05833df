"""The human side of the work queue's items that are not breaks (issue 19): assign, comment, resolve, reopen;
and assigning many items at once, breaks among them.

As break_workflow: each action takes the caller's Connection (its transaction) and a signed-in Identity, refuses
(`NotPermitted`) a person whose roles lack WORK_ITEMS, locks the item's row, refuses (`ActionRefused`) what makes no
sense in its state before writing anything, and appends exactly one work_item_events row and one audit entry.
A resolution keeps the item's fingerprint: the work-queue job reopens it when its data changes afterwards.
Breaks keep their own workflow: a bulk assignment gives each break to break_workflow.assign.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from metrics.actions import break_workflow, item_history
from metrics.actions.break_refusal import ActionRefused
from revwatch import clock
from revwatch.identity import Identity, Permission, require

ALLOWED = {"open": frozenset({"assign", "comment", "resolve"}), "resolved": frozenset({"comment", "reopen"}),
           "cleared": frozenset({"comment"})}
EVENT_NAMES = {"assign": "assigned", "comment": "commented", "resolve": "resolved", "reopen": "reopened"}
KIND = "work item"


class ItemEvent(NamedTuple):
    """One row of work_item_events as written."""

    event_id: int
    item_id: int
    at: datetime
    actor: str
    action: str
    note: str | None
    detail: dict[str, Any]


def assign(conn: Connection, item_id: int, who: Identity, owner: str) -> ItemEvent:
    """Give an open item to `owner` (a non-empty name)."""
    to = (owner or "").strip()
    actor = _actor(item_id, "assign", who)
    if not to:
        raise ActionRefused(item_id, "assign", "an owner's name is required", KIND)
    item = _lock(conn, item_id, "assign")
    if item["owner"] == to:
        raise ActionRefused(item_id, "assign", f"it is already {to}'s", KIND)
    conn.execute(text("UPDATE work_items SET owner = :to WHERE item_id = :id"), {"to": to, "id": int(item_id)})
    return _event(conn, item_id, actor, "assign", None, {"owner": to, "previous": item["owner"]})


def comment(conn: Connection, item_id: int, who: Identity, note: str) -> ItemEvent:
    actor = _actor(item_id, "comment", who)
    note = _required(item_id, "comment", note, "the comment is empty")
    item = _lock(conn, item_id, "comment")
    return _event(conn, item_id, actor, "comment", note, {"state": item["state"]})


def resolve(conn: Connection, item_id: int, who: Identity, note: str) -> ItemEvent:
    """Mark an open item done (the refund paid, the invoice reissued, the evidence sent), saying what was done."""
    actor = _actor(item_id, "resolve", who)
    note = _required(item_id, "resolve", note, "say what was done (the refund, the new invoice, the evidence sent)")
    _lock(conn, item_id, "resolve")
    at = clock.now()
    conn.execute(text("""
        UPDATE work_items SET state = 'resolved', resolved_by = :actor, resolved_at = :at, resolution = :note,
                              resolved_fingerprint = fingerprint
        WHERE item_id = :id"""), {"actor": actor, "at": at, "note": note, "id": int(item_id)})
    return _event(conn, item_id, actor, "resolve", note, {}, at)


def reopen(conn: Connection, item_id: int, who: Identity, note: str) -> ItemEvent:
    actor = _actor(item_id, "reopen", who)
    note = _required(item_id, "reopen", note, "say why it is not done")
    item = _lock(conn, item_id, "reopen")
    conn.execute(text("""
        UPDATE work_items SET state = 'open', resolved_by = NULL, resolved_at = NULL, resolution = NULL,
                              resolved_fingerprint = NULL
        WHERE item_id = :id"""), {"id": int(item_id)})
    return _event(conn, item_id, actor, "reopen", note, {"was_resolved_by": item["resolved_by"]})


class BulkResult(NamedTuple):
    """What a bulk assignment did: items assigned, and those refused with the reason (already theirs, closed)."""

    assigned: int
    refused: tuple[str, ...]


def assign_many(conn: Connection, refs: Iterable[tuple[str, int]], who: Identity, owner: str) -> BulkResult:
    """Give every (work_type, item_ref) of the queue to `owner`: a break through its own workflow, any other item
    here. One refused item (already the owner's, closed meanwhile) does not stop the others; each is said."""
    done, refused = 0, []
    for work_type, ref in refs:
        try:
            with conn.begin_nested():
                if work_type == "break":
                    break_workflow.assign(conn, int(ref), who, owner)
                else:
                    assign(conn, int(ref), who, owner)
            done += 1
        except ActionRefused as refusal:
            refused.append(str(refusal))
    return BulkResult(done, tuple(refused))


def _actor(item_id: int, action: str, who: Identity) -> str:
    require(who, Permission.WORK_ITEMS, f"{action} work item {item_id}")
    return who.actor


def _required(item_id: int, action: str, note: str | None, why: str) -> str:
    note = (note or "").strip()
    if not note:
        raise ActionRefused(item_id, action, why, KIND)
    return note


def _lock(conn: Connection, item_id: int, action: str) -> dict[str, Any]:
    row = conn.execute(text("SELECT item_id, work_type, state, owner, resolved_by FROM work_items"
                            " WHERE item_id = :id FOR UPDATE"), {"id": int(item_id)}).mappings().first()
    if row is None:
        raise ActionRefused(item_id, action, "no such item", KIND)
    if action not in ALLOWED.get(row["state"], frozenset()):
        raise ActionRefused(item_id, action, f"it is {row['state']}", KIND)
    return dict(row)


def _event(conn: Connection, item_id: int, actor: str, action: str, note: str | None, detail: dict[str, Any],
           at: datetime | None = None) -> ItemEvent:
    name = EVENT_NAMES[action]
    event_id, when = item_history.record(conn, "work_item", item_id, actor, name, f"work_item.{action}", note, detail,
                                         at)
    return ItemEvent(event_id, int(item_id), when, actor, name, note, detail)
