"""Copies of the billing source (SOURCES.md §1), keyed by the source's natural ids."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Index, Integer, Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


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
    __table_args__ = (Index(None, "entered_at"), Index(None, "site_id", "entered_at"), Index(None, "exited_at"),
                      Index(None, "site_id", "exited_at"))


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
