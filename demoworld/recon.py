"""Which payout, refund, site-day and rate the eight reconciliation incidents take.

Pure numpy, no I/O; bank.py, ledger.py and fx.py apply the picks, manifest_recon.py states them.
Each pick prefers the middle third of the world (so every timing window has passed) and
falls back to the nearest day outside it only when a small world has nothing there:

1. payout_missing_in_bank: a paid Stripe payout with a bank day never reaches the bank
   (its journal is booked as usual).
2. deposit_short_bank_fee: another payout's credit arrives short by BANK_FEE minor units.
3. bank_credit_without_reference: another payout's credit text carries no reference
   (`STRIPE TRANSFER` / `ADYEN TRANSFER`); its amount is unique among the payouts of its
   currency within five days either side, so amount and date still match it.
4. payout_booked_twice: one payout's journal is posted again a day later under a new id.
5. refund_not_booked: one succeeded refund has no journal.
6. revenue_day_missing: one site's local day of revenue has no journal.
7. fx_rate_missing: one day's rate of one non-reporting currency is left out of the file.
8. payout_short_of_entries (S2): a fifth paid Stripe payout pays out less than the nets of the
   entries it lists, by one of its charges (stripe_objects.short_payout applies it).

Payouts 1-4 and 8 are five different payouts, none the failed Stripe payout, the payout that carries
its amount back, or the batch of the malformed Adyen file (8 is picked last, where the world has one
left); 1-3 arrive on different (currency, bank day)s where the world allows. The refund and the site-day are outside every other
incident (claimed or duplicated sessions, incident windows and sites, gateway incidents) where
the world has such (a one-site world may have none: then the nearest to the middle), the
refund is not on the missing site-day, and the FX date is none of the other picks' days.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld.billing import DUPLICATE
from demoworld.gateways import C_CHARGE
from demoworld.ledger import SUCCEEDED, Revenue, invoice_local_days
from demoworld.localtime import local_day
from demoworld.params import DAY, stream
from demoworld.payments import ADYEN, STRIPE
from demoworld.transfers import FAILED, PAID, Calendar, Transfers

BANK_FEE = 1500  # minor units a bank keeps from the short deposit
UNIQUE_DAYS = 5  # the unreferenced credit's amount is unique this many days either side
REPORTING_CURRENCY = "USD"


class ReconPlan(NamedTuple):
    missing: int  # row in Transfers (1), -1 = none
    short: int  # row in Transfers (2)
    bank_fee: int
    unreferenced: int  # row in Transfers (3)
    twice: int  # row in Transfers (4)
    refund: int  # row in Refunds (5)
    revenue: int  # row in ledger.Revenue (6)
    fx_currency: int  # index into the world's currencies (7), -1 = none
    fx_day: int  # UTC midnight
    short_of_entries: int = -1  # row in Transfers of the Stripe payout short of its entries' nets (S2), -1 = none
    short_entry: int = -1  # row in the Stripe balance transactions: the charge listed with it, not paid


def _ranked(rng, when: np.ndarray, ok: np.ndarray, lo: int, hi: int, prefer: np.ndarray | None = None) -> list[int]:
    """Rows where `ok`: those with `when` in [lo, hi) first (preferred ones first, each group
    in seeded random order), then the others nearest the middle first."""
    rows = np.flatnonzero(ok)
    pref = np.ones(rows.size, dtype=bool) if prefer is None else prefer[rows]
    inside = (when[rows] >= lo) & (when[rows] < hi)
    out = []
    for m in (inside & pref, inside & ~pref):
        out.extend(rng.permutation(rows[m]).tolist())
    mid = (lo + hi) // 2
    for m in (~inside & pref, ~inside & ~pref):
        r = rows[m]
        out.extend(r[np.argsort(np.abs(when[r] - mid), kind="stable")].tolist())
    return out


def _touched_site_days(w, g) -> np.ndarray:
    """Keys site << 20 | local day of every site-day another incident touches."""
    inv, a, s = w.invoices, w.attempts, w.sites
    site = w.sessions.site[inv.session]
    lday = invoice_local_days(w)
    bad = w.billed.claimed[inv.session] | np.isin(inv.session, inv.session[inv.kind == DUPLICATE])
    att = np.zeros(a.invoice.size, dtype=bool)
    for win in (w.spike, w.unknown):
        att |= (a.gateway == win.gateway) & (a.attempted >= win.start) & (a.attempted < win.end)
    att |= (a.attempted >= w.decline.start) & (a.attempted < w.decline.end)
    inc = g.incidents
    att[inc.unrecorded] = att[inc.double_of] = att[inc.dispute_attempt] = True
    bad[a.invoice[att]] = True
    keys = [(site[bad].astype(np.int64) << 20) | lday[bad]]
    nsites = len(s.site_id)
    p = w.plan

    def window(sites_, start: int, end: int):
        for x in sites_:
            z = np.array([s.zone[x]])
            d0 = int(local_day(w.clock, z, np.array([start]))[0])
            d1 = int(local_day(w.clock, z, np.array([max(start, end - 1)]))[0])
            keys.append(np.array([(x << 20) | d for d in range(d0, d1 + 1)], dtype=np.int64))

    every = range(nsites)
    window(every, w.spike.start, w.spike.end)
    window(every, w.unknown.start, w.unknown.end)
    window(every, w.decline.start, w.decline.end)
    window([p.outage_site], p.outage_start, p.outage_end)
    window([p.old_price_site], p.plan_change_at, p.old_price_until)
    window([p.surge_site], *inc.surge_window)
    return np.unique(np.concatenate(keys))


def _unique_amount(t: Transfers) -> np.ndarray:
    """Payouts whose amount no other payout of the currency has within UNIQUE_DAYS days."""
    same = ((t.currency[:, None] == t.currency[None, :]) & (t.amount[:, None] == t.amount[None, :])
            & (np.abs(t.bank_day[:, None] - t.bank_day[None, :]) <= UNIQUE_DAYS * DAY))
    return same.sum(axis=1) == 1


def _short_of_entries(rng, g, t: Transfers, ok: np.ndarray, prefer: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """The payout short of its entries (S2) and the charge it does not pay: a Stripe payout where `ok`
    (in [lo, hi) and `prefer`red first), one of its charges whose net leaves it positive and its amount
    unique among the payouts of its currency within UNIQUE_DAYS days (so the bank still matches it
    alone); (-1, -1) when the world has none."""
    tx = g.txns
    charges = np.flatnonzero((tx.category == C_CHARGE) & (tx.payout != b""))
    net = tx.amount[charges] - tx.fee[charges]
    for r in _ranked(rng, t.bank_day, ok, lo, hi, prefer):
        mine = np.flatnonzero((tx.payout[charges] == t.payout_id[r]) & (net < t.amount[r]))
        near = (t.currency == t.currency[r]) & (np.abs(t.bank_day - t.bank_day[r]) <= UNIQUE_DAYS * DAY)
        free = [int(charges[k]) for k in rng.permutation(mine) if not (near & (t.amount == t.amount[r] - net[k])).any()]
        if free:
            return int(r), free[0]
    return -1, -1


# Every incident must be a break, not "expected", by the time the world ends: its other side's
# window must be over at reconciliation's defaults (RECON_BANK_BUSINESS_DAYS 2: four calendar days
# over a weekend; RECON_LEDGER_DAYS 5).
BANK_WINDOW = 4 * DAY
LEDGER_WINDOW = 5 * DAY


def plan(w, g, t: Transfers, rev: Revenue, cal: Calendar, seed: int) -> ReconPlan:
    rng = stream(seed, "recon")
    period = w.period
    lo, hi = period.start + period.days * DAY // 3, period.start + 2 * period.days * DAY // 3

    # --- payouts
    base = t.arrives(cal) & t.booked(cal) & ~t.carrier & (t.status == PAID) & (t.batch != g.malformed.batch)
    taken: list[int] = []
    days_used: set[tuple[int, int]] = set()

    def pick(ok: np.ndarray, prefer: np.ndarray | None, distinct_day: bool = True) -> int:
        ok = ok.copy()
        ok[taken] = False
        ranked = _ranked(rng, t.bank_day, ok, lo, hi, prefer)
        for strict in ((True, False) if distinct_day else (False,)):
            for r in ranked:
                if strict and (int(t.currency[r]), int(t.bank_day[r])) in days_used:
                    continue
                taken.append(r)
                days_used.add((int(t.currency[r]), int(t.bank_day[r])))
                return r
        return -1

    stripe, adyen = t.gateway == STRIPE, t.gateway == ADYEN
    unreferenced = pick(base & _unique_amount(t), stripe)
    # (a world too short for a window to pass still gets its incident, possibly still expected)
    missing = pick(base & stripe & (t.bank_day + BANK_WINDOW <= cal.last_export_day), None)
    if missing < 0:
        missing = pick(base & stripe, None)
    short = pick(base & (t.amount > 10 * BANK_FEE), adyen)
    twice = pick(base & (t.bank_day + DAY <= cal.last_export_day), adyen, distinct_day=False)
    # (S2 judges any payout paid out; one the bank and the ledger have too is preferred: they then match it)
    free = stripe & ~t.carrier & (t.status != FAILED) & ~np.isin(np.arange(t.amount.size), taken)
    short_of_entries, short_entry = _short_of_entries(rng, g, t, free, base, lo, hi)

    # --- the revenue site-day, then a refund off it
    # (a world whose every site-day some incident touches, e.g. one site, takes the nearest one)
    touched = _touched_site_days(w, g)
    rkey = (rev.site.astype(np.int64) << 20) | rev.local_day
    free = ~np.isin(rkey, touched)
    posted_in_time = rev.local_day * DAY + DAY + LEDGER_WINDOW <= cal.last_export_day
    ranked = (_ranked(rng, rev.local_day * DAY, free & posted_in_time, lo, hi)
              or _ranked(rng, rev.local_day * DAY, ~free & posted_in_time, lo, hi)
              or _ranked(rng, rev.local_day * DAY, free, lo, hi) or _ranked(rng, rev.local_day * DAY, ~free, lo, hi))
    revenue = ranked[0] if ranked else -1

    rf = w.refunds
    post = rf.created // DAY * DAY + DAY
    r_site = w.sessions.site[w.invoices.session[rf.invoice]]
    r_key = (r_site.astype(np.int64) << 20) | invoice_local_days(w)[rf.invoice]
    due = (rf.status == SUCCEEDED) & (post <= cal.last_export_day)
    settled = post + LEDGER_WINDOW <= cal.last_export_day
    if revenue >= 0:
        due &= r_key != rkey[revenue]
    free = ~np.isin(r_key, touched)
    ranked = (_ranked(rng, post, due & settled & free, lo, hi) or _ranked(rng, post, due & settled & ~free, lo, hi)
              or _ranked(rng, post, due & free, lo, hi) or _ranked(rng, post, due & ~free, lo, hi))
    refund = ranked[0] if ranked else -1

    # --- a missing FX rate, on none of the other picks' days
    fx_currency, fx_day = -1, -1
    others = [c for c in range(len(w.currencies)) if w.currencies[c] != REPORTING_CURRENCY]
    if others:
        fx_currency = others[0]
        busy = {int(t.bank_day[r]) for r in taken}
        if twice >= 0:
            busy.add(int(t.bank_day[twice]) + DAY)
        if revenue >= 0:
            busy |= {int(rev.local_day[revenue]) * DAY, int(rev.post_day[revenue])}
        if refund >= 0:
            busy |= {int(rf.created[refund]) // DAY * DAY, int(post[refund])}
        days = cal.days
        ok = ~np.isin(days, list(busy))
        ok[0] = ok[-1] = days.size <= 2  # never the first or last day, where a reader's window starts or ends
        ranked = _ranked(rng, days, ok, lo, hi)
        fx_day = int(days[ranked[0]]) if ranked else int(days[days.size // 2])
    return ReconPlan(missing, short, BANK_FEE, unreferenced, twice, refund, revenue, fx_currency, fx_day,
                     short_of_entries, short_entry)
