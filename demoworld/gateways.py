"""The gateways' side of the world: what Stripe and Adyen hold for the attempts billing made.

Every attempt that reached its gateway (gateway_reference set) has a gateway object: a
Stripe charge, or (once settled) an Adyen `Settled` line. Around them: refunds, disputes and
chargebacks, Stripe balance transactions and daily payouts, Adyen settlement batches (one
per UTC day and merchant account) closed by a `MerchantPayout` line. Pure numpy, no I/O.

Conventions (what readers may rely on, beyond SOURCES.md):
- Stripe `failure_code` is Stripe's error code (`card_declined` for issuer declines, or the
  specific code: `processing_error`, `expired_card`, ...); `outcome.reason` is the decline code
  billing recorded (`do_not_honor`, `insufficient_funds`, ...), except Radar blocks
  (`fraudulent` in billing: outcome type `blocked`, reason `highest_risk_level`).
- Stripe fees: cards and wallets 2.9 % + 30 minor units, ACH 0.8 % capped at 500, each
  percentage rounded half up to an integer; `net = amount - fee`. Dispute fee 1500.
- `available_on` is a UTC midnight: two days after the charge's day for charges, the next
  midnight for debits. A payout on UTC day D (created D 04:00 + minutes) pays every
  transaction available by D not yet paid out, when their sum is positive (else it waits);
  `arrival_date` is the next business day; `paid` once that day is over, `in_transit` before. One payout fails and is credited back
  (`payout_failure`), and the next payout carries it.
- Adyen: a succeeded attempt settles 1-6 h after it completed; the batch of UTC day D holds
  the lines created that day and closes with its `MerchantPayout` at D+1 02:00, so only days
  closed by the end of the world have a file. Fees per `Settled` line: commission 12 (ACH
  25), markup 0.30 %, scheme fees 0.13 %, interchange by brand, each rounded half up.
  Chargebacks cost a 15.00 commission; a monthly fee of 100.00 goes on each merchant
  account's first batch of a month in the world.
"""
from __future__ import annotations

from datetime import UTC
from typing import NamedTuple

import numpy as np

from demoworld import ids
from demoworld.billing import DUPLICATE
from demoworld.incidents import SURGE_DAYS
from demoworld.params import DAY, stream
from demoworld.payments import ACH, ADYEN, CARD, FAILED, STRIPE, SUCCEEDED, UNKNOWN, WALLET, _pick

HOUR = 3600
# --- Stripe
STRIPE_DECLINE_AS = {  # billing code -> Stripe failure_code where it differs (issuer declines)
    "insufficient_funds": "card_declined", "do_not_honor": "card_declined", "generic_decline": "card_declined",
    "try_again_later": "card_declined", "lost_card": "card_declined", "stolen_card": "card_declined",
    "fraudulent": "card_declined",
}
CHARGE_STATUSES = ("succeeded", "failed", "pending")
REFUND_REASON_MAP = ("requested_by_customer", "duplicate", "requested_by_customer", "requested_by_customer")
DISPUTE_REASONS = ("fraudulent", "product_not_received", "duplicate", "credit_not_processed", "general",
                   "subscription_canceled", "unrecognized")
DISPUTE_REASON_WEIGHTS = (35, 10, 10, 10, 20, 5, 10)
DISPUTE_STATUSES = ("warning_needs_response", "warning_under_review", "warning_closed", "needs_response",
                    "under_review", "won", "lost")
W_NEEDS, W_REVIEW, W_CLOSED, NEEDS, REVIEW, WON, LOST = range(7)
TXN_TYPES = ("charge", "payment", "refund", "refund_failure", "adjustment", "stripe_fee", "payout", "payout_failure")
T_CHARGE, T_PAYMENT, T_REFUND, T_REFUND_FAILURE, T_ADJUSTMENT, T_FEE, T_PAYOUT, T_PAYOUT_FAILURE = range(8)
TXN_CATEGORIES = ("charge", "refund", "refund_failure", "dispute", "dispute_reversal", "fee", "payout",
                  "payout_reversal")
C_CHARGE, C_REFUND, C_REFUND_FAILURE, C_DISPUTE, C_DISPUTE_REVERSAL, C_FEE, C_PAYOUT, C_PAYOUT_REVERSAL = range(8)
PAYOUT_STATUSES = ("paid", "in_transit", "failed")
DISPUTE_FEE = 1500
STRIPE_MONTHLY_FEE = 2500
PAYOUT_HOUR = 4
# --- Adyen
COMPANY_ACCOUNT = "ParkCo"
ADYEN_TYPES = ("Fee", "Settled", "Refunded", "Chargeback", "ChargebackReversed", "MerchantPayout")
A_FEE, A_SETTLED, A_REFUNDED, A_CHARGEBACK, A_REVERSED, A_PAYOUT = range(6)
ADYEN_METHODS = ("visa", "mc", "amex", "discover", "interac_card", "applepay", "ach")
INTERCHANGE_BP = np.array([180, 190, 250, 175, 60, 180, 0])  # per ADYEN_METHODS
ADYEN_COMMISSION, ADYEN_ACH_COMMISSION, MARKUP_BP, SCHEME_BP = 12, 25, 30, 13
CHARGEBACK_FEE = 1500
ADYEN_MONTHLY_FEE = 10_000
BATCH_CLOSE = DAY + 2 * HOUR  # a batch of day D closes at D+1 02:00
# --- incidents and rates
DISPUTE_RATE = 0.0008
INQUIRY_SHARE = 0.10
SURGE_SHARE = 0.015
SURGE_LOOKBACK = 30 * DAY
UNRECORDED_SHARE = 0.004
DOUBLE_SHARE = 0.0003
MALFORMED = ("bad_decimal", "missing_column", "unknown_currency")
BAD_CURRENCY = "UDS"


def round_bp(amount: np.ndarray, bp) -> np.ndarray:
    """amount * bp / 10 000, rounded half up (amounts are never negative here)."""
    return (np.asarray(amount, dtype=np.int64) * bp + 5_000) // 10_000


def stripe_fee(amount: np.ndarray, method: np.ndarray) -> np.ndarray:
    card = round_bp(amount, 290) + 30
    ach = np.minimum(round_bp(amount, 80), 500)
    return np.where(method == ACH, ach, card)


class Charges(NamedTuple):
    """Stripe charges, sorted by created."""

    charge_id: np.ndarray
    created: np.ndarray
    amount: np.ndarray
    amount_refunded: np.ndarray
    currency: np.ndarray
    status: np.ndarray  # CHARGE_STATUSES
    code: np.ndarray  # CODES index (outcome reason) or -1
    method: np.ndarray
    brand: np.ndarray
    txn: np.ndarray  # b'' = NULL
    attempt_id: np.ndarray
    invoice_id: np.ndarray
    disputed: np.ndarray  # 0/1


class StripeRefunds(NamedTuple):
    refund_id: np.ndarray  # re_
    created: np.ndarray
    charge_id: np.ndarray
    amount: np.ndarray
    currency: np.ndarray
    status: np.ndarray  # payments.REFUND_STATUSES
    reason: np.ndarray  # REFUND_REASON_MAP index via billing reason
    txn: np.ndarray
    failure_txn: np.ndarray
    billing_refund_id: np.ndarray


class Disputes(NamedTuple):
    dispute_id: np.ndarray
    created: np.ndarray
    charge_id: np.ndarray
    amount: np.ndarray
    currency: np.ndarray
    reason: np.ndarray
    status: np.ndarray
    txn1: np.ndarray
    txn2: np.ndarray


class Txns(NamedTuple):
    txn_id: np.ndarray
    created: np.ndarray
    available_on: np.ndarray
    amount: np.ndarray
    fee: np.ndarray
    currency: np.ndarray
    type: np.ndarray
    category: np.ndarray
    source: np.ndarray  # b'' = NULL
    payout: np.ndarray  # b'' = NULL
    status: np.ndarray  # 0 available, 1 pending


class Payouts(NamedTuple):
    payout_id: np.ndarray
    created: np.ndarray
    arrival: np.ndarray
    amount: np.ndarray
    currency: np.ndarray
    status: np.ndarray
    txn: np.ndarray
    failure_txn: np.ndarray


class AdyenLines(NamedTuple):
    """Adyen settlement-detail lines sorted by (batch, created, type, psp); amounts in minor
    units, -1 = empty field."""

    batch: np.ndarray  # batch number
    currency: np.ndarray
    psp: np.ndarray
    merchant_ref: np.ndarray
    method: np.ndarray  # ADYEN_METHODS index or -1
    created: np.ndarray
    type: np.ndarray
    mod_ref: np.ndarray
    gross_debit: np.ndarray
    gross_credit: np.ndarray
    net_debit: np.ndarray
    net_credit: np.ndarray
    commission: np.ndarray
    markup: np.ndarray
    scheme: np.ndarray
    interchange: np.ndarray


class Batches(NamedTuple):
    number: np.ndarray
    day: np.ndarray  # UTC midnight
    currency: np.ndarray
    closed_at: np.ndarray


class Malformed(NamedTuple):
    batch: int
    after_row: np.ndarray  # rows of AdyenLines each garbled copy follows
    reason: tuple[str, ...]


class GatewayIncidents(NamedTuple):
    unrecorded: np.ndarray  # attempt rows billing recorded failed, the gateway succeeded
    double_of: np.ndarray  # attempt rows a phantom charge duplicates
    double_attempt_id: np.ndarray  # the phantom attempt ids (unknown to billing)
    double_reference: np.ndarray  # the phantom charge ids / PSP references
    double_created: np.ndarray
    dispute_attempt: np.ndarray  # attempt rows disputed (both gateways)
    dispute_created: np.ndarray
    dispute_decided: np.ndarray  # -1 while open
    dispute_won: np.ndarray
    dispute_inquiry: np.ndarray
    dispute_reason: np.ndarray
    dispute_surge: np.ndarray  # bool
    surge_window: tuple[int, int]
    adyen_closed_until: int  # Adyen lines created before this are in a closed batch


class Gateways(NamedTuple):
    charges: Charges
    refunds: StripeRefunds
    disputes: Disputes
    txns: Txns
    payouts: Payouts
    lines: AdyenLines
    batches: Batches
    malformed: Malformed
    incidents: GatewayIncidents
    failed_payout: int  # row in Payouts


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
    reason = np.where(is_surge, 0, _pick(rng.random(m), DISPUTE_REASON_WEIGHTS))
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


# ------------------------------------------------------------------------------ Stripe
def _day(t: np.ndarray) -> np.ndarray:
    return t // DAY * DAY


def _next_business_day(day: int) -> int:
    d = day + DAY
    while (d // DAY + 3) % 7 >= 5:  # 1970-01-01 was a Thursday: 0 = Monday
        d += DAY
    return d


def stripe_side(w, inc: GatewayIncidents, rng: np.random.Generator):
    a, inv, r, period = w.attempts, w.invoices, w.refunds, w.period
    # --- charges: attempts that reached Stripe, and the phantom ones
    rows = np.flatnonzero((a.gateway == STRIPE) & (a.reference != b""))
    unrec = np.zeros(a.invoice.size, dtype=bool)
    unrec[inc.unrecorded] = True
    st = a.status[rows]
    status = np.where(unrec[rows] | (st == SUCCEEDED), 0, np.where(st == FAILED, 1, 2))
    code = np.where(status == 1, a.code[rows], -1)
    ph = inc.double_of[a.gateway[inc.double_of] == STRIPE]
    ph_ref = inc.double_reference[a.gateway[inc.double_of] == STRIPE]
    ph_att = inc.double_attempt_id[a.gateway[inc.double_of] == STRIPE]
    ph_created = inc.double_created[a.gateway[inc.double_of] == STRIPE]
    src = np.concatenate([rows, ph])  # attempt row each charge mirrors
    charge_id = np.concatenate([a.reference[rows], ph_ref]).astype("S27")
    created = np.concatenate([a.attempted[rows], ph_created])
    done = np.concatenate([a.updated[rows], ph_created + (a.updated[ph] - a.attempted[ph])])
    status = np.concatenate([status, np.zeros(ph.size, dtype=np.int64)])
    code = np.concatenate([code, np.full(ph.size, -1)])
    attempt_id = np.concatenate([a.attempt_id[rows], ph_att])
    nc = src.size

    # refunds on Stripe charges (billing refunds point at the paying attempt)
    rs = np.flatnonzero(a.gateway[r.attempt] == STRIPE)
    row_of = np.full(a.invoice.size, -1)
    row_of[rows] = np.arange(rows.size)
    r_charge = row_of[r.attempt[rs]]
    refunded = np.zeros(nc, dtype=np.int64)
    np.add.at(refunded, r_charge, np.where(r.status[rs] != 1, r.amount[rs], 0))

    # disputes on Stripe charges
    ds = np.flatnonzero(a.gateway[inc.dispute_attempt] == STRIPE)
    d_att = inc.dispute_attempt[ds]
    d_charge = row_of[d_att]
    disputed = np.zeros(nc, dtype=np.int64)
    disputed[d_charge] = 1

    # --- balance transactions (all but payouts), then payouts over them
    ok = np.flatnonzero(status == 0)
    method = a.method[src]
    d_created, d_decided = inc.dispute_created[ds], inc.dispute_decided[ds]
    d_inquiry, d_won = inc.dispute_inquiry[ds], inc.dispute_won[ds]
    moved = ~d_inquiry
    reversed_ = moved & d_won & (d_decided >= 0)
    rf = r.status[rs] == 1  # failed refunds are credited back when they fail
    cur = a.currency  # per attempt row
    months = _month_starts(period.start, period.end)
    parts = [  # (created, available_on, amount, fee, currency, type, category, kind, row)
        (done[ok], _day(done[ok]) + 2 * DAY, a.amount[src[ok]], stripe_fee(a.amount[src[ok]], method[ok]),
         cur[src[ok]], np.where(method[ok] == ACH, T_PAYMENT, T_CHARGE), C_CHARGE, 0, ok),
        (r.created[rs], _day(r.created[rs]) + DAY, -r.amount[rs], 0, cur[r.attempt[rs]], T_REFUND, C_REFUND, 1,
         np.arange(rs.size)),
        (r.updated[rs][rf], _day(r.updated[rs][rf]) + DAY, r.amount[rs][rf], 0, cur[r.attempt[rs]][rf],
         T_REFUND_FAILURE, C_REFUND_FAILURE, 2, np.flatnonzero(rf)),
        (d_created[moved], _day(d_created[moved]) + DAY, -a.amount[d_att][moved], DISPUTE_FEE,
         cur[d_att][moved], T_ADJUSTMENT, C_DISPUTE, 3, np.flatnonzero(moved)),
        (d_decided[reversed_], _day(d_decided[reversed_]) + DAY, a.amount[d_att][reversed_], 0,
         cur[d_att][reversed_], T_ADJUSTMENT, C_DISPUTE_REVERSAL, 4, np.flatnonzero(reversed_)),
        (np.repeat(months + HOUR, len(w.currencies)), np.repeat(months + DAY, len(w.currencies)),
         np.full(months.size * len(w.currencies), -STRIPE_MONTHLY_FEE), 0,
         np.tile(np.arange(len(w.currencies)), months.size), T_FEE, C_FEE, 5,
         np.arange(months.size * len(w.currencies))),
    ]
    t_created = np.concatenate([p[0] for p in parts]).astype(np.int64)
    t_avail = np.concatenate([p[1] for p in parts]).astype(np.int64)
    t_amount = np.concatenate([p[2] for p in parts]).astype(np.int64)
    sizes = [p[0].size for p in parts]
    t_fee = np.concatenate([np.broadcast_to(np.asarray(p[3], dtype=np.int64), (sz,)) for p, sz in zip(parts, sizes, strict=True)])
    t_cur = np.concatenate([p[4] for p in parts]).astype(np.int64)
    t_type = np.concatenate([np.broadcast_to(np.asarray(p[5]), (sz,)) for p, sz in zip(parts, sizes, strict=True)]).astype(np.int64)
    t_cat = np.concatenate([np.full(sz, p[6]) for p, sz in zip(parts, sizes, strict=True)])
    t_kind = np.concatenate([np.full(sz, p[7]) for p, sz in zip(parts, sizes, strict=True)])
    t_row = np.concatenate([p[8] for p in parts]).astype(np.int64)
    t_net = t_amount - t_fee

    # payouts: daily per currency; one (mid-period, first currency) fails and is credited back
    last_day = (period.end - PAYOUT_HOUR * HOUR - 3600) // DAY * DAY
    fail_after = _day(np.array([period.start + period.days * DAY // 2]))[0]
    po_days: list[int] = []
    po_curs: list[int] = []
    po_amounts: list[int] = []
    po_fail_row = -1
    extra: dict[tuple[int, int], int] = {}  # (currency, day) -> credited back
    for c in range(len(w.currencies)):
        m = t_cur == c
        if not m.any():
            continue
        first = int(t_avail[m].min())
        pool = 0
        u, v = _group_sum(t_avail[m], t_net[m])
        day_net = dict(zip(u.tolist(), v.tolist(), strict=True))
        for d in range(first, int(last_day) + 1, DAY):
            pool += day_net.get(d, 0) + extra.get((c, d), 0)
            if pool > 0:
                if po_fail_row < 0 and c == 0 and d >= fail_after and _next_business_day(d) + 2 * DAY <= last_day:
                    po_fail_row = len(po_days)
                    extra[(c, _next_business_day(d))] = pool
                po_days.append(d)
                po_curs.append(c)
                po_amounts.append(pool)
                pool = 0
    po_day = np.array(po_days, dtype=np.int64)
    po_cur = np.array(po_curs, dtype=np.int64)
    po_amount = np.array(po_amounts, dtype=np.int64)
    npo = po_day.size
    po_created = po_day + PAYOUT_HOUR * HOUR + rng.integers(0, 1800, npo)
    po_arrival = np.array([_next_business_day(int(d)) for d in po_day], dtype=np.int64)
    po_status = np.where(po_arrival + DAY <= period.end, 0, 1)  # paid once the arrival day is over
    if po_fail_row >= 0:
        po_status[po_fail_row] = 2
    # the payout's own transaction, and the failed payout's credit
    f = [po_fail_row] if po_fail_row >= 0 else []
    pt_created = np.concatenate([po_created, po_arrival[f]])
    pt_avail = np.concatenate([po_day, po_arrival[f]])
    pt_amount = np.concatenate([-po_amount, po_amount[f]])
    pt_cur = np.concatenate([po_cur, po_cur[f]])
    pt_type = np.concatenate([np.full(npo, T_PAYOUT), np.full(len(f), T_PAYOUT_FAILURE)])
    pt_cat = np.concatenate([np.full(npo, C_PAYOUT), np.full(len(f), C_PAYOUT_REVERSAL)])
    pt_kind = np.concatenate([np.full(npo, 6), np.full(len(f), 7)])
    pt_row = np.concatenate([np.arange(npo), np.array(f, dtype=np.int64)])

    created_all = np.concatenate([t_created, pt_created])
    avail_all = np.concatenate([t_avail, pt_avail])
    amount_all = np.concatenate([t_amount, pt_amount])
    fee_all = np.concatenate([t_fee, np.zeros(pt_created.size, dtype=np.int64)])
    cur_all = np.concatenate([t_cur, pt_cur])
    type_all = np.concatenate([t_type, pt_type])
    cat_all = np.concatenate([t_cat, pt_cat])
    kind_all = np.concatenate([t_kind, pt_kind])
    row_all = np.concatenate([t_row, pt_row])
    # which payout each transaction went out with: the first of its currency on or after the
    # day it became available; a payout's own transaction belongs to it
    payout_row = np.full(created_all.size, -1)
    for c in range(len(w.currencies)):
        mine = np.flatnonzero(po_cur == c)
        m = np.flatnonzero((cur_all == c) & (kind_all != 6))
        nxt = np.searchsorted(po_day[mine], avail_all[m], side="left")
        has = nxt < mine.size
        payout_row[m[has]] = mine[nxt[has]]
    own = np.flatnonzero(kind_all == 6)
    payout_row[own] = row_all[own]

    order = np.lexsort((kind_all, row_all, created_all))
    nt = order.size
    txn_id = ids.stripe_ids(rng, "txn", nt)
    inv_order = np.empty(nt, dtype=np.int64)
    inv_order[order] = np.arange(nt)
    txn_of = {k: np.full(s, b"", dtype=txn_id.dtype) for k, s in
              ((0, nc), (1, rs.size), (2, rs.size), (3, ds.size), (4, ds.size), (7, npo))}
    txn_of[6] = np.empty(npo, dtype=txn_id.dtype)
    for k in (0, 1, 2, 3, 4, 6, 7):
        m = np.flatnonzero(kind_all == k)
        txn_of[k][row_all[m]] = txn_id[inv_order[m]]

    dispute_id = ids.stripe_ids(rng, "dp", ds.size)
    payout_id = ids.stripe_ids(rng, "po", npo)
    source = np.full(created_all.size, b"", dtype="S27")
    for k, ids_ in ((0, charge_id), (1, r.reference[rs]), (2, r.reference[rs]), (3, dispute_id), (4, dispute_id),
                    (6, payout_id), (7, payout_id)):
        m = np.flatnonzero(kind_all == k)
        source[m] = ids_[row_all[m]]
    txns = Txns(txn_id, created_all[order], avail_all[order], amount_all[order], fee_all[order], cur_all[order],
                type_all[order], cat_all[order], source[order],
                np.where(payout_row[order] >= 0, payout_id[np.maximum(payout_row[order], 0)], b""),
                (avail_all[order] > period.end).astype(np.int64))

    # dispute statuses
    age_ok = d_created + 7 * DAY <= period.end
    d_status = np.where(d_inquiry, np.where(d_decided >= 0, W_CLOSED, np.where(age_ok, W_REVIEW, W_NEEDS)),
                        np.where(d_decided >= 0, np.where(d_won, WON, LOST), np.where(age_ok, REVIEW, NEEDS)))
    disputes = Disputes(dispute_id, d_created, charge_id[d_charge], a.amount[d_att], a.currency[d_att],
                        inc.dispute_reason[ds], d_status, txn_of[3], txn_of[4])
    corder = np.argsort(created, kind="stable")
    charges = Charges(charge_id[corder], created[corder], a.amount[src][corder], refunded[corder],
                      a.currency[src][corder], status[corder], code[corder], method[corder], a.brand[src][corder],
                      txn_of[0][corder], attempt_id[corder], inv.invoice_id[a.invoice[src]][corder],
                      disputed[corder])
    refunds = StripeRefunds(r.reference[rs], r.created[rs], charge_id[r_charge], r.amount[rs],
                            cur[r.attempt[rs]], r.status[rs], r.reason[rs], txn_of[1],
                            np.where(rf, txn_of[2], b""), r.refund_id[rs])
    fail_txn = np.full(npo, b"", dtype=txn_id.dtype)
    if po_fail_row >= 0:
        fail_txn[po_fail_row] = txn_of[7][po_fail_row]
    payouts = Payouts(payout_id, po_created, po_arrival, po_amount, po_cur, po_status, txn_of[6], fail_txn)
    return charges, refunds, disputes, txns, payouts, po_fail_row


def _group_sum(keys: np.ndarray, values: np.ndarray):
    u, inv = np.unique(keys, return_inverse=True)
    s = np.zeros(u.size, dtype=np.int64)
    np.add.at(s, inv, values)
    return u, s


def _month_starts(start: int, end: int) -> np.ndarray:
    """UTC first-of-month midnights in [start, end - 1 h)."""
    from datetime import datetime
    out = []
    t = datetime.fromtimestamp(start, UTC).replace(day=1, hour=0, minute=0, second=0)
    while True:
        s = int(t.timestamp())
        if s >= end - HOUR:
            break
        if s >= start:
            out.append(s)
        t = t.replace(year=t.year + (t.month == 12), month=t.month % 12 + 1)
    return np.array(out, dtype=np.int64)


# ------------------------------------------------------------------------------ Adyen
def adyen_side(w, inc: GatewayIncidents, settle: np.ndarray, rng: np.random.Generator):
    a, r, period = w.attempts, w.refunds, w.period
    closed = inc.adyen_closed_until
    unrec = np.zeros(a.invoice.size, dtype=bool)
    unrec[inc.unrecorded] = True
    method = np.where(a.method == CARD, a.brand, np.where(a.method == WALLET, 5, 6))

    def settled(rows, psp, mref, created):
        gross = a.amount[rows]
        m = method[rows]
        ach = m == 6
        commission = np.where(ach, ADYEN_ACH_COMMISSION, ADYEN_COMMISSION)
        markup = round_bp(gross, MARKUP_BP)
        scheme = np.where(ach, 0, round_bp(gross, SCHEME_BP))
        ic = round_bp(gross, INTERCHANGE_BP[m])
        n = rows.size
        return dict(currency=a.currency[rows], psp=psp, merchant_ref=mref, method=m, created=created,
                    type=np.full(n, A_SETTLED), mod_ref=psp, gross_debit=np.full(n, -1), gross_credit=gross,
                    net_debit=np.full(n, -1), net_credit=gross - commission - markup - scheme - ic,
                    commission=commission, markup=markup, scheme=scheme, interchange=ic)

    parts = []
    rows = np.flatnonzero((a.gateway == ADYEN) & ((a.status == SUCCEEDED) | unrec) & (settle < closed))
    parts.append(settled(rows, a.reference[rows], a.attempt_id[rows], settle[rows]))
    g = a.gateway[inc.double_of] == ADYEN
    ph = inc.double_of[g]
    parts.append(settled(ph, inc.double_reference[g], inc.double_attempt_id[g],
                         settle[ph] + (inc.double_created[g] - a.attempted[ph])))
    captures = ids.psp_references(rng, rows.size + ph.size, "5")  # the capture's own PSP reference
    parts[0]["mod_ref"], parts[1]["mod_ref"] = captures[:rows.size], captures[rows.size:]
    # refunds that went through
    ra = np.flatnonzero((a.gateway[r.attempt] == ADYEN) & (r.status == 0) & (r.updated < closed))
    n = ra.size
    att = r.attempt[ra]
    parts.append(dict(currency=a.currency[att], psp=a.reference[att], merchant_ref=r.refund_id[ra], method=method[att],
                      created=r.updated[ra], type=np.full(n, A_REFUNDED), mod_ref=r.reference[ra],
                      gross_debit=r.amount[ra], gross_credit=np.full(n, -1), net_debit=r.amount[ra],
                      net_credit=np.full(n, -1), commission=np.full(n, -1), markup=np.full(n, -1),
                      scheme=np.full(n, -1), interchange=np.full(n, -1)))
    # chargebacks, and the reversals of those won
    da = np.flatnonzero(a.gateway[inc.dispute_attempt] == ADYEN)
    att = inc.dispute_attempt[da]
    cb = inc.dispute_created[da] < closed
    rv = cb & inc.dispute_won[da] & (inc.dispute_decided[da] >= 0) & (inc.dispute_decided[da] < closed)
    for mask, kind, when in ((cb, A_CHARGEBACK, inc.dispute_created[da]), (rv, A_REVERSED, inc.dispute_decided[da])):
        x = att[mask]
        n = x.size
        amt = a.amount[x]
        debit = kind == A_CHARGEBACK
        parts.append(dict(currency=a.currency[x], psp=a.reference[x], merchant_ref=a.attempt_id[x], method=method[x],
                          created=when[mask], type=np.full(n, kind), mod_ref=ids.psp_references(rng, n, "7"),
                          gross_debit=amt if debit else np.full(n, -1), gross_credit=np.full(n, -1) if debit else amt,
                          net_debit=amt + CHARGEBACK_FEE if debit else np.full(n, -1),
                          net_credit=np.full(n, -1) if debit else amt,
                          commission=np.full(n, CHARGEBACK_FEE if debit else -1), markup=np.full(n, -1),
                          scheme=np.full(n, -1), interchange=np.full(n, -1)))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    cols["psp"] = cols["psp"].astype("S27")
    cols["mod_ref"] = cols["mod_ref"].astype("S27")
    cols["merchant_ref"] = cols["merchant_ref"].astype("S27")
    day = _day(cols["created"])
    # monthly fee: on each merchant account's first batch of a month
    key = np.unique(np.stack([day, cols["currency"]], axis=1), axis=0)
    fee_rows = []
    seen = set()
    for d, c in key.tolist():
        month = _month_key(d)
        if (month, c) not in seen:
            seen.add((month, c))
            fee_rows.append((d, c))
    nf = len(fee_rows)
    f_day = np.array([d for d, _ in fee_rows], dtype=np.int64)
    f_cur = np.array([c for _, c in fee_rows], dtype=np.int64)
    fee = dict(currency=f_cur, psp=ids.psp_references(rng, nf, "6").astype("S27"), merchant_ref=np.full(nf, b"", "S27"),
               method=np.full(nf, -1), created=f_day + HOUR, type=np.full(nf, A_FEE), mod_ref=np.full(nf, b"", "S27"),
               gross_debit=np.full(nf, -1), gross_credit=np.full(nf, -1), net_debit=np.full(nf, ADYEN_MONTHLY_FEE),
               net_credit=np.full(nf, -1), commission=np.full(nf, -1), markup=np.full(nf, -1),
               scheme=np.full(nf, -1), interchange=np.full(nf, -1))
    cols = {k: np.concatenate([cols[k], fee[k]]) for k in cols}
    day = _day(cols["created"])
    # batches: one per (UTC day, merchant account) with lines, numbered in (day, account) order
    bkey, binv = np.unique(day * 16 + cols["currency"], return_inverse=True)
    nb = bkey.size
    b_day, b_cur = bkey // 16, bkey % 16
    number = np.arange(1, nb + 1)
    net = np.where(cols["net_credit"] >= 0, cols["net_credit"], 0) - np.where(cols["net_debit"] >= 0,
                                                                               cols["net_debit"], 0)
    b_net = np.zeros(nb, dtype=np.int64)
    np.add.at(b_net, binv, net)
    closed_at = b_day + BATCH_CLOSE
    pay = dict(currency=b_cur, psp=np.full(nb, b"", "S27"), merchant_ref=np.full(nb, b"", "S27"),
               method=np.full(nb, -1), created=closed_at, type=np.full(nb, A_PAYOUT),
               mod_ref=np.full(nb, b"", "S27"), gross_debit=np.full(nb, -1), gross_credit=np.full(nb, -1),
               net_debit=np.where(b_net >= 0, b_net, -1), net_credit=np.where(b_net < 0, -b_net, -1),
               commission=np.full(nb, -1), markup=np.full(nb, -1), scheme=np.full(nb, -1),
               interchange=np.full(nb, -1))
    batch = np.concatenate([number[binv], number])
    cols = {k: np.concatenate([cols[k], pay[k]]) for k in cols}
    order = np.lexsort((cols["psp"], cols["type"], cols["created"], batch))
    lines = AdyenLines(batch=batch[order], **{k: v[order] for k, v in cols.items()})
    batches = Batches(number, b_day, b_cur, closed_at)
    if (closed_at > period.end).any():
        raise AssertionError("an Adyen batch closes after the end of the world")
    return lines, batches


def _month_key(day: int) -> tuple[int, int]:
    from datetime import datetime
    t = datetime.fromtimestamp(day, UTC)
    return t.year, t.month


def pick_malformed(lines: AdyenLines, batches: Batches, inc: GatewayIncidents, w,
                   rng: np.random.Generator) -> Malformed:
    """Garbled copies of three plain Settled lines in one mid-world batch of the first
    merchant account: a file a reader must partly reject."""
    plain = (lines.type == A_SETTLED)
    special = np.concatenate([w.attempts.attempt_id[inc.unrecorded], inc.double_attempt_id,
                              w.attempts.attempt_id[inc.dispute_attempt]])
    plain &= ~np.isin(lines.merchant_ref, special)
    if not plain.any():  # a world without a plain Adyen settlement: no malformed file
        return Malformed(-1, np.zeros(0, dtype=np.int64), ())
    per_batch = np.bincount(lines.batch[plain], minlength=int(batches.number.max()) + 1)[batches.number]
    k = min(len(MALFORMED), int(per_batch.max()))  # a tiny world may garble fewer than three
    mine = batches.number[per_batch >= k]
    b = int(mine[mine.size // 2])
    rows = np.sort(rng.choice(np.flatnonzero(plain & (lines.batch == b)), size=k, replace=False))
    return Malformed(b, rows, MALFORMED[:k])


def simulate_gateways(w, seed: int) -> Gateways:
    rng = stream(seed, "gateways")
    inc, settle = plan_gateway_incidents(w, rng)
    charges, refunds, disputes, txns, payouts, failed = stripe_side(w, inc, stream(seed, "stripe"))
    lines, batches = adyen_side(w, inc, settle, stream(seed, "adyen"))
    malformed = pick_malformed(lines, batches, inc, w, stream(seed, "malformed"))
    return Gateways(charges, refunds, disputes, txns, payouts, lines, batches, malformed, inc, failed)



# Stripe's wording per billing code: (failure_code, failure_message, outcome type, network status, risk level)
_DECLINED = "Your card was declined."
STRIPE_CODES = {
    "insufficient_funds": ("card_declined", "Your card has insufficient funds.", "issuer_declined", "normal"),
    "do_not_honor": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "generic_decline": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "card_declined": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "try_again_later": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "processing_error": ("processing_error", "An error occurred while processing your card. Try again in a little bit.",
                         "invalid", "normal"),
    "expired_card": ("expired_card", "Your card has expired.", "issuer_declined", "normal"),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect.", "issuer_declined", "normal"),
    "authentication_required": ("authentication_required", "Your card was declined. This transaction requires "
                                "authentication.", "issuer_declined", "normal"),
    "lost_card": ("card_declined", _DECLINED, "issuer_declined", "elevated"),
    "stolen_card": ("card_declined", _DECLINED, "issuer_declined", "elevated"),
    "fraudulent": ("card_declined", _DECLINED, "blocked", "highest"),
    "account_closed": ("account_closed", "The customer's bank account has been closed.", "issuer_declined", "normal"),
    "debit_not_authorized": ("debit_not_authorized", "The customer has notified their bank that this payment was "
                             "unauthorized.", "issuer_declined", "normal"),
}
ACH_MESSAGES = {"insufficient_funds": "The customer's account has insufficient funds to cover this payment."}


def stripe_code_rows() -> list[tuple]:
    """demo.stripe_codes: code, failure_code, failure_message, ach_failure_message, outcome
    type, network_status, reason, risk_level, seller_message."""
    rows = []
    for code, (fc, msg, kind, risk) in STRIPE_CODES.items():
        if kind == "blocked":
            net, reason, seller = "not_sent_to_network", "highest_risk_level", "Stripe blocked this payment as too risky."
        elif kind == "invalid":
            net, reason, seller = "not_sent_to_network", code, "There was an error processing this payment."
        else:
            net, reason, seller = "declined_by_network", code, f"The bank returned the decline code `{code}`."
        rows.append((code, fc, msg, ACH_MESSAGES.get(code, msg), kind, net, reason, risk, seller))
    return rows
