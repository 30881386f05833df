"""Reconciliation (collectors/compute/reconciliation.py): items per stage, breaks and their workflow."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


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
                      Index("ix_recon_items_open", "stage", "item_type", postgresql_where=text("status <> 'matched'")),
                      Index("ix_recon_items_occurred", "stage", "occurred_at"),
                      Index("ix_recon_items_waiting", "stage", "item_type", "gateway", "due_at",
                            postgresql_where=text("status = 'expected'")))


class ReconMonthCount(Base):
    """recon_items counted per accounting month, stage, currency, gateway, site, status and UTC day the item
    occurred on (`''` for no gateway or site), with the magnitude of their amounts: the month close and the
    stage funnel read a month here, not its 800 k items (issue 17). Kept by statement triggers on recon_items
    (migration 0016), whatever writes the items; a group whose items all left keeps a row of zeros."""

    __tablename__ = "recon_month_counts"
    accounting_month: Mapped[date] = mapped_column(Date, primary_key=True)
    stage: Mapped[str] = mapped_column(Text, primary_key=True)
    currency: Mapped[str] = mapped_column(Text, primary_key=True)
    gateway: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    occurred_on: Mapped[date] = mapped_column(Date, primary_key=True)
    items: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


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
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (UniqueConstraint("stage", "item_key"), Index(None, "state"))


class ReconBreakEvent(Base):
    """Append-only history of every break: opened, assigned, commented, resolved, written_off,
    reopened, cleared; who and when. The database refuses UPDATE and DELETE on it."""

    __tablename__ = "recon_break_events"
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    break_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(TS, server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSONB)


class ReconBreakRequest(Base):
    """Four eyes (issue 18): a resolution or write-off that needs a second person, a controller other than
    the requester. `action` is resolve or write_off; `category`/`reason` as the requester gave them;
    `at_stake_reporting_minor` the money at stake in `reporting_currency` when asked (NULL: no rate, which
    needs approval too) against `threshold_minor`; `fingerprint` the item's data when asked (an approval of
    changed data is refused). `decision`: NULL while pending, then approved, rejected or void (the break
    cleared or reopened under it), with who, when and why. One pending request a break at most."""

    __tablename__ = "recon_break_requests"
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    break_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    why_approval: Mapped[str] = mapped_column(Text)
    at_stake_reporting_minor: Mapped[int | None] = mapped_column(BigInteger)
    reporting_currency: Mapped[str] = mapped_column(Text)
    threshold_minor: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(Text)
    requested_issuer: Mapped[str] = mapped_column(Text)
    requested_subject: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(TS)
    decision: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(TS)
    decision_note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("uq_recon_break_requests_pending", "break_id", unique=True,
                            postgresql_where=text("decision IS NULL")),)
