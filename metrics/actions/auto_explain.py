"""Less manual work (issue 19): rules that explain work-queue items by themselves, each with a dry run.

A rule has a name and a version; `match` finds, in the caller's snapshot, the open items it explains now, with the
words and figures of each explanation. `dry_run` is that list and writes nothing: what the rule would do if it were
enabled. `apply` writes exactly those matches: for each one an `auto_explanations` row, and for a resolving rule
the item's resolution (a break's through its own columns, a work item's through its own), its event and an audit
entry, all with the rule as actor (`rule:<name>@<version>`). `undo` reverses a rule: every item it resolved that
is still resolved by it is reopened, by the person who undid it, and its explanations are marked undone.

The rules (AUTO_EXPLAIN_RULES, JSON: rule name -> its parameters; a rule not named is disabled):
- `bank_fee` ({"CAD": [1500], ...}: the bank's fee amounts per currency, minor units): a bank deposit short of its
  payout (stage S3, amount mismatch) by exactly one of its currency's fee amounts is resolved "bank fee", and the
  fee counts in the explained bank fees (`explained_fees`).
- `duplicate_voided` ({}): an over-billed session judged a duplicate invoice whose extra invoices have since been
  voided (one invoice left that is not void) is resolved: the customer is no longer charged twice.
- `gateway_incident` ({}): an open item of a gateway (a break, an unrecorded charge, a stuck refund, a dispute)
  that happened inside one of that gateway's incident windows of the last 30 days (the Payments page's worst
  windows) is explained "inside the gateway incident …": grouped under it, not resolved.

A break awaiting a four-eyes decision is never touched: a person asked a controller about it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from metrics.actions import item_history
from metrics.figures import payments
from metrics.figures.query import Db, Filters, read_rows
from revwatch import audit, clock
from revwatch.identity import Identity, Permission, require
from revwatch.work_items import RULE_ACTOR, parse_auto_explain


@dataclass(frozen=True)
class Match:
    """One item a rule explains: what it says, and the money it is about."""

    work_type: str
    item_ref: int
    explanation: str
    currency: str | None = None
    amount_minor: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    version: int
    description: str
    resolves: bool  # False: it only explains (groups) the item, a person still resolves it
    match: Callable[[Db, Mapping[str, Any]], list[Match]]

    @property
    def actor(self) -> str:
        return f"{RULE_ACTOR}{self.name}@{self.version}"


_BANK_FEE = """
    SELECT b.break_id, i.currency, i.amount_minor - i.counter_amount_minor AS fee_minor, i.item_key
    FROM recon_breaks b JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
    JOIN unnest(CAST(:currencies AS text[]), CAST(:fees AS bigint[])) AS f(currency, fee_minor)
      ON f.currency = i.currency AND f.fee_minor = i.amount_minor - i.counter_amount_minor
    WHERE b.state = 'open' AND i.stage = 'S3' AND i.status = 'break' AND i.break_type = 'amount_mismatch'
      AND NOT EXISTS (SELECT 1 FROM recon_break_requests r WHERE r.break_id = b.break_id AND r.decision IS NULL)
    ORDER BY b.break_id"""


def _bank_fees(db: Db, params: Mapping[str, Any]) -> list[Match]:
    pairs = [(str(cur).upper(), int(fee)) for cur, fees in params.items() for fee in fees]
    if not pairs:
        return []
    _, rows = read_rows(db, _BANK_FEE, {"currencies": [c for c, _ in pairs], "fees": [f for _, f in pairs]})
    return [Match("break", int(b), f"bank fee: the deposit is short of payout {key.split(':')[-1]} by the bank's fee",
                  cur, int(fee), {"fee_minor": int(fee), "item_key": key}) for b, cur, fee, key in rows]


_DUPLICATE_VOIDED = """
    SELECT w.item_id, w.currency, w.amount_minor, w.source_key, count(*) FILTER (WHERE inv.status = 'void') AS voided
    FROM work_items w JOIN invoices inv ON inv.session_id = w.source_key
    WHERE w.state = 'open' AND w.work_type = 'over_billed' AND w.detail ->> 'class' = 'duplicate_invoice'
    GROUP BY w.item_id, w.currency, w.amount_minor, w.source_key
    HAVING count(*) FILTER (WHERE inv.status <> 'void') = 1 AND count(*) FILTER (WHERE inv.status = 'void') >= 1
    ORDER BY w.item_id"""


def _duplicates_voided(db: Db, params: Mapping[str, Any]) -> list[Match]:
    _, rows = read_rows(db, _DUPLICATE_VOIDED, {})
    return [Match("over_billed", int(i), f"duplicate voided: session {s} has one invoice left, {v} voided",
                  cur, int(amount), {"voided_invoices": int(v)}) for i, cur, amount, s, v in rows]


_GATEWAY_ITEMS = """
    SELECT 'break' AS work_type, b.break_id AS item_ref, i.gateway, i.occurred_at, i.currency,
           abs(coalesce(i.break_amount_minor, i.amount_minor)) AS amount_minor
    FROM recon_breaks b JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
    WHERE b.state = 'open' AND i.gateway IS NOT NULL AND i.occurred_at >= :since
    UNION ALL
    SELECT w.work_type, w.item_id, w.gateway, w.occurred_at, w.currency, w.amount_minor FROM work_items w
    WHERE w.state = 'open' AND w.gateway IS NOT NULL AND w.occurred_at >= :since
    ORDER BY 1, 2"""
INCIDENT_DAYS = 30  # the incidents a gateway_incident dry run looks for: the last 30 local days, as the Payments page


def _in_gateway_incidents(db: Db, params: Mapping[str, Any]) -> list[Match]:
    """Open items of a gateway that happened inside one of its incident windows (metrics/figures/payments.py, the
    Payments page's "worst windows"): grouped under the incident, for one person to work them together."""
    today = clock.today()
    found = payments.episodes(payments.worst_hours(db, Filters(today - timedelta(days=INCIDENT_DAYS - 1), today)))
    if not found:
        return []
    since = min(e.start for e in found)
    _, rows = read_rows(db, _GATEWAY_ITEMS, {"since": since})
    out = []
    for work_type, ref, gateway, at, currency, amount in rows:
        hit = next((e for e in found if e.gateway == gateway and e.start <= at < e.end), None)
        if hit is not None:
            incident = f"{hit.gateway} {hit.start:%Y-%m-%d %H:%M}–{hit.end:%H:%M} UTC"
            out.append(Match(work_type, int(ref), f"inside the gateway incident {incident} ({hit.failed + hit.unknown:,}"
                                                  f" of {hit.attempts:,} attempts failed)", currency, int(amount),
                             {"incident": incident, "gateway": hit.gateway, "start": hit.start.isoformat(),
                              "end": hit.end.isoformat()}))
    return out


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("bank_fee", 1, "A bank deposit short of its payout by exactly a known bank fee: resolved, the fee counted.",
         True, _bank_fees),
    Rule("duplicate_voided", 1, "A duplicate invoice voided since: the over-billing is resolved.", True,
         _duplicates_voided),
    Rule("gateway_incident", 1, "An item of a gateway that happened inside one of its incident windows: grouped "
         "under the incident (a person still resolves it).", False, _in_gateway_incidents),
)}


def dry_run(db: Db, rule: Rule, params: Mapping[str, Any]) -> list[Match]:
    """What `rule` would explain now; nothing is written."""
    return rule.match(db, params)


def apply(conn: Connection, rule: Rule, params: Mapping[str, Any], at: datetime | None = None) -> list[Match]:
    """Explain (and for a resolving rule resolve) every item the dry run lists now, in the caller's transaction."""
    at = at or clock.now()
    done = []
    for m in rule.match(conn, params):
        row = conn.execute(text("""
            INSERT INTO auto_explanations (rule, rule_version, work_type, item_ref, resolved, explanation, detail,
                                           currency, amount_minor, explained_at)
            VALUES (:rule, :version, :type, :ref, :resolved, :why, CAST(:detail AS jsonb), :cur, :amount, :at)
            ON CONFLICT (rule, work_type, item_ref) WHERE undone_at IS NULL DO NOTHING
            RETURNING explanation_id"""), {"rule": rule.name, "version": rule.version, "type": m.work_type,
                                           "ref": m.item_ref, "resolved": rule.resolves, "why": m.explanation,
                                           "detail": json.dumps(dict(m.detail)), "cur": m.currency,
                                           "amount": m.amount_minor, "at": at}).first()
        if row is None:
            continue  # explained by this rule already
        if rule.resolves:
            _resolve(conn, rule.actor, m, at)
        item_history.record(conn, _kind(m.work_type), m.item_ref, rule.actor,
                            "resolved" if rule.resolves else "commented",
                            "rule.resolve" if rule.resolves else "rule.explain", m.explanation,
                            {"rule": rule.actor, **m.detail}, at)
        done.append(m)
    return done


def _kind(work_type: str) -> str:
    """The history an item of `work_type` keeps (metrics/actions/item_history.py)."""
    return "break" if work_type == "break" else "work_item"


# kind -> (table, its id column, its resolution column, the item's fingerprint now): where a rule resolves and reopens
_WORKFLOWS = {
    "break": ("recon_breaks", "break_id", "resolution_reason",
              "(SELECT i.fingerprint FROM recon_items i"
              " WHERE i.stage = recon_breaks.stage AND i.item_key = recon_breaks.item_key)"),
    "work_item": ("work_items", "item_id", "resolution", "fingerprint"),
}


def _resolve(conn: Connection, actor: str, m: Match, at: datetime) -> None:
    table, column, reason, fingerprint = _WORKFLOWS[_kind(m.work_type)]
    conn.execute(text(f"""
        UPDATE {table} SET state = 'resolved', {reason} = :why, resolved_by = :actor, resolved_at = :at,
               resolved_fingerprint = {fingerprint}
        WHERE {column} = :ref"""), {"why": m.explanation, "actor": actor, "at": at, "ref": m.item_ref})


def undo(conn: Connection, rule: Rule, who: Identity, note: str) -> int:
    """Reverse `rule`: reopen each item it resolved that it still holds resolved, mark its explanations undone.
    Returns how many items were reopened."""
    require(who, Permission.APPROVE, f"undo rule {rule.name}")
    note = (note or "").strip() or f"undid {rule.actor}"
    at = clock.now()
    _, rows = read_rows(conn, """
        UPDATE auto_explanations SET undone_by = :who, undone_at = :at
        WHERE rule = :rule AND undone_at IS NULL RETURNING work_type, item_ref, resolved""",
                        {"who": who.actor, "at": at, "rule": rule.name})
    reopened = 0
    for work_type, ref, resolved in rows:
        if not resolved:
            continue
        table, column, reason, _ = _WORKFLOWS[_kind(work_type)]
        hit = conn.execute(text(f"""
            UPDATE {table} SET state = 'open', {reason} = NULL, resolved_by = NULL, resolved_at = NULL,
                   resolved_fingerprint = NULL
            WHERE {column} = :ref AND state = 'resolved' AND resolved_by = :actor"""),
                           {"ref": ref, "actor": rule.actor}).rowcount
        if hit:
            item_history.record(conn, _kind(work_type), ref, who.actor, "reopened", "rule.undo", note,
                                {"rule": rule.actor}, at)
            reopened += 1
    audit.append(conn, who.actor, "rule.undo", f"rule:{rule.name}", {"reopened": reopened, "note": note})
    return reopened


def apply_enabled(conn: Connection, configured: str | Mapping[str, Any] | None) -> dict[str, int]:
    """Apply every rule AUTO_EXPLAIN_RULES (`configured`) enables, in RULES order; how many items each explained."""
    spec = parse_auto_explain(configured)
    return {name: len(apply(conn, rule, spec[name])) for name, rule in RULES.items() if name in spec}


def explained_fees(db: Db, rules: Sequence[str] = ("bank_fee",)) -> dict[str, int]:
    """The bank fees the rule explained (not undone), per currency: the fee figure."""
    _, rows = read_rows(db, """
        SELECT currency, sum((detail ->> 'fee_minor')::bigint) FROM auto_explanations
        WHERE rule = ANY(CAST(:rules AS text[])) AND undone_at IS NULL GROUP BY currency ORDER BY currency""",
                        {"rules": list(rules)})
    return {cur: int(v) for cur, v in rows}
