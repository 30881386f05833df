"""The product's own tables: typed SQLAlchemy 2.0 models under one naming convention.

Three families: copies of the billing source (keyed by the source's natural ids), plumbing
(sync watermarks, pending recompute windows, the run log), and additive hourly rollups
(counts and sums only; ratios are computed at read time).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# ---------------------------------------------------------------- billing source copies
class Site(Base):
    __tablename__ = "sites"
    site_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    tax_jurisdiction: Mapped[str] = mapped_column(Text)


class RatePlan(Base):
    __tablename__ = "rate_plans"
    rate_plan_id: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[str] = mapped_column(Text, index=True)
    effective_from: Mapped[datetime] = mapped_column(TS)
    effective_to: Mapped[datetime | None] = mapped_column(TS)
    grace_minutes: Mapped[int] = mapped_column(Integer)
    increment_minutes: Mapped[int] = mapped_column(Integer)
    increment_price_minor: Mapped[int] = mapped_column(BigInteger)
    daily_max_minor: Mapped[int | None] = mapped_column(BigInteger)


class TaxRate(Base):
    __tablename__ = "tax_rates"
    jurisdiction: Mapped[str] = mapped_column(Text, primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    effective_to: Mapped[date | None] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))


class ParkingSession(Base):
    __tablename__ = "parking_sessions"
    session_id: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[str] = mapped_column(Text)
    entered_at: Mapped[datetime] = mapped_column(TS)
    exited_at: Mapped[datetime | None] = mapped_column(TS)
    customer_id: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TS)
    __table_args__ = (Index(None, "entered_at"), Index(None, "site_id", "entered_at"), Index(None, "exited_at"))


class Invoice(Base):
    __tablename__ = "invoices"
    invoice_id: Mapped[str] = mapped_column(Text, primary_key=True)
    session_id: Mapped[str] = mapped_column(Text, index=True)
    currency: Mapped[str] = mapped_column(Text)
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(TS, index=True)
    status: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TS)


class PaymentAttempt(Base):
    __tablename__ = "payment_attempts"
    attempt_id: Mapped[str] = mapped_column(Text, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(Text, index=True)
    attempt_number: Mapped[int] = mapped_column(Integer)
    gateway: Mapped[str] = mapped_column(Text)
    gateway_reference: Mapped[str | None] = mapped_column(Text, index=True)
    idempotency_key: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    failure_code: Mapped[str | None] = mapped_column(Text)
    payment_method_type: Mapped[str] = mapped_column(Text)
    card_brand: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(TS, index=True)
    updated_at: Mapped[datetime] = mapped_column(TS)


class Refund(Base):
    __tablename__ = "refunds"
    refund_id: Mapped[str] = mapped_column(Text, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(Text, index=True)
    attempt_id: Mapped[str] = mapped_column(Text)
    gateway: Mapped[str] = mapped_column(Text)
    gateway_reference: Mapped[str | None] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, index=True)
    updated_at: Mapped[datetime] = mapped_column(TS)


# ---------------------------------------------------------------- gateway copies (SOURCES.md §2-3)
class _StripeObject:
    """Normalized columns beside the raw object as Stripe sent it (jsonb), keyed by Stripe's id.
    Amounts are Stripe's integer minor units; currencies upper-case ISO 4217."""

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    created: Mapped[datetime] = mapped_column(TS, index=True)
    currency: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict] = mapped_column(JSONB)


class StripeCharge(_StripeObject, Base):
    __tablename__ = "stripe_charges"
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_refunded: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    failure_code: Mapped[str | None] = mapped_column(Text)
    outcome_type: Mapped[str | None] = mapped_column(Text)
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    card_brand: Mapped[str | None] = mapped_column(Text)
    attempt_id: Mapped[str | None] = mapped_column(Text, index=True)
    invoice_id: Mapped[str | None] = mapped_column(Text, index=True)  # Trace: charges of an invoice
    balance_transaction: Mapped[str | None] = mapped_column(Text)


class StripeRefund(_StripeObject, Base):
    __tablename__ = "stripe_refunds"
    charge: Mapped[str | None] = mapped_column(Text, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    balance_transaction: Mapped[str | None] = mapped_column(Text)


class StripeDispute(_StripeObject, Base):
    __tablename__ = "stripe_disputes"
    charge: Mapped[str] = mapped_column(Text, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)


class StripeBalanceTransaction(_StripeObject, Base):
    __tablename__ = "stripe_balance_transactions"
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(Text)
    reporting_category: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text, index=True)
    available_on: Mapped[datetime | None] = mapped_column(TS)
    status: Mapped[str | None] = mapped_column(Text)
    payout: Mapped[str | None] = mapped_column(Text, index=True)  # set when read through ?payout=


class StripePayout(_StripeObject, Base):
    __tablename__ = "stripe_payouts"
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text)
    arrival_date: Mapped[datetime | None] = mapped_column(TS)
    balance_transaction: Mapped[str | None] = mapped_column(Text)


class SourceFile(Base):
    """A file-based source file taken in once, recognised by its content hash."""

    __tablename__ = "source_files"
    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    lines_read: Mapped[int] = mapped_column(Integer)
    lines_loaded: Mapped[int] = mapped_column(Integer)
    lines_quarantined: Mapped[int] = mapped_column(Integer)


class QuarantinedRecord(Base):
    """A source record that could not be taken in: where it was, why, and its text, kept for repair."""

    __tablename__ = "quarantine"
    quarantine_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(Text, index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    record: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class AdyenSettlementLine(Base):
    """One line of an Adyen Settlement details report; money in minor units of its currency."""

    __tablename__ = "adyen_settlement_lines"
    file_sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    line_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_account: Mapped[str | None] = mapped_column(Text)
    merchant_account: Mapped[str] = mapped_column(Text)
    psp_reference: Mapped[str | None] = mapped_column(Text, index=True)
    merchant_reference: Mapped[str | None] = mapped_column(Text, index=True)
    payment_method: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, index=True)
    type: Mapped[str] = mapped_column(Text)
    modification_reference: Mapped[str | None] = mapped_column(Text)
    gross_currency: Mapped[str | None] = mapped_column(Text)
    gross_debit_minor: Mapped[int | None] = mapped_column(BigInteger)
    gross_credit_minor: Mapped[int | None] = mapped_column(BigInteger)
    exchange_rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 10))
    net_currency: Mapped[str] = mapped_column(Text)
    net_debit_minor: Mapped[int | None] = mapped_column(BigInteger)
    net_credit_minor: Mapped[int | None] = mapped_column(BigInteger)
    commission_minor: Mapped[int | None] = mapped_column(BigInteger)
    markup_minor: Mapped[int | None] = mapped_column(BigInteger)
    scheme_fees_minor: Mapped[int | None] = mapped_column(BigInteger)
    interchange_minor: Mapped[int | None] = mapped_column(BigInteger)
    batch_number: Mapped[int] = mapped_column(Integer, index=True)


# ---------------------------------------------------------------- plumbing
class SyncState(Base):
    """Per source table: the newest `updated_at` already copied (the watermark)."""

    __tablename__ = "sync_state"
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(TS)


class PendingWindow(Base):
    """Event-time span touched by an ingest, waiting for the compute jobs that read that table."""

    __tablename__ = "pending_windows"
    pending_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(Text, index=True)
    consumer: Mapped[str] = mapped_column(Text, index=True)
    window_start: Mapped[datetime] = mapped_column(TS)
    window_end: Mapped[datetime] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class JobRun(Base):
    """One row per job run: the run log of DESIGN.md. Outcome: running, succeeded, failed, skipped."""

    __tablename__ = "job_runs"
    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime | None] = mapped_column(TS)
    window_end: Mapped[datetime | None] = mapped_column(TS)
    started_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    outcome: Mapped[str] = mapped_column(Text, default="running", server_default="running")
    error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index(None, "job", "started_at"),)


# ---------------------------------------------------------------- additive rollups
class _HourGrain:
    """Rollup grain: UTC hour plus the site's local date (an hour can straddle two local
    dates in a half-hour time zone, so local_date is part of the key, decided in SQL)."""

    hour: Mapped[datetime] = mapped_column(TS, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    site_id: Mapped[str] = mapped_column(Text, primary_key=True)


class SessionRollup(_HourGrain, Base):
    """Sessions by entry hour."""

    __tablename__ = "rollup_sessions"
    sessions: Mapped[int] = mapped_column(BigInteger)
    closed_sessions: Mapped[int] = mapped_column(BigInteger)
    parked_minutes: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date"),)


class InvoiceRollup(_HourGrain, Base):
    """Invoices by issue hour, per currency and status (void stays visible, and separable)."""

    __tablename__ = "rollup_invoices"
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    invoices: Mapped[int] = mapped_column(BigInteger)
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date"),)


class PaymentRollup(_HourGrain, Base):
    """Payment attempts by attempt hour. Empty string stands for 'none' in key columns
    (no card brand, no failure code) so the grain is a real primary key."""

    __tablename__ = "rollup_payments"
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    payment_method_type: Mapped[str] = mapped_column(Text, primary_key=True)
    card_brand: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    failure_code: Mapped[str] = mapped_column(Text, primary_key=True)
    is_retry: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    attempts: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date"),)


# ---------------------------------------------------------------- payment rollups (collectors/compute/payment_rollups.py)
class InvoiceOutcomeRollup(_HourGrain, Base):
    """Invoices by issue hour with what their attempts made of them: first-attempt and eventual
    success, retry recovery. Keyed by the gateway of the first attempt and the failure code of
    the first failed attempt ('' = none), so recovery reads per decline class and gateway."""

    __tablename__ = "rollup_invoice_outcomes"
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    first_gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    first_failure_code: Mapped[str] = mapped_column(Text, primary_key=True)
    invoices: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    attempted: Mapped[int] = mapped_column(BigInteger)          # invoices with at least one attempt
    first_succeeded: Mapped[int] = mapped_column(BigInteger)    # first attempt succeeded
    succeeded: Mapped[int] = mapped_column(BigInteger)          # some attempt succeeded
    retried: Mapped[int] = mapped_column(BigInteger)            # more than one attempt
    recovered: Mapped[int] = mapped_column(BigInteger)          # succeeded, but not on the first attempt
    recovered_minor: Mapped[int] = mapped_column(BigInteger)    # amount of those successful retries
    succeeded_minor: Mapped[int] = mapped_column(BigInteger)    # amount of the first successful attempt
    unpaid_minor: Mapped[int] = mapped_column(BigInteger)       # totals of invoices with no successful attempt
    __table_args__ = (Index(None, "local_date"),)


class RefundRollup(_HourGrain, Base):
    """Billing refunds by creation hour. refund_seconds sums the time from the paid attempt to the
    refund over timed_refunds (refunds whose attempt is known): the mean is a read-time ratio."""

    __tablename__ = "rollup_refunds"
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text, primary_key=True)
    refunds: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    timed_refunds: Mapped[int] = mapped_column(BigInteger)
    refund_seconds: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date"),)


class DisputeRollup(_HourGrain, Base):
    """Disputes (Stripe disputes, Adyen chargebacks) by the hour they were opened, per outcome
    (won, lost, open) as of the latest data; '' = unknown card brand or reason."""

    __tablename__ = "rollup_disputes"
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    card_brand: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text, primary_key=True)
    disputes: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date"),)


# ---------------------------------------------------------------- gateway vs billing (collectors/compute/gateway_mismatches.py)
class GatewayMismatch(Base):
    """One gateway object that took money billing does not know about: a succeeded Stripe charge
    or an Adyen `Settled` line whose billing attempt is 'failed'/'unknown' (kind
    'unrecorded_success') or does not exist at all (kind 'no_internal_attempt').

    Keyed by the gateway object; placed in time by the gateway's own time (`occurred_at`),
    with the site's local date decided in SQL ('UTC' when the site is unknown). `attempt_id` is
    billing's matched attempt (NULL when none); `gateway_attempt_id` the attempt id the gateway
    carries (Stripe metadata, Adyen Merchant Reference). Money: the gateway's minor units."""

    __tablename__ = "gateway_mismatches"
    gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    gateway_reference: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(TS, index=True)
    hour: Mapped[datetime] = mapped_column(TS)
    local_date: Mapped[date] = mapped_column(Date, index=True)
    attempt_id: Mapped[str | None] = mapped_column(Text)
    gateway_attempt_id: Mapped[str | None] = mapped_column(Text)
    invoice_id: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    gateway_status: Mapped[str] = mapped_column(Text)
    billing_status: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------- billing accuracy (collectors/compute/billing_classification.py)
class BillingFinding(Base):
    """One judged closed session: its shadow-rated price against what billing invoiced.

    Every billable or invoiced session exited before the settle cutoff has a row, correct ones
    included (`class`, collectors.compute.billing_classification.CLASSES), so accuracy and every sum
    are additive. Placed in time by the exit (`exited_at`, UTC `hour`, the site's `local_date`
    decided in SQL). Expected amounts are NULL when the session cannot be rated (`problem`);
    billed amounts sum the non-void invoices (0 when none); `difference_minor` = billed total -
    expected total, NULL when the currencies differ. Money: integer minor units of `currency`."""

    __tablename__ = "billing_findings"
    session_id: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[str] = mapped_column(Text)
    exited_at: Mapped[datetime] = mapped_column(TS, index=True)
    hour: Mapped[datetime] = mapped_column(TS)
    local_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str | None] = mapped_column(Text)
    rate_plan_id: Mapped[str | None] = mapped_column(Text)
    class_: Mapped[str] = mapped_column("class", Text)
    billable: Mapped[bool | None] = mapped_column(Boolean)
    problem: Mapped[str | None] = mapped_column(Text)
    expected_subtotal_minor: Mapped[int | None] = mapped_column(BigInteger)
    expected_tax_minor: Mapped[int | None] = mapped_column(BigInteger)
    expected_total_minor: Mapped[int | None] = mapped_column(BigInteger)
    billed_currency: Mapped[str | None] = mapped_column(Text)
    billed_subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    billed_tax_minor: Mapped[int] = mapped_column(BigInteger)
    billed_total_minor: Mapped[int] = mapped_column(BigInteger)
    invoices: Mapped[int] = mapped_column(Integer)
    void_invoices: Mapped[int] = mapped_column(Integer)
    difference_minor: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date", "site_id"),)


# ---------------------------------------------------------------- bank, ledger, FX copies (SOURCES.md §4-6)
class BankLine(Base):
    """One transaction on a bank statement (BAI2 type-16 detail or camt.053 `Ntry`), keyed by
    where it was read. Money: positive minor units, `direction` credit or debit.
    `payout_refs` are the gateway payout references found in the line's text, normalised
    (`po_…` for Stripe, `ADYEN-<batch>` for Adyen); `payout_candidate` marks credits whose
    type code says a gateway payout may be behind them (config, SOURCES §4: 165, 169, 195)."""

    __tablename__ = "bank_lines"
    file_sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    line_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    format: Mapped[str] = mapped_column(Text)  # bai2, camt053
    account: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    bank_date: Mapped[date] = mapped_column(Date, index=True)
    value_date: Mapped[date | None] = mapped_column(Date)
    type_code: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    bank_reference: Mapped[str | None] = mapped_column(Text)
    customer_reference: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    payout_refs: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    payout_candidate: Mapped[bool] = mapped_column(Boolean)
    ingested_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class GlLine(Base):
    """One general-ledger journal line from an ERP export, keyed by (journal_id, line): a journal
    exported again overwrites itself. Money: minor units of `currency` (0 on the empty side)."""

    __tablename__ = "gl_lines"
    journal_id: Mapped[str] = mapped_column(Text, primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    posted_date: Mapped[date] = mapped_column(Date, index=True)
    account: Mapped[str] = mapped_column(Text)
    account_name: Mapped[str | None] = mapped_column(Text)
    debit_minor: Mapped[int] = mapped_column(BigInteger)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(Text)
    memo: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(Text, index=True)
    file_sha256: Mapped[str] = mapped_column(Text)
    file_line: Mapped[int] = mapped_column(Integer)
    ingested_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class FxRate(Base):
    """A daily reference rate: 1 unit of `currency` = `rate_to_reporting` units of the reporting currency."""

    __tablename__ = "fx_rates"
    rate_date: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    rate_to_reporting: Mapped[Decimal] = mapped_column(Numeric(20, 10))
    file_sha256: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- reconciliation (collectors/compute/reconciliation.py)
class ReconItem(Base):
    """One thing that must match at one stage, as the last run judged it.

    stage: S1 billing↔gateway, S2 gateway↔payout, S3 payout↔bank, S4 ledger.
    status: matched, expected (still inside its timing window until `due_at`), break.
    break_type (breaks only): missing, amount_mismatch, duplicate, status_mismatch,
    currency_mismatch; `missing_side` names the side without it (billing, gateway, payout,
    bank, ledger). `amount_minor` is the item's own amount, `counter_amount_minor` the other
    side's (NULL when absent), `break_amount_minor` the money at stake. `left_ref`/`right_ref`
    are the references on each side; `match_rule` how it matched (reference, amount_date,
    many_to_one); `detail` stage-specific figures (a payout's reconstruction, subtotal/tax).
    `fingerprint` is a hash of both sides' data: a resolved break whose fingerprint changes
    reopens. Money: minor units of `currency`."""

    __tablename__ = "recon_items"
    stage: Mapped[str] = mapped_column(Text, primary_key=True)
    item_key: Mapped[str] = mapped_column(Text, primary_key=True)
    item_type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    break_type: Mapped[str | None] = mapped_column(Text)
    missing_side: Mapped[str | None] = mapped_column(Text)
    gateway: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    counter_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    break_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    left_ref: Mapped[str | None] = mapped_column(Text)
    right_ref: Mapped[str | None] = mapped_column(Text)
    match_rule: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(TS)
    accounting_month: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime | None] = mapped_column(TS)
    detail: Mapped[dict | None] = mapped_column(JSONB)
    fingerprint: Mapped[str] = mapped_column(Text)
    examined_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    __table_args__ = (Index(None, "accounting_month", "stage", "status"), Index(None, "status", "stage"),
                      Index("ix_recon_items_open", "stage", "item_type", postgresql_where=text("status <> 'matched'")))


class ReconBreak(Base):
    """The workflow side of a break, kept apart from the item so re-runs never lose it.
    state: open, resolved, written_off, cleared (the data now matches). `resolved_fingerprint`
    is the item's fingerprint when it was resolved or written off."""

    __tablename__ = "recon_breaks"
    break_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    stage: Mapped[str] = mapped_column(Text)
    item_key: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    assignee: Mapped[str | None] = mapped_column(Text)
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(TS)
    resolved_fingerprint: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("stage", "item_key"), Index(None, "state"))


class ReconBreakEvent(Base):
    """Append-only history of every break: opened, assigned, commented, resolved, written_off,
    reopened, cleared; who and when. The database refuses UPDATE and DELETE on it."""

    __tablename__ = "recon_break_events"
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    break_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSONB)


# ---------------------------------------------------------------- audit trail (revwatch/audit.py)
class AuditEntry(Base):
    """The append-only, hash-chained audit log: every human action and every job run.

    `entry_hash` = sha256 over `prev_hash` and the entry's canonical content (seq, at, actor,
    action, target, detail), so altering, deleting or reordering any entry breaks the chain from
    there on (`revwatch audit verify`). The database refuses UPDATE, DELETE and TRUNCATE."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(Text, index=True)
    action: Mapped[str] = mapped_column(Text, index=True)
    target: Mapped[str | None] = mapped_column(Text, index=True)
    detail: Mapped[dict | None] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(Text)
    entry_hash: Mapped[str] = mapped_column(Text, unique=True)
    __table_args__ = (Index(None, "at"),)


# ---------------------------------------------------------------- leadership report (metrics/faces/weekly_report.py)
class WeeklyReport(Base):
    """One built weekly leadership report (an ISO week), kept with its history: every build is a
    new row; the newest per week is the current one."""

    __tablename__ = "weekly_reports"
    report_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    iso_week: Mapped[str] = mapped_column(Text, index=True)  # 2026-W47
    week_start: Mapped[date] = mapped_column(Date)
    built_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())
    built_by: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict] = mapped_column(JSONB)
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    emailed_to: Mapped[str | None] = mapped_column(Text)
    emailed_at: Mapped[datetime | None] = mapped_column(TS)
