"""The gateway incidents' picks: which attempts billing recorded failed although the gateway
charged (unrecorded), which a gateway charged twice (phantom charges), and which were disputed
(a steady trickle, and a surge at one site); and when each Adyen success settles. Kept apart from
the Stripe and Adyen sides because both read the same picks. Pure numpy, no I/O.
"""
from __future__ import annotations

import numpy as np

from demoworld import ids
from demoworld.billing import DUPLICATE
from demoworld.gateways import BATCH_CLOSE, DISPUTE_REASON_WEIGHTS, HOUR, GatewayIncidents
from demoworld.incidents import SURGE_DAYS
from demoworld.params import DAY
from demoworld.payments import ADYEN, CARD, FAILED, STRIPE, SUCCEEDED, UNKNOWN, weighted_pick

DISPUTE_RATE = 0.0008
INQUIRY_SHARE = 0.10
SURGE_SHARE = 0.015
SURGE_LOOKBACK = 30 * DAY
UNRECORDED_SHARE = 0.004
DOUBLE_SHARE = 0.0003


def _touched(w) -> np.ndarray:
    """Attempt rows some other incident owns: claimed sessions, duplicated sessions, the
    spike, decline and unknown windows."""
    a, inv = w.attempts, w.invoices
    sess = inv.session[a.invoice]
    dup_sessions = np.zeros(w.sessions.site.size, dtype=bool)
    dup_sessions[inv.session[inv.kind == DUPLICATE]] = True
    t = a.attempted
    brand_hit = (a.method == CARD) & (a.brand == w.decline.brand) & (t >= w.decline.start) & (t < w.decline.end)
    spike_hit = (a.gateway == w.spike.gateway) & (t >= w.spike.start) & (t < w.spike.end)
    unk = (a.gateway == w.unknown.gateway) & (t >= w.unknown.start) & (t < w.unknown.end)
    return w.billed.claimed[sess] | dup_sessions[sess] | brand_hit | spike_hit | unk | (a.status == UNKNOWN)


def _choose(rng, cand: np.ndarray, share: float, gateway: np.ndarray) -> np.ndarray:
    """A share of the candidate rows, at least one per gateway that has any; sorted."""
    out = []
    for g in (STRIPE, ADYEN):
        c = cand[gateway[cand] == g]
        if c.size:
            out.append(rng.choice(c, size=min(c.size, max(1, round(share * c.size))), replace=False))
    return np.sort(np.concatenate(out)) if out else cand[:0]


def plan_gateway_incidents(w, rng: np.random.Generator) -> tuple[GatewayIncidents, np.ndarray]:
    """Which attempts the gateway incidents take; returns them and each attempt's Adyen
    settlement time (for every attempt row; meaningful for Adyen successes)."""
    a, period, p = w.attempts, w.period, w.plan
    n = a.invoice.size
    settle = a.updated + rng.integers(HOUR, 6 * HOUR + 1, n)
    closed_until = (period.end - BATCH_CLOSE) // DAY * DAY + DAY  # days before it are closed
    in_batch = (a.gateway == STRIPE) | (settle < closed_until)
    reached = a.reference != b""
    free = reached & ~_touched(w) & in_batch
    refunded_inv = np.zeros(w.invoices.kind.size, dtype=bool)
    refunded_inv[w.refunds.invoice] = True
    free &= ~refunded_inv[a.invoice]

    unrecorded = _choose(rng, np.flatnonzero(free & (a.status == FAILED)), UNRECORDED_SHARE, a.gateway)
    taken_inv = np.zeros(w.invoices.kind.size, dtype=bool)
    taken_inv[a.invoice[unrecorded]] = True
    double_of = _choose(rng, np.flatnonzero(free & (a.status == SUCCEEDED) & ~taken_inv[a.invoice]),
                        DOUBLE_SHARE, a.gateway)
    taken_inv[a.invoice[double_of]] = True
    k = double_of.size
    phantom_ids = ids.make_ids(rng, "pa_", k)
    if np.isin(phantom_ids, a.attempt_id).any():
        raise AssertionError("a phantom attempt id collides with a real one")
    double_created = a.attempted[double_of] + rng.integers(2, 9, k)
    double_ref = np.empty(k, dtype="S27")
    s = a.gateway[double_of] == STRIPE
    double_ref[s] = ids.stripe_ids(rng, "ch", int(s.sum()))
    double_ref[~s] = ids.psp_references(rng, int((~s).sum()), "8")
    if np.isin(double_ref, a.reference).any():
        raise AssertionError("a phantom charge reference collides with a real one")

    # disputes: a steady trickle everywhere, and a surge at one site over two days
    ok = free & (a.status == SUCCEEDED) & ~taken_inv[a.invoice]
    site = w.sessions.site[w.invoices.session[a.invoice]]
    s0, s1 = p.surge_start, p.surge_start + SURGE_DAYS * DAY
    base = np.flatnonzero(ok & (rng.random(n) < DISPUTE_RATE))
    b_created = a.updated[base] + rng.integers(3 * DAY, 45 * DAY, base.size)
    keep = (b_created <= period.end - 60) & ~((site[base] == p.surge_site) & (b_created >= s0) & (b_created < s1))
    base, b_created = base[keep], b_created[keep]
    ok[base] = False
    cand = np.flatnonzero(ok & (site == p.surge_site) & (a.updated >= s0 - SURGE_LOOKBACK) & (a.updated < s0))
    surge = _choose(rng, cand, SURGE_SHARE, a.gateway)
    s_created = rng.integers(s0, s1, surge.size)
    att = np.concatenate([base, surge])
    created = np.concatenate([b_created, s_created])
    is_surge = np.concatenate([np.zeros(base.size, bool), np.ones(surge.size, bool)])
    m = att.size
    reason = np.where(is_surge, 0, weighted_pick(rng.random(m), DISPUTE_REASON_WEIGHTS))
    inquiry = ~is_surge & (a.gateway[att] == STRIPE) & (rng.random(m) < INQUIRY_SHARE)
    decided = created + rng.integers(15 * DAY, 40 * DAY, m)
    won = rng.random(m) < 0.4
    decided = np.where(decided <= period.end, decided, -1)
    order = np.lexsort((att, created))
    inc = GatewayIncidents(
        unrecorded=unrecorded, double_of=double_of, double_attempt_id=phantom_ids, double_reference=double_ref,
        double_created=double_created,
        dispute_attempt=att[order], dispute_created=created[order], dispute_decided=decided[order],
        dispute_won=won[order], dispute_inquiry=inquiry[order], dispute_reason=reason[order],
        dispute_surge=is_surge[order], surge_window=(s0, s1), adyen_closed_until=int(closed_until))
    return inc, settle

