"""The kinds of work the revenue work queue holds (issue 19), and the service level each must be done within.

Every open item that needs a person, whatever found it, is one of WORK_TYPES: its team, what resolving it means
for the customer, and its service level. A service level is a number of calendar days (`10d`) or business days
(`5bd`, Monday to Friday) from when the item was found, or the gateway's own deadline (`due`: a dispute's
evidence due date). WORK_SLAS (JSON, e.g. {"break": "7d", "over_billed": "3bd"}) overrides the defaults.
`due_at` is the one definition of an item's due time; the queue, /metrics and the alerts read it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from revwatch.schedule import CATALOGUE

FINANCE, BILLING_OPS, PAYMENTS_OPS = "finance", "billing operations", "payments operations"


@dataclass(frozen=True)
class ServiceLevel:
    """`days` calendar or business days from when an item was found; or, `deadline`, the gateway's due date."""

    days: int = 0
    business: bool = False
    deadline: bool = False

    def __str__(self) -> str:
        if self.deadline:
            return "before the gateway's due date"
        return f"{self.days} {'business ' if self.business else ''}day{'s' if self.days != 1 else ''}"


@dataclass(frozen=True)
class WorkType:
    name: str
    label: str
    team: str
    customer_impact: bool  # resolving it gives a customer money back (or stops charging them wrongly)
    action: str  # what resolving it takes, for people
    service_level: ServiceLevel


WORK_TYPES: tuple[WorkType, ...] = (
    WorkType("break", "Reconciliation break", FINANCE, False, "explain or correct the mismatch",
             ServiceLevel(10)),
    WorkType("under_billed", "Under-billed session", BILLING_OPS, False, "re-invoice the difference",
             ServiceLevel(10)),
    WorkType("over_billed", "Over-billed session", BILLING_OPS, True, "refund the customer the difference",
             ServiceLevel(5, business=True)),
    WorkType("unrecorded_charge", "Gateway took money billing does not record", PAYMENTS_OPS, True,
             "record the payment, or refund a double charge", ServiceLevel(5, business=True)),
    WorkType("dispute_evidence", "Dispute needing evidence", FINANCE, False, "submit evidence to the gateway",
             ServiceLevel(deadline=True)),
    WorkType("refund_stuck", "Refund failed or pending too long", PAYMENTS_OPS, True, "retry or pay the refund",
             ServiceLevel(5, business=True)),
)
BY_NAME: dict[str, WorkType] = {t.name: t for t in WORK_TYPES}
WORK_TYPE_NAMES = tuple(BY_NAME)
TEAMS = tuple(dict.fromkeys(t.team for t in WORK_TYPES))

_LEVEL = re.compile(r"^\s*(?:(?P<days>\d+)\s*(?P<unit>bd|d)|(?P<due>due))\s*$")


RULE_ACTOR = "rule:"  # an automatic resolution's actor: rule:<name>@<version>


def automatic(actor: str) -> bool:
    """An event by no person: a job (its catalogue name, e.g. reconcile or work-queue) or an auto-explain rule."""
    return actor.startswith(RULE_ACTOR) or actor in CATALOGUE


def parse_service_level(text: str) -> ServiceLevel:
    """`10d` (calendar days), `5bd` (business days) or `due` (the gateway's due date)."""
    m = _LEVEL.match(text or "")
    if m is None:
        raise ValueError(f"{text!r} is not a service level: write 10d (days), 5bd (business days) or due")
    if m["due"]:
        return ServiceLevel(deadline=True)
    return ServiceLevel(int(m["days"]), business=m["unit"] == "bd")


def service_levels(overrides: str | Mapping[str, str] | None = None) -> dict[str, ServiceLevel]:
    """Each work type's service level: the defaults, with WORK_SLAS (JSON text or a mapping) over them. An unknown
    work type is refused rather than ignored (a typo would leave the default in force unnoticed)."""
    raw = json.loads(overrides) if isinstance(overrides, str) and overrides.strip() else (overrides or {})
    if not isinstance(raw, Mapping):
        raise ValueError("must be a JSON object of work type -> service level, e.g. {\"break\": \"7d\"}")
    levels = {t.name: t.service_level for t in WORK_TYPES}
    for name, text in raw.items():
        if name not in levels:
            raise ValueError(f"{name!r} is not a work type; the work types are {', '.join(levels)}")
        levels[name] = parse_service_level(str(text))
    return levels


def add_business_days(start: datetime, days: int) -> datetime:
    """`start` moved on by `days` business days (Monday to Friday), keeping its time of day; from a Saturday or a
    Sunday the count starts on the Monday after (Fri 10:00 + 1 = Mon 10:00; Sat 10:00 + 1 = Tue 00:00)."""
    at = start
    if at.weekday() >= 5:  # found on a weekend: the clock starts Monday 00:00
        at = (at + timedelta(days=7 - at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    left = days
    while left > 0:
        at += timedelta(days=1)
        if at.weekday() < 5:
            left -= 1
    return at


def due_at(level: ServiceLevel, found_at: datetime, deadline: datetime | None = None) -> datetime | None:
    """When an item found at `found_at` is due under `level`; a deadline level is the gateway's `deadline` (None
    when the gateway gave none: not known, never "not due")."""
    if level.deadline:
        return deadline
    if level.business:
        return add_business_days(found_at, level.days)
    return found_at + timedelta(days=level.days)


# The auto-explain rules (metrics/actions/auto_explain.py RULES), named here so that AUTO_EXPLAIN_RULES is checked at
# start with the other settings
RULE_NAMES = ("bank_fee", "duplicate_voided", "gateway_incident")


def parse_auto_explain(raw: str | Mapping[str, object] | None) -> dict[str, dict]:
    """AUTO_EXPLAIN_RULES (JSON text or a mapping) as rule name -> parameters; a rule not named is disabled, an
    unknown one refused (a typo would leave a rule off unnoticed)."""
    spec = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    if not isinstance(spec, Mapping):
        raise ValueError('must be a JSON object of rule -> parameters, e.g. {"bank_fee": {"CAD": [1500]}}')
    unknown = [name for name in spec if name not in RULE_NAMES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; the rules are {', '.join(RULE_NAMES)}")
    params: dict[str, dict] = {}
    for name, p in spec.items():
        if p is not None and not isinstance(p, Mapping):
            raise ValueError(f"{name}: its parameters must be a JSON object")
        params[str(name)] = dict(p or {})
    fees = params.get("bank_fee", {})
    if not all(isinstance(v, list) and all(isinstance(f, int) and f > 0 for f in v) for v in fees.values()):
        raise ValueError('bank_fee takes each currency\'s fee amounts in minor units, e.g. {"CAD": [1500]}')
    return params
