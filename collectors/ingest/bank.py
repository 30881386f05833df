"""Ingest of bank statements (SOURCES.md §4) from BANK_STATEMENTS_DIR: BAI2, or ISO 20022 camt.053.

Each file once, bad records quarantined, one transaction per file (collectors/ingest/files.py). A file
starting with record `01,` is BAI2; one starting with `<` is XML and must be a camt.053
`BkToCstmrStmt` (any version from 001.02, namespaces ignored). Anything else, XML that is not
well formed, or BAI2 whose structure the `bai2` library rejects, is one quarantine record
(line 0, or the line where reading failed) and the file is recorded as taken with 0 lines.

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

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import NamedTuple

from bai2.constants import RecordCode
from bai2.exceptions import IntegrityException
from bai2.helpers import IteratorHelper
from bai2.models import Record
from bai2.parsers import Bai2FileParser, TransactionDetailParser
from sqlalchemy import Connection, Engine, text

from collectors.ingest.files import Bad, FileResult, LineError, folder_files, ingest_files, not_configured
from revwatch import clock
from revwatch.money import MoneyError, exponent, parse_minor
from revwatch.recon_keys import payout_reference
from revwatch.runlog import RunStats

SOURCE = "bank"
JOB = "ingest-bank"
TABLE = "bank_lines"
COLUMNS = ("line_number", "format", "account", "currency", "bank_date", "value_date", "type_code", "direction",
           "amount_minor", "bank_reference", "customer_reference", "text", "payout_refs", "payout_candidate")
DEFAULT_PAYOUT_CODES = ("165", "169", "195")

_PAYOUT_REF = re.compile(r"\b(po_[A-Za-z0-9]+)|\b(?i:adyen(?:\s*batch\s*|-)(\d+))\b")


def payout_refs(*texts: str | None) -> list[str]:
    """Gateway payout references in a bank line's texts, in order, each once: Stripe payout ids
    (`po_…`) as written; `ADYEN BATCH <n>` (any case and spacing) as `ADYEN-<n>`, the form the
    ledger uses (leading zeros dropped, so it equals Adyen's integer batch number)."""
    refs: list[str] = []
    for value in texts:
        for m in _PAYOUT_REF.finditer(value or ""):
            ref = m.group(1) or payout_reference("adyen", int(m.group(2)))
            if ref not in refs:
                refs.append(ref)
    return refs


class Unreadable(Exception):
    """The file as a whole cannot be read: one quarantine record at `line` (0 = the file)."""

    def __init__(self, line: int, reason: str, record: str):
        super().__init__(reason)
        self.line, self.reason, self.record = line, reason, record


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


def _row(fmt: str, line: int, account: str, currency: str, bank_date: date, value_date: date | None,
         type_code: str | None, direction: str, amount: int, bank_ref: str | None, customer_ref: str | None,
         texts: Sequence[str], refs: list[str], candidate: bool) -> dict:
    return {"line_number": line, "format": fmt, "account": account, "currency": currency, "bank_date": bank_date,
            "value_date": value_date, "type_code": type_code, "direction": direction, "amount_minor": amount,
            "bank_reference": bank_ref, "customer_reference": customer_ref, "text": " | ".join(texts) or None,
            "payout_refs": refs, "payout_candidate": direction == "credit" and candidate}


def _currency(code: str | None, where: str) -> str:
    value = (code or "").strip().upper()
    try:
        exponent(value)
    except MoneyError:
        raise LineError(f"unknown currency {code!r} {where}") from None
    return value


# ---------------------------------------------------------------- BAI2
class _Record(NamedTuple):
    code: str
    line: int  # physical line of its first row
    rows: list[str]  # the record and its 88 continuations

    @property
    def text(self) -> str:
        return "\n".join(self.rows)


class _Counting(IteratorHelper):
    """The library's record iterator, counting records so a failure can be placed on a line.
    At the end it shows a record no parser takes: the library keeps the last record current
    otherwise, and a file cut short after a type-16 record would be read as endless 16s."""

    def __init__(self, lines: Iterable[str]):
        self.index, self.done = -1, False
        super().__init__(lines)

    def advance(self):
        try:
            super().advance()
        except StopIteration:
            self.done, self.current_record = True, Record(code=None, fields=[])
            raise
        self.index += 1


_CODES = {c.value for c in RecordCode} - {RecordCode.continuation.value}


def _bai2_records(content: str) -> tuple[list[_Record], list[Bad]]:
    """Physical lines -> records (a record code and its 88 continuations); unknown codes are bad."""
    records: list[_Record] = []
    bad: list[Bad] = []
    for number, raw in enumerate(re.split(r"\r\n|\n|\r", content), start=1):
        line = raw.strip()
        if not line:
            continue
        if line[:2] == RecordCode.continuation.value and records:
            records[-1].rows.append(line)
        else:
            records.append(_Record(line[:2] if line[2:3] == "," else line[:3], number, [line]))
    good = []
    for rec in records:
        if rec.code in _CODES:
            good.append(rec)
        else:
            bad.append(Bad(rec.line, f"not a BAI2 record: unknown record code {rec.code!r}", rec.text))
    return good, bad


def _detail(rec: _Record):
    """One type-16 record read by the library alone, then our rules; LineError says what is wrong."""
    helper = IteratorHelper(iter(rec.rows))
    fields = helper.current_record.fields
    amount = fields[1].strip() if len(fields) > 1 else ""
    if not amount.isdigit() or not amount.isascii():
        raise LineError(f"bad amount {amount!r}: BAI2 amounts are whole minor units")
    try:
        detail = TransactionDetailParser(helper).parse()
    except Exception as exc:  # the library's errors on bad input (NotSupportedYetException, ValueError, IndexError...)
        raise LineError(f"unreadable type 16 record: {exc}") from None
    code = detail.type_code.code
    direction = "credit" if "100" <= code <= "399" else "debit" if "400" <= code <= "699" else None
    if direction is None:
        raise LineError(f"type code {code} is neither a credit (100-399) nor a debit (400-699)")
    if detail.amount <= 0:
        raise LineError("amount 0: a bank line moves money")
    return detail, direction


def _parse_bai2(records: list[_Record], check: bool):
    helper = _Counting(row for rec in records for row in rec.rows)
    try:
        return Bai2FileParser(helper, check_integrity=check).parse(), helper
    except IntegrityException:
        raise
    except Exception as exc:  # the library's errors on a broken structure; raising would block the folder on this file
        at = records[max(0, min(helper.index, len(records) - 1))]
        early = "it ends before its trailers: " if helper.done else ""
        raise Unreadable(at.line, f"not a readable BAI2 file: {early}{type(exc).__name__}: {exc}", at.text) from None


def read_bai2(content: str, payout_codes: Sequence[str]) -> tuple[list[dict], list[Bad]]:
    """A BAI2 file -> bank line rows and quarantine records (see the module docstring)."""
    records, bad = _bai2_records(content)
    checked: dict[int, tuple] = {}  # position among the 16 records -> (detail, direction)
    unknown_amounts = 0
    position = -1
    for i, rec in enumerate(records):
        if rec.code != RecordCode.transaction_detail.value:
            continue
        position += 1
        try:
            checked[position] = _detail(rec)
        except LineError as exc:
            bad.append(Bad(rec.line, str(exc), rec.text))
            raw = rec.rows[0].split(",")
            amount = raw[2].strip() if len(raw) > 2 and raw[2].strip().isdigit() else None
            unknown_amounts += amount is None
            records[i] = _Record(rec.code, rec.line, [f"16,108,{amount or 0},Z,,,", *("88," for _ in rec.rows[1:])])
    try:
        parsed, helper = _parse_bai2(records, check=True)
    except IntegrityException as exc:
        parsed, helper = _parse_bai2(records, check=False)
        maybe = (f"; {unknown_amounts} quarantined record(s) without a readable amount may explain it"
                 if unknown_amounts else "")
        bad.append(Bad(0, f"BAI2 control totals do not match the file's records ({exc}){maybe}; the readable lines were loaded", ""))
    if not helper.done:  # the library stops at the file trailer
        rest = records[helper.index:]
        bad.append(Bad(rest[0].line, f"{len(rest)} record(s) after the file trailer (99) were not read",
                       "\n".join(r.text for r in rest)))
    details = [r for r in records if r.code == RecordCode.transaction_detail.value]
    rows: list[dict] = []
    position = -1
    for group in parsed.children:
        for account in group.children:
            for _ in account.children:
                position += 1
                if position not in checked:
                    continue  # a stand-in for a quarantined record
                detail, direction = checked[position]
                rec = details[position]
                try:
                    number = _clean(account.header.customer_account_number)
                    if number is None:
                        raise LineError("its account record (03) has no account number")
                    if group.header.as_of_date is None:
                        raise LineError("its group header (02) has no as-of date")
                    currency = _currency(account.header.currency or group.header.currency, f"on account {number}")
                except LineError as exc:
                    bad.append(Bad(rec.line, str(exc), rec.text))
                    continue
                dated = detail.funds_type is not None and detail.funds_type.value == "V"
                value_date = (detail.availability or {}).get("date") if dated else None
                code, refs = detail.type_code.code, payout_refs(detail.text, detail.bank_reference, detail.customer_reference)
                rows.append(_row("bai2", rec.line, number, currency, group.header.as_of_date, value_date, code, direction,
                                 detail.amount, _clean(detail.bank_reference), _clean(detail.customer_reference),
                                 [t for t in [_clean(detail.text)] if t], refs, code in payout_codes))
    return rows, bad


# ---------------------------------------------------------------- camt.053
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kids(el: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if el is None else [c for c in el if _local(c.tag) == name]


def _first(el: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        found = _kids(el, name)
        el = found[0] if found else None
    return el


def _text(el: ET.Element | None, *path: str) -> str | None:
    found = _first(el, *path)
    return None if found is None else _clean(found.text)


def _date(el: ET.Element, name: str) -> date | None:
    """`<name><Dt>` or the date part of `<name><DtTm>` (the bank's own calendar date)."""
    value = _text(el, name, "Dt") or (_text(el, name, "DtTm") or "")[:10] or None
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise LineError(f"bad {name} {value!r}") from None


def _entry(ntry: ET.Element, number: int, account: str | None, account_ccy: str | None, payout_codes: Sequence[str]) -> dict:
    if account is None:
        raise LineError("its statement has no account (Acct/Id/IBAN or Acct/Id/Othr/Id)")
    status = _text(ntry, "Sts", "Cd") or _text(ntry, "Sts")
    if status not in (None, "BOOK"):
        raise LineError(f"status {status} is not booked")
    amt = _first(ntry, "Amt")
    if amt is None or amt.text is None or _clean(amt.text) is None:
        raise LineError("no Amt")
    currency = _currency(amt.get("Ccy") or account_ccy, "(Amt@Ccy, else Acct/Ccy)")
    try:
        amount = parse_minor(amt.text, currency)
    except MoneyError as exc:
        raise LineError(f"Amt: {exc}") from None
    if amount <= 0:
        raise LineError(f"Amt {amt.text.strip()!r} is not a positive amount")
    direction = {"CRDT": "credit", "DBIT": "debit"}.get(_text(ntry, "CdtDbtInd") or "")
    if direction is None:
        raise LineError(f"CdtDbtInd {_text(ntry, 'CdtDbtInd')!r} is neither CRDT nor DBIT")
    booked = _date(ntry, "BookgDt")
    if booked is None:
        raise LineError("no BookgDt")
    value_date = _date(ntry, "ValDt")
    domain = _first(ntry, "BkTxCd", "Domn")
    iso = [_text(domain, "Cd"), _text(domain, "Fmly", "Cd"), _text(domain, "Fmly", "SubFmlyCd")]
    proprietary = _text(ntry, "BkTxCd", "Prtry", "Cd")
    type_code = "/".join(c for c in iso if c) or proprietary
    txs = _kids(_first(ntry, "NtryDtls"), "TxDtls")
    entry_ref = _text(ntry, "NtryRef")
    bank_ref = _text(ntry, "AcctSvcrRef") or next((r for r in (_text(t, "Refs", "AcctSvcrRef") for t in txs) if r), entry_ref)
    customer_ref = next((r for r in (_text(t, "Refs", "EndToEndId") for t in txs) if r and r != "NOTPROVIDED"), None)
    texts = [t for t in [_text(ntry, "AddtlNtryInf"), *(_clean(u.text) for t in txs for u in _kids(_first(t, "RmtInf"), "Ustrd"))] if t]
    refs = payout_refs(*texts, bank_ref, entry_ref, customer_ref)
    candidate = bool(refs) or proprietary in payout_codes or iso[:2] == ["PMNT", "RCDT"]
    return _row("camt053", number, account, currency, booked, value_date, type_code, direction, amount, bank_ref,
                customer_ref, texts, refs, candidate)


def read_camt(content: bytes, payout_codes: Sequence[str]) -> tuple[list[dict], list[Bad]]:
    """A camt.053 file -> bank line rows and quarantine records; entries are numbered across the file."""
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        line = exc.position[0]
        lines = content.decode("utf-8", "replace").splitlines()
        raise Unreadable(line, f"XML not well formed: {exc}", lines[line - 1] if 0 < line <= len(lines) else "") from None
    statements = _first(root, "BkToCstmrStmt")
    if _local(root.tag) != "Document" or statements is None:
        raise Unreadable(0, f"not a camt.053 statement: <{_local(root.tag)}> holds no BkToCstmrStmt", "")
    rows: list[dict] = []
    bad: list[Bad] = []
    number = 0
    for stmt in _kids(statements, "Stmt"):
        acct = _first(stmt, "Acct")
        account = _text(acct, "Id", "IBAN") or _text(acct, "Id", "Othr", "Id")
        for ntry in _kids(stmt, "Ntry"):
            number += 1
            try:
                rows.append(_entry(ntry, number, account, _text(acct, "Ccy"), payout_codes))
            except LineError as exc:
                bad.append(Bad(number, f"entry {number}: {exc}", ET.tostring(ntry, encoding="unicode").strip()))
    return rows, bad


# ---------------------------------------------------------------- the job
def read_statement(content: bytes, payout_codes: Sequence[str]) -> tuple[list[dict], list[Bad]]:
    """Any statement file -> (rows, quarantine records); Unreadable when it is neither format."""
    head = content.lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"01,"):
        try:
            decoded = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            decoded = content.decode("latin-1")  # BAI2 is ASCII; a stray accented byte in a text field
        return read_bai2(decoded, payout_codes)
    if head.startswith(b"<"):
        return read_camt(content, payout_codes)
    first = head.decode("utf-8", "replace").splitlines()[0][:200] if head else ""
    raise Unreadable(0, "neither BAI2 (a file starting with record 01) nor camt.053 XML", first)


INSERT = text(
    f"INSERT INTO bank_lines (file_sha256, ingested_at, {', '.join(COLUMNS)}) VALUES (:file_sha256, :ingested_at, "
    + ", ".join("CAST(:payout_refs AS text[])" if c == "payout_refs" else f":{c}" for c in COLUMNS) + ")"
)  # fixed column names, no input


def _load_file(conn: Connection, path: Path, sha: str, payout_codes: Sequence[str]) -> FileResult:
    result = FileResult()
    try:
        rows, result.bad = read_statement(path.read_bytes(), payout_codes)
    except Unreadable as exc:
        result.bad, result.lines = [Bad(exc.line, exc.reason, exc.record)], 1
        return result
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
