"""What the collectors keep about their own work: watermarks, pending recompute windows, the run log,
the files taken in and the records quarantined from them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from revwatch.schema.base import TS, Base


class SyncState(Base):
    """Per source table: the newest `updated_at` already copied (the watermark), and what the reader asks of
    the source's owners (`advice`: e.g. the index on updated_at it lacks; NULL when nothing)."""

    __tablename__ = "sync_state"
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(TS)
    advice: Mapped[str | None] = mapped_column(Text)


class LoadProgress(Base):
    """An ingest job's first load, read in chunks each committed on its own (issue 17): how far it got, so a
    stopped load resumes where it stopped and Health and the console can say how far along it is. `loaded_to`
    is the exclusive upper bound of the source times (billing: `updated_at`) read so far; `finished_at` NULL
    while the load runs or waits to be resumed."""

    __tablename__ = "load_progress"
    job: Mapped[str] = mapped_column(Text, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(TS)
    span_from: Mapped[datetime] = mapped_column(TS)  # the oldest source time when the load began
    span_to: Mapped[datetime] = mapped_column(TS)    # the newest source time when the load began
    loaded_to: Mapped[datetime | None] = mapped_column(TS)
    rows_expected: Mapped[int] = mapped_column(BigInteger)
    rows_loaded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    chunks_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)


class PendingWindow(Base):
    """Event-time span touched by an ingest, waiting for the compute jobs that read that table."""

    __tablename__ = "pending_windows"
    pending_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(Text, index=True)
    consumer: Mapped[str] = mapped_column(Text, index=True)
    window_start: Mapped[datetime] = mapped_column(TS)
    window_end: Mapped[datetime] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, server_default=func.now())


class PendingSiteHour(Base):
    """A site's hour of exits whose judgment an ingest made stale (a session, an invoice, a plan, a tax
    rate or the site changed), waiting for the compute job `consumer` (classify-billing) to judge it again."""

    __tablename__ = "pending_site_hours"
    consumer: Mapped[str] = mapped_column(Text, primary_key=True)
    site_id: Mapped[str] = mapped_column(Text, primary_key=True)
    hour: Mapped[datetime] = mapped_column(TS, primary_key=True)


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
    __table_args__ = (Index(None, "job", "started_at"),
                      Index("ix_job_runs_running", "run_id", postgresql_where=text("finished_at IS NULL")))


class JobRunRequest(Base):
    """A person asked for a job to run now (the Health page, an engineer; issue 18): the worker takes each request
    (`taken_at`, `taken_by`: its host and process) within seconds and runs the job once, under the job's run lock
    as a scheduled run; the run itself is in job_runs."""

    __tablename__ = "job_run_requests"
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(TS)
    taken_at: Mapped[datetime | None] = mapped_column(TS)
    taken_by: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_job_run_requests_waiting", "job", postgresql_where=text("taken_at IS NULL")),)


class FigureSnapshot(Base):
    """A section of the exporter's figure families as the worker last computed it (metrics/faces/
    exporter_snapshot.py): current while no run of the jobs it reads finished after `frontier` (a run id)
    and, for reconciliation, no break event came after `last_event`; `families` maps a family name to its
    samples ([sample name, labels, value], …)."""

    __tablename__ = "figure_snapshots"
    section: Mapped[str] = mapped_column(Text, primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(TS)
    frontier: Mapped[int] = mapped_column(BigInteger)
    last_event: Mapped[int] = mapped_column(BigInteger)
    families: Mapped[dict] = mapped_column(JSONB)


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
