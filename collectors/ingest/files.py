"""What every file-based source shares (Adyen reports, bank statements, GL exports, FX rates).

A file is known by the sha256 of its content, so a file dropped twice (or renamed) is taken
once. A record that cannot be taken in goes to `quarantine` with its file, line, reason and
text, and the rest of the file goes in. A file, its rows and its quarantine rows are written
in one transaction: a failure half-way through a file leaves nothing, and the next run takes
the file again.
"""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import NamedTuple, TextIO

from sqlalchemy import Connection, Engine, text

from collectors.compute.windows import queue_recompute, refresh_statistics
from revwatch import clock
from revwatch.runlog import JobSkipped, RunStats, recorded_run, try_job_lock


class LineError(ValueError):
    """Why a record cannot be taken in (its message is the quarantine reason)."""


class Bad(NamedTuple):
    """A record for `quarantine`: where it was (line 0 = the file as a whole), why, and its text."""

    line_number: int
    reason: str
    record: str


@dataclass
class FileResult:
    """What one file gave. `lines` = `loaded` + quarantined; `written` counts rows actually
    changed (an upsert of an unchanged row writes nothing); [first, last] is the event-time
    span the changes touched, for the compute jobs that read the table."""

    lines: int = 0
    loaded: int = 0
    written: int | None = None  # None: every loaded row was written
    bad: list[Bad] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    def cover(self, lo: datetime, hi: datetime) -> None:
        self.first = lo if self.first is None else min(self.first, lo)
        self.last = hi if self.last is None else max(self.last, hi)

    def cover_days(self, days: Iterable[date]) -> None:
        """Widen the span to whole UTC days: [min day 00:00, max day's last instant]."""
        days = list(days)
        if days:
            self.cover(datetime.combine(min(days), time.min, UTC), datetime.combine(max(days), time.max, UTC))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_files(folder: Path, setting: str, pattern: str = "*") -> list[Path]:
    """The regular files of `folder` matching `pattern`, by name; dot files (hidden, or still
    being written by a tool that renames when done) are left alone. A configured folder that
    is absent is a fault to see, not a quiet empty run."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{setting} {str(folder)!r} is not a folder")
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


class CsvRecord(NamedTuple):
    number: int  # the physical line the record starts on (the header is line 1)
    raw: str  # its text as read, for quarantine
    fields: list[str]
    error: str | None = None  # the csv module could not read it


def csv_records(f: TextIO) -> tuple[list[str], Iterator[CsvRecord]]:
    """The header (line 1) and then each record. A quoted field may hold a newline; blank lines
    are skipped. `f` is read line by line, so a read error surfaces where it happens."""
    header = [h.strip() for h in next(csv.reader([f.readline()]), [])]
    consumed: list[str] = []

    def physical() -> Iterator[str]:
        for raw in f:
            consumed.append(raw)
            yield raw

    def records() -> Iterator[CsvRecord]:
        reader = csv.reader(physical())
        number = 2
        while True:
            try:
                fields, error = next(reader), None
            except StopIteration:
                return
            except csv.Error as exc:
                fields, error = [], f"unreadable CSV: {exc}"
            raw = "".join(consumed).rstrip("\r\n")
            record = CsvRecord(number, raw, fields, error)
            number += len(consumed)
            consumed.clear()
            if error or raw.strip():
                yield record

    return header, records()


def by_header(header: Sequence[str], record: CsvRecord) -> dict[str, str]:
    """One record's fields by header name; more fields than the header names is an error, fewer
    leave the trailing columns out (`required` then names what a record lacks)."""
    if record.error:
        raise LineError(record.error)
    if len(record.fields) > len(header):
        raise LineError(f"{len(record.fields)} fields, the header has {len(header)}")
    return dict(zip(header, record.fields, strict=False))


def required(fields: Mapping[str, str], names: Iterable[str]) -> None:
    for name in names:
        if name not in fields:
            raise LineError(f"missing required column {name!r}")
        if not (fields[name] or "").strip():
            raise LineError(f"empty required column {name!r}")


def iso_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise LineError(f"bad {what} {value!r}") from None


def quarantine(conn: Connection, source: str, file_name: str, sha: str, bad: Sequence[Bad]) -> None:
    if bad:
        at = clock.now()
        conn.execute(
            text(
                "INSERT INTO quarantine (source, file_name, file_sha256, line_number, reason, record, created_at)"
                " VALUES (:source, :file, :sha, :line, :reason, :record, :at)"
            ),
            [{"at": at, "source": source, "file": file_name, "sha": sha, "line": b.line_number, "reason": b.reason, "record": b.record}
             for b in bad],
        )


Loader = Callable[[Connection, Path, str], FileResult]
TAKEN = text("SELECT 1 FROM source_files WHERE sha256 = :s")
TAKEN_LATEST = text("SELECT 1 FROM (SELECT sha256 FROM source_files WHERE source = :src"
                    " ORDER BY ingested_at DESC LIMIT 1) latest WHERE sha256 = :s")


def ingest_files(engine: Engine, job: str, source: str, table: str, paths: Callable[[], list[Path]], load: Loader,
                 consumers: Mapping[str, Sequence[str]], latest_only: bool = False) -> RunStats:
    """Take in every file of `paths()` not taken before, each in one transaction of its own.

    `load` reads one file and writes its rows on the connection it is given. With
    `latest_only` (one file re-read whenever it changes) a file counts as taken only while it
    is the source's latest: content that changes back to an earlier version is taken again.
    """
    with recorded_run(engine, job) as stats, engine.begin() as lock:
        try_job_lock(lock, job)  # held for the run; each file commits on its own
        for path in paths():
            sha = sha256_of(path)
            with engine.begin() as conn:
                if conn.execute(TAKEN_LATEST if latest_only else TAKEN, {"s": sha, "src": source}).first():
                    continue
                result = load(conn, path, sha)
                # content taken again (latest_only) replaces its quarantine rows and its source_files row
                conn.execute(text("DELETE FROM quarantine WHERE file_sha256 = :s AND source = :src"), {"s": sha, "src": source})
                quarantine(conn, source, path.name, sha, result.bad)
                conn.execute(
                    text(
                        "INSERT INTO source_files (sha256, source, file_name, lines_read, lines_loaded, lines_quarantined,"
                        " ingested_at) VALUES (:sha, :src, :name, :r, :l, :q, :at)"
                        " ON CONFLICT (sha256) DO UPDATE SET ingested_at = EXCLUDED.ingested_at,"
                        " file_name = EXCLUDED.file_name, lines_read = EXCLUDED.lines_read,"
                        " lines_loaded = EXCLUDED.lines_loaded, lines_quarantined = EXCLUDED.lines_quarantined"
                    ),
                    {"at": clock.now(), "sha": sha, "src": source, "name": path.name, "r": result.lines, "l": result.loaded, "q": len(result.bad)},
                )
                queue_recompute(conn, table, consumers.get(table), result.first, result.last)
            stats.rows_read += result.lines
            stats.rows_written += result.loaded if result.written is None else result.written
        refresh_statistics(lock, table, stats.rows_written)
    return stats


def not_configured(engine: Engine, job: str, variable: str, what: str) -> RunStats:
    """A file source's run while its setting is unset: recorded as skipped, saying which variable."""
    with recorded_run(engine, job) as stats:
        raise JobSkipped(f"{variable} is not set: {what} are not read")
    return stats

