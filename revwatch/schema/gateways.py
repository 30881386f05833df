"""Copies of the gateways (SOURCES.md §2-3): Stripe objects beside the allowlisted part of their JSON,
Adyen settlement lines, and which object types each gateway lets the product read."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Integer, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


class _StripeObject:
    """Normalized columns beside the object as Stripe sent it cut down to its allowlist (jsonb `raw`:
    collectors/ingest/stripe_fields.py; no cardholder or personal data), keyed by Stripe's id.
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


class GatewayAccess(Base):
    """Per gateway and object type (the API's list name), what the newest run that asked was let
    read: `read`, `refused` (HTTP 403: the API key may not) or `absent` (HTTP 404: no such list),
    since when, and the reason (never the server's message). Written by collectors/ingest/gateway_access.py."""

    __tablename__ = "gateway_access"
    gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    object_type: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(TS)  # the first run that found the type in this state
    checked_at: Mapped[datetime] = mapped_column(TS)  # the newest run that asked
