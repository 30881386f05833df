"""Where and when the injected incidents happen (the billing ones; the gateway side adds its own).

The incidents are kept apart in time, in a fixed order, so that they never share a session
even when a small world must reuse one site for several of them:

    outage day  <  old-price window (3 days)  <=  missed tax date  (then until the end)
    issuer-decline spike day  <  processing-error spike day  <  duplicate-invoice day  <  unknown-attempt day

(each payment incident takes whole UTC hours, the busiest of its day; the timeouts those of their
day or the next, so a weekend evening does not leave an hour of them nearly empty).

The gateway-side incidents (gateway_incidents.py) pick attempts no other incident touched: disputes
(a surge at one site over two days), successes billing recorded as failures, and charges the
gateway made with no attempt behind them.

Where the world has enough sites, each site-bound incident gets its own site, and the
missed tax change a jurisdiction holding neither. Later incidents also skip every session
an earlier one claimed (billing.py), so each ground truth stays exact. Tiny worlds get
fallbacks, each named where it happens (a whole-day outage, the duplicate day moved first
when one jurisdiction holds every site, ...), so every incident still has rows.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from demoworld.localtime import epoch_day, local_midnight
from demoworld.params import Period
from demoworld.world import CITIES, GATEWAYS, Sites

OLD_PRICE_DAYS = 3
OUTAGE_HOURS = (9, 17)  # site-local wall clock
MISSED_TAX_STEP = 5_000  # +0.5 percentage point, in millionths
APPLIED_TAX_STEP = 2_500
SPIKE_HOURS = 2
UNKNOWN_HOURS = 3
DECLINE_HOURS = 3
DECLINE_BRANDS = (0, 1)  # visa, mastercard: brands every currency has
SURGE_DAYS = 2
PLAN_CHANGE_SHARE = 0.25


class IncidentPlan(NamedTuple):
    old_price_site: int
    plan_change_at: int  # the new plan's effective_from (UTC epoch s)
    old_price_until: int  # end of the window billed at the old plan
    outage_site: int
    outage_start: int
    outage_end: int
    missed_tax_jurisdiction: str
    missed_tax_on: date  # local date the (missed) new rate takes effect
    missed_tax_old: int
    missed_tax_new: int
    applied_tax_jurisdiction: str | None  # a change billing applies correctly
    applied_tax_on: date | None
    applied_tax_new: int
    spike_day: int  # period day index (UTC days from period start)
    spike_gateway: int
    duplicate_day: int
    unknown_day: int
    unknown_gateway: int
    decline_day: int  # issuer-decline spike on one card brand, both gateways
    decline_brand: int  # index into payments.BRANDS
    surge_site: int  # dispute surge
    surge_start: int  # disputes opened in [surge_start, surge_start + SURGE_DAYS days)


def _at(zone: str, day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone)).timestamp())


def plan_incidents(sites: Sites, period: Period, rng: np.random.Generator) -> IncidentPlan:
    days = period.days
    outage_day = max(1, days * 15 // 100)
    change_day = max(outage_day + 1, days * 25 // 100)
    tax_day = max(change_day + OLD_PRICE_DAYS, days * 50 // 100)
    applied_day = days * 35 // 100
    spike_day = days * 60 // 100
    duplicate_day = max(spike_day + 1, days * 72 // 100)
    unknown_day = max(duplicate_day + 1, days * 85 // 100)
    assert unknown_day < days and tax_day < days

    by_size = [int(s) for s in np.argsort(-sites.size, kind="stable")]
    a = by_size[0]
    o = next((s for s in by_size if s != a), a)
    jur = sites.jurisdiction
    weight: dict[str, float] = {}
    for s in by_size:
        weight[jur[s]] = weight.get(jur[s], 0.0) + float(sites.size[s])
    ranked = sorted(weight, key=lambda j: (-weight[j], j))
    free = [j for j in ranked if j not in (jur[a], jur[o])]
    missed = free[0] if free else ranked[0]
    applied = next((j for j in ranked if j != missed), None)

    def tz_of(j: str) -> str:
        return next(c.timezone for c in CITIES if c.jurisdiction == j)

    def rate_of(j: str) -> int:
        return next(c.tax_micro for c in CITIES if c.jurisdiction == j)

    if all(j == missed for j in jur):
        duplicate_day = 0  # every session after the tax date is claimed: duplicate before it
    tz_a, tz_o = sites.timezone[a], sites.timezone[o]
    change_date = epoch_day(period.day(change_day), tz_a)
    outage_date = epoch_day(period.day(outage_day), tz_o)
    missed_on = epoch_day(period.day(tax_day), tz_of(missed))
    # a DST change can map two period days to one local date: keep the order strict
    if o == a and outage_date >= change_date:
        outage_date = change_date - timedelta(days=1)
    if missed == jur[a]:
        missed_on = max(missed_on, change_date + timedelta(days=OLD_PRICE_DAYS))
    if missed == jur[o]:
        missed_on = max(missed_on, outage_date + timedelta(days=1))
    spike_gateway = int(rng.integers(0, len(GATEWAYS)))
    decline_brand = int(DECLINE_BRANDS[int(rng.integers(0, len(DECLINE_BRANDS)))])
    # the decline spike gets a day of its own, before the processing-error spike
    decline_day = days * 45 // 100
    if decline_day in (spike_day, duplicate_day, unknown_day):
        decline_day = spike_day - 1
    # the dispute surge: a site of its own where there is one, disputes opened over two days
    # that end two days before the end of the world (so every Adyen batch holding them is closed)
    surge_site = next((s for s in by_size[2:] if jur[s] != missed), by_size[-1])
    surge_day = min(days * 75 // 100, days - 2 - SURGE_DAYS)
    return IncidentPlan(
        old_price_site=a,
        plan_change_at=local_midnight(tz_a, change_date),
        old_price_until=local_midnight(tz_a, change_date + timedelta(days=OLD_PRICE_DAYS)),
        outage_site=o,
        outage_start=_at(tz_o, outage_date, OUTAGE_HOURS[0]),
        outage_end=_at(tz_o, outage_date, OUTAGE_HOURS[1]),
        missed_tax_jurisdiction=missed,
        missed_tax_on=missed_on,
        missed_tax_old=rate_of(missed),
        missed_tax_new=rate_of(missed) + MISSED_TAX_STEP,
        applied_tax_jurisdiction=applied,
        applied_tax_on=epoch_day(period.day(applied_day), tz_of(applied)) if applied else None,
        applied_tax_new=rate_of(applied) + APPLIED_TAX_STEP if applied else 0,
        spike_day=spike_day,
        spike_gateway=spike_gateway,
        duplicate_day=duplicate_day,
        unknown_day=unknown_day,
        unknown_gateway=1 - spike_gateway,
        decline_day=decline_day,
        decline_brand=decline_brand,
        surge_site=surge_site,
        surge_start=period.day(surge_day),
    )


def widen_outage(plan: IncidentPlan, site: np.ndarray, exited: np.ndarray, billable: np.ndarray,
                 sites: Sites, period: Period) -> IncidentPlan:
    """A tiny world may have no exit at the outage site during the usual hours: then the
    gate sync was down a whole local day, an earlier one if need be, or at another site;
    always before the old-price window and the missed tax date."""

    def exits(s: int, start: int, end: int) -> bool:
        return bool((billable & (site == s) & (exited >= start) & (exited < end)).any())

    if exits(plan.outage_site, plan.outage_start, plan.outage_end):
        return plan
    by_size = [int(s) for s in np.argsort(-sites.size, kind="stable")]
    for s in [plan.outage_site] + [s for s in by_size if s != plan.outage_site]:
        zone = sites.timezone[s]
        day = epoch_day(plan.outage_start, zone)
        while local_midnight(zone, day) >= period.start - 86_400:
            start, end = local_midnight(zone, day), local_midnight(zone, day + timedelta(days=1))
            if end <= plan.plan_change_at and exits(s, start, end):
                return plan._replace(outage_site=s, outage_start=start, outage_end=end)
            day -= timedelta(days=1)
    return plan


def plan_changes(sites: Sites, period: Period, plan: IncidentPlan, rng: np.random.Generator) -> dict[int, int]:
    """Site -> instant of a mid-period plan change (local midnight): the old-price site, and
    about a quarter of all sites in total."""
    changes = {plan.old_price_site: plan.plan_change_at}
    n = len(sites.site_id)
    day = rng.integers(max(1, period.days // 10), max(2, period.days * 9 // 10), n)
    pick = rng.random(n) < PLAN_CHANGE_SHARE
    for i in np.flatnonzero(pick):
        s = int(i)
        if s not in changes:
            tz = sites.timezone[s]
            changes[s] = local_midnight(tz, epoch_day(period.day(int(day[s])), tz))
    return changes


def tax_changes(plan: IncidentPlan) -> dict[str, tuple[date, int]]:
    out = {plan.missed_tax_jurisdiction: (plan.missed_tax_on, plan.missed_tax_new)}
    if plan.applied_tax_jurisdiction and plan.applied_tax_on is not None:  # set together
        out[plan.applied_tax_jurisdiction] = (plan.applied_tax_on, plan.applied_tax_new)
    return out
