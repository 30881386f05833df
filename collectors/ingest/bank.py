"""Ingest of bank statements (SOURCES.md §4) from BANK_STATEMENTS_DIR: BAI2, or ISO 20022 camt.053.

Each file once, bad records quarantined, one transaction per file (collectors/ingest/files.py). A file
starting with record `01,` is BAI2 (collectors/ingest/bank_bai2.py); one starting with `<` is XML and
must be a camt.053 `BkToCstmrStmt` (any version from 001.02, namespaces ignored;
collectors/ingest/bank_camt.py). Anything else, XML that is not well formed or carries a DOCTYPE,
BAI2 holding a NUL byte, or BAI2 whose structure the `bai2` library rejects, is refused whole: one
quarantine record at line 0 saying where reading failed (files.py), nothing loaded. BAI2 is ASCII;
a byte that is not UTF-8 in it is read as Latin-1 (a bank's accented name in a text field), so only
camt.053 follows its XML declaration's encoding strictly.

Values: BAI2 amounts are whole minor units (ASCII digits, at most what a bigint holds); camt.053
`Amt` a plain decimal string of the currency's decimals, positive (CdtDbtInd is the direction);
currencies ISO 4217; dates within files.DATE_RANGE. A record breaking one of these is quarantined
with its line and the rest of the file goes in.

camt.053 fields: account `Acct/Id/IBAN` or `Acct/Id/Othr/Id`; currency `Ntry/Amt@Ccy`, else
`Acct/Ccy`; only booked entries (`Sts` BOOK or absent); `BookgDt` and `ValDt` (`Dt`, or the date
of `DtTm`); type code `Domn/Cd/Fmly/Cd/SubFmlyCd` ("PMNT/RCDT/ESCT"), else `Prtry/Cd`; bank
reference `AcctSvcrRef` (entry, else transaction), else `NtryRef`; customer reference the first
`TxDtls/Refs/EndToEndId` other than NOTPROVIDED; text `AddtlNtryInf` and every `RmtInf/Ustrd`,
joined by " | ".

`line_number`: BAI2, the physical line of the type-16 record; camt.053, the 1-based index of
the `Ntry` in the file ("entry N" in quarantine reasons).

BAI2 control totals: the library checks a file as a whole, so a bad detail record is first
quarantined and replaced by a neutral stand-in with the same amount and record count (amount
0 when the amount itself is unreadable) before the whole file is parsed; the stand-ins are
then skipped. Totals that still disagree never reject the file: its lines go in and one
quarantine record at line 0 says the totals do not match (and whether quarantined records
without an amount may explain it).

`payout_candidate`: BAI2, a credit whose type code is in BANK_PAYOUT_TYPE_CODES. camt.053
has no BAI2 codes, so: a credit that carries a payout reference, or whose proprietary bank
transaction code is one of those codes, or whose ISO code is a received credit transfer
(domain PMNT, family RCDT), the camt analogue of BAI2's ACH-credit and incoming-transfer codes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from collectors.ingest.bank_bai2 import read_bai2
from collectors.ingest.bank_camt import read_camt
from collectors.ingest.bank_rows import COLUMNS, payout_refs
from collectors.ingest.files import Bad, FileRefused, FileResult, folder_files, ingest_files, not_configured, shown
from revwatch import clock
from revwatch.runlog import RunStats

__all__ = ["DEFAULT_PAYOUT_CODES", "ingest", "payout_refs", "read_statement", "run_job"]

SOURCE = "bank"
JOB = "ingest-bank"
TABLE = "bank_lines"
DEFAULT_PAYOUT_CODES = ("165", "169", "195")


def read_statement(content: bytes, payout_codes: Sequence[str]) -> tuple[list[dict], list[Bad]]:
    """Any statement file -> (rows, quarantine records); FileRefused when it is neither format or
    cannot be read as a whole."""
    head = content.lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"01,"):
        at = content.find(b"\x00")
        if at >= 0:
            line = content.count(b"\n", 0, at) + 1
            raise FileRefused(f"a NUL byte on line {line}: not a text file", shown(content.splitlines()[line - 1]))
        try:
            decoded = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            decoded = content.decode("latin-1")  # BAI2 is ASCII; a stray accented byte in a text field
        return read_bai2(decoded, payout_codes)
    if head.startswith(b"<"):
        return read_camt(content, payout_codes)
    first = shown(head.splitlines()[0][:200]) if head else ""
    raise FileRefused("neither BAI2 (a file starting with record 01) nor camt.053 XML", first)


INSERT = text(
    f"INSERT INTO bank_lines (file_sha256, ingested_at, {', '.join(COLUMNS)}) VALUES (:file_sha256, :ingested_at, "
    + ", ".join("CAST(:payout_refs AS text[])" if c == "payout_refs" else f":{c}" for c in COLUMNS) + ")"
)  # fixed column names, no input


def _load_file(conn: Connection, path: Path, sha: str, payout_codes: Sequence[str]) -> FileResult:
    result = FileResult()
    rows, result.bad = read_statement(path.read_bytes(), payout_codes)
    if rows:
        at = clock.now()
        conn.execute(INSERT, [{"file_sha256": sha, "ingested_at": at, **row} for row in rows])
    result.lines, result.loaded = len(rows) + len(result.bad), len(rows)
    result.cover_days(row["bank_date"] for row in rows)
    return result


def ingest(engine: Engine, statements_dir: Path, consumers: Mapping[str, Sequence[str]],
           payout_codes: Sequence[str] = DEFAULT_PAYOUT_CODES) -> RunStats:
    """Take in every statement file of `statements_dir` not seen before, each in one transaction."""
    return ingest_files(engine, JOB, SOURCE, TABLE, lambda: folder_files(statements_dir, "BANK_STATEMENTS_DIR"),
                        lambda conn, path, sha: _load_file(conn, path, sha, payout_codes), consumers)


def run_job(engine: Engine, cfg, consumers: Mapping[str, Sequence[str]]) -> RunStats:
    """The scheduled job: skipped, and recorded so, while no statements folder is configured."""
    if cfg.bank_statements_dir is None:
        return not_configured(engine, JOB, "BANK_STATEMENTS_DIR", "bank statements")
    return ingest(engine, Path(cfg.bank_statements_dir), consumers, cfg.payout_type_codes)
