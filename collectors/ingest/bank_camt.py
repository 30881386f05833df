"""ISO 20022 camt.053 bank statements (SOURCES.md §4) -> bank_lines rows and quarantine records;
the fields read and the rules are in collectors/ingest/bank.py's docstring."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date

from collectors.ingest.bank_rows import bank_currency, bank_row, clean, payout_refs
from collectors.ingest.files import Bad, FileRefused, LineError, shown
from revwatch.money import MoneyError, parse_minor


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
    return None if found is None else clean(found.text)


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
    if amt is None or amt.text is None or clean(amt.text) is None:
        raise LineError("no Amt")
    currency = bank_currency(amt.get("Ccy") or account_ccy, "(Amt@Ccy, else Acct/Ccy)")
    try:
        amount = parse_minor(amt.text, currency)
    except MoneyError as exc:
        raise LineError(f"Amt: {exc}") from None
    if amount <= 0:
        raise LineError(f"Amt {amt.text.strip()!r} is not a positive amount (CdtDbtInd says the direction)")
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
    texts = [t for t in [_text(ntry, "AddtlNtryInf"), *(clean(u.text) for t in txs for u in _kids(_first(t, "RmtInf"), "Ustrd"))] if t]
    refs = payout_refs(*texts, bank_ref, entry_ref, customer_ref)
    candidate = bool(refs) or proprietary in payout_codes or iso[:2] == ["PMNT", "RCDT"]
    return bank_row("camt053", number, account, currency, booked, value_date, type_code, direction, amount, bank_ref,
                    customer_ref, texts, refs, candidate)


def read_camt(content: bytes, payout_codes: Sequence[str]) -> tuple[list[dict], list[Bad]]:
    """A camt.053 file -> bank line rows and quarantine records; entries are numbered across the file.
    FileRefused for XML that is not well formed, carries a DOCTYPE (camt.053 has none; entity
    declarations are how XML bombs work) or is not a BkToCstmrStmt document."""
    if b"<!DOCTYPE" in content:
        raise FileRefused("a DOCTYPE declaration: camt.053 has none")
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        line = exc.position[0]
        lines = content.splitlines()
        raise FileRefused(f"XML not well formed (at line {line}): {exc}",
                          shown(lines[line - 1]) if 0 < line <= len(lines) else "") from None
    statements = _first(root, "BkToCstmrStmt")
    if _local(root.tag) != "Document" or statements is None:
        raise FileRefused(f"not a camt.053 statement: <{_local(root.tag)}> holds no BkToCstmrStmt")
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
