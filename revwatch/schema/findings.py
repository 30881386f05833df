"""Per-record findings of the compute jobs: gateway charges billing did not record, and each
session's billing judged against its shadow-rated price."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


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


# billing accuracy (collectors/compute/billing_classification.py)
class BillingFinding(Base):
    """One judged closed session billed wrong or not judgeable: its shadow-rated price against what
    billing invoiced.

    Every billable or invoiced session exited before the settle cutoff is judged; those of class
    'correct' are counted in `billing_correct` (one row a bucket), every other class has its row here
    (`class`, collectors.compute.billing_classification.CLASSES), so accuracy and every sum stay
    additive. Placed in time by the exit (`exited_at`, UTC `hour`, the site's `local_date`
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
    __table_args__ = (Index(None, "local_date", "site_id"), Index(None, "site_id", "hour"))


class BillingCorrect(Base):
    """The sessions judged correct, counted per site, UTC hour of exit, the site's local date of exit,
    plan and currency: everything the faces group or filter correct sessions by, without a row per
    session (issue 17: at 2 M sessions, 99 % are correct). A (site, hour) is the classify job's unit of
    recompute: its findings and its counts are replaced together. Every counted session is billable."""

    __tablename__ = "billing_correct"
    site_id: Mapped[str] = mapped_column(Text, primary_key=True)
    hour: Mapped[datetime] = mapped_column(TS, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    rate_plan_id: Mapped[str] = mapped_column(Text, primary_key=True)
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    sessions: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index(None, "local_date", "site_id"), Index(None, "hour"))
