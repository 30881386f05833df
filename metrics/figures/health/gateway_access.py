"""Which object types each gateway lets Revwatch read: the `gateway_access` table the ingest keeps
(collectors/ingest/gateway_access.py), one row per gateway and type, the newest run's answer.

A type `refused` (HTTP 403: the API key may not read it) or `absent` (HTTP 404: the server has no
such list) is not collected at all: its figures stay at what was read before, and the stages that
need it (disputes, S2 without balance transactions, ...) wait. Health lists the rows; the exporter
shows one 0/1 series per gateway and type (`refused_series`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from metrics.figures.query import Db, read_rows

STATES = ("read", "refused", "absent")


@dataclass(frozen=True)
class ObjectAccess:
    gateway: str
    object_type: str            # the API's list name: charges, refunds, disputes, balance_transactions, payouts
    state: str                  # read | refused | absent
    http_status: int | None     # 403 or 404 when not read
    reason: str | None          # e.g. "disputes refused (HTTP 403): the API key may not read them"
    since: datetime             # in this state since (the first run that found it so)
    checked_at: datetime        # the newest run that asked

    @property
    def refused(self) -> bool:
        """Not read, whichever way (refused or absent)."""
        return self.state != "read"


def gateway_access(db: Db) -> tuple[ObjectAccess, ...]:
    """Every gateway's object types as the newest run found them, by gateway and type (a few rows)."""
    sql = """SELECT gateway, object_type, state, http_status, reason, since, checked_at FROM gateway_access
             ORDER BY gateway, object_type"""
    return tuple(ObjectAccess(*row) for row in read_rows(db, sql, {})[1])


def refused_series(access: tuple[ObjectAccess, ...]) -> list[tuple[str, str, int]]:
    """(gateway, object_type, 1 if not read else 0) for the exporter's
    `revwatch_gateway_object_refused{gateway, object}` gauge: one series per type a run asked for."""
    return [(a.gateway, a.object_type, int(a.refused)) for a in access]
