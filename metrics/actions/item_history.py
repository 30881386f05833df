"""One event in an item's history and its audit entry, written together: a break's (recon_break_events) or a work
item's (work_item_events). Both tables are append-only; the audit entry names the event, so the two trails agree."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from revwatch import audit, clock

# kind -> (events table, its item column, the audit target's prefix)
HISTORIES = {"break": ("recon_break_events", "break_id", "break"),
             "work_item": ("work_item_events", "item_id", "work_item")}


def record(conn: Connection, kind: str, ref: int, actor: str, event: str, audit_action: str, note: str | None,
           detail: dict[str, Any], at: datetime | None = None) -> tuple[int, datetime]:
    """Append `event` (opened, assigned, resolved, …) to item `ref`'s history and `audit_action` to the audit log, in
    the caller's transaction; the event's id and time."""
    table, column, target = HISTORIES[kind]
    row = conn.execute(text(f"""
        INSERT INTO {table} ({column}, at, actor, action, note, detail)
        VALUES (:ref, :at, :actor, :action, :note, CAST(:detail AS jsonb)) RETURNING event_id, at"""),
                       {"ref": int(ref), "at": at or clock.now(), "actor": actor, "action": event, "note": note,
                        "detail": json.dumps(detail, default=str)}).one()
    audit.append(conn, actor, audit_action, f"{target}:{int(ref)}", {"event_id": row.event_id, "note": note, **detail})
    return row.event_id, row.at
