"""What every reconciliation figure shares: the vocabulary (stages, statuses, break types and
states), the filters a face passes, and the SQL that says what an open break and its money at
stake are, so the funnel, the break list, the month close and the exporter count alike."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from metrics.figures.query import Db, read_rows
from revwatch.money import CURRENCY_EXPONENTS
from revwatch.recon_keys import ITEM_TYPES

STAGES = ("S1", "S2", "S3", "S4")
STAGE_LABELS = {"S1": "S1 billing ↔ gateway", "S2": "S2 gateway ↔ payout", "S3": "S3 payout ↔ bank",
                "S4": "S4 ledger"}
SIDES = {"S1": ("billing", "gateway"), "S2": ("gateway", "payout"), "S3": ("payout", "bank"),
         "S4": ("product", "ledger")}
STATUSES = ("matched", "expected", "break")
BREAK_STATES = ("open", "resolved", "written_off", "cleared")
AGE_BUCKETS = ("0–7", "8–30", "31–60", ">60")
SORTS = ("amount", "age")
RECON_JOB = "reconcile"

# An item's money at stake, and the workflow class of an item: matched, expected, or a break
# that is open, resolved or written off (a break with no workflow row yet counts as open).
AT_STAKE = "abs(coalesce(i.break_amount_minor, i.amount_minor))"
CLASS = """CASE WHEN i.status = 'matched' THEN 'matched' WHEN i.status = 'expected' THEN 'expected'
                WHEN b.state = 'resolved' THEN 'resolved' WHEN b.state = 'written_off' THEN 'written_off'
                ELSE 'open' END"""
BREAK_JOIN = "LEFT JOIN recon_breaks b ON i.status = 'break' AND b.stage = i.stage AND b.item_key = i.item_key"
OPEN = f"i.status = 'break' AND {CLASS} = 'open'"
AGE = "greatest(0, floor(extract(epoch FROM (CAST(:as_of AS timestamptz) - i.occurred_at)) / 86400))::int"
def item_scope(alias: str = "i") -> str:
    """The filters' stages, currencies, gateways and sites over the items (or their month counts) `alias`."""
    return f"""
    (cardinality(CAST(:stages AS text[])) = 0 OR {alias}.stage = ANY(CAST(:stages AS text[])))
    AND (cardinality(CAST(:currencies AS text[])) = 0 OR {alias}.currency = ANY(CAST(:currencies AS text[])))
    AND (cardinality(CAST(:gateways AS text[])) = 0 OR {alias}.gateway = ANY(CAST(:gateways AS text[])))
    AND (cardinality(CAST(:site_ids AS text[])) = 0 OR {alias}.site_id = ANY(CAST(:site_ids AS text[])))"""


ITEM_SCOPE = item_scope()
# the currencies' minor-unit exponents as a relation, for per-currency thresholds and conversion
EXPONENTS = "unnest(CAST(:cur_codes AS text[]), CAST(:cur_exps AS int[])) AS ex(currency, exp)"
# each currency's latest rate to the reporting currency on or before :as_of (a CTE), and an item's money at stake
# converted with it into :rep's minor units (:rep_exp); NULL when its currency has no rate yet
LATEST_RATES = """fx AS (
        SELECT DISTINCT ON (currency) currency, rate_to_reporting AS rate FROM fx_rates
        WHERE rate_date <= CAST(:as_of AS timestamptz)::date ORDER BY currency, rate_date DESC)"""


def in_reporting(minor: str, currency: str) -> str:
    """SQL: the money `minor` in `currency` converted into the reporting currency's minor units (NULL: no rate),
    over the `fx` CTE of LATEST_RATES and the `ex` relation of EXPONENTS joined on that currency."""
    return f"""CASE WHEN {currency} = :rep THEN {minor}
         WHEN fx.rate IS NOT NULL AND ex.exp IS NOT NULL
         THEN round({minor} * fx.rate * power(10::numeric, CAST(:rep_exp AS int) - ex.exp))::bigint END"""


AT_STAKE_REPORTING = in_reporting(AT_STAKE, "i.currency")


def frame(db: Db, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """A read as a DataFrame whose money columns (`*_minor`) are exact nullable integers (Int64),
    never floats, even with NULLs among them."""
    cols, rows = read_rows(db, sql, params)
    df = pd.DataFrame(rows, columns=cols)
    for i, c in enumerate(cols):
        if c.endswith("_minor"):
            df[c] = pd.array([r[i] for r in rows], dtype="Int64")
    return df


def exponent_params() -> dict[str, Any]:
    """The bound parameters EXPONENTS reads."""
    return {"cur_codes": list(CURRENCY_EXPONENTS), "cur_exps": list(CURRENCY_EXPONENTS.values())}


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


@dataclass(frozen=True)
class ReconFilters:
    """Accounting months (first days, both ends included) and optional stage, currency, gateway
    and site lists (empty = all; an item without a gateway or site only passes when that list is empty)."""

    first_month: date
    last_month: date
    stages: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_month", month_start(self.first_month))
        object.__setattr__(self, "last_month", month_start(self.last_month))
        if self.last_month < self.first_month:
            raise ValueError(f"last month {self.last_month} is before first month {self.first_month}")
        for name in ("stages", "currencies", "gateways", "site_ids"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name))))

    def params(self) -> dict[str, Any]:
        return {"m0": self.first_month, "m1": self.last_month, "stages": list(self.stages),
                "currencies": list(self.currencies), "gateways": list(self.gateways), "site_ids": list(self.site_ids)}


@dataclass(frozen=True)
class BreakFilters:
    """What the break list shows. `states` default open; `min_amount` is in major units of each
    break's own currency (money at stake); ages are whole days from the item's occurred_at to `as_of`.
    No month bound (None) means every accounting month: the alerts count open breaks of all months."""

    stages: tuple[str, ...] = ()
    break_types: tuple[str, ...] = ()
    states: tuple[str, ...] = ("open",)
    currencies: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()
    item_types: tuple[str, ...] = ()
    min_amount: Decimal | None = None
    min_age_days: int | None = None
    max_age_days: int | None = None
    first_month: date | None = None
    last_month: date | None = None
    sort: str = "amount"
    limit: int | None = 500  # None: every break
    awaiting_approval: bool = False  # only breaks with a resolution waiting for a controller (four eyes)

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"cannot sort breaks by {self.sort!r}; one of {SORTS}")
        bad = set(self.states) - set(BREAK_STATES)
        if bad:
            raise ValueError(f"unknown break states {sorted(bad)}; known {BREAK_STATES}")
        unknown = set(self.item_types) - set(ITEM_TYPES)
        if unknown:
            raise ValueError(f"unknown item types {sorted(unknown)}; known {ITEM_TYPES}")
        for name in ("stages", "break_types", "states", "currencies", "gateways", "site_ids", "item_types"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name))))
        if self.min_amount is not None:
            if isinstance(self.min_amount, float):
                raise ValueError("min_amount must be a Decimal or an int, not a float")
            object.__setattr__(self, "min_amount", Decimal(self.min_amount))

    @classmethod
    def of(cls, f: ReconFilters | None, every_month: bool = False, **more: Any) -> BreakFilters:
        """Break filters carrying a page's stage, currency, gateway, site and (unless `every_month`) month choices."""
        if f is None:
            return cls(**more)
        return cls(stages=f.stages, currencies=f.currencies, gateways=f.gateways, site_ids=f.site_ids,
                   first_month=None if every_month else f.first_month,
                   last_month=None if every_month else f.last_month, **more)

    def params(self) -> dict[str, Any]:
        """The bound parameters of the break list's WHERE clause."""
        return {"states": list(self.states) or list(BREAK_STATES), "stages": list(self.stages),
                "break_types": list(self.break_types), "item_types": list(self.item_types),
                "currencies": list(self.currencies), "gateways": list(self.gateways), "site_ids": list(self.site_ids),
                "awaiting": self.awaiting_approval,
                "m0": month_start(self.first_month) if self.first_month else None,
                "m1": month_start(self.last_month) if self.last_month else None,
                "min_amount": self.min_amount, "min_age": self.min_age_days, "max_age": self.max_age_days,
                "limit": self.limit}
