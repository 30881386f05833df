"""Stripe's side of the world: charges (the phantom ones included), refunds, disputes, the balance
transactions they move and the daily payouts over them (one fails and is credited back), from
the attempts and the gateway incidents' picks. Conventions: gateways.py. Pure numpy, no I/O.
"""
from __future__ import annotations

from datetime import UTC

import numpy as np

from demoworld import ids
from demoworld.gateways import (
    C_CHARGE,
    C_DISPUTE,
    C_DISPUTE_REVERSAL,
    C_FEE,
    C_PAYOUT,
    C_PAYOUT_REVERSAL,
    C_REFUND,
    C_REFUND_FAILURE,
    DISPUTE_FEE,
    HOUR,
    LOST,
    NEEDS,
    PAYOUT_HOUR,
    REVIEW,
    STRIPE_MONTHLY_FEE,
    T_ADJUSTMENT,
    T_CHARGE,
    T_FEE,
    T_PAYMENT,
    T_PAYOUT,
    T_PAYOUT_FAILURE,
    T_REFUND,
    T_REFUND_FAILURE,
    W_CLOSED,
    W_NEEDS,
    W_REVIEW,
    WON,
    Charges,
    Disputes,
    GatewayIncidents,
    Payouts,
    ShortPayout,
    StripeRefunds,
    Txns,
    stripe_fee,
    utc_day,
)
from demoworld.params import DAY
from demoworld.payments import ACH, FAILED, STRIPE, SUCCEEDED


def _next_business_day(day: int) -> int:
    d = day + DAY
    while (d // DAY + 3) % 7 >= 5:  # 1970-01-01 was a Thursday: 0 = Monday
        d += DAY
    return d


def stripe_side(w, inc: GatewayIncidents, rng: np.random.Generator):
    """Charges, refunds, disputes, balance transactions and payouts of the world `w`, with the
    row in Payouts of the failed payout (-1 if none)."""
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
        (done[ok], utc_day(done[ok]) + 2 * DAY, a.amount[src[ok]], stripe_fee(a.amount[src[ok]], method[ok]),
         cur[src[ok]], np.where(method[ok] == ACH, T_PAYMENT, T_CHARGE), C_CHARGE, 0, ok),
        (r.created[rs], utc_day(r.created[rs]) + DAY, -r.amount[rs], 0, cur[r.attempt[rs]], T_REFUND, C_REFUND, 1,
         np.arange(rs.size)),
        (r.updated[rs][rf], utc_day(r.updated[rs][rf]) + DAY, r.amount[rs][rf], 0, cur[r.attempt[rs]][rf],
         T_REFUND_FAILURE, C_REFUND_FAILURE, 2, np.flatnonzero(rf)),
        (d_created[moved], utc_day(d_created[moved]) + DAY, -a.amount[d_att][moved], DISPUTE_FEE,
         cur[d_att][moved], T_ADJUSTMENT, C_DISPUTE, 3, np.flatnonzero(moved)),
        (d_decided[reversed_], utc_day(d_decided[reversed_]) + DAY, a.amount[d_att][reversed_], 0,
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
    fail_after = utc_day(np.array([period.start + period.days * DAY // 2]))[0]
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


def short_payout(payouts: Payouts, txns: Txns, row: int, entry: int) -> tuple[Payouts, Txns, ShortPayout]:
    """The S2 incident (recon.plan picks it): payout `row` pays out less than the nets of the balance
    entries it lists, by the net of the charge transaction `entry` listed with it. Its own payout
    transaction moves the smaller amount, so the bank and the ledger (built from the payouts) see the
    short payout and agree with it; only its reconstruction (a payout = the nets of its entries) breaks."""
    short = int(txns.amount[entry] - txns.fee[entry])
    amount = payouts.amount.copy()
    amount[row] -= short
    t_amount = txns.amount.copy()
    t_amount[txns.txn_id == payouts.txn[row]] = -amount[row]
    return (payouts._replace(amount=amount), txns._replace(amount=t_amount),
            ShortPayout(row, bytes(txns.txn_id[entry]), short))


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
