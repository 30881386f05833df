"""What people and the product answer for: the hash-chained audit log (revwatch/audit.py) and the
stored weekly leadership reports."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, LargeBinary, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


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


# leadership report (metrics/faces/weekly_report.py)
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
