"""Shadow rating: the price a session should have been billed (SOURCES.md §1), as pure functions.

No I/O. Integer minor units and Decimal only. Every intermediate step is kept on the returned
`Expected`. Errors are values (a `problem` string on the result), never exceptions half-way through.

The product rates in SQL only (revwatch/rules/shadow_rating.sql: the classify job and the billing
drill-down), where the local entry date is decided by PostgreSQL's `AT TIME ZONE`. This module is
the independent reference the tests hold that SQL to; its local day comes from Python's zoneinfo,
so a disagreement of the two tz databases shows up in the property tests. Tests only.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from revwatch.money import MoneyError, apply_rate, exponent

MINUTES_PER_DAY = 1440
_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Plan:
    """One row of `rate_plans` (of the session's site). effective_to is exclusive; None = open."""

    rate_plan_id: str
    effective_from: datetime
    effective_to: datetime | None
    grace_minutes: int
    increment_minutes: int
    increment_price_minor: int
    daily_max_minor: int | None


@dataclass(frozen=True)
class TaxRate:
    """One row of `tax_rates`. Dates are local dates; effective_to is exclusive; None = open."""

    jurisdiction: str
    rate: Decimal
    effective_from: date
    effective_to: date | None


@dataclass(frozen=True)
class Expected:
    """The shadow-rated price of one session, with every step. `problem` set = not ratable."""

    currency: str
    problem: str | None = None
    rate_plan_id: str | None = None
    minutes: int | None = None            # ceil(seconds / 60)
    grace_minutes: int | None = None
    within_grace: bool | None = None      # minutes <= grace: nothing to bill, no invoice expected
    billable: bool | None = None          # minutes > grace: one invoice expected
    full_days: int | None = None          # minutes // 1440
    remainder_minutes: int | None = None  # minutes % 1440
    blocks: int | None = None             # increments charged (of the remainder when capped daily)
    blocks_minor: int | None = None       # blocks * increment price (before the daily max)
    daily_max_minor: int | None = None
    subtotal_minor: int | None = None
    local_entry_date: date | None = None  # entered_at in the site's time zone
    tax_rate: Decimal | None = None
    tax_minor: int | None = None
    total_minor: int | None = None


def session_minutes(entered_at: datetime, exited_at: datetime) -> int:
    """ceil((exited_at - entered_at) / 60 s), exactly (microsecond precision, no float)."""
    micros = (exited_at - entered_at) // _MICROSECOND
    return -(-micros // 60_000_000)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plan_in_force(plans: Iterable[Plan], at: datetime) -> tuple[Plan | None, str | None]:
    """The plan with effective_from <= at < coalesce(effective_to, infinity), or a problem."""
    found = [p for p in plans if p.effective_from <= at and (p.effective_to is None or at < p.effective_to)]
    if not found:
        return None, f"no rate plan in force at {at.isoformat()}"
    if len(found) > 1:
        return None, f"{len(found)} rate plans in force at {at.isoformat()}: " + ", ".join(sorted(p.rate_plan_id for p in found))
    return found[0], None


def tax_rate_on(tax_rates: Iterable[TaxRate], day: date) -> tuple[TaxRate | None, str | None]:
    """The rate with effective_from <= day < coalesce(effective_to, infinity), or a problem."""
    found = [t for t in tax_rates if t.effective_from <= day and (t.effective_to is None or day < t.effective_to)]
    if not found:
        return None, f"no tax rate in force on {day.isoformat()}"
    if len(found) > 1:
        return None, f"{len(found)} tax rates in force on {day.isoformat()}"
    return found[0], None


def subtotal_for(minutes: int, plan: Plan) -> tuple[int, int, int]:
    """(blocks, blocks_minor, subtotal_minor) of a billable stay under `plan` (§1)."""
    if plan.daily_max_minor is None:
        blocks = ceil_div(minutes, plan.increment_minutes)
        blocks_minor = blocks * plan.increment_price_minor
        return blocks, blocks_minor, blocks_minor
    days, rem = divmod(minutes, MINUTES_PER_DAY)
    blocks = ceil_div(rem, plan.increment_minutes)
    blocks_minor = blocks * plan.increment_price_minor
    return blocks, blocks_minor, days * plan.daily_max_minor + min(plan.daily_max_minor, blocks_minor)


def rate_session(
    entered_at: datetime,
    exited_at: datetime | None,
    site_timezone: str,
    currency: str,
    plans: Iterable[Plan],
    tax_rates: Iterable[TaxRate],
) -> Expected:
    """Shadow-rate one session. `plans` are the site's plans, `tax_rates` its jurisdiction's."""
    try:
        exponent(currency)
    except MoneyError as e:
        return Expected(currency, problem=str(e))
    if exited_at is None:
        return Expected(currency, problem="session still open (no exited_at)")
    if entered_at.tzinfo is None or exited_at.tzinfo is None:
        return Expected(currency, problem="timestamps must be timezone-aware")
    if exited_at < entered_at:
        return Expected(currency, problem="exited before it entered")
    local_date: date | None
    try:
        local_date, zone_problem = entered_at.astimezone(ZoneInfo(site_timezone)).date(), None
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        # no local day: rated as far as the plan goes, no tax (as revwatch/rules/site_zones.sql)
        local_date, zone_problem = None, f'site timezone "{site_timezone}" is not a time zone'
    minutes = session_minutes(entered_at, exited_at)
    plan, problem = plan_in_force(plans, entered_at)
    if plan is None:
        return Expected(currency, problem=zone_problem or problem, minutes=minutes, local_entry_date=local_date)
    tax, tax_problem = tax_rate_on(tax_rates, local_date) if local_date is not None else (None, zone_problem)
    days, rem = divmod(minutes, MINUTES_PER_DAY)
    steps = Expected(
        currency, rate_plan_id=plan.rate_plan_id, minutes=minutes, grace_minutes=plan.grace_minutes,
        full_days=days, remainder_minutes=rem, daily_max_minor=plan.daily_max_minor,
        local_entry_date=local_date, tax_rate=tax.rate if tax is not None else None,
    )
    if minutes <= plan.grace_minutes:
        # Nothing to bill: the tax on a zero subtotal is zero whatever the rate (or its absence).
        within = replace(steps, within_grace=True, billable=False, blocks=0, blocks_minor=0, subtotal_minor=0)
        return replace(within, problem=zone_problem) if zone_problem else replace(within, tax_minor=0, total_minor=0)
    blocks, blocks_minor, subtotal = subtotal_for(minutes, plan)
    steps = replace(steps, within_grace=False, billable=True, blocks=blocks, blocks_minor=blocks_minor,
                    subtotal_minor=subtotal)
    if tax is None:
        return replace(steps, problem=tax_problem)
    tax_minor = apply_rate(subtotal, tax.rate)
    return replace(steps, tax_minor=tax_minor, total_minor=subtotal + tax_minor)
