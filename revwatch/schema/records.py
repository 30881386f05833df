"""What people and the product answer for: the hash-chained audit log (revwatch/audit.py) and the
stored weekly leadership reports."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Index, LargeBinary, Text, func
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


class MonthSignoff(Base):
    """A controller's sign-off of an accounting month's close (issue 18): append-only, the database refuses
    UPDATE, DELETE and TRUNCATE. `snapshot` freezes the close figures as they stood (per stage and currency,
    unreconciled money with the rates and dates used, open breaks by age, the month's billing accuracy, every
    break of the month with its state); `snapshot_sha256` is its canonical hash, also written to the audit chain.
    `ready` is the verdict then; `override` names each unmet check and why the controller signed anyway. A
    month signed again (after adjustments were reviewed) has a newer row: the newest is the one compared."""

    __tablename__ = "month_signoffs"
    signoff_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    accounting_month: Mapped[date] = mapped_column(Date, index=True)
    signed_at: Mapped[datetime] = mapped_column(TS)
    signed_by: Mapped[str] = mapped_column(Text)
    ready: Mapped[bool] = mapped_column(Boolean)
    override: Mapped[list] = mapped_column(JSONB)
    reporting_currency: Mapped[str] = mapped_column(Text)
    snapshot: Mapped[dict] = mapped_column(JSONB)
    snapshot_sha256: Mapped[str] = mapped_column(Text)
