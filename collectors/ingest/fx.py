"""Ingest of the exchange-rate file (SOURCES.md §6): the CSV `date,currency,rate_to_reporting`
at FX_RATES_PATH, taken again whenever its content differs from the last one taken (so a
file restored to an earlier version is taken again too).

A file that is not UTF-8 text, holds a NUL byte or whose header lacks a column is refused whole
(quarantine line 0). Rates are plain decimal strings (no exponent notation) that must fit
numeric(20,10) without rounding; the currency must be an ISO 4217 code (one without a minor unit,
such as XAU or XDR, included: a rate file lists more than is billed); a date must be within
files.DATE_RANGE; a rate for the reporting currency must be 1. A bad line is quarantined and
the rest goes in. Rates are
upserted by (rate_date, currency), writing only the ones that changed; a rate the file no
longer has is kept (a trimmed file does not erase history). When a date and currency appear
twice, the last line wins and the earlier one is quarantined saying so.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from collectors.ingest.files import (
    Bad,
    FileResult,
    LineError,
    by_header,
    csv_file,
    ingest_files,
    iso_date,
    not_configured,
    parse_rate,
    required,
)
from revwatch.money import is_iso_4217
from revwatch.runlog import RunStats

SOURCE = "fx"
JOB = "ingest-fx"
TABLE = "fx_rates"
COLUMNS = ("date", "currency", "rate_to_reporting")
MAX_DECIMALS, MAX_DIGITS = 10, 20  # fx_rates.rate_to_reporting is numeric(20,10)


def parse_line(fields: Mapping[str, str], reporting_currency: str) -> dict:
    """One rate line (header name -> text) -> (rate_date, currency, rate); LineError says what is wrong."""
    required(fields, COLUMNS)
    currency = fields["currency"].strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise LineError(f"bad currency {fields['currency']!r}")
    if not is_iso_4217(currency):
        raise LineError(f"unknown currency {fields['currency']!r}: not an ISO 4217 code")
    value = fields["rate_to_reporting"].strip()
    rate = parse_rate(value, "rate_to_reporting", MAX_DECIMALS, MAX_DIGITS)
    if currency == reporting_currency and rate != 1:
        raise LineError(f"the reporting currency {currency} must have rate 1, not {value}")
    return {"rate_date": iso_date(fields["date"], "date"), "currency": currency, "rate": rate}


UPSERT = text(
    "WITH changed AS (INSERT INTO fx_rates AS f (rate_date, currency, rate_to_reporting, file_sha256)"
    " SELECT d, c, r, :sha FROM unnest(CAST(:d AS date[]), CAST(:c AS text[]), CAST(:r AS numeric[])) AS t(d, c, r)"
    " ON CONFLICT (rate_date, currency) DO UPDATE SET rate_to_reporting = EXCLUDED.rate_to_reporting,"
    " file_sha256 = EXCLUDED.file_sha256 WHERE f.rate_to_reporting <> EXCLUDED.rate_to_reporting"
    " RETURNING rate_date)"
    " SELECT count(*), min(rate_date), max(rate_date) FROM changed"
)


def _load_file(conn: Connection, path: Path, sha: str, reporting_currency: str) -> FileResult:
    result = FileResult()
    latest: dict[tuple, tuple[int, str, dict]] = {}
    with csv_file(path, COLUMNS) as (header, records):
        for record in records:
            result.lines += 1
            try:
                row = parse_line(by_header(header, record), reporting_currency)
            except LineError as exc:
                result.bad.append(Bad(record.number, str(exc), record.raw))
                continue
            key = (row["rate_date"], row["currency"])
            if key in latest:
                number, raw, _ = latest[key]
                result.bad.append(Bad(number, f"superseded by line {record.number} (same date and currency: the last line wins)", raw))
            latest[key] = (record.number, record.raw, row)
    rows = [row for _, _, row in latest.values()]
    result.loaded, result.written = len(rows), 0
    if rows:
        written, lo, hi = conn.execute(UPSERT, {"d": [r["rate_date"] for r in rows], "c": [r["currency"] for r in rows],
                                                "r": [r["rate"] for r in rows], "sha": sha}).one()
        result.written = written
        result.cover_days([d for d in (lo, hi) if d is not None])
    result.bad.sort()
    return result


def _the_file(path: Path) -> list[Path]:
    if not path.is_file():  # configured but absent is a fault to see, not a quiet empty run
        raise FileNotFoundError(f"FX_RATES_PATH {str(path)!r} is not a file")
    return [path]


def ingest(engine: Engine, rates_path: Path, consumers: Mapping[str, Sequence[str]], reporting_currency: str = "USD") -> RunStats:
    """Take in the rates file unless its content is the one taken last, in one transaction."""
    return ingest_files(engine, JOB, SOURCE, TABLE, lambda: _the_file(rates_path),
                        lambda conn, path, sha: _load_file(conn, path, sha, reporting_currency), consumers, latest_only=True)


def run_job(engine: Engine, cfg, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """The scheduled job: skipped, and recorded so, while no rates file is configured."""
    if cfg.fx_rates_path is None:
        return not_configured(engine, JOB, "FX_RATES_PATH", "exchange rates")
    return ingest(engine, Path(cfg.fx_rates_path), consumers, cfg.reporting_currency)
