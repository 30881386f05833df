"""Ingest of Adyen Settlement details reports (SOURCES.md §3) from ADYEN_REPORTS_DIR.

Each file once, bad lines quarantined, one transaction per file (collectors/ingest/files.py).
Columns are found by their header names, so order and extra columns do not matter. A file that
is not UTF-8 text, holds a NUL byte or whose header lacks a required column is refused whole
(quarantine line 0). A line that cannot be exact money, a real time or a known type is
quarantined; the rest goes in. Money checks at the door: currencies ISO 4217, amounts plain
decimal strings that a bigint of minor units holds (revwatch/money.py parse_minor). Signs: the
four Debit and Credit columns carry the direction in their name, so each is a magnitude and a
negative one is quarantined; the fee columns (Commission, Markup, Scheme Fees, Interchange) keep
their sign (a fee credited back is negative). The exchange rate is positive and fits
numeric(18,10) exactly; a Creation Date outside files.DATE_RANGE is quarantined.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine

from collectors.ingest.files import (
    Bad,
    FileResult,
    LineError,
    by_header,
    csv_file,
    folder_files,
    in_range,
    ingest_files,
    not_configured,
    parse_rate,
    required,
)
from revwatch.db import psycopg_connection
from revwatch.money import MoneyError, exponent, parse_minor
from revwatch.runlog import RunStats

SOURCE = "adyen"
JOB = "ingest-adyen"
TABLE = "adyen_settlement_lines"
TYPES = frozenset({"Settled", "Refunded", "Chargeback", "ChargebackReversed", "Fee", "MerchantPayout"})
ZONE_ALIASES = {"CEST": "CET"}  # a summer abbreviation; the CET zone itself knows summer time


@dataclass(frozen=True)
class Column:
    header: str  # Adyen's own column name
    name: str  # our column
    kind: str = "text"  # text, gross, net (money in that currency), rate, int, currency
    required: bool = False
    magnitude: bool = False  # an amount whose direction is its column: never negative


COLUMNS: tuple[Column, ...] = (
    Column("Company Account", "company_account"),
    Column("Merchant Account", "merchant_account", required=True),
    Column("Psp Reference", "psp_reference"),
    Column("Merchant Reference", "merchant_reference"),
    Column("Payment Method", "payment_method"),
    Column("Type", "type", required=True),
    Column("Modification Reference", "modification_reference"),
    Column("Gross Currency", "gross_currency", "currency"),
    Column("Gross Debit (GC)", "gross_debit_minor", "gross", magnitude=True),
    Column("Gross Credit (GC)", "gross_credit_minor", "gross", magnitude=True),
    Column("Exchange Rate", "exchange_rate", "rate"),
    Column("Net Currency", "net_currency", "currency", required=True),
    Column("Net Debit (NC)", "net_debit_minor", "net", magnitude=True),
    Column("Net Credit (NC)", "net_credit_minor", "net", magnitude=True),
    Column("Commission (NC)", "commission_minor", "net"),
    Column("Markup (NC)", "markup_minor", "net"),
    Column("Scheme Fees (NC)", "scheme_fees_minor", "net"),
    Column("Interchange (NC)", "interchange_minor", "net"),
    Column("Batch Number", "batch_number", "int", required=True),
)
TIME_COLUMNS = ("Creation Date", "TimeZone")  # together they make created_at
REQUIRED_HEADERS = (*(c.header for c in COLUMNS if c.required), *TIME_COLUMNS)
RATE_DECIMALS, RATE_DIGITS = 10, 18  # adyen_settlement_lines.exchange_rate is numeric(18,10)
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
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a key naming a folder, or too long a name
        raise LineError(f"unknown TimeZone {zone!r}") from None
    try:
        local = datetime.fromisoformat(date)
    except ValueError:
        raise LineError(f"bad Creation Date {date!r}") from None
    if local.tzinfo is not None:
        raise LineError(f"Creation Date {date!r} carries its own offset; TimeZone says {zone!r}")
    in_range(local.date(), "Creation Date")  # also keeps the conversion to UTC inside the calendar
    return local.replace(tzinfo=tz).astimezone(UTC)


def _amount(text_value: str, col: Column, currency: str | None) -> int:
    if currency is None:
        raise LineError(f"{col.header!r} has an amount but Gross Currency is empty")
    try:
        minor = parse_minor(text_value, currency)
    except MoneyError as exc:
        raise LineError(f"{col.header!r}: {exc}") from None
    if col.magnitude and minor < 0:
        raise LineError(f"{col.header!r} {text_value!r} is negative: the column says the direction, the amount is a magnitude")
    return minor


def parse_line(fields: Mapping[str, str]) -> dict:
    """One report line (header name -> text) -> our column values; LineError says what is wrong."""
    value = {c.header: (fields.get(c.header) or "").strip() for c in COLUMNS}
    required(fields, REQUIRED_HEADERS)
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
            row[col.name] = _amount(text_value, col, currency[col.kind])
        elif col.kind == "rate":
            row[col.name] = parse_rate(text_value, repr(col.header), RATE_DECIMALS, RATE_DIGITS)
        elif col.kind == "int":
            if not text_value.isascii() or not text_value.isdigit() or int(text_value) > 2**31 - 1:
                raise LineError(f"bad {col.header!r} {text_value!r}")
            row[col.name] = int(text_value)
        else:
            row[col.name] = text_value
    return row


def _load_file(conn: Connection, path: Path, sha: str) -> FileResult:
    """Parse and COPY one file on the caller's transaction; the header is line 1."""
    result = FileResult()
    pg = psycopg_connection(conn)
    lines_copy = pg.cursor().copy(
        "COPY adyen_settlement_lines (" + ", ".join(DB_COLUMNS) + ") FROM STDIN"  # fixed names, no input
    )
    with csv_file(path, REQUIRED_HEADERS) as (header, records), lines_copy as copy:
        for record in records:
            result.lines += 1
            try:
                row = parse_line(by_header(header, record))
            except LineError as exc:
                result.bad.append(Bad(record.number, str(exc), record.raw))
                continue
            copy.write_row((sha, record.number, *(row[c] for c in DB_COLUMNS[2:])))
            result.loaded += 1
            result.cover(row["created_at"], row["created_at"])
    return result


def ingest(engine: Engine, reports_dir: Path, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """Take in every *.csv of `reports_dir` not seen before, each file in one transaction."""
    return ingest_files(engine, JOB, SOURCE, TABLE, lambda: folder_files(reports_dir, "ADYEN_REPORTS_DIR", "*.csv"),
                        _load_file, consumers)


def run_job(engine: Engine, cfg, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """The scheduled job: skipped, and recorded so, while no reports folder is configured."""
    if cfg.adyen_reports_dir is None:
        return not_configured(engine, JOB, "ADYEN_REPORTS_DIR", "Adyen reports")
    return ingest(engine, Path(cfg.adyen_reports_dir), consumers)
