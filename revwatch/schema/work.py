"""The revenue work queue's own items (issue 19): what needs a person that is not a reconciliation break.

Breaks keep their workflow in recon_breaks (reconciliation.py); the queue reads them live beside these.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


class WorkItem(Base):
    """One mis-billed session, gateway charge billing does not record, dispute needing evidence or stuck refund,
    as the work-queue job (collectors/compute/work_queue.py) found it in the computed findings and source copies.

    `work_type` is one of revwatch.work_items.WORK_TYPES; `source_key` the finding's own key (session id,
    gateway:reference, dispute id, refund id). `state`: open, resolved (by a person or a rule: `resolved_by`), or
    cleared (the finding went away by itself). `amount_minor` is the item's money in `currency`; of it,
    `customer_minor` is what the customer was wrongly charged or is owed, `company_minor` what the company lost
    or has at risk. `occurred_at` is when it happened, `opened_at` when the queue found it (the service level
    runs from there), `deadline` a gateway's own due date. `fingerprint` is its data; a resolved item whose data
    changes is opened again. Its history is in work_item_events."""

    __tablename__ = "work_items"
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    work_type: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    site_id: Mapped[str | None] = mapped_column(Text)
    gateway: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    customer_minor: Mapped[int] = mapped_column(BigInteger)
    company_minor: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(TS)
    opened_at: Mapped[datetime] = mapped_column(TS)
    deadline: Mapped[datetime | None] = mapped_column(TS)
    trace_id: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB)
    fingerprint: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(TS)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_fingerprint: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("work_type", "source_key"),
                      Index("ix_work_items_open", "work_type", postgresql_where=text("state = 'open'")))


class WorkItemEvent(Base):
    """Append-only history of every work item, in the breaks' words: opened, assigned, commented, resolved,
    reopened, cleared; who (a person, the work-queue job, or a rule `rule:name@version`) and when. The database refuses
    UPDATE and DELETE on it."""

    __tablename__ = "work_item_events"
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(TS, index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSONB)


class AutoExplanation(Base):
    """What an auto-explain rule did to one item (metrics/actions/auto_explain.py): `rule` and `rule_version`, the
    item (`work_type` and `item_ref`: a break id or a work item id), whether it resolved it or only explained
    (grouped) it, the explanation and its figures (`detail`, e.g. the bank fee), when; and, once a person undid the
    rule, who and when (the items it resolved are reopened then)."""

    __tablename__ = "auto_explanations"
    explanation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(Text)
    rule_version: Mapped[int] = mapped_column(BigInteger)
    work_type: Mapped[str] = mapped_column(Text)
    item_ref: Mapped[int] = mapped_column(BigInteger)
    resolved: Mapped[bool] = mapped_column(Boolean)
    explanation: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB)
    currency: Mapped[str | None] = mapped_column(Text)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    explained_at: Mapped[datetime] = mapped_column(TS)
    undone_by: Mapped[str | None] = mapped_column(Text)
    undone_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (Index("uq_auto_explanations_live", "rule", "work_type", "item_ref", unique=True,
                            postgresql_where=text("undone_at IS NULL")),)
