"""First loads: how far along is each ingest's first load of a source read in chunks (issue 17)?

The ingest records each chunk it commits in `load_progress` (collectors/ingest/billing.py); a load not
finished is *loading* while a run of its job is in progress, else *stopped*: it resumes from its last
chunk at the job's next run. The rows expected are the source's count when the load began (rows changed
while it runs are read too, so the share is capped at 100 %).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from metrics.figures.query import Db, read_rows


@dataclass(frozen=True)
class FirstLoad:
    job: str
    started_at: datetime
    span_from: datetime        # the oldest and newest source times when the load began
    span_to: datetime
    loaded_to: datetime | None  # the source times read so far end here (None before the first chunk)
    rows_expected: int
    rows_loaded: int
    chunks_done: int
    updated_at: datetime       # the newest chunk's commit
    finished_at: datetime | None
    running: bool              # a run of the job is in progress
    as_of: datetime

    @property
    def state(self) -> str:
        """loading | stopped | finished"""
        return "finished" if self.finished_at else ("loading" if self.running else "stopped")

    @property
    def share(self) -> float:
        return 1.0 if self.finished_at else min(1.0, self.rows_loaded / self.rows_expected) if self.rows_expected else 0.0

    @property
    def elapsed(self) -> timedelta:
        return (self.finished_at or (self.as_of if self.running else self.updated_at)) - self.started_at

    @property
    def rows_per_second(self) -> float | None:
        """Over the chunks committed: None before the first (nothing to measure yet)."""
        seconds = (self.updated_at - self.started_at).total_seconds()
        return self.rows_loaded / seconds if self.rows_loaded and seconds > 0 else None

    @property
    def remaining(self) -> timedelta | None:
        """The rows still expected at the rate so far; None when finished or not measurable yet."""
        rate = self.rows_per_second
        if self.finished_at or rate is None:
            return None
        return timedelta(seconds=max(self.rows_expected - self.rows_loaded, 0) / rate)


    @property
    def progress(self) -> str:
        """How far along, in words: '4,100,000 of about 10,000,000 rows (41 %), read up to 2026-03-02 14:00 UTC'."""
        through = f", read up to {min(self.loaded_to, self.span_to):%Y-%m-%d %H:%M} UTC" if self.loaded_to else ""
        return f"{self.rows_loaded:,} of about {self.rows_expected:,} rows ({self.share:.0%}){through}"


def first_loads(db: Db, as_of: datetime, jobs: tuple[str, ...] | None = None, unfinished: bool = False,
                ) -> tuple[FirstLoad, ...]:
    """The first loads recorded (of `jobs`; `unfinished`: only those not finished), unfinished ones first, then
    the newest."""
    cols, rows = read_rows(db, """
        SELECT p.job, p.started_at, p.span_from, p.span_to, p.loaded_to, p.rows_expected, p.rows_loaded,
               p.chunks_done, p.updated_at, p.finished_at,
               EXISTS (SELECT 1 FROM job_runs r WHERE r.job = p.job AND r.finished_at IS NULL) AS running
        FROM load_progress p
        WHERE (CAST(:jobs AS text[]) IS NULL OR p.job = ANY(CAST(:jobs AS text[])))
          AND NOT (:unfinished AND p.finished_at IS NOT NULL)
        ORDER BY p.finished_at IS NOT NULL, p.started_at DESC""",
        {"jobs": list(jobs) if jobs is not None else None, "unfinished": unfinished})
    return tuple(FirstLoad(**dict(zip(cols, row, strict=True)), as_of=as_of) for row in rows)
