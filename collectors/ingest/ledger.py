"""Ingest of general-ledger exports (SOURCES.md §5): every *.csv of GL_EXPORTS_DIR.

Each file once, one transaction per file (collectors/ingest/files.py); columns found by header name.
A file that is not UTF-8 text, holds a NUL byte or whose header lacks a required column is refused
whole (quarantine line 0). A line that is not exact money (a plain decimal string whose minor units
a bigint holds, revwatch/money.py), a date within files.DATE_RANGE or an ISO 4217 currency is
quarantined, and so is a negative debit or credit (the column is the direction). A journal is
the unit that must balance: one whose remaining lines do not balance per currency is
quarantined whole (each of its lines, the reason naming the journal and the imbalance), and
the rest of the file goes in.

A journal replaces itself: its lines are upserted by (journal_id, line), only rows that
changed are written (they then carry the file and line they came from), and lines the new
version no longer has are deleted. Within one file the last occurrence of a journal wins: when
a journal's lines come back after another journal's, the earlier run is superseded, and its
lines are quarantined saying so, as is a second line with the same number in one run.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Connection, Engine, text

from collectors.ingest.files import (
    Bad,
    FileResult,
    LineError,
    by_header,
    csv_file,
    folder_files,
    ingest_files,
    iso_date,
    not_configured,
    required,
)
from revwatch import clock
from revwatch.money import MoneyError, exponent, parse_minor, to_decimal
from revwatch.runlog import RunStats

SOURCE = "gl"
JOB = "ingest-ledger"
TABLE = "gl_lines"
REQUIRED = ("journal_id", "line", "posted_date", "account", "currency")
AMOUNTS = ("debit", "credit")  # columns that must exist; an empty value is 0
FIELDS = ("journal_id", "line", "posted_date", "account", "account_name", "debit_minor", "credit_minor", "currency",
          "memo", "reference", "file_line")


def _amount(value: str, currency: str, name: str) -> int:
    value = value.strip()
    if not value:
        return 0
    try:
        minor = parse_minor(value, currency)
    except MoneyError as exc:
        raise LineError(f"{name}: {exc}") from None
    if minor < 0:
        raise LineError(f"{name} {value!r} is negative")  # the column is the direction
    return minor


def parse_line(fields: Mapping[str, str]) -> dict:
    """One export line (header name -> text) -> our column values; LineError says what is wrong."""
    required(fields, REQUIRED)
    for name in AMOUNTS:
        if name not in fields:
            raise LineError(f"missing required column {name!r}")
    value = {k: (v or "").strip() for k, v in fields.items()}
    if not value["line"].isdigit() or not value["line"].isascii() or not 0 < int(value["line"]) < 2**31:
        raise LineError(f"bad line {value['line']!r}")
    currency = value["currency"].upper()
    try:
        exponent(currency)
    except MoneyError:
        raise LineError(f"unknown currency {value['currency']!r}") from None
    debit, credit = _amount(value["debit"], currency, "debit"), _amount(value["credit"], currency, "credit")
    if debit and credit:
        raise LineError(f"both debit {value['debit']!r} and credit {value['credit']!r} are non-zero")
    return {"journal_id": value["journal_id"], "line": int(value["line"]),
            "posted_date": iso_date(value["posted_date"], "posted_date"), "account": value["account"],
            "account_name": value.get("account_name") or None, "debit_minor": debit, "credit_minor": credit,
            "currency": currency, "memo": value.get("memo") or None, "reference": value.get("reference") or None}


class Read(NamedTuple):
    number: int  # line in the file
    raw: str
    row: dict


def _imbalance(lines: Sequence[Read]) -> str | None:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in lines:
        sums[r.row["currency"]][0] += r.row["debit_minor"]
        sums[r.row["currency"]][1] += r.row["credit_minor"]
    off = [f"{c} debits {to_decimal(d, c)} != credits {to_decimal(k, c)}" for c, (d, k) in sorted(sums.items()) if d != k]
    return "; ".join(off) or None


def settle(entries: Sequence[tuple[str, int, Read | None]]) -> tuple[list[Read], list[Bad]]:
    """The file's lines in order as (journal id, file line, the line read or None if it was
    quarantined) -> the lines to load and the further ones to quarantine (the journal rules of
    the module docstring). A quarantined line still marks where its journal's run is."""
    runs: dict[str, list[tuple[int, Read | None]]] = {}
    bad: list[Bad] = []
    previous = None
    for journal, number, read in entries:
        if journal != previous and journal in runs:
            bad += [Bad(n, f"journal {journal} appears again from line {number}: the last occurrence in a file wins", r.raw)
                    for n, r in runs[journal] if r is not None]
            runs[journal] = []
        runs.setdefault(journal, []).append((number, read))
        previous = journal
    keep: list[Read] = []
    for journal, run in runs.items():
        first_at: dict[int, int] = {}
        unique: list[Read] = []
        for _, r in run:
            if r is None:
                continue
            if r.row["line"] in first_at:
                bad.append(Bad(r.number, f"line {r.row['line']} of journal {journal} is already at line {first_at[r.row['line']]}",
                               r.raw))
            else:
                first_at[r.row["line"]] = r.number
                unique.append(r)
        off = _imbalance(unique)
        if off:
            dropped = [str(n) for n, r in run if r is None]
            after = f" without its quarantined line(s) {', '.join(dropped)}" if dropped else ""
            bad += [Bad(r.number, f"journal {journal} does not balance{after}: {off}", r.raw) for r in unique]
        else:
            keep += unique
    return keep, bad


UPSERT = text(
    "WITH incoming AS (SELECT * FROM unnest(CAST(:journal_id AS text[]), CAST(:line AS int[]),"
    " CAST(:posted_date AS date[]), CAST(:account AS text[]), CAST(:account_name AS text[]),"
    " CAST(:debit_minor AS bigint[]), CAST(:credit_minor AS bigint[]), CAST(:currency AS text[]),"
    " CAST(:memo AS text[]), CAST(:reference AS text[]), CAST(:file_line AS int[]))"
    " AS t(journal_id, line, posted_date, account, account_name, debit_minor, credit_minor, currency, memo, reference, file_line)),"
    " gone AS (DELETE FROM gl_lines g WHERE g.journal_id IN (SELECT journal_id FROM incoming)"
    "  AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.journal_id = g.journal_id AND i.line = g.line)"
    "  RETURNING g.posted_date),"
    " changed AS (INSERT INTO gl_lines AS g (journal_id, line, posted_date, account, account_name, debit_minor,"
    "  credit_minor, currency, memo, reference, file_sha256, file_line, ingested_at)"
    "  SELECT journal_id, line, posted_date, account, account_name, debit_minor, credit_minor, currency, memo,"
    "  reference, :sha, file_line, CAST(:at AS timestamptz) FROM incoming"
    "  ON CONFLICT (journal_id, line) DO UPDATE SET posted_date = EXCLUDED.posted_date, account = EXCLUDED.account,"
    "  account_name = EXCLUDED.account_name, debit_minor = EXCLUDED.debit_minor, credit_minor = EXCLUDED.credit_minor,"
    "  currency = EXCLUDED.currency, memo = EXCLUDED.memo, reference = EXCLUDED.reference,"
    "  file_sha256 = EXCLUDED.file_sha256, file_line = EXCLUDED.file_line, ingested_at = EXCLUDED.ingested_at"
    "  WHERE (g.posted_date, g.account, g.account_name, g.debit_minor, g.credit_minor, g.currency, g.memo, g.reference)"
    "  IS DISTINCT FROM (EXCLUDED.posted_date, EXCLUDED.account, EXCLUDED.account_name, EXCLUDED.debit_minor,"
    "  EXCLUDED.credit_minor, EXCLUDED.currency, EXCLUDED.memo, EXCLUDED.reference)"
    "  RETURNING g.journal_id, g.line, g.posted_date),"
    # the statement sees gl_lines as it was: an updated row's old date is touched too
    " touched AS (SELECT posted_date FROM gone UNION ALL SELECT posted_date FROM changed"
    "  UNION ALL SELECT o.posted_date FROM gl_lines o JOIN changed c USING (journal_id, line))"
    " SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM changed), min(posted_date), max(posted_date) FROM touched"
)


def _load_file(conn: Connection, path: Path, sha: str) -> FileResult:
    result = FileResult()
    entries: list[tuple[str, int, Read | None]] = []
    with csv_file(path, (*REQUIRED, *AMOUNTS)) as (header, records):
        for record in records:
            result.lines += 1
            try:
                read = Read(record.number, record.raw, parse_line(by_header(header, record)))
            except LineError as exc:
                result.bad.append(Bad(record.number, str(exc), record.raw))
                read = None
            journal = read.row["journal_id"] if read else (dict(zip(header, record.fields, strict=False)).get("journal_id") or "").strip()
            if journal:
                entries.append((journal, record.number, read))
    keep, bad = settle(entries)
    result.bad = sorted(result.bad + bad)
    result.loaded = len(keep)
    if keep:
        params = {name: [r.row[name] if name != "file_line" else r.number for r in keep] for name in FIELDS}
        written, lo, hi = conn.execute(UPSERT, {**params, "sha": sha, "at": clock.now()}).one()
        result.written = written
        result.cover_days([d for d in (lo, hi) if d is not None])
    else:
        result.written = 0
    return result


def ingest(engine: Engine, exports_dir: Path, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """Take in every *.csv of `exports_dir` not seen before, each file in one transaction."""
    return ingest_files(engine, JOB, SOURCE, TABLE, lambda: folder_files(exports_dir, "GL_EXPORTS_DIR", "*.csv"),
                        _load_file, consumers)


def run_job(engine: Engine, cfg, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """The scheduled job: skipped, and recorded so, while no exports folder is configured."""
    if cfg.gl_exports_dir is None:
        return not_configured(engine, JOB, "GL_EXPORTS_DIR", "general-ledger exports")
    return ingest(engine, Path(cfg.gl_exports_dir), consumers)
