"""Gateway payouts as the bank and the general ledger see them, and the days they live on.

Pure numpy, no I/O. One row per gateway payout: every Stripe payout (paid, in_transit or
failed) and every Adyen batch whose `MerchantPayout` line carries a Net Debit (money paid out
to the bank), with the day it reaches the bank and the processing fees it carries.

Conventions (what readers may rely on, beyond SOURCES.md):
- Days are UTC dates. A bank business day is Monday to Friday (no holidays).
- Bank files exist for the business days from the world's first day up to the last business
  day fully over at the world's end; GL exports for every day from the world's first day up
  to the last day fully over (`last_export_day`); FX rates for every day of the world up to
  and including the day the world ends in.
- Bank day of a payout: a Stripe payout's `arrival_date`; an Adyen batch's next business
  day after the UTC date of its close (`closed_at`, the MerchantPayout's Creation Date).
- Fees of a Stripe payout: sum of `fee` over the balance transactions paid out with it
  (its own `payout` transaction excluded) plus the negated amount of those with
  reporting_category `fee`. Fees of an Adyen batch: Commission + Markup + Scheme Fees +
  Interchange over its lines, plus the Net Debit of its `Fee` lines. Either way
  `amount + fees` is what the payout takes out of gateway clearing.
- A payout arrives in the bank when it did not fail and its bank day has a bank file; it is
  booked in the GL when it did not fail and its bank day is at most `last_export_day`
  (Stripe `in_transit` payouts arrive after that, so are neither yet).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld.gateways import A_FEE, A_PAYOUT, C_FEE, T_PAYOUT, T_PAYOUT_FAILURE
from demoworld.params import DAY, Period
from demoworld.payments import ADYEN, STRIPE

PAID, IN_TRANSIT, FAILED = range(3)  # gateways.PAYOUT_STATUSES


def sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Integer sums of `values` per `index` in [0, n) (exact: no float weights)."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, index, np.asarray(values, dtype=np.int64))
    return out


def is_business_day(day: np.ndarray | int) -> np.ndarray | bool:
    """UTC midnight(s) -> Monday to Friday (1970-01-01 was a Thursday)."""
    return (np.asarray(day) // DAY + 3) % 7 < 5


def next_business_day(day: np.ndarray) -> np.ndarray:
    """The first business day strictly after each UTC midnight."""
    d = np.asarray(day, dtype=np.int64) + DAY
    for _ in range(3):
        d = np.where(is_business_day(d), d, d + DAY)
    return d


class Calendar(NamedTuple):
    """The days of the world the bank, the ledger and the FX file cover (UTC midnights)."""

    first_day: int  # the world's first day
    last_day: int  # the day the world ends in (FX rates up to and including it)
    last_export_day: int  # the last day fully over: the last GL export
    bank_days: np.ndarray  # business days first_day..last_export_day: one bank file each
    first_rate_day: int  # the first local day of any site (a world starting at 00:00 UTC starts the
    #                      evening before in America/*, and that day's revenue is booked in its currency)

    @property
    def export_days(self) -> np.ndarray:
        return np.arange(self.first_day, self.last_export_day + 1, DAY, dtype=np.int64)

    @property
    def days(self) -> np.ndarray:
        """The days the FX file has a rate for: every local day of the world."""
        return np.arange(min(self.first_rate_day, self.first_day), self.last_day + 1, DAY, dtype=np.int64)


def calendar(period: Period, first_local_day: int | None = None) -> Calendar:
    """The world's days; `first_local_day` (a day number) is the earliest local date of a site at its start."""
    first = period.start // DAY * DAY
    last = (period.end - 1) // DAY * DAY
    last_export = period.end // DAY * DAY - DAY
    days = np.arange(first, last_export + 1, DAY, dtype=np.int64)
    first_rate = first if first_local_day is None else int(first_local_day) * DAY
    return Calendar(int(first), int(last), int(last_export), days[is_business_day(days)], first_rate)


class Transfers(NamedTuple):
    """Gateway payouts, sorted by (bank_day, gateway, currency, reference)."""

    gateway: np.ndarray  # payments.GATEWAYS index
    payout_id: np.ndarray  # Stripe payout id (S), b'' for Adyen
    batch: np.ndarray  # Adyen batch number, -1 for Stripe
    currency: np.ndarray
    amount: np.ndarray  # paid out to the bank, minor units
    fees: np.ndarray  # processing fees the payout carries, minor units
    bank_day: np.ndarray  # UTC midnight
    status: np.ndarray  # PAID, IN_TRANSIT, FAILED (Adyen: PAID once closed)
    carrier: np.ndarray  # bool: the Stripe payout that carries a failed payout's amount back

    @property
    def reference(self) -> list[str]:
        """The ledger reference: the Stripe payout id, or ADYEN-<batch>."""
        return [p.decode() if g == STRIPE else f"ADYEN-{b}"
                for g, p, b in zip(self.gateway.tolist(), self.payout_id.tolist(), self.batch.tolist(), strict=True)]

    @property
    def bank_text(self) -> list[str]:
        """What the bank's entry text says when the bank passes the reference on."""
        return [f"STRIPE PAYOUT {p.decode()}" if g == STRIPE else f"ADYEN BATCH {b}"
                for g, p, b in zip(self.gateway.tolist(), self.payout_id.tolist(), self.batch.tolist(), strict=True)]

    def arrives(self, cal: Calendar) -> np.ndarray:
        return (self.status != FAILED) & np.isin(self.bank_day, cal.bank_days)

    def booked(self, cal: Calendar) -> np.ndarray:
        return (self.status != FAILED) & (self.bank_day <= cal.last_export_day)


def make_transfers(g) -> Transfers:
    """Every payout of the gateways `g` (gateways.Gateways), fees included."""
    p, t = g.payouts, g.txns
    n = p.payout_id.size
    order = np.argsort(p.payout_id)
    m = np.flatnonzero((t.payout != b"") & (t.type != T_PAYOUT))
    row = order[np.searchsorted(p.payout_id[order], t.payout[m])]
    fee = t.fee[m] + np.where(t.category[m] == C_FEE, -t.amount[m], 0)
    s_fees = sum_by(row, fee, n)
    carrier = np.zeros(n, dtype=bool)
    carrier[row[t.type[m] == T_PAYOUT_FAILURE]] = True

    lines, b = g.lines, g.batches
    nb = b.number.size
    bidx = np.searchsorted(b.number, lines.batch)
    fees_col = sum(np.where(c >= 0, c, 0) for c in (lines.commission, lines.markup, lines.scheme, lines.interchange))
    fees_col = fees_col + np.where((lines.type == A_FEE) & (lines.net_debit >= 0), lines.net_debit, 0)
    a_fees = sum_by(bidx, fees_col, nb)
    pay = np.flatnonzero((lines.type == A_PAYOUT) & (lines.net_debit > 0))
    pb = bidx[pay]

    gateway = np.concatenate([np.full(n, STRIPE), np.full(pay.size, ADYEN)]).astype(np.int64)
    cols = dict(
        gateway=gateway,
        payout_id=np.concatenate([p.payout_id, np.full(pay.size, b"", dtype=p.payout_id.dtype)]),
        batch=np.concatenate([np.full(n, -1), b.number[pb]]).astype(np.int64),
        currency=np.concatenate([p.currency, b.currency[pb]]).astype(np.int64),
        amount=np.concatenate([p.amount, lines.net_debit[pay]]).astype(np.int64),
        fees=np.concatenate([s_fees, a_fees[pb]]),
        bank_day=np.concatenate([p.arrival, next_business_day(b.closed_at[pb] // DAY * DAY)]).astype(np.int64),
        status=np.concatenate([p.status, np.full(pay.size, PAID)]).astype(np.int64),
        carrier=np.concatenate([carrier, np.zeros(pay.size, dtype=bool)]),
    )
    order = np.lexsort((cols["payout_id"], cols["batch"], cols["currency"], cols["gateway"], cols["bank_day"]))
    return Transfers(**{k: v[order] for k, v in cols.items()})
