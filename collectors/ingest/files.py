"""What every file-based source shares (Adyen reports, bank statements, GL exports, FX rates).

A file is known by the sha256 of its content, so a file dropped twice (or renamed) is taken
once. A record that cannot be taken in goes to `quarantine` with its file, line, reason and
text, and the rest of the file goes in. A file, its rows and its quarantine rows are written
in one transaction: a failure half-way through a file leaves nothing, and the next run takes
the file again. Bad input is data, never a failed run: only the machine failing (a read
error, the database gone) fails the run.

`quarantine.line_number`: the physical line a record starts on (CSV and BAI2; a CSV header is
line 1) or the entry's number (camt.053); 0 (FILE_LINE) is the file as a whole. A file that
cannot be read as a whole (not UTF-8 text, a NUL byte, not its format, a structure its reader
cannot follow, a header without the required columns) is refused: nothing of it is loaded, one
quarantine record at line 0 whose reason starts with "file not loaded: " and says where reading
failed (its record: the line in question, bytes that are not text escaped as \\xNN), and a
`source_files` row (lines_read 1, lines_loaded 0, lines_quarantined 1). So it is not read again
while its content is the same, and is read again once its content changes (a new sha256). The
other line-0 records are notes on a file that did load (BAI2 control totals that disagree).

Values a line may not hold are quarantined with its line: amounts that are not plain decimal
strings or that a bigint of minor units cannot hold (revwatch/money.py), currencies outside ISO
4217, wrongly signed amounts (each source says which), dates outside DATE_RANGE.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, TextIO

import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError

from collectors.compute.windows import queue_recompute, refresh_statistics
from revwatch import clock
from revwatch.money import MoneyError, fits, parse_decimal
from revwatch.runlog import JobSkipped, RunStats, recorded_run, try_job_lock


class LineError(ValueError):
    """Why a record cannot be taken in (its message is the quarantine reason)."""


FILE_LINE = 0  # quarantine.line_number of a record about the file as a whole


def parse_rate(value: str, name: str, decimals: int, digits: int) -> Decimal:
    """An exchange rate of a source line: a positive decimal that fits numeric(digits, decimals)
    without rounding; anything else is a LineError naming `name` (the column as the file calls it)."""
    try:
        rate = parse_decimal(value)
    except MoneyError:
        raise LineError(f"bad {name} {value!r}") from None
    if rate <= 0:
        raise LineError(f"bad {name} {value!r}: a rate is a positive number")
    if not fits(rate, decimals, digits - decimals):
        raise LineError(f"{name} {value!r} does not fit {decimals} decimals and {digits - decimals} integer digits"
                        " without rounding")
    return rate
REFUSED = "file not loaded: "  # how the reason of a refused file starts
DATE_RANGE = (date(2000, 1, 1), date(2099, 12, 31))  # a date outside is no revenue of today's sources
RECORD_CHARS = 2000  # of a refused file's record: enough to see what is wrong, not the whole file


class FileRefused(Exception):
    """The file as a whole cannot be taken in: `reason` (where reading failed), `record` the text
    in question. ingest_files records it at line 0 and loads nothing of the file."""

    def __init__(self, reason: str, record: str = ""):
        super().__init__(reason)
        self.reason, self.record = reason, record[:RECORD_CHARS]


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


def shown(raw: bytes) -> str:
    """Bytes as text a person (and a PostgreSQL text column) can take: UTF-8 where it is, other
    bytes and NUL as \\xNN escapes."""
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def check_text(path: Path) -> None:
    """FileRefused unless the file is UTF-8 text (a BOM allowed) without NUL bytes: read in
    pieces, so a failure is placed on its physical line without holding the file in memory."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    number, partial = 1, b""
    with open(path, "rb") as f:
        while piece := f.readline(1 << 16):
            line = partial + piece
            if b"\x00" in piece:
                raise FileRefused(f"a NUL byte on line {number}: not a text file", shown(line.rstrip(b"\r\n")))
            try:
                decoder.decode(piece)
            except UnicodeDecodeError as exc:
                bad = exc.object[exc.start:exc.end]
                raise FileRefused(f"not UTF-8 text: byte(s) {bad.hex(' ')} on line {number} ({exc.reason})",
                                  shown(line.rstrip(b"\r\n"))) from None
            if piece.endswith(b"\n"):
                number, partial = number + 1, b""
            else:
                partial = line[-RECORD_CHARS:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FileRefused(f"not UTF-8 text: it ends inside a character on line {number} ({exc.reason})",
                              shown(partial)) from None


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


def require_header(header: Sequence[str], names: Iterable[str], first_line: str) -> None:
    """FileRefused when the header (line 1) lacks a column every record needs."""
    if not any(header):
        raise FileRefused("no header line: the file is empty or starts with a blank line", first_line)
    missing = [n for n in names if n not in header]
    if missing:
        raise FileRefused(f"the header (line 1) lacks {', '.join(map(repr, missing))}", first_line)


@contextmanager
def csv_file(path: Path, required_names: Iterable[str]) -> Iterator[tuple[list[str], Iterator[CsvRecord]]]:
    """A CSV source file as its header and records, once it is known to be UTF-8 text whose header
    names every required column (FileRefused otherwise). Read errors of the machine propagate."""
    check_text(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        header, records = csv_records(f)
        require_header(header, required_names, ",".join(header))
        yield header, records


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


def in_range(day: date, what: str) -> date:
    """LineError for a date outside DATE_RANGE (it would queue a recompute across centuries)."""
    if not DATE_RANGE[0] <= day <= DATE_RANGE[1]:
        raise LineError(f"{what} {day.isoformat()} is out of range ({DATE_RANGE[0]} to {DATE_RANGE[1]})")
    return day


def iso_date(value: str, what: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise LineError(f"bad {what} {value!r}") from None
    return in_range(day, what)


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


def refused(reason: str, record: str = "") -> FileResult:
    """What a file refused whole gives: one quarantine record at line 0, nothing loaded."""
    return FileResult(lines=1, loaded=0, written=0, bad=[Bad(FILE_LINE, REFUSED + reason, record)])


def load_or_refuse(conn: Connection, path: Path, sha: str, load: Loader) -> FileResult:
    """`load` inside a savepoint: a file it refuses (FileRefused), or one holding a value the
    database refuses (SQLSTATE class 22, data exception: a gap in the checks, still data), leaves
    no row behind and is recorded as refused, so the folder's other files go on loading."""
    try:
        with conn.begin_nested():
            return load(conn, path, sha)
    except FileRefused as exc:
        return refused(exc.reason, exc.record)
    except (DataError, psycopg.errors.DataError) as exc:
        cause = getattr(exc, "orig", None) or exc
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        return refused(f"the database refused a value of it: {message}")


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
            name = shown(os.fsencode(path.name))  # a name that is not UTF-8 is data too
            with engine.begin() as conn:
                if conn.execute(TAKEN_LATEST if latest_only else TAKEN, {"s": sha, "src": source}).first():
                    continue
                result = load_or_refuse(conn, path, sha, load)
                # content taken again (latest_only) replaces its quarantine rows and its source_files row
                conn.execute(text("DELETE FROM quarantine WHERE file_sha256 = :s AND source = :src"), {"s": sha, "src": source})
                quarantine(conn, source, name, sha, result.bad)
                conn.execute(
                    text(
                        "INSERT INTO source_files (sha256, source, file_name, lines_read, lines_loaded, lines_quarantined,"
                        " ingested_at) VALUES (:sha, :src, :name, :r, :l, :q, :at)"
                        " ON CONFLICT (sha256) DO UPDATE SET ingested_at = EXCLUDED.ingested_at,"
                        " file_name = EXCLUDED.file_name, lines_read = EXCLUDED.lines_read,"
                        " lines_loaded = EXCLUDED.lines_loaded, lines_quarantined = EXCLUDED.lines_quarantined"
                    ),
                    {"at": clock.now(), "sha": sha, "src": source, "name": name, "r": result.lines, "l": result.loaded, "q": len(result.bad)},
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

