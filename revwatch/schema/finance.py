"""Copies of the bank, the general ledger and the exchange rates (SOURCES.md §4-6)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, Integer, Numeric, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


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
