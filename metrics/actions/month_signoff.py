"""A controller signs off an accounting month's close (issue 18): when it is ready, or with an override that
says, for each unmet check, why it is signed anyway. The sign-off freezes the close figures
(metrics/figures/reconciliation/close_signoff.py) in the append-only `month_signoffs`, and writes their hash
to the audit chain. Signing a month again is refused while nothing changed since its last sign-off."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import Connection, text

from metrics.figures.reconciliation.close_signoff import (
    Signoff,
    adjustments,
    close_snapshot,
    latest_signoff,
    snapshot_hash,
)
from metrics.figures.reconciliation.month_close import CloseThresholds
from metrics.figures.reconciliation.scope import month_start
from revwatch import audit, clock
from revwatch.identity import Identity, Permission, require

SIGNOFF_LOCK = 0x5_16_0FF  # one sign-off at a time (pg_advisory_xact_lock)


class SignOffRefused(ValueError):
    """The month cannot be signed off as asked; nothing was written."""

    def __init__(self, month: date, why: str) -> None:
        self.month, self.why = month, why
        super().__init__(f"cannot sign off {month:%Y-%m}: {why}")


def reason_key(reason: Mapping[str, str]) -> str:
    """How an override names an unmet check: its check and scope ("close_min_matched_share|S1 USD")."""
    return f"{reason['check']}|{reason['scope']}"


def sign_off(conn: Connection, month: date, who: Identity, th: CloseThresholds,
             overrides: Mapping[str, str] | None = None, as_of: datetime | None = None) -> Signoff:
    """Sign off `month` as `who` (a role that may sign off): refused before the month has ended, when it is not
    ready and an unmet check has no override reason (`overrides`: reason_key -> why), and when it was signed off
    already and nothing changed since. Returns the stored sign-off."""
    m = month_start(month)
    require(who, Permission.SIGN_OFF, f"sign off {m:%Y-%m}")
    as_of = as_of or clock.now()
    if m >= month_start(as_of.date()):
        raise SignOffRefused(m, "the month has not ended yet")
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SIGNOFF_LOCK})
    snap = close_snapshot(conn, m, th, as_of)
    given = {k: (v or "").strip() for k, v in (overrides or {}).items()}
    if not snap["ready"]:
        unexplained = [r["text"] for r in snap["reasons"] if not given.get(reason_key(r))]
        if unexplained:
            raise SignOffRefused(m, "it is not ready; to sign it off anyway, say why for each unmet check: "
                                    + "; ".join(unexplained))
    before = latest_signoff(conn, m)
    if before is not None and not adjustments(before.snapshot, snap):
        raise SignOffRefused(m, f"it was signed off by {before.signed_by} at {before.signed_at:%Y-%m-%d %H:%M} UTC "
                                "and nothing has changed since")
    override = [{**r, "why": given[reason_key(r)]} for r in snap["reasons"]] if not snap["ready"] else []
    digest = snapshot_hash(snap)
    row = conn.execute(text("""
        INSERT INTO month_signoffs (accounting_month, signed_at, signed_by, ready, override, reporting_currency,
                                    snapshot, snapshot_sha256)
        VALUES (:m, :at, :actor, :ready, CAST(:override AS jsonb), :rep, CAST(:snap AS jsonb), :digest)
        RETURNING signoff_id"""), {"m": m, "at": as_of, "actor": who.actor, "ready": snap["ready"],
                                   "override": json.dumps(override), "rep": th.reporting_currency,
                                   "snap": json.dumps(snap), "digest": digest}).one()
    audit.append(conn, who.actor, "close.sign_off", f"month:{m:%Y-%m}",
                 {"signoff_id": row.signoff_id, "snapshot_sha256": digest, "ready": snap["ready"],
                  "override": override, "resigned": before is not None})
    return Signoff(row.signoff_id, m, as_of, who.actor, snap["ready"], override, th.reporting_currency, snap, digest)
