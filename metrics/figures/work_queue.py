"""The revenue work queue (issue 19): every open item that needs a person, whatever found it, in one list.

Open reconciliation breaks come from their workflow (recon_breaks, with four eyes); the rest from work_items,
which the work-queue job keeps (collectors/compute/work_queue.py). Each item has its type (revwatch/work_items.py:
team, what resolving it takes, service level), its money in its currency and in the reporting currency (each
currency's latest rate; None when it has none: shown as unknown, never as 0), of which what the customer was
wrongly charged or is owed (`customer_minor`) and what the company lost or has at risk (`company_minor`), when it
happened and when it was found, its due time by its service level, owner and state, and the id Trace opens.

`queue` is the one definition behind the page, `revwatch show queue`, /metrics and the alerts: sorted by due time
(none last), then money at stake in the reporting currency (unknown last), then age.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from metrics.figures.query import Db
from metrics.figures.reconciliation.scope import AT_STAKE, EXPONENTS, LATEST_RATES, exponent_params, frame, in_reporting
from revwatch import clock
from revwatch.money import exponent
from revwatch.recon_keys import REFS_SEP
from revwatch.work_items import BY_NAME, WORK_TYPES, ServiceLevel, due_at, service_levels

UNASSIGNED = "(unassigned)"  # the owner filter's name for items nobody owns yet
QUEUE_STATES = ("unassigned", "assigned", "awaiting_approval")  # an open item's state (approval: breaks only)

# what the auto-explain rules that group rather than resolve say of an open item (metrics/actions/auto_explain.py)
_EXPLAINED = """(SELECT string_agg(x.explanation, '; ' ORDER BY x.explanation_id) FROM auto_explanations x
                 WHERE x.work_type = {work_type} AND x.item_ref = {ref} AND x.undone_at IS NULL AND NOT x.resolved)"""

# one row per open item, breaks first; `item_ref` is what an action names: the break id or the work item id
_OPEN = f"""
    SELECT 'break' AS work_type, b.break_id AS item_ref, b.stage || ':' || b.item_key AS source_key, i.site_id,
           i.gateway, i.currency, {AT_STAKE} AS amount_minor, 0::bigint AS customer_minor,
           {AT_STAKE} AS company_minor, i.occurred_at, b.opened_at, NULL::timestamptz AS deadline,
           coalesce(nullif(split_part(coalesce(i.left_ref, ''), '{REFS_SEP}', 1), ''),
                    nullif(split_part(coalesce(i.right_ref, ''), '{REFS_SEP}', 1), ''),
                    split_part(b.item_key, ':', 2)) AS trace_id,
           b.assignee AS owner,
           EXISTS (SELECT 1 FROM recon_break_requests r WHERE r.break_id = b.break_id AND r.decision IS NULL)
             AS awaiting_approval,
           jsonb_build_object('stage', b.stage, 'break_type', i.break_type, 'missing_side', i.missing_side) AS detail,
           {_EXPLAINED.format(work_type="'break'", ref="b.break_id")} AS explained
    FROM recon_breaks b JOIN recon_items i ON i.stage = b.stage AND i.item_key = b.item_key
    WHERE b.state = 'open' AND 'break' = ANY(CAST(:types AS text[]))
    UNION ALL
    SELECT w.work_type, w.item_id, w.source_key, w.site_id, w.gateway, w.currency, w.amount_minor, w.customer_minor,
           w.company_minor, w.occurred_at, w.opened_at, w.deadline, w.trace_id, w.owner, false, w.detail,
           {_EXPLAINED.format(work_type="w.work_type", ref="w.item_id")}
    FROM work_items w
    WHERE w.state = 'open' AND w.work_type = ANY(CAST(:types AS text[]))"""

_QUEUE = f"""
    WITH {LATEST_RATES}, q AS ({_OPEN})
    SELECT q.*, {in_reporting("q.amount_minor", "q.currency")} AS amount_reporting_minor
    FROM q
    LEFT JOIN fx ON fx.currency = q.currency
    LEFT JOIN {EXPONENTS} ON ex.currency = q.currency
    WHERE (cardinality(CAST(:currencies AS text[])) = 0 OR q.currency = ANY(CAST(:currencies AS text[])))
      AND (cardinality(CAST(:site_ids AS text[])) = 0 OR q.site_id = ANY(CAST(:site_ids AS text[])))
      AND (cardinality(CAST(:owners AS text[])) = 0 OR coalesce(q.owner, :unassigned) = ANY(CAST(:owners AS text[])))"""

COLUMNS = ("work_type", "label", "team", "item_ref", "source_key", "state", "owner", "site_id", "gateway",
           "currency", "amount_minor", "amount_reporting_minor", "customer_minor", "company_minor", "occurred_at",
           "opened_at", "age_days", "deadline", "due_at", "time_left", "overdue", "trace_id", "action", "explained",
           "detail")

# what `revwatch show queue` prints of an item (money in minor units, times in UTC ISO 8601)
SHOW_COLUMNS = ("due_at", "overdue", "work_type", "currency", "amount_minor", "amount_reporting_minor",
                "reporting_currency", "customer_minor", "company_minor", "owner", "state", "team", "site_id",
                "opened_at", "age_days", "time_left_hours", "item_ref", "source_key", "trace_id", "action", "explained")


@dataclass(frozen=True)
class QueueFilters:
    """What a face narrows the queue to; empty = all. `owners` may name UNASSIGNED."""

    types: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()

    def work_types(self) -> list[str]:
        unknown = [t for t in self.types if t not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown work type(s) {', '.join(unknown)}; the work types are {', '.join(BY_NAME)}")
        teams = {t.team for t in WORK_TYPES}
        if set(self.teams) - teams:
            raise ValueError(f"unknown team(s) {', '.join(sorted(set(self.teams) - teams))}; the teams are"
                             f" {', '.join(sorted(teams))}")
        return [t.name for t in WORK_TYPES
                if (not self.types or t.name in self.types) and (not self.teams or t.team in self.teams)]


@dataclass(frozen=True)
class Queue:
    """The open items the filters select, sorted (all of them: a face that shows fewer says "first N of M")."""

    items: pd.DataFrame
    as_of: datetime
    reporting_currency: str

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def overdue(self) -> int:
        return int(self.items["overdue"].sum()) if len(self.items) else 0


def queue(db: Db, f: QueueFilters, levels: Mapping[str, ServiceLevel], reporting_currency: str,
          business_zone: str = "UTC", as_of: datetime | None = None) -> Queue:
    """Every open item `f` selects with its due time under `levels` (business days counted in `business_zone`)."""
    now = as_of or clock.now()
    params = {"types": f.work_types(), "currencies": list(f.currencies), "site_ids": list(f.site_ids),
              "owners": list(f.owners), "unassigned": UNASSIGNED, "as_of": now, "rep": reporting_currency,
              "rep_exp": exponent(reporting_currency), **exponent_params()}
    df = frame(db, _QUEUE, params)
    return Queue(with_service_levels(df, levels, ZoneInfo(business_zone), now), now, reporting_currency)


def configured_queue(db: Db, f: QueueFilters, cfg: Any, as_of: datetime | None = None) -> Queue:
    """`queue` under the settings every face shares: WORK_SLAS, REPORTING_CURRENCY, business days counted in
    REPORT_TIMEZONE (the office's zone)."""
    return queue(db, f, service_levels(cfg.work_slas), cfg.reporting_currency, cfg.report_timezone, as_of)


def with_service_levels(df: pd.DataFrame, levels: Mapping[str, ServiceLevel], zone: ZoneInfo,
                        now: datetime) -> pd.DataFrame:
    """The read rows with each type's label, team and action, the due time, time left, overdue, age; sorted."""
    types = df["work_type"] if len(df) else pd.Series([], dtype=object)
    due = [due_at(levels[t], opened.astimezone(zone), None if pd.isna(deadline) else deadline)
           for t, opened, deadline in zip(types, df.get("opened_at", []), df.get("deadline", []), strict=True)]
    out = df.assign(
        label=[BY_NAME[t].label for t in types], team=[BY_NAME[t].team for t in types],
        action=[BY_NAME[t].action for t in types],
        state=["awaiting_approval" if a else "assigned" if isinstance(o, str) else "unassigned"
               for a, o in zip(df.get("awaiting_approval", []), df.get("owner", []), strict=True)],
        due_at=pd.Series(due, index=df.index, dtype=object),
        age_days=[max(0, (now - opened) // timedelta(days=1)) for opened in df.get("opened_at", [])],
    )
    out["time_left"] = pd.Series([None if d is None else d - now for d in due], index=df.index, dtype=object)
    out["overdue"] = pd.Series([d is not None and d < now for d in due], index=df.index, dtype=bool)
    keys = [_sort_key(*row) for row in zip(due, out["amount_reporting_minor"].tolist(), out["opened_at"].tolist(),
                                            out["work_type"].tolist(), out["source_key"].tolist(), strict=True)]
    order = sorted(range(len(out)), key=keys.__getitem__)
    return out.iloc[order].reset_index(drop=True).reindex(columns=list(COLUMNS))


def _sort_key(due, money, opened, work_type: str, source_key: str) -> tuple:
    """By due time (none last), then money at stake in the reporting currency (unknown last), then age, then key."""
    unknown_money = money is pd.NA or money is None
    return (due is None, due or opened, unknown_money, 0 if unknown_money else -int(money), opened, work_type,
            str(source_key))


@dataclass(frozen=True)
class TypeCounts:
    """Per work type: open items, how many are past their due time, the oldest one's age (None: no open item)."""

    work_type: str
    open: int
    assigned: int
    overdue: int
    oldest_age: timedelta | None


def counts_by_type(q: Queue, types: Sequence[str] = tuple(BY_NAME)) -> list[TypeCounts]:
    """Every type in `types`, none left out for having no items (a type with none is a known zero)."""
    df = q.items
    out = []
    for t in types:
        mine = df[df["work_type"] == t] if len(df) else df
        oldest = max(timedelta(0), q.as_of - min(mine["opened_at"])) if len(mine) else None
        out.append(TypeCounts(t, len(mine), int(mine["owner"].notna().sum()) if len(mine) else 0,
                              int(mine["overdue"].sum()) if len(mine) else 0, oldest))
    return out
