"""Adyen's side of the world: the settlement-detail lines (settled captures, phantom ones included,
refunds, chargebacks and their reversals, monthly fees) grouped into daily batches per merchant
account, each closed by its MerchantPayout line; and the batch whose file a reader must partly
reject. Conventions: gateways.py. Pure numpy, no I/O; adyen.py renders the files.
"""
from __future__ import annotations

from datetime import UTC

import numpy as np

from demoworld import ids
from demoworld.gateways import (
    A_CHARGEBACK,
    A_FEE,
    A_PAYOUT,
    A_REFUNDED,
    A_REVERSED,
    A_SETTLED,
    ADYEN_ACH_COMMISSION,
    ADYEN_COMMISSION,
    ADYEN_MONTHLY_FEE,
    BATCH_CLOSE,
    CHARGEBACK_FEE,
    HOUR,
    INTERCHANGE_BP,
    MARKUP_BP,
    SCHEME_BP,
    AdyenLines,
    Batches,
    GatewayIncidents,
    Malformed,
    round_bp,
    utc_day,
)
from demoworld.payments import ADYEN, CARD, SUCCEEDED, WALLET

MALFORMED = ("bad_decimal", "missing_column", "unknown_currency")


def adyen_side(w, inc: GatewayIncidents, settle: np.ndarray, rng: np.random.Generator):
    """Every line of the closed batches of the world `w`, and the batches."""
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
    day = utc_day(cols["created"])
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
    day = utc_day(cols["created"])
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
