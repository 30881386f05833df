"""The gateways' vocabulary: the codes, fee schedules and record shapes of what Stripe and Adyen
hold for the attempts billing made, shared by the modules that simulate them.

Every attempt that reached its gateway (gateway_reference set) has a gateway object: a
Stripe charge, or (once settled) an Adyen `Settled` line. Around them: refunds, disputes and
chargebacks, Stripe balance transactions and daily payouts, Adyen settlement batches (one
per UTC day and merchant account) closed by a `MerchantPayout` line. Pure numpy, no I/O.
Who makes them: gateway_incidents.py picks the attempts the gateway incidents take,
stripe_objects.py and adyen_lines.py build each side, stripe_codes.py words Stripe's
errors, and pipeline.simulate_gateways runs them in order (the random streams are fixed).

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
  (`payout_failure`), and the next payout carries it. One other paid payout (stripe_objects.short_payout)
  pays out less than its entries' nets: one charge listed with it was not paid.
- Adyen: a succeeded attempt settles 1-6 h after it completed; the batch of UTC day D holds
  the lines created that day and closes with its `MerchantPayout` at D+1 02:00, so only days
  closed by the end of the world have a file. Fees per `Settled` line: commission 12 (ACH
  25), markup 0.30 %, scheme fees 0.13 %, interchange by brand, each rounded half up.
  Chargebacks cost a 15.00 commission; a monthly fee of 100.00 goes on each merchant
  account's first batch of a month in the world.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from demoworld.params import DAY
from demoworld.payments import ACH

HOUR = 3600
# --- Stripe
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
BAD_CURRENCY = "UDS"  # what an `unknown_currency` garbled line carries (adyen_lines.MALFORMED)


def round_bp(amount: np.ndarray, bp) -> np.ndarray:
    """amount * bp / 10 000, rounded half up (amounts are never negative here)."""
    return (np.asarray(amount, dtype=np.int64) * bp + 5_000) // 10_000


def stripe_fee(amount: np.ndarray, method: np.ndarray) -> np.ndarray:
    card = round_bp(amount, 290) + 30
    ach = np.minimum(round_bp(amount, 80), 500)
    return np.where(method == ACH, ach, card)


def utc_day(t: np.ndarray) -> np.ndarray:
    """The UTC midnight of each instant."""
    return t // DAY * DAY


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


class ShortPayout(NamedTuple):
    """The S2 incident: a paid Stripe payout short of the nets of the entries it lists."""

    row: int  # row in Payouts, -1 = none
    entry: bytes  # the balance transaction (a charge) listed with it whose net it did not pay
    short: int  # minor units: its entries' nets - its amount


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
    short_payout: ShortPayout
