"""The human side of a reconciliation break: assign, comment, resolve, write off, reopen, and four eyes on
the big decisions (request, approve, reject, withdraw).

Each action takes a SQLAlchemy Connection (the caller owns the transaction: `with
engine.begin() as conn:`) and the acting person: a signed-in `revwatch.identity.Identity`, never a
typed name (issue 18). The action refuses (`NotPermitted`) a person whose roles lack its permission,
whatever the page offered; the history and the audit log record `Identity.actor`. It locks the break's row (`FOR
UPDATE`, so two people, or a person and the reconciliation job, acting at once are
serialised), checks that the action makes sense in the break's current state, updates
`recon_breaks` and appends exactly one `recon_break_events` row (actor, action, note, detail;
`at` is revwatch.clock's now, the same instant written to `resolved_at`) and one audit entry. The events
table is append-only: the database refuses UPDATE, DELETE and TRUNCATE on it.

Four eyes: resolving or writing off a break whose money at stake, in the reporting currency, is at or above
`APPROVAL_THRESHOLD_MINOR` (or cannot be converted: no rate), and any write-off by someone who may not approve,
records a request (`recon_break_requests`, event `approval_requested`) instead; the break stays open,
awaiting approval by a controller. A controller other than the requester approves it (the resolution takes
effect: resolved_by the requester, approved_by the controller) or rejects it with a reason; the requester may
withdraw it. In local mode nobody can approve: one operating-system user cannot be two people.

An action that makes no sense (resolving a cleared break, writing off twice, a reason category that does not
fit the break type, an approval of one's own request) raises `ActionRefused` before anything is written; the
page shows its message. `allowed_actions(state, awaiting)` says beforehand which actions a state admits.

Reasons are a category from `CATEGORIES` that fits the break type (`FITTING`) plus free text, both required;
`recon_breaks.resolution_reason` holds them as "category: text", the event's detail holds the category alone.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from metrics.actions import item_history
from metrics.actions.break_reasons import CATEGORIES, FITTING, Reason, fitting_categories, parse_reason
from metrics.actions.break_refusal import ActionRefused
from metrics.figures.reconciliation import AtStake, break_at_stake
from revwatch import clock
from revwatch.identity import Identity, Permission, require
from revwatch.money import format_money
from revwatch.settings import Settings, settings

__all__ = ["ACTIONS", "AWAITING", "CATEGORIES", "EVENT_NAMES", "FITTING", "PERMISSIONS", "STATES", "ActionRefused",
           "ApprovalPolicy", "Event", "Reason", "allowed_actions", "approval_needed", "approve", "assign", "comment",
           "fitting_categories", "parse_reason", "reject", "reopen", "resolve", "withdraw", "write_off"]

STATES = ("open", "resolved", "written_off", "cleared")
ACTIONS = ("assign", "comment", "resolve", "write_off", "approve", "reject", "withdraw", "reopen")
# the action each function writes into recon_break_events.action (the schema's vocabulary)
EVENT_NAMES = {"assign": "assigned", "comment": "commented", "resolve": "resolved", "write_off": "written_off",
               "approve": "approved", "reject": "rejected", "withdraw": "withdrawn", "reopen": "reopened",
               "request": "approval_requested"}
# what each action needs; a write-off by someone who may not approve is a request for one
PERMISSIONS = {"assign": Permission.WORK_BREAKS, "comment": Permission.WORK_BREAKS, "resolve": Permission.WORK_BREAKS,
               "write_off": Permission.WORK_BREAKS, "approve": Permission.APPROVE, "reject": Permission.APPROVE,
               "withdraw": Permission.WORK_BREAKS, "reopen": Permission.WORK_BREAKS}
AWAITING = "awaiting approval by a controller"
_ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"assign", "comment", "resolve", "write_off"}),
    "awaiting": frozenset({"assign", "comment", "approve", "reject", "withdraw"}),  # open, with a request pending
    "resolved": frozenset({"comment", "reopen"}),
    "written_off": frozenset({"comment", "reopen"}),
    "cleared": frozenset({"comment"}),
}


class Event(NamedTuple):
    """One row of recon_break_events as written."""

    event_id: int
    break_id: int
    at: datetime
    actor: str
    action: str
    note: str | None
    detail: dict[str, Any]


class ApprovalPolicy(NamedTuple):
    """Four eyes: money at stake at or above `threshold_minor` of `reporting_currency` needs a second person."""

    threshold_minor: int
    reporting_currency: str

    @classmethod
    def of(cls, cfg: Settings | None = None) -> ApprovalPolicy:
        """APPROVAL_THRESHOLD_MINOR of REPORTING_CURRENCY, as `cfg` (default: the environment's settings) has them."""
        cfg = cfg or settings()
        return cls(cfg.approval_threshold_minor, cfg.reporting_currency)

    @property
    def threshold(self) -> str:
        return format_money(self.threshold_minor, self.reporting_currency)


def allowed_actions(state: str, awaiting_approval: bool = False) -> tuple[str, ...]:
    """The actions that make sense for a break in `state` (an open one `awaiting_approval` of a request), in
    ACTIONS order."""
    key = "awaiting" if state == "open" and awaiting_approval else state
    return tuple(a for a in ACTIONS if a in _ALLOWED.get(key, frozenset()))


def approval_needed(action: str, who: Identity, stake: AtStake, policy: ApprovalPolicy) -> str | None:
    """Why resolving (`action` resolve) or writing off this break needs a controller's approval; None: it does not."""
    if action == "write_off" and not who.can(Permission.APPROVE):
        return "a write-off is a controller's decision"
    if stake.reporting_minor is None:
        return (f"{format_money(stake.minor, stake.currency)} at stake has no {stake.currency} to "
                f"{policy.reporting_currency} rate to compare with the approval threshold of {policy.threshold}")
    if stake.reporting_minor >= policy.threshold_minor:
        return (f"{format_money(stake.reporting_minor, policy.reporting_currency)} at stake is at or above the "
                f"approval threshold of {policy.threshold}")
    return None


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


def resolve(conn: Connection, break_id: int, who: Identity, reason: Reason | str | tuple,
            policy: ApprovalPolicy | None = None) -> Event:
    """Explain an open break (a category fitting its type, and text): state resolved, with who, when,
    why and the item's current fingerprint (a later change of the data reopens it); or, at or above the
    approval threshold, a request a controller approves (event `approval_requested`)."""
    return _close(conn, break_id, who, reason, "resolve", policy or ApprovalPolicy.of())


def write_off(conn: Connection, break_id: int, who: Identity, reason: Reason | str | tuple,
              policy: ApprovalPolicy | None = None) -> Event:
    """Accept an open break's money as lost or immaterial: state written_off; or a request for it (by someone
    who may not approve, or at or above the approval threshold)."""
    return _close(conn, break_id, who, reason, "write_off", policy or ApprovalPolicy.of())


def approve(conn: Connection, break_id: int, who: Identity, note: str = "") -> Event:
    """Approve the break's pending request, as a controller other than the requester: the requested resolution
    takes effect now (resolved_by the requester, approved_by `who`). Refused in local mode, for one's own
    request, and when the item's data changed since the request."""
    actor = _actor(break_id, "approve", who)
    if who.local:
        raise ActionRefused(break_id, "approve", "approvals need a configured identity provider: in local mode one "
                                                 "operating-system user is everyone, and four eyes need two people")
    brk = _lock(conn, break_id, "approve")
    req = _pending(conn, break_id, "approve", who, own_refused=True)
    fingerprint = _fingerprint(conn, brk, "approve")
    if fingerprint != req["fingerprint"]:
        raise ActionRefused(break_id, "approve", "its data changed since the request was made: reject it, and "
                                                 "ask again on what the break shows now")
    at = clock.now()
    state = "resolved" if req["action"] == "resolve" else "written_off"
    _update(conn, break_id, "state = :state, resolution_reason = :reason, resolved_by = :by, resolved_at = :at,"
                            " resolved_fingerprint = :fp, approved_by = :actor, approved_at = :at",
            state=state, reason=str(Reason(req["category"], req["reason"])), by=req["requested_by"], at=at,
            fp=fingerprint, actor=actor)
    _decide(conn, req, "approved", actor, at, note)
    return _event(conn, break_id, actor, "approve", (note or "").strip() or None,
                  {"request_id": req["request_id"], "resolution": state, "category": req["category"],
                   "requested_by": req["requested_by"], "fingerprint": fingerprint}, at)


def reject(conn: Connection, break_id: int, who: Identity, note: str) -> Event:
    """Reject the break's pending request (why, in `note`), as a controller other than the requester; the break
    stays open."""
    actor = _actor(break_id, "reject", who)
    note = (note or "").strip()
    if not note:
        raise ActionRefused(break_id, "reject", "say why it is rejected")
    _lock(conn, break_id, "reject")
    req = _pending(conn, break_id, "reject", who, own_refused=True)
    at = clock.now()
    _decide(conn, req, "rejected", actor, at, note)
    return _event(conn, break_id, actor, "reject", note,
                  {"request_id": req["request_id"], "requested": req["action"], "requested_by": req["requested_by"]}, at)


def withdraw(conn: Connection, break_id: int, who: Identity, note: str = "") -> Event:
    """Take back one's own pending request; the break stays open."""
    actor = _actor(break_id, "withdraw", who)
    _lock(conn, break_id, "withdraw")
    req = _pending(conn, break_id, "withdraw", who, own_refused=False)
    if (req["requested_issuer"], req["requested_subject"]) != (who.issuer, who.subject):
        raise ActionRefused(break_id, "withdraw", f"only {req['requested_by']}, who asked, may withdraw it")
    at = clock.now()
    note = (note or "").strip()
    _decide(conn, req, "withdrawn", actor, at, note)
    return _event(conn, break_id, actor, "withdraw", note or None,
                  {"request_id": req["request_id"], "requested": req["action"]}, at)


def reopen(conn: Connection, break_id: int, who: Identity, note: str) -> Event:
    """Reopen a resolved or written-off break by hand (why, in `note`); the resolution is cleared
    from the break (the history keeps it)."""
    actor = _actor(break_id, "reopen", who)
    note = (note or "").strip()
    if not note:
        raise ActionRefused(break_id, "reopen", "say why it is reopened")
    brk = _lock(conn, break_id, "reopen")
    _update(conn, break_id, "state = 'open', resolution_reason = NULL, resolved_by = NULL, resolved_at = NULL,"
                            " resolved_fingerprint = NULL, approved_by = NULL, approved_at = NULL")
    return _event(conn, break_id, actor, "reopen", note,
                  {"from_state": brk["state"], "previous_reason": brk["resolution_reason"],
                   "previous_resolved_by": brk["resolved_by"], "previous_approved_by": brk["approved_by"]})


# ---------------------------------------------------------------- plumbing
def _actor(break_id: int | None, action: str, who: Identity) -> str:
    """The actor to record for `who` doing `action`, once their roles allow it (NotPermitted otherwise)."""
    require(who, PERMISSIONS[action], f"{action.replace('_', ' ')} break {break_id}")
    return who.actor


def _lock(conn: Connection, break_id: int, action: str) -> dict[str, Any]:
    row = conn.execute(text("""
        SELECT b.break_id, b.stage, b.item_key, b.state, b.assignee, b.resolution_reason, b.resolved_by,
               b.resolved_at, b.approved_by,
               (SELECT i.break_type FROM recon_items i WHERE i.stage = b.stage AND i.item_key = b.item_key)
                   AS break_type,
               (SELECT r.requested_by FROM recon_break_requests r WHERE r.break_id = b.break_id
                                                                    AND r.decision IS NULL) AS requested_by
        FROM recon_breaks b WHERE b.break_id = :id FOR UPDATE OF b"""), {"id": int(break_id)}).mappings().first()
    if row is None:
        raise ActionRefused(break_id, action, "no such break")
    brk = dict(row)
    if action not in allowed_actions(brk["state"], brk["requested_by"] is not None):
        raise ActionRefused(break_id, action, _why_not(brk, action))
    return brk


def _why_not(brk: dict[str, Any], action: str) -> str:
    state = brk["state"]
    if state == "cleared":
        return "it is cleared: the data matches again (the reconciliation reopens it if it breaks again)"
    if state == "open" and brk["requested_by"] is not None:
        return f"it is {AWAITING} (asked by {brk['requested_by']})"
    if action in ("approve", "reject", "withdraw"):
        return "no request awaits approval on it"
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


def _fingerprint(conn: Connection, brk: dict[str, Any], action: str) -> str:
    fingerprint = conn.execute(text("SELECT fingerprint FROM recon_items WHERE stage = :stage AND item_key = :key"),
                               {"stage": brk["stage"], "key": brk["item_key"]}).scalar()
    if fingerprint is None:
        raise ActionRefused(brk["break_id"], action, "its item is no longer in recon_items; run the reconciliation again")
    return fingerprint


def _close(conn: Connection, break_id: int, who: Identity, reason, action: str, policy: ApprovalPolicy) -> Event:
    actor = _actor(break_id, action, who)
    brk = _lock(conn, break_id, action)
    fingerprint = _fingerprint(conn, brk, action)
    why = parse_reason(reason, break_id, action, brk["break_type"])
    stake = break_at_stake(conn, break_id, policy.reporting_currency)
    if stake is None:  # its item went between the two reads (the job deletes gone items without the break's lock)
        raise ActionRefused(break_id, action, "its item is no longer in recon_items; run the reconciliation again")
    if why.category == "immaterial" and (stake.reporting_minor is None or stake.reporting_minor >= policy.threshold_minor):
        raise ActionRefused(break_id, action, f"{format_money(stake.minor, stake.currency)} at stake is not immaterial"
                                              f" (the approval threshold is {policy.threshold})")
    at = clock.now()
    needs = approval_needed(action, who, stake, policy)
    if needs is not None:
        return _request(conn, brk, who, action, why, stake, policy, fingerprint, needs, at)
    state = "resolved" if action == "resolve" else "written_off"
    _update(conn, break_id, "state = :state, resolution_reason = :reason, resolved_by = :actor, resolved_at = :at,"
                            " resolved_fingerprint = :fp", state=state, reason=str(why), actor=actor, at=at, fp=fingerprint)
    return _event(conn, break_id, actor, action, why.text or None,
                  {"category": why.category, "from_state": brk["state"], "fingerprint": fingerprint}, at)


def _request(conn: Connection, brk: dict[str, Any], who: Identity, action: str, why: Reason, stake: AtStake,
             policy: ApprovalPolicy, fingerprint: str, needs: str, at: datetime) -> Event:
    """Record `who`'s request to resolve or write off the break, awaiting a controller's approval."""
    request_id = conn.execute(text("""
        INSERT INTO recon_break_requests (break_id, action, category, reason, why_approval, at_stake_reporting_minor,
            reporting_currency, threshold_minor, fingerprint, requested_by, requested_issuer, requested_subject,
            requested_at)
        VALUES (:id, :action, :category, :reason, :needs, :rep_minor, :rep, :threshold, :fp, :actor, :iss, :sub, :at)
        RETURNING request_id"""), {"id": brk["break_id"], "action": action, "category": why.category, "reason": why.text,
                                   "needs": needs, "rep_minor": stake.reporting_minor, "rep": policy.reporting_currency,
                                   "threshold": policy.threshold_minor, "fp": fingerprint, "actor": who.actor,
                                   "iss": who.issuer, "sub": who.subject, "at": at}).scalar_one()
    return _event(conn, brk["break_id"], who.actor, "request", why.text,
                  {"request_id": request_id, "requested": action, "category": why.category, "why_approval": needs,
                   "at_stake_minor": stake.minor, "currency": stake.currency,
                   "at_stake_reporting_minor": stake.reporting_minor, "reporting_currency": policy.reporting_currency,
                   "threshold_minor": policy.threshold_minor, "fingerprint": fingerprint}, at)


def _pending(conn: Connection, break_id: int, action: str, who: Identity, own_refused: bool) -> dict[str, Any]:
    row = conn.execute(text("SELECT * FROM recon_break_requests WHERE break_id = :id AND decision IS NULL FOR UPDATE"),
                       {"id": int(break_id)}).mappings().first()
    if row is None:  # _lock saw one under the break's lock: only a changed schema gets here
        raise ActionRefused(break_id, action, "no request awaits approval on it")
    if own_refused and (row["requested_issuer"], row["requested_subject"]) == (who.issuer, who.subject):
        raise ActionRefused(break_id, action, "you asked for it: a different controller decides (four eyes); "
                                              "you may withdraw it")
    return dict(row)


def _decide(conn: Connection, req: dict[str, Any], decision: str, actor: str, at: datetime, note: str) -> None:
    conn.execute(text("""UPDATE recon_break_requests SET decision = :decision, decided_by = :actor, decided_at = :at,
                                decision_note = :note WHERE request_id = :rid"""),
                 {"decision": decision, "actor": actor, "at": at, "note": (note or "").strip() or None,
                  "rid": req["request_id"]})


def _update(conn: Connection, break_id: int, assignments: str, **params: Any) -> None:
    conn.execute(text(f"UPDATE recon_breaks SET {assignments} WHERE break_id = :id"), {"id": int(break_id), **params})


def _event(conn: Connection, break_id: int, actor: str, action: str, note: str | None, detail: dict[str, Any],
           at: datetime | None = None) -> Event:
    name = EVENT_NAMES[action]
    event_id, when = item_history.record(conn, "break", break_id, actor, name, f"break.{action}", note, detail, at)
    return Event(event_id, int(break_id), when, actor, name, note, detail)
