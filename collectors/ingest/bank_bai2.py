"""BAI2 bank statements (SOURCES.md §4) -> bank_lines rows and quarantine records; the rules are
in collectors/ingest/bank.py's docstring."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from bai2.constants import RecordCode
from bai2.exceptions import IntegrityException
from bai2.helpers import IteratorHelper
from bai2.models import Record
from bai2.parsers import Bai2FileParser, TransactionDetailParser

from collectors.ingest.bank_rows import bank_currency, bank_row, clean, payout_refs
from collectors.ingest.files import FILE_LINE, Bad, FileRefused, LineError
from revwatch.money import MoneyError, parse_whole_minor


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
_DETAIL = RecordCode.transaction_detail.value


def _records(content: str) -> tuple[list[_Record], list[Bad]]:
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
        parse_whole_minor(amount)
    except MoneyError as exc:
        raise LineError(f"amount {exc}") from None
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


def _parse(records: list[_Record], check: bool):
    helper = _Counting(row for rec in records for row in rec.rows)
    try:
        return Bai2FileParser(helper, check_integrity=check).parse(), helper
    except IntegrityException:
        raise
    except Exception as exc:  # the library's errors on a broken structure: the file is refused, the folder goes on
        if not records:
            raise FileRefused("not a readable BAI2 file: it holds no BAI2 record") from None
        at = records[max(0, min(helper.index, len(records) - 1))]
        early = "it ends before its trailers: " if helper.done else ""
        raise FileRefused(f"not a readable BAI2 file (at line {at.line}): {early}{type(exc).__name__}: {exc}",
                          at.text) from None


def read_bai2(content: str, payout_codes: Sequence[str]) -> tuple[list[dict], list[Bad]]:
    """A BAI2 file -> bank line rows and quarantine records (see collectors/ingest/bank.py)."""
    records, bad = _records(content)
    checked: dict[int, tuple] = {}  # position among the 16 records -> (detail, direction)
    unknown_amounts = 0
    position = -1
    for i, rec in enumerate(records):
        if rec.code != _DETAIL:
            continue
        position += 1
        try:
            checked[position] = _detail(rec)
        except LineError as exc:
            bad.append(Bad(rec.line, str(exc), rec.text))
            raw = rec.rows[0].split(",")
            amount = raw[2].strip() if len(raw) > 2 and raw[2].strip().isascii() and raw[2].strip().isdigit() else None
            unknown_amounts += amount is None
            records[i] = _Record(rec.code, rec.line, [f"16,108,{amount or 0},Z,,,", *("88," for _ in rec.rows[1:])])
    try:
        parsed, helper = _parse(records, check=True)
    except IntegrityException as exc:
        parsed, helper = _parse(records, check=False)
        maybe = (f"; {unknown_amounts} quarantined record(s) without a readable amount may explain it"
                 if unknown_amounts else "")
        bad.append(Bad(FILE_LINE, f"BAI2 control totals do not match the file's records ({exc}){maybe}; "
                                  "the readable lines were loaded", ""))
    if not helper.done:  # the library stops at the file trailer
        rest = records[helper.index:]
        bad.append(Bad(rest[0].line, f"{len(rest)} record(s) after the file trailer (99) were not read",
                       "\n".join(r.text for r in rest)))
    details = [r for r in records if r.code == _DETAIL]
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
                    rows.append(_row(group, account, detail, direction, rec.line, payout_codes))
                except LineError as exc:
                    bad.append(Bad(rec.line, str(exc), rec.text))
    return rows, bad


def _row(group, account, detail, direction: str, line: int, payout_codes: Sequence[str]) -> dict:
    number = clean(account.header.customer_account_number)
    if number is None:
        raise LineError("its account record (03) has no account number")
    if group.header.as_of_date is None:
        raise LineError("its group header (02) has no as-of date")
    currency = bank_currency(account.header.currency or group.header.currency, f"on account {number}")
    dated = detail.funds_type is not None and detail.funds_type.value == "V"
    value_date = (detail.availability or {}).get("date") if dated else None
    code, refs = detail.type_code.code, payout_refs(detail.text, detail.bank_reference, detail.customer_reference)
    return bank_row("bai2", line, number, currency, group.header.as_of_date, value_date, code, direction,
                    detail.amount, clean(detail.bank_reference), clean(detail.customer_reference),
                    [t for t in [clean(detail.text)] if t], refs, code in payout_codes)
