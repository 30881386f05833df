"""A source's first load read in chunks, each committed on its own (issue 17), and its progress.

An ingest that begins a first load records it in `load_progress` (the span of source times to read and the
rows expected); each chunk it commits moves `loaded_to` on in the chunk's own transaction, so a load stopped
half way (a killed worker, a cut connection) resumes from its last chunk, and Health and the console can say
how far along it is. A chunk's width in source time is grown or shrunk toward the rows a chunk aims at.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from revwatch import clock

log = logging.getLogger(__name__)
TICK = timedelta(microseconds=1)  # PostgreSQL's time resolution: [start, newest + TICK) holds the newest


@dataclass
class FirstLoad:
    """The source times [loaded_to, span_to] are still to read (span_to: the newest when the load began)."""

    job: str
    loaded_to: datetime
    span_to: datetime
    width: timedelta
    rows_loaded: int
    chunks_done: int
    chunk_rows: int

    @property
    def finished(self) -> bool:
        return self.loaded_to > self.span_to

    def next_chunk(self) -> tuple[datetime, datetime]:
        """[start, end) of the next chunk; the last ends just past span_to."""
        return self.loaded_to, self.loaded_to + min(self.width, self.span_to - self.loaded_to + TICK)

    def committed(self, conn: Connection, end: datetime, rows: int) -> None:
        """The chunk ending at `end` with `rows` source rows commits with `conn`'s transaction; said in the log."""
        self.loaded_to, self.rows_loaded, self.chunks_done = end, self.rows_loaded + rows, self.chunks_done + 1
        self.width *= min(4.0, max(0.25, self.chunk_rows / max(rows, 1)))
        conn.execute(text("UPDATE load_progress SET loaded_to = :to, rows_loaded = :rows, chunks_done = :chunks,"
                          " updated_at = :now WHERE job = :j"),
                     {"j": self.job, "to": self.loaded_to, "rows": self.rows_loaded, "chunks": self.chunks_done,
                      "now": clock.now()})
        log.info("%s first load: chunk %d committed, %s rows so far, read up to %s", self.job, self.chunks_done,
                 f"{self.rows_loaded:,}", f"{min(self.loaded_to, self.span_to):%Y-%m-%d %H:%M} UTC")


def unfinished(conn: Connection, job: str, chunk_rows: int) -> FirstLoad | None:
    """`job`'s first load begun and not finished (it resumes), else None."""
    row = conn.execute(text("SELECT span_from, span_to, rows_expected, loaded_to, rows_loaded, chunks_done"
                            " FROM load_progress WHERE job = :j AND finished_at IS NULL"), {"j": job}).first()
    if row is None:
        return None
    span_from, span_to, expected, loaded_to, loaded, chunks = row
    log.info("%s first load resumed: %s of about %s rows were read before it stopped", job, f"{loaded:,}",
             f"{expected:,}")
    return _load(job, span_from, span_to, expected, loaded_to, loaded, chunks, chunk_rows)


def recorded(conn: Connection, job: str) -> bool:
    """Has `job` ever begun a first load (finished or not)?"""
    return bool(conn.execute(text("SELECT EXISTS (SELECT FROM load_progress WHERE job = :j)"), {"j": job}).scalar_one())


def begin(conn: Connection, job: str, span_from: datetime, span_to: datetime, expected: int,
          chunk_rows: int) -> FirstLoad:
    """Record a first load of the source times [span_from, span_to], about `expected` rows."""
    now = clock.now()
    conn.execute(text(
        "INSERT INTO load_progress (job, started_at, span_from, span_to, rows_expected, updated_at)"
        " VALUES (:j, :now, :lo, :hi, :rows, :now) ON CONFLICT (job) DO UPDATE SET started_at = :now,"
        " span_from = :lo, span_to = :hi, loaded_to = NULL, rows_expected = :rows, rows_loaded = 0,"
        " chunks_done = 0, updated_at = :now, finished_at = NULL"),
        {"j": job, "now": now, "lo": span_from, "hi": span_to, "rows": expected})
    log.info("%s first load: about %s rows updated from %s to %s", job, f"{expected:,}",
             f"{span_from:%Y-%m-%d %H:%M}", f"{span_to:%Y-%m-%d %H:%M} UTC")
    return _load(job, span_from, span_to, expected, None, 0, 0, chunk_rows)


def finish(conn: Connection, job: str) -> None:
    """The pass that ends every run of `job`: a first load it follows is finished with it."""
    if conn.execute(text("UPDATE load_progress SET finished_at = :now, updated_at = :now"
                         " WHERE job = :j AND finished_at IS NULL"), {"j": job, "now": clock.now()}).rowcount:
        log.info("%s first load finished", job)


def _load(job: str, span_from: datetime, span_to: datetime, expected: int, loaded_to: datetime | None,
          loaded: int, chunks: int, chunk_rows: int) -> FirstLoad:
    width = (span_to - span_from) * chunk_rows / max(expected, 1) + TICK
    return FirstLoad(job, loaded_to or span_from, span_to, width, loaded, chunks, chunk_rows)
