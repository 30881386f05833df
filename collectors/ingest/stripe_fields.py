"""What Revwatch keeps of a Stripe object: one allowlist per object type, applied to every object
the moment it is read, before it is normalized, written (the `raw` jsonb beside the normalized
columns) or could reach a log line. Everything not named here is dropped, whatever a server sends:
no card number, CVC, fingerprint, expiry, last4 (no page shows one), cardholder name, e-mail,
phone or address, no free text (descriptions, failure and seller messages, which can quote any of
those), no metadata but the billing keys. README "Cardholder data (PCI DSS 3.3-3.4)" says why.

Each list is what Revwatch reads: the normalized columns (collectors/ingest/stripe.py) and the
enumerations the Payments drill-down shows beside them. A rule is KEEP (a plain value: string,
number, boolean or null; a list or object sent in its place is dropped, so nothing can be smuggled
in under an allowed name), REF (an expandable reference: its id, whether sent as an id or as the
expanded object; the expansion itself is dropped) or a nested allowlist (an object, or null).
Migration 0009 cut the rows stored before this the same way, in SQL.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

KEEP: Final = "keep"
REF: Final = "ref"
Spec = Mapping[str, Any]  # name -> KEEP | REF | Spec

_IDENTITY: Spec = {"id": KEEP, "object": KEEP, "created": KEEP, "livemode": KEEP, "currency": KEEP, "amount": KEEP}

CHARGE: Spec = {
    **_IDENTITY,
    "amount_captured": KEEP, "amount_refunded": KEEP, "captured": KEEP, "paid": KEEP, "refunded": KEEP,
    "disputed": KEEP, "status": KEEP, "failure_code": KEEP,
    "outcome": {"type": KEEP, "reason": KEEP, "network_status": KEEP, "risk_level": KEEP},
    "payment_method_details": {"type": KEEP, "card": {"brand": KEEP, "wallet": {"type": KEEP}}},
    "metadata": {"attempt_id": KEEP, "invoice_id": KEEP},
    "balance_transaction": REF,
}
REFUND: Spec = {
    **_IDENTITY,
    "status": KEEP, "reason": KEEP, "failure_reason": KEEP,
    "charge": REF, "balance_transaction": REF, "failure_balance_transaction": REF,
    "metadata": {"refund_id": KEEP},
}
DISPUTE: Spec = {
    **_IDENTITY,
    "status": KEEP, "reason": KEEP, "is_charge_refundable": KEEP, "charge": REF,
    "evidence_details": {"due_by": KEEP, "has_evidence": KEEP, "past_due": KEEP, "submission_count": KEEP},
}
BALANCE_TRANSACTION: Spec = {
    **_IDENTITY,
    "fee": KEEP, "net": KEEP, "type": KEEP, "reporting_category": KEEP, "status": KEEP, "available_on": KEEP,
    "exchange_rate": KEEP, "source": REF,
}
PAYOUT: Spec = {
    **_IDENTITY,
    "status": KEEP, "arrival_date": KEEP, "automatic": KEEP, "method": KEEP, "type": KEEP, "source_type": KEEP,
    "failure_code": KEEP, "balance_transaction": REF, "failure_balance_transaction": REF,
}
# by the API's list name (/v1/<name>)
ALLOWLISTS: Mapping[str, Spec] = {
    "charges": CHARGE, "refunds": REFUND, "disputes": DISPUTE, "balance_transactions": BALANCE_TRANSACTION,
    "payouts": PAYOUT,
}

_DROP = object()
_PLAIN = (str, int, float, bool)


def _kept(rule: Any, value: Any) -> Any:
    """The value to store under a name with this rule, or _DROP."""
    if rule == KEEP:
        return value if value is None or isinstance(value, _PLAIN) else _DROP
    if rule == REF:
        if isinstance(value, Mapping):
            value = value.get("id", _DROP)
        return value if value is None or isinstance(value, str) else _DROP
    if value is None:
        return None
    return keep(rule, value) if isinstance(value, Mapping) else _DROP


def keep(spec: Spec, obj: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` cut down to `spec`: only the names it lists, each by its rule (module docstring)."""
    out: dict[str, Any] = {}
    for name, rule in spec.items():
        if name in obj:
            value = _kept(rule, obj[name])
            if value is not _DROP:
                out[name] = value
    return out
