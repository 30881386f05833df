"""Shadow rating of SOURCES.md §1, vectorised: the price each session should have been billed.

The same functions price what billing actually charged (given the plan and tax rate billing
used), so an incident is only ever a different plan or rate fed into the same arithmetic.
All integer; tax uses the rate in millionths, so `round_half_up(subtotal * rate)` is exact.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld.localtime import Clock, local_day
from demoworld.traffic import Sessions
from demoworld.world import NULL, Plans, Sites, TaxRates

MINUTES_PER_DAY = 1440
_KEY = np.int64(1) << 40


class Rated(NamedTuple):
    """Per session. Parked sessions: minutes 0, not billable, amounts 0."""

    minutes: np.ndarray
    plan: np.ndarray  # row of Plans in force at entry
    local_day: np.ndarray  # entry date in the site's time zone (day number)
    tax_row: np.ndarray  # row of TaxRates in force on that date
    billable: np.ndarray  # closed and minutes > grace
    subtotal: np.ndarray
    tax: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.subtotal + self.tax


def plan_at(plans: Plans, site: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row of the plan with effective_from <= t < effective_to at each site."""
    row = np.searchsorted(plans.site * _KEY + plans.effective_from, site * _KEY + t, side="right") - 1
    if (row < 0).any() or (plans.site[row] != site).any():
        raise ValueError("a session has no rate plan in force")
    return row


def tax_row_on(taxes: TaxRates, sites: Sites, site: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Row of the site's jurisdiction rate effective on local date `day`."""
    names = sorted(set(taxes.jurisdiction))
    row_j = np.array([names.index(j) for j in taxes.jurisdiction], dtype=np.int64)
    site_j = np.array([names.index(j) for j in sites.jurisdiction], dtype=np.int64)[site]
    row = np.searchsorted(row_j * _KEY + taxes.effective_from, site_j * _KEY + day, side="right") - 1
    to = taxes.effective_to[row]
    if (row < 0).any() or (row_j[row] != site_j).any() or ((to != NULL) & (day >= to)).any():
        raise ValueError("a session has no tax rate in force")
    return row


def minutes_of(entered: np.ndarray, exited: np.ndarray) -> np.ndarray:
    """ceil((exited - entered) / 60 s) with whole-second timestamps."""
    return -(-(exited - entered) // 60)


def subtotal_of(minutes: np.ndarray, plan: np.ndarray, plans: Plans) -> np.ndarray:
    """blocks(m) = ceil(m / increment) * price; with a daily max D:
    floor(m / 1440) * D + min(D, blocks(m mod 1440))."""
    inc, price, cap = plans.increment[plan], plans.price[plan], plans.daily_max[plan]
    plain = -(-minutes // inc) * price
    rest = minutes % MINUTES_PER_DAY
    capped = minutes // MINUTES_PER_DAY * cap + np.minimum(cap, -(-rest // inc) * price)
    return np.where(cap == NULL, plain, capped)


def tax_of(subtotal: np.ndarray, rate_micro: np.ndarray) -> np.ndarray:
    """round_half_up(subtotal * rate) for non-negative subtotals, rate in millionths."""
    if (subtotal < 0).any():
        raise ValueError("negative subtotal")
    return (subtotal * rate_micro + 500_000) // 1_000_000


def shadow_rate(sessions: Sessions, sites: Sites, plans: Plans, taxes: TaxRates, clock: Clock) -> Rated:
    closed = sessions.closed
    minutes = np.where(closed, minutes_of(sessions.entered, sessions.exited), 0)
    plan = plan_at(plans, sessions.site, sessions.entered)
    day = local_day(clock, sites.zone[sessions.site], sessions.entered)
    tax_row = tax_row_on(taxes, sites, sessions.site, day)
    billable = closed & (minutes > plans.grace[plan])
    subtotal = np.where(billable, subtotal_of(minutes, plan, plans), 0)
    tax = tax_of(subtotal, taxes.rate_micro[tax_row])
    return Rated(minutes, plan, day, tax_row, billable, subtotal, tax)
