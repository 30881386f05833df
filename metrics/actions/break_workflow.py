"""The human side of a reconciliation break: assign, comment, resolve, write off, reopen.

Each action takes a SQLAlchemy Connection (the caller owns the transaction: `with
engine.begin() as conn:`) and the acting person: a signed-in `revwatch.identity.Identity`, never a
typed name (issue 18). The action refuses (`NotPermitted`) a person whose roles lack its permission,
whatever the page offered; the history and the audit log record `Identity.actor`. It locks the break's row (`FOR
UPDATE`, so two people, or a person and the reconciliation job, acting at once are
serialised), checks that the action makes sense in the break's current state, updates
`recon_breaks` and appends exactly one `recon_break_events` row (actor, action, note, detail;
`at` is revwatch.clock's now, the same instant written to `resolved_at`). The events
table is append-only: the database refuses UPDATE, DELETE and TRUNCATE on it.

An action that makes no sense (resolving a cleared break, writing off twice, an unknown reason
category) raises `ActionRefused` before anything is written; the page shows
its message. `allowed_actions(state)` says beforehand which actions a state admits.

Reasons are a category from the fixed `CATEGORIES` plus free text; `recon_breaks.resolution_reason`
holds them as "category: text", the event's detail holds the category on its own.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from revwatch import audit, clock
from revwatch.identity import Identity, Permission, require

CATEGORIES: dict[str, str] = {
    "timing": "Timing difference: it will match later",
    "bank_fee": "Bank fee deducted",
    "duplicate_posting": "Duplicate posting",
    "gateway_error": "Gateway error",
    "data_fix": "Source data corrected",
    "immaterial": "Immaterial amount",
    "other": "Other",
}
STATES = ("open", "resolved", "written_off", "cleared")
ACTIONS = ("assign", "comment", "resolve", "write_off", "reopen")
# the action each function writes into recon_break_events.action (the schema's vocabulary)
EVENT_NAMES = {"assign": "assigned", "comment": "commented", "resolve": "resolved", "write_off": "written_off",
               "reopen": "reopened"}
# what each action needs: writing off accepts a loss, a controller's call
PERMISSIONS = {"assign": Permission.WORK_BREAKS, "comment": Permission.WORK_BREAKS, "resolve": Permission.WORK_BREAKS,
               "write_off": Permission.APPROVE, "reopen": Permission.WORK_BREAKS}
_ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"assign", "comment", "resolve", "write_off"}),
    "resolved": frozenset({"comment", "reopen"}),
    "written_off": frozenset({"comment", "reopen"}),
    "cleared": frozenset({"comment"}),
}


class ActionRefused(ValueError):
    """An action that makes no sense for this break (or lacks what it needs); nothing was written."""

    def __init__(self, break_id: int | None, action: str, why: str) -> None:
        self.break_id, self.action, self.why = break_id, action, why
        where = f"break {break_id}" if break_id is not None else "break"
        super().__init__(f"cannot {action.replace('_', ' ')} {where}: {why}")


class Reason(NamedTuple):
    """Why a break was resolved or written off: one of CATEGORIES plus free text."""

    category: str
    text: str = ""

    def __str__(self) -> str:
        return f"{self.category}: {self.text}" if self.text else self.category


class Event(NamedTuple):
    """One row of recon_break_events as written."""

    event_id: int
    break_id: int
    at: datetime
    actor: str
    action: str
    note: str | None
    detail: dict[str, Any]


def allowed_actions(state: str) -> tuple[str, ...]:
    """The actions that make sense for a break in `state`, in ACTIONS order."""
    return tuple(a for a in ACTIONS if a in _ALLOWED.get(state, frozenset()))


def parse_reason(value: Reason | str | tuple, break_id: int | None = None, action: str = "resolve",
                 text_required: bool = False) -> Reason:
    """A Reason from a Reason, a (category, text) pair or a "category: text" string; refused when
    the category is not one of CATEGORIES, or (text_required) the text is empty."""
    if isinstance(value, str):
        head, sep, tail = value.partition(":")
        value = Reason(head.strip(), tail.strip()) if sep else Reason(value.strip(), "")
    elif not isinstance(value, Reason):
        value = Reason(*value)
    category, note = (value.category or "").strip(), (value.text or "").strip()
    if category not in CATEGORIES:
        raise ActionRefused(break_id, action, f"reason category {category!r} is not one of {', '.join(CATEGORIES)}")
    if text_required and not note:
        raise ActionRefused(break_id, action, "a reason text is required")
    return Reason(category, note)


# ---------------------------------------------------------------- actions
def assign(conn: Connection, break_id: int, who: Identity, assignee: str) -> Event:
    """Give an open break to `assignee` (a non-empty name)."""
    actor = _actor(break_id, "assign", who)
    to = (assignee or "").strip()
    if not to:
        raise ActionRefused(break_id, "assign", "an assignee name is required")
    brk = _lock(conn, break_id, "assign")
    if brk["assignee"] == to:
        raise ActionRefused(break_id, "assign", f"it is already assigned to {to}")
    _update(conn, break_id, "assignee = :who", who=to)
    return _event(conn, break_id, actor, "assign", None, {"assignee": to, "previous": brk["assignee"]})


def comment(conn: Connection, break_id: int, who: Identity, note: str) -> Event:
    """Add a note to the break's history (any state)."""
    actor = _actor(break_id, "comment", who)
    note = (note or "").strip()
    if not note:
        raise ActionRefused(break_id, "comment", "the comment is empty")
    brk = _lock(conn, break_id, "comment")
    return _event(conn, break_id, actor, "comment", note, {"state": brk["state"]})


def resolve(conn: Connection, break_id: int, who: Identity, reason: Reason | str | tuple) -> Event:
    """Explain an open break (category required, text optional): state resolved, with who, when,
    why and the item's current fingerprint (a later change of the data reopens it)."""
    return _close(conn, break_id, who, reason, "resolve", "resolved", text_required=False)


def write_off(conn: Connection, break_id: int, who: Identity, reason: Reason | str | tuple) -> Event:
    """Accept an open break's money as lost or immaterial: state written_off; category and text required."""
    return _close(conn, break_id, who, reason, "write_off", "written_off", text_required=True)


def reopen(conn: Connection, break_id: int, who: Identity, note: str) -> Event:
    """Reopen a resolved or written-off break by hand (why, in `note`); the resolution is cleared
    from the break (the history keeps it)."""
    actor = _actor(break_id, "reopen", who)
    note = (note or "").strip()
    if not note:
        raise ActionRefused(break_id, "reopen", "say why it is reopened")
    brk = _lock(conn, break_id, "reopen")
    _update(conn, break_id, "state = 'open', resolution_reason = NULL, resolved_by = NULL, resolved_at = NULL,"
                            " resolved_fingerprint = NULL")
    return _event(conn, break_id, actor, "reopen", note,
                  {"from_state": brk["state"], "previous_reason": brk["resolution_reason"],
                   "previous_resolved_by": brk["resolved_by"]})


# ---------------------------------------------------------------- plumbing
def _actor(break_id: int | None, action: str, who: Identity) -> str:
    """The actor to record for `who` doing `action`, once their roles allow it (NotPermitted otherwise)."""
    require(who, PERMISSIONS[action], f"{action.replace('_', ' ')} break {break_id}")
    return who.actor


def _lock(conn: Connection, break_id: int, action: str) -> dict[str, Any]:
    row = conn.execute(text("""
        SELECT break_id, stage, item_key, state, assignee, resolution_reason, resolved_by, resolved_at
        FROM recon_breaks WHERE break_id = :id FOR UPDATE"""), {"id": int(break_id)}).mappings().first()
    if row is None:
        raise ActionRefused(break_id, action, "no such break")
    brk = dict(row)
    if action not in _ALLOWED.get(brk["state"], frozenset()):
        raise ActionRefused(break_id, action, _why_not(brk, action))
    return brk


def _why_not(brk: dict[str, Any], action: str) -> str:
    state = brk["state"]
    if state == "cleared":
        return "it is cleared: the data matches again (the reconciliation reopens it if it breaks again)"
    if action in ("resolve", "write_off") and state == ("resolved" if action == "resolve" else "written_off"):
        by = f" by {brk['resolved_by']}" if brk["resolved_by"] else ""
        at = f" at {brk['resolved_at']:%Y-%m-%d %H:%M} UTC" if brk["resolved_at"] else ""
        return f"it is already {state.replace('_', ' ')}{by}{at}"
    if action in ("resolve", "write_off"):
        return f"it is {state.replace('_', ' ')}; reopen it first"
    if action == "reopen":
        return "it is already open"
    if action == "assign":
        return f"it is {state.replace('_', ' ')}; only open breaks are assigned"
    return f"not allowed while {state}"


def _close(conn: Connection, break_id: int, who: Identity, reason, action: str, state: str, text_required: bool) -> Event:
    actor = _actor(break_id, action, who)
    why = parse_reason(reason, break_id, action, text_required=text_required)
    brk = _lock(conn, break_id, action)
    fingerprint = conn.execute(text("SELECT fingerprint FROM recon_items WHERE stage = :stage AND item_key = :key"),
                               {"stage": brk["stage"], "key": brk["item_key"]}).scalar()
    if fingerprint is None:
        raise ActionRefused(break_id, action, "its item is no longer in recon_items; run the reconciliation again")
    at = clock.now()
    _update(conn, break_id, "state = :state, resolution_reason = :reason, resolved_by = :actor, resolved_at = :at,"
                            " resolved_fingerprint = :fp", state=state, reason=str(why), actor=actor, at=at, fp=fingerprint)
    return _event(conn, break_id, actor, action, why.text or None,
                  {"category": why.category, "from_state": brk["state"], "fingerprint": fingerprint}, at)


def _update(conn: Connection, break_id: int, assignments: str, **params: Any) -> None:
    conn.execute(text(f"UPDATE recon_breaks SET {assignments} WHERE break_id = :id"), {"id": int(break_id), **params})


def _event(conn: Connection, break_id: int, actor: str, action: str, note: str | None, detail: dict[str, Any],
           at: datetime | None = None) -> Event:
    name = EVENT_NAMES[action]
    row = conn.execute(text("""
        INSERT INTO recon_break_events (break_id, at, actor, action, note, detail)
        VALUES (:id, :at, :actor, :action, :note, CAST(:detail AS jsonb)) RETURNING event_id, at"""),
                       {"id": int(break_id), "at": at or clock.now(), "actor": actor, "action": name, "note": note,
                        "detail": json.dumps(detail, default=str)}).one()
    audit.append(conn, actor, f"break.{action}", f"break:{int(break_id)}",
                 {"event_id": row.event_id, "note": note, **detail})
    return Event(row.event_id, int(break_id), row.at, actor, name, note, detail)
