"""Payment attempts on Stripe and Adyen, the invoice statuses they lead to, and refunds.

Each invoice is charged shortly after it is issued; soft declines are retried (hours, then
days later, at most four tries), hard declines are not. ACH debits settle days later.
Three incidents live here: a processing-error spike on one gateway, attempts stuck in
`unknown` (gateway timeouts) on the other, and an issuer-decline spike on one card brand
(both gateways: Stripe's `do_not_honor`, Adyen's `Refused`). Nothing happens after the end of the world:
later attempts are not written and their invoices stay open.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld import ids, world
from demoworld.billing import DUPLICATE, VOIDED, Invoices
from demoworld.incidents import DECLINE_HOURS, SPIKE_HOURS, UNKNOWN_HOURS, IncidentPlan
from demoworld.params import DAY, Period
from demoworld.traffic import Customers, Sessions
from demoworld.world import NULL, Sites

HOUR = 3600
GATEWAYS = world.GATEWAYS
STRIPE, ADYEN = 0, 1
METHODS = ("card", "wallet", "ach")
CARD, WALLET, ACH = 0, 1, 2
BRANDS = ("visa", "mastercard", "amex", "discover", "interac")
STATUSES = ("succeeded", "failed", "pending", "unknown")
SUCCEEDED, FAILED, PENDING, UNKNOWN = range(4)
INVOICE_STATUSES = ("open", "paid", "void", "uncollectible")
OPEN, PAID, VOID, UNCOLLECTIBLE = range(4)
REFUND_STATUSES = ("succeeded", "failed", "pending")
REFUND_REASONS = ("customer_complaint", "duplicate", "goodwill", "gate_malfunction")

# (code, weight, soft) per gateway; soft declines are worth retrying
CARD_FAILURES = (
    (("insufficient_funds", 30, True), ("do_not_honor", 14, True), ("generic_decline", 18, True),
     ("card_declined", 8, True), ("try_again_later", 4, True), ("processing_error", 2, True),
     ("expired_card", 8, False), ("incorrect_cvc", 4, False), ("authentication_required", 5, False),
     ("lost_card", 1.5, False), ("stolen_card", 1, False), ("fraudulent", 2.5, False)),
    (("Refused", 40, True), ("Not enough balance", 25, True), ("Issuer Unavailable", 5, True),
     ("Acquirer Error", 2, True), ("Expired Card", 9, False), ("CVC Declined", 5, False),
     ("3D Not Authenticated", 6, False), ("Blocked Card", 4, False), ("FRAUD", 4, False)),
)
ACH_FAILURES = (
    (("insufficient_funds", 70, True), ("account_closed", 15, False), ("debit_not_authorized", 15, False)),
    (("Not enough balance", 60, True), ("Refused", 40, True)),
)
SPIKE_CODES = ("processing_error", "Acquirer Error")
DECLINE_CODES = ("do_not_honor", "Refused")  # issuer declines, per gateway
CODES: tuple[str, ...] = tuple(dict.fromkeys(c for table in (CARD_FAILURES, ACH_FAILURES)
                                             for g in table for c, _, _ in g))
SOFT = np.array([next(s for t in (CARD_FAILURES, ACH_FAILURES) for g in t for c, _, s in g if c == code)
                 for code in CODES])

# first-try success by method/brand; later tries after a soft decline mostly go through (the funds
# arrived, the issuer's hiccup passed): card failure stays a few percent by day and low teens at
# night, when retries are a large share of the few attempts
FIRST_OK_BRAND = np.array([0.950, 0.945, 0.935, 0.925, 0.960])
FIRST_OK_WALLET, FIRST_OK_ACH = 0.975, 0.985
RETRY_OK = {2: 0.82, 3: 0.70, 4: 0.55}
RETRY_DELAY = {1: (6 * HOUR, 30 * HOUR), 2: (DAY, 3 * DAY), 3: (2 * DAY, 5 * DAY)}
SPIKE_SHARE = 0.8
DECLINE_SHARE = 0.45
UNKNOWN_SHARE = 0.5
REFUND_SHARE = 0.01
REFUND_FAILED_SHARE = 0.04
# a small world still has failed refunds (the work queue's refund_stuck items): with ~100 refunds, 4 % was none at
# some hours, so the demo's queue lacked a kind depending on when it was generated
REFUND_FAILED_AT_LEAST = 2


class Methods(NamedTuple):
    """Per session: how the driver pays (customers keep one method; guests tap any)."""

    method: np.ndarray
    brand: np.ndarray  # NULL for wallet and ach
    gateway: np.ndarray


class Attempts(NamedTuple):
    """Sorted by attempted_at. reference is b'' where NULL; code NULL = -1."""

    attempt_id: np.ndarray
    invoice: np.ndarray
    number: np.ndarray
    gateway: np.ndarray
    reference: np.ndarray
    idempotency_key: np.ndarray
    amount: np.ndarray
    currency: np.ndarray
    status: np.ndarray
    code: np.ndarray
    method: np.ndarray
    brand: np.ndarray
    attempted: np.ndarray
    updated: np.ndarray


class Collection(NamedTuple):
    """Per invoice, what the attempts made of it."""

    status: np.ndarray
    updated: np.ndarray
    paid_by: np.ndarray  # row in Attempts of the succeeded attempt, or -1


class Refunds(NamedTuple):
    refund_id: np.ndarray
    invoice: np.ndarray
    attempt: np.ndarray
    reference: np.ndarray
    amount: np.ndarray
    reason: np.ndarray
    status: np.ndarray
    created: np.ndarray
    updated: np.ndarray


class Window(NamedTuple):
    gateway: int
    start: int
    end: int


class DeclineWindow(NamedTuple):
    brand: int
    start: int
    end: int


def weighted_pick(u: np.ndarray, weights) -> np.ndarray:
    """For each uniform draw in `u`, the index of the weight it falls under (inverse CDF)."""
    cum = np.cumsum(weights, dtype=float)
    return np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(weights) - 1)


def _references(rng: np.random.Generator, gateway: np.ndarray, stripe_prefix: str, adyen_lead: str) -> np.ndarray:
    """Stripe object ids for Stripe rows, Adyen PSP references for Adyen rows."""
    out = np.empty(gateway.size, dtype="S27")
    s = gateway == STRIPE
    out[s] = ids.stripe_ids(rng, stripe_prefix, int(s.sum()))
    out[~s] = ids.psp_references(rng, int((~s).sum()), adyen_lead)
    return out


def payment_methods(sessions: Sessions, customers: Customers, sites: Sites,
                    rng: np.random.Generator) -> Methods:
    n, c = sessions.site.size, customers.site.size
    cust = sessions.customer
    u = np.where(cust[:, None] >= 0, rng.random((c, 3))[np.maximum(cust, 0)], rng.random((n, 3)))
    usd = np.array([cur == "USD" for cur in sites.currency])[sessions.site]
    method = np.where(usd, weighted_pick(u[:, 0], [0.80, 0.14, 0.06]), weighted_pick(u[:, 0], [0.84, 0.16, 0.0]))
    brand = np.where(usd, weighted_pick(u[:, 1], [0.52, 0.28, 0.14, 0.06, 0.0]),
                     weighted_pick(u[:, 1], [0.45, 0.33, 0.08, 0.0, 0.14]))
    brand = np.where(method == CARD, brand, NULL)
    primary = sites.gateway[sessions.site]
    gateway = np.where(u[:, 2] < 0.8, primary, 1 - primary)
    return Methods(method, brand, gateway)


def _busiest(times: np.ndarray, day_start: int, hours: int, last_start_hour: int) -> int:
    """Start of the busiest `hours`-long window of whole UTC hours starting at most `last_start_hour`
    hours after `day_start`'s hour: the one whose quietest hour is busiest, then the one with the most
    in all (an incident shows in each of its hours, not only in the busiest of them)."""
    day_start -= day_start % HOUR
    span = last_start_hour + hours
    per_hour = np.bincount(((times[(times >= day_start) & (times < day_start + span * HOUR)] - day_start) // HOUR),
                           minlength=span)[:span]
    best = max(range(last_start_hour + 1),
               key=lambda h: (int(per_hour[h:h + hours].min()), int(per_hour[h:h + hours].sum()), -h))
    return day_start + best * HOUR


def _share_per_hour(rng: np.random.Generator, rows: np.ndarray, times: np.ndarray, share: float) -> np.ndarray:
    """A `share` of `rows` in each UTC hour of their `times` (at least one row in all), sorted."""
    hour = times // HOUR
    picked = [rng.choice(rows[hour == h], size=round(share * int((hour == h).sum())), replace=False)
              for h in np.unique(hour)]
    out = np.concatenate(picked) if picked else rows[:0]
    if not out.size and rows.size:
        out = rng.choice(rows, size=1)
    return np.sort(out)


def _spike_window(invoices: Invoices, inv_gateway: np.ndarray, plan: IncidentPlan, period: Period) -> Window:
    """The busiest two hours of the planned gateway on the spike day; in a tiny world with no
    invoice there, the other gateway, then the whole day."""
    day = period.day(plan.spike_day)
    billable = invoices.kind != VOIDED
    options = []
    for g in (plan.spike_gateway, 1 - plan.spike_gateway):
        w0 = _busiest(invoices.issued[billable & (inv_gateway == g)], day, SPIKE_HOURS, 24 - SPIKE_HOURS)
        options.append(Window(g, w0, w0 + SPIKE_HOURS * HOUR))
    options += [Window(plan.spike_gateway, day, day + DAY), Window(1 - plan.spike_gateway, day, day + DAY)]
    for w in options:
        # first tries come 2-40 s after the invoice
        if (billable & (inv_gateway == w.gateway) & (invoices.issued >= w.start) & (invoices.issued < w.end - 40)).any():
            return w
    return options[0]


def _decline_window(invoices: Invoices, inv_brand: np.ndarray, plan: IncidentPlan, period: Period) -> DeclineWindow:
    """The busiest three hours of the brand on the decline day (the whole day, then the other
    decline brand, in a tiny world with no such invoice there)."""
    day = period.day(plan.decline_day)
    billable = invoices.kind != VOIDED
    for brand in (plan.decline_brand, 1 - plan.decline_brand):
        mine = billable & (inv_brand == brand)
        w0 = _busiest(invoices.issued[mine], day, DECLINE_HOURS, 24 - DECLINE_HOURS)
        for lo, hi in ((w0, w0 + DECLINE_HOURS * HOUR), (day, day + DAY)):
            if (mine & (invoices.issued >= lo) & (invoices.issued < hi - 40)).any():
                return DeclineWindow(brand, lo, hi)
    return DeclineWindow(plan.decline_brand, day, day + DAY)


def _forced(rng: np.random.Generator, hit: np.ndarray, number: int, share: float) -> np.ndarray:
    """A fixed share of the first tries in `hit`, the same odds for retries."""
    if number > 1:
        return hit & (rng.random(hit.size) < share)
    cand = np.flatnonzero(hit)
    forced = np.zeros(hit.size, dtype=bool)
    if cand.size:
        forced[rng.choice(cand, size=max(1, round(share * cand.size)), replace=False)] = True
    return forced


def attempt_payments(invoices: Invoices, methods: Methods, plan: IncidentPlan, period: Period,
                     rng: np.random.Generator) -> tuple[Attempts, Collection, Window, Window, DeclineWindow]:
    inv_gateway = methods.gateway[invoices.session]
    inv_method = methods.method[invoices.session]
    inv_brand = methods.brand[invoices.session]
    spike = _spike_window(invoices, inv_gateway, plan, period)
    g_spike = spike.gateway
    spike_code = CODES.index(SPIKE_CODES[g_spike])
    decline = _decline_window(invoices, inv_brand, plan, period)
    decline_codes = np.array([CODES.index(c) for c in DECLINE_CODES])

    inv = np.flatnonzero(invoices.kind != VOIDED)
    t = invoices.issued[inv] + rng.integers(2, 41, inv.size)
    parts = []
    for number in (1, 2, 3, 4):
        live = t <= period.end
        inv, t = inv[live], t[live]
        if not inv.size:
            break
        n = inv.size
        gw, meth, brand = inv_gateway[inv], inv_method[inv], inv_brand[inv]
        ach = meth == ACH
        done = t + np.where(ach, rng.integers(2 * DAY, 4 * DAY + 1, n), rng.integers(1, 5, n))
        if number == 1:
            p_ok = np.where(meth == CARD, FIRST_OK_BRAND[np.maximum(brand, 0)],
                            np.where(ach, FIRST_OK_ACH, FIRST_OK_WALLET))
        else:
            p_ok = np.full(n, RETRY_OK[number])
        ok = rng.random(n) < p_ok
        u_code = rng.random(n)
        code = np.full(n, NULL)
        for g in (STRIPE, ADYEN):
            for is_ach, table in ((False, CARD_FAILURES[g]), (True, ACH_FAILURES[g])):
                m = (gw == g) & (ach == is_ach)
                picked = weighted_pick(u_code[m], [w for _, w, _ in table])
                code[m] = np.array([CODES.index(c) for c, _, _ in table])[picked]
        # processing-error spike: a fixed share of first tries, the same odds for retries
        hit = _forced(rng, (gw == g_spike) & (t >= spike.start) & (t < spike.end), number, SPIKE_SHARE)
        ok &= ~hit
        code[hit] = spike_code
        done[hit] = t[hit] + rng.integers(1, 5, int(hit.sum()))
        # issuer-decline spike: one card brand's issuers decline (soft) for a few hours
        dhit = _forced(rng, (meth == CARD) & (brand == decline.brand) & (t >= decline.start) & (t < decline.end),
                       number, DECLINE_SHARE) & ~hit
        ok &= ~dhit
        code[dhit] = decline_codes[gw[dhit]]
        done[dhit] = t[dhit] + rng.integers(1, 5, int(dhit.sum()))
        status = np.where(done > period.end, PENDING, np.where(ok, SUCCEEDED, FAILED))
        code = np.where(status == FAILED, code, NULL)
        updated = np.where(status == PENDING, t, done)
        parts.append((inv, np.full(n, number), t, updated, status, code))
        again = (status == FAILED) & SOFT[np.maximum(code, 0)] & (number < 4)
        if number < 4:
            lo, hi = RETRY_DELAY[number]
            inv, t = inv[again], updated[again] + rng.integers(lo, hi + 1, int(again.sum()))

    a_inv, a_num, a_t, a_upd, a_status, a_code = (np.concatenate(x) for x in zip(*parts, strict=True))

    # gateway timeouts: some attempts on the other gateway never get an answer
    g_unk = plan.unknown_gateway
    a_gw = inv_gateway[a_inv]
    # the busiest hours of its day or, where the world goes on, of the next (a weekend's evening is thin)
    u0 = _busiest(a_t[a_gw == g_unk], period.day(plan.unknown_day), UNKNOWN_HOURS,
                  44 if plan.unknown_day + 2 <= period.days else 20)
    unknown = Window(g_unk, u0, u0 + UNKNOWN_HOURS * HOUR)
    answered = ((a_status == SUCCEEDED) | (a_status == FAILED)) & (invoices.kind[a_inv] != DUPLICATE)
    day0 = period.day(plan.unknown_day)
    # a tiny world may have no attempt there: the timeouts then last the whole day, and
    # if need be hit the gateway that had the spike (on another day)
    for window in (unknown, Window(g_unk, day0, day0 + DAY - HOUR), Window(1 - g_unk, day0, day0 + DAY - HOUR)):
        unknown = window
        cand = np.flatnonzero(answered & (a_gw == window.gateway) & (a_t >= window.start) & (a_t < window.end))
        if cand.size:
            break
    stuck = _share_per_hour(rng, cand, a_t[cand], UNKNOWN_SHARE)
    a_status[stuck] = UNKNOWN
    a_code[stuck] = NULL
    a_upd[stuck] = a_t[stuck] + 30
    stuck_at = np.full(invoices.kind.size, 99)
    stuck_at[a_inv[stuck]] = a_num[stuck]
    keep = a_num <= stuck_at[a_inv]
    a_inv, a_num, a_t, a_upd, a_status, a_code = (x[keep] for x in (a_inv, a_num, a_t, a_upd, a_status, a_code))
    is_stuck = np.zeros(keep.size, dtype=bool)
    is_stuck[stuck] = True
    is_stuck = is_stuck[keep]

    order = np.lexsort((a_num, a_inv, a_t))
    a_inv, a_num, a_t, a_upd, a_status, a_code, is_stuck = (
        x[order] for x in (a_inv, a_num, a_t, a_upd, a_status, a_code, is_stuck))
    n = a_inv.size
    gw = inv_gateway[a_inv]
    reference = _references(rng, gw, "ch", "8")
    reference[is_stuck] = b""
    attempts = Attempts(
        attempt_id=ids.make_ids(rng, "pa_", n),
        invoice=a_inv, number=a_num, gateway=gw, reference=reference,
        idempotency_key=ids.uuids(rng, n),
        amount=invoices.total[a_inv], currency=invoices.currency[a_inv],
        status=a_status, code=a_code, method=inv_method[a_inv], brand=inv_brand[a_inv],
        attempted=a_t, updated=a_upd,
    )
    return attempts, collect(invoices, attempts), spike, unknown, decline


def collect(invoices: Invoices, attempts: Attempts) -> Collection:
    """Invoice status from its attempts: paid once one succeeded, uncollectible when a hard
    decline or the fourth try failed, open while pending, unknown or awaiting a retry."""
    n = invoices.kind.size
    last = np.full(n, -1)
    np.maximum.at(last, attempts.invoice, np.arange(attempts.invoice.size))  # rows in time order
    has = last >= 0
    li = last[has]
    st, code, num = attempts.status[li], attempts.code[li], attempts.number[li]
    status = np.full(n, OPEN)
    s = np.full(li.size, OPEN)
    s[st == SUCCEEDED] = PAID
    s[(st == FAILED) & ((num == 4) | ~SOFT[np.maximum(code, 0)])] = UNCOLLECTIBLE
    status[has] = s
    updated = invoices.issued.copy()
    updated[has] = np.maximum(updated[has], attempts.updated[li])
    voided = invoices.kind == VOIDED
    status[voided] = VOID
    updated[voided] = invoices.voided_at[voided]
    paid_by = np.where(status == PAID, last, -1)
    return Collection(status, updated, paid_by)


def make_refunds(invoices: Invoices, attempts: Attempts, collection: Collection, claimed: np.ndarray,
                 period: Period, rng: np.random.Generator) -> Refunds:
    """About 1% of paid invoices, full or partial; never on an incident's invoices."""
    paid = np.flatnonzero((collection.status == PAID) & (invoices.kind != DUPLICATE) & ~claimed[invoices.session])
    att = collection.paid_by[paid]
    created = attempts.updated[att] + np.clip(rng.lognormal(np.log(2 * DAY), 1.0, paid.size), 600, 20 * DAY).astype(np.int64)
    ok = np.flatnonzero(created <= period.end - 60)
    k = min(ok.size, max(1, round(REFUND_SHARE * paid.size))) if ok.size else 0
    pick = np.sort(rng.choice(ok, size=k, replace=False))
    inv, att, created = paid[pick], att[pick], created[pick]
    total = invoices.total[inv]
    partial = rng.random(k) < 0.4
    amount = np.where(partial, np.maximum(1, total * rng.integers(10, 91, k) // 100), total)
    reason = weighted_pick(rng.random(k), [40, 10, 25, 25])
    settle = created + rng.integers(2, 6 * HOUR, k)
    draw = rng.random(k)
    late = settle > period.end
    status = np.where(draw < REFUND_FAILED_SHARE, 1, 0)  # succeeded / failed
    settled = np.flatnonzero(~late)
    at_least = min(REFUND_FAILED_AT_LEAST, settled.size // 2)  # at most half: succeeded refunds stay (the GL's)
    if np.count_nonzero(status[settled]) < at_least:  # the likeliest to fail do: never none by chance
        status[settled[np.argsort(draw[settled], kind="stable")[:at_least]]] = 1
    status[late] = 2  # pending
    updated = np.where(late, created, settle)
    order = np.lexsort((inv, created))
    gw = attempts.gateway[att[order]]
    ref = _references(rng, gw, "re", "9")
    return Refunds(ids.make_ids(rng, "rf_", k), inv[order], att[order], ref,
                   amount[order], reason[order], status[order], created[order], updated[order])
