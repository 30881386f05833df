"""Ingest of Adyen Settlement details reports (SOURCES.md §3) from ADYEN_REPORTS_DIR.

A file is known by the sha256 of its content, so a file dropped twice (or renamed) is taken
once. Columns are found by their header names, so order and extra columns do not matter.
A line that cannot be exact money, a real time or a known type goes to `quarantine` with
where it was and why; the rest of the file goes in. A file, its lines and its quarantine
rows are written in one transaction: a failure half-way through a file leaves nothing.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, text

from collectors.compute import queue_recompute, refresh_statistics
from collectors.runlog import JobSkipped, RunStats, recorded_run, try_job_lock
from revwatch.money import MoneyError, exponent, parse_minor

SOURCE = "adyen"
JOB = "ingest-adyen"
TABLE = "adyen_settlement_lines"
TYPES = frozenset({"Settled", "Refunded", "Chargeback", "ChargebackReversed", "Fee", "MerchantPayout"})
ZONE_ALIASES = {"CEST": "CET"}  # a summer abbreviation; the CET zone itself knows summer time


class LineError(ValueError):
    """Why a line cannot be taken in (its message is the quarantine reason)."""


@dataclass(frozen=True)
class Column:
    header: str  # Adyen's own column name
    name: str  # our column
    kind: str = "text"  # text, gross, net (money in that currency), rate, int, currency
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("Company Account", "company_account"),
    Column("Merchant Account", "merchant_account", required=True),
    Column("Psp Reference", "psp_reference"),
    Column("Merchant Reference", "merchant_reference"),
    Column("Payment Method", "payment_method"),
    Column("Type", "type", required=True),
    Column("Modification Reference", "modification_reference"),
    Column("Gross Currency", "gross_currency", "currency"),
    Column("Gross Debit (GC)", "gross_debit_minor", "gross"),
    Column("Gross Credit (GC)", "gross_credit_minor", "gross"),
    Column("Exchange Rate", "exchange_rate", "rate"),
    Column("Net Currency", "net_currency", "currency", required=True),
    Column("Net Debit (NC)", "net_debit_minor", "net"),
    Column("Net Credit (NC)", "net_credit_minor", "net"),
    Column("Commission (NC)", "commission_minor", "net"),
    Column("Markup (NC)", "markup_minor", "net"),
    Column("Scheme Fees (NC)", "scheme_fees_minor", "net"),
    Column("Interchange (NC)", "interchange_minor", "net"),
    Column("Batch Number", "batch_number", "int", required=True),
)
TIME_COLUMNS = ("Creation Date", "TimeZone")  # together they make created_at
DB_COLUMNS = ("file_sha256", "line_number", "created_at", *(c.name for c in COLUMNS))


def _currency(value: str, header: str) -> str:
    code = value.upper()
    try:
        exponent(code)
    except MoneyError:
        raise LineError(f"unknown currency {value!r} in {header!r}") from None
    return code


def _created_at(date: str, zone: str) -> datetime:
    try:
        tz = ZoneInfo(ZONE_ALIASES.get(zone, zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise LineError(f"unknown TimeZone {zone!r}") from None
    try:
        local = datetime.fromisoformat(date)
    except ValueError:
        raise LineError(f"bad Creation Date {date!r}") from None
    if local.tzinfo is not None:
        raise LineError(f"Creation Date {date!r} carries its own offset; TimeZone says {zone!r}")
    return local.replace(tzinfo=tz).astimezone(timezone.utc)


def parse_line(fields: Mapping[str, str]) -> dict:
    """One report line (header name -> text) -> our column values; LineError says what is wrong."""
    value = {c.header: (fields.get(c.header) or "").strip() for c in COLUMNS}
    for header in [*(c.header for c in COLUMNS if c.required), *TIME_COLUMNS]:
        if header not in fields:
            raise LineError(f"missing required column {header!r}")
        if not (fields[header] or "").strip():
            raise LineError(f"empty required column {header!r}")
    row: dict = {"created_at": _created_at(fields["Creation Date"].strip(), fields["TimeZone"].strip())}
    if value["Type"] not in TYPES:
        raise LineError(f"unknown Type {value['Type']!r}")
    currency = {
        "gross": _currency(value["Gross Currency"], "Gross Currency") if value["Gross Currency"] else None,
        "net": _currency(value["Net Currency"], "Net Currency"),
    }
    for col in COLUMNS:
        text_value = value[col.header]
        if col.kind == "currency":
            row[col.name] = currency["gross" if col.name == "gross_currency" else "net"]
        elif not text_value:
            row[col.name] = None
        elif col.kind in ("gross", "net"):
            if currency[col.kind] is None:
                raise LineError(f"{col.header!r} has an amount but Gross Currency is empty")
            try:
                row[col.name] = parse_minor(text_value, currency[col.kind])
            except MoneyError as exc:
                raise LineError(f"{col.header!r}: {exc}") from None
        elif col.kind == "rate":
            try:
                rate = Decimal(text_value)
            except InvalidOperation:
                raise LineError(f"bad {col.header!r} {text_value!r}") from None
            if not rate.is_finite() or rate <= 0:
                raise LineError(f"bad {col.header!r} {text_value!r}")
            row[col.name] = rate
        elif col.kind == "int":
            if not text_value.isdigit() or int(text_value) > 2**31 - 1:
                raise LineError(f"bad {col.header!r} {text_value!r}")
            row[col.name] = int(text_value)
        else:
            row[col.name] = text_value
    return row


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class FileResult:
    lines: int = 0
    loaded: int = 0
    quarantined: int = 0
    first: datetime | None = None
    last: datetime | None = None


def _load_file(pg, path: Path, sha: str) -> FileResult:
    """Parse and COPY one file on the caller's transaction; the header is line 1."""
    result = FileResult()
    lines_copy = pg.cursor().copy(
        "COPY adyen_settlement_lines (" + ", ".join(DB_COLUMNS) + ") FROM STDIN"  # fixed names, no input
    )
    bad: list[tuple] = []
    with open(path, encoding="utf-8-sig", newline="") as f, lines_copy as copy:
        header = [h.strip() for h in next(csv.reader([f.readline()]), [])]
        for number, raw in enumerate(f, start=2):
            record = raw.rstrip("\r\n")
            if not record.strip():
                continue
            result.lines += 1
            fields = next(csv.reader([record]))
            try:
                if len(fields) > len(header):
                    raise LineError(f"{len(fields)} fields, the header has {len(header)}")
                row = parse_line(dict(zip(header, fields)))
            except LineError as exc:
                bad.append((SOURCE, path.name, sha, number, str(exc), record))
                continue
            copy.write_row((sha, number, *(row[c] for c in DB_COLUMNS[2:])))
            result.loaded += 1
            at = row["created_at"]
            result.first = at if result.first is None else min(result.first, at)
            result.last = at if result.last is None else max(result.last, at)
    if bad:
        pg.cursor().executemany(
            "INSERT INTO quarantine (source, file_name, file_sha256, line_number, reason, record)"
            " VALUES (%s, %s, %s, %s, %s, %s)", bad,
        )
    result.quarantined = len(bad)
    return result


def ingest(engine: Engine, reports_dir: Path, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """Take in every *.csv of `reports_dir` not seen before, each file in one transaction."""
    with recorded_run(engine, JOB) as stats, engine.begin() as lock:
        try_job_lock(lock, JOB)  # held for the run; each file commits on its own
        if not reports_dir.is_dir():  # configured but absent is a fault to see, not a quiet empty run
            raise FileNotFoundError(f"ADYEN_REPORTS_DIR {str(reports_dir)!r} is not a folder")
        for path in sorted(reports_dir.glob("*.csv")):
            sha = sha256_of(path)
            with engine.begin() as conn:
                if conn.execute(text("SELECT 1 FROM source_files WHERE sha256 = :s"), {"s": sha}).first():
                    continue
                result = _load_file(conn.connection.driver_connection, path, sha)
                conn.execute(
                    text(
                        "INSERT INTO source_files (sha256, source, file_name, lines_read, lines_loaded, lines_quarantined)"
                        " VALUES (:sha, :src, :name, :r, :l, :q)"
                    ),
                    {"sha": sha, "src": SOURCE, "name": path.name, "r": result.lines, "l": result.loaded, "q": result.quarantined},
                )
                if result.loaded:
                    queue_recompute(conn, TABLE, consumers.get(TABLE), result.first, result.last)
            stats.rows_read += result.lines
            stats.rows_written += result.loaded
        refresh_statistics(lock, TABLE, stats.rows_written)
    return stats


def run_job(engine: Engine, cfg, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """The scheduled job: skipped, and recorded so, while no reports folder is configured."""
    if cfg.adyen_reports_dir is None:
        with recorded_run(engine, JOB) as stats:
            raise JobSkipped("ADYEN_REPORTS_DIR is not set: Adyen reports are not read")
        return stats
    return ingest(engine, Path(cfg.adyen_reports_dir), consumers)
