"""Which object types a gateway let a run read (table `gateway_access`, one row per gateway and
type: the latest run's answer).

A restricted API key without access to a type answers 403 ("refused"); a server or account without
that list answers 404 ("absent"). Either is a fact about the configuration, not a fault of the run:
that type is recorded so, the run goes on with the other types and ends `partial`, with the refused
types named in its error. Health and the exporter read the table (metrics/figures/health/gateway_access.py).
Only when no type at all could be read does the run fail: then the key or the base URL is wrong.
The server's own message is not kept (Stripe's names the key, masked, and the account).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

READ, REFUSED, ABSENT = "read", "refused", "absent"
STATES = (READ, REFUSED, ABSENT)
WHY = {403: "the API key may not read them", 404: "the server has no such list"}


class Refused(Exception):
    """The gateway will not list this object type: HTTP 403 (refused) or 404 (absent)."""

    def __init__(self, object_type: str, http_status: int) -> None:
        self.object_type, self.http_status = object_type, http_status
        super().__init__(f"{object_type} {self.state} (HTTP {http_status}): {WHY.get(http_status, 'not allowed')}")

    @property
    def state(self) -> str:
        return REFUSED if self.http_status == 403 else ABSENT


class NothingReadable(RuntimeError):
    """Every object type was refused or absent: the key or the base URL is wrong, the run fails."""


@dataclass
class Access:
    """What one run found, type by type, in the order it asked."""

    gateway: str
    read: list[str] = field(default_factory=list)
    refused: dict[str, Refused] = field(default_factory=dict)

    def ok(self, object_type: str) -> None:
        if object_type not in self.read and object_type not in self.refused:
            self.read.append(object_type)

    def refuse(self, refusal: Refused) -> None:
        if refusal.object_type in self.read:
            self.read.remove(refusal.object_type)
        self.refused.setdefault(refusal.object_type, refusal)

    def summary(self) -> str | None:
        """The run's error for a partial run: what was refused and why, then what was read. None if nothing was."""
        if not self.refused:
            return None
        parts = [str(r) for r in self.refused.values()]
        return "; ".join([*parts, f"{', '.join(self.read)} read" if self.read else "nothing read"])

    def check(self) -> None:
        """Raise NothingReadable when something was asked and nothing could be read."""
        if self.refused and not self.read:
            raise NothingReadable(f"every object type refused or absent: {self.summary()};"
                                  " check the API key's permissions and its base URL")

    def record(self, conn: Connection, now: datetime) -> None:
        """Upsert one row per type asked; `since` moves only when a type's state changes."""
        rows: list[dict[str, str | int | None]] = [{"t": t, "s": READ, "h": None, "r": None} for t in self.read]
        rows += [{"t": t, "s": r.state, "h": r.http_status, "r": str(r)} for t, r in self.refused.items()]
        if not rows:
            return
        conn.execute(text(
            "INSERT INTO gateway_access (gateway, object_type, state, http_status, reason, since, checked_at)"
            " VALUES (:g, :t, :s, :h, :r, :now, :now)"
            " ON CONFLICT (gateway, object_type) DO UPDATE SET"
            "  since = CASE WHEN gateway_access.state = excluded.state THEN gateway_access.since ELSE excluded.since END,"
            "  state = excluded.state, http_status = excluded.http_status, reason = excluded.reason,"
            "  checked_at = excluded.checked_at"), [{**row, "g": self.gateway, "now": now} for row in rows])
