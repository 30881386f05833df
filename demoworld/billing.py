"""Invoices as the billing service issued them, bugs included.

Billing prices each closed billable session with the shadow-rating arithmetic, but with the
plan and tax rate *it* looked up: the old plan at the old-price site for three days after
its change, the old rate in the missed-tax jurisdiction from the change date on. The gate
outage drops invoices; a retry bug issues duplicates; a few invoices are voided and
reissued. Sessions touched by one incident are never picked by a later one ("claimed").
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld import ids
from demoworld.incidents import IncidentPlan
from demoworld.localtime import day_number
from demoworld.params import DAY, Period
from demoworld.pricing import Rated, subtotal_of, tax_of
from demoworld.traffic import Sessions
from demoworld.world import Plans, Sites, TaxRates

NORMAL, VOIDED, REPLACEMENT, DUPLICATE = range(4)  # invoice kinds
VOID_SHARE = 0.002
DUPLICATE_SHARE = 0.10


class Billed(NamedTuple):
    """Per session: what billing charged, and which incident (if any) claimed the session."""

    subtotal: np.ndarray
    tax: np.ndarray
    old_price: np.ndarray  # bool: billed at the superseded plan
    missed_tax: np.ndarray  # bool: billed at the superseded tax rate
    outage: np.ndarray  # bool: exited while gate sync was down: never invoiced

    @property
    def claimed(self) -> np.ndarray:
        return self.old_price | self.missed_tax | self.outage


class Invoices(NamedTuple):
    """Sorted by issued_at. status and updated_at are settled later by the payments."""

    invoice_id: np.ndarray
    session: np.ndarray  # row in Sessions
    currency: np.ndarray  # index into CURRENCIES
    subtotal: np.ndarray
    tax: np.ndarray
    issued: np.ndarray
    kind: np.ndarray  # NORMAL, VOIDED, REPLACEMENT, DUPLICATE
    voided_at: np.ndarray  # for VOIDED, else -1

    @property
    def total(self) -> np.ndarray:
        return self.subtotal + self.tax


def bill(sessions: Sessions, sites: Sites, plans: Plans, taxes: TaxRates, rated: Rated,
         plan: IncidentPlan) -> Billed:
    site, entered = sessions.site, sessions.entered
    old_price = (rated.billable & (site == plan.old_price_site)
                 & (entered >= plan.plan_change_at) & (entered < plan.old_price_until))
    jur = np.array(sites.jurisdiction)[site]
    missed = (rated.billable & (jur == plan.missed_tax_jurisdiction)
              & (rated.local_day >= day_number(plan.missed_tax_on)))
    outage = (rated.billable & (site == plan.outage_site)
              & (sessions.exited >= plan.outage_start) & (sessions.exited < plan.outage_end))
    billed_plan = np.where(old_price, rated.plan - 1, rated.plan)  # plans sorted: previous row
    if old_price.any() and (plans.site[billed_plan[old_price]] != plan.old_price_site).any():
        raise AssertionError("old-price site has no earlier plan")
    rate = taxes.rate_micro[rated.tax_row]
    rate = np.where(missed, plan.missed_tax_old, rate)
    subtotal = np.where(rated.billable, subtotal_of(rated.minutes, billed_plan, plans), 0)
    return Billed(subtotal, tax_of(subtotal, rate), old_price, missed, outage & ~old_price & ~missed)


def issue(sessions: Sessions, sites: Sites, plans: Plans, taxes: TaxRates, rated: Rated, billed: Billed,
          plan: IncidentPlan, period: Period, currencies: tuple[str, ...],
          rng: np.random.Generator) -> tuple[Invoices, tuple[int, int]]:
    """The invoices, and the window [start, end) of issue times the duplicate bug hit."""
    site_cur = np.array([currencies.index(c) for c in sites.currency], dtype=np.int64)
    row = np.flatnonzero(rated.billable & ~billed.outage)
    lag = np.clip(rng.lognormal(np.log(40), 0.9, row.size), 3, 900).astype(np.int64)
    issued = np.minimum(sessions.exited[row] + lag, period.end)
    sub, tax = billed.subtotal[row], billed.tax[row]
    free = ~billed.claimed[row]

    # voided and reissued: the first invoice over-charged one increment, replaced in seconds
    void = free & (rng.random(row.size) < VOID_SHARE) & (issued <= period.end - 3600)
    v = np.flatnonzero(void)
    p = rated.plan[row[v]]
    v_sub = sub[v] + plans.price[p]
    v_tax = tax_of(v_sub, taxes.rate_micro[rated.tax_row[row[v]]])
    voided_at = issued[v] + rng.integers(5, 26, v.size)
    reissued = voided_at + rng.integers(1, 6, v.size)

    # duplicates: a retry bug re-issues some invoices of one day under a new id
    lo, hi = period.day(plan.duplicate_day), period.day(plan.duplicate_day) + DAY
    cand = np.flatnonzero(free & ~void & (issued >= lo) & (issued < hi))
    if not cand.size:  # a tiny world: the bug lasted until the end
        hi = period.end
        cand = np.flatnonzero(free & ~void & (issued >= lo) & (issued < hi))
    k = min(cand.size, max(1, round(DUPLICATE_SHARE * cand.size)))
    d = np.sort(rng.choice(cand, size=k, replace=False)) if k else cand[:0]
    dup_issued = np.minimum(issued[d] + rng.integers(20, 601, d.size), period.end)

    normal_issued = issued.copy()
    normal_issued[v] = reissued
    session = np.concatenate([row, row[v], row[d]])
    kind = np.concatenate([np.where(void, REPLACEMENT, NORMAL), np.full(v.size, VOIDED), np.full(d.size, DUPLICATE)])
    subtotal = np.concatenate([sub, v_sub, sub[d]])
    taxes_ = np.concatenate([tax, v_tax, tax[d]])
    issued_all = np.concatenate([normal_issued, issued[v], dup_issued])
    voided = np.concatenate([np.full(row.size, -1), voided_at, np.full(d.size, -1)])
    order = np.lexsort((kind, session, issued_all))
    n = order.size
    return (Invoices(
        invoice_id=ids.make_ids(rng, "inv_", n),
        session=session[order],
        currency=site_cur[sessions.site[session[order]]],
        subtotal=subtotal[order],
        tax=taxes_[order],
        issued=issued_all[order],
        kind=kind[order],
        voided_at=voided[order],
    ), (lo, hi))
