"""Property-based: bad input in every file format is data (issue 15, "Bad input is data").

Hypothesis builds folders of files for each format (Adyen settlement CSV, BAI2, camt.053, GL CSV,
FX CSV): files mixing good lines with bad ones (out-of-range, exponent notation, non-ISO 4217,
wrongly signed, malformed), and whole bad files among them (a Latin-1 byte, a NUL byte, random
binary, no header, a broken structure). One ingest run, then per file: the run succeeded (nothing
raised), every good line is loaded (and only those), every bad line is in quarantine with its line
number and a reason saying why, and a file bad as a whole is one quarantine record at line 0 with
nothing loaded. A second run reads nothing (no file is retried while its content is the same).

One database of the repo's real PostgreSQL fixtures (make_world) for the module, emptied between examples;
max_examples is kept small so the module runs in about 25 s.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.ingest import adyen, bank, fx, ledger
from revwatch.money import CURRENCY_EXPONENTS, MAX_MINOR, to_decimal

EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TABLES = "source_files, quarantine, adyen_settlement_lines, bank_lines, gl_lines, fx_rates, pending_windows"
CURRENCIES = ("USD", "EUR", "JPY", "KWD", "CLF", "KES", "CAD")
REFUSED = "file not loaded: "
NEWLINE = re.compile(r"\r\n|\r|\n")  # what text-mode reading (newline="") splits physical lines on


@dataclass
class Expect:
    """What one file must give: refused whole, or these good lines loaded and these bad ones quarantined
    (line -> a fragment its reason must hold)."""

    refused: bool = False
    good: set[int] = field(default_factory=set)
    bad: dict[int, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(make_world):
    return make_world()


def run_and_check(world, files: list[tuple[str, bytes, Expect]], ingest, table: str, line_column: str) -> None:
    """Write the files, ingest once, check each file by its sha256, ingest again (nothing read)."""
    world.sql(f"TRUNCATE {TABLES}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, content, _ in files:
            (folder / name).write_bytes(content)
        stats = ingest(folder)
        assert stats.outcome == "succeeded"
        seen: set[str] = set()
        for name, content, expect in files:
            sha = hashlib.sha256(content).hexdigest()
            if sha in seen:
                continue  # the same bytes twice: taken once (by content), as any file dropped twice
            seen.add(sha)
            loaded = {n for (n,) in world.sql(f"SELECT {line_column} FROM {table} WHERE file_sha256 = %s", (sha,))}
            quarantined = dict(world.sql("SELECT line_number, reason FROM quarantine WHERE file_sha256 = %s", (sha,)))
            if expect.refused:
                assert loaded == set(), name
                assert list(quarantined) == [0] and quarantined[0].startswith(REFUSED), (name, quarantined)
                continue
            assert loaded == expect.good, (name, content)
            assert set(quarantined) == set(expect.bad), (name, quarantined, expect.bad, content)
            for number, fragment in expect.bad.items():
                assert fragment in quarantined[number], (name, number, quarantined[number], fragment)
        again = ingest(folder)
        assert (again.outcome, again.rows_read) == ("succeeded", 0)


# ------------------------------------------------------------------ shared pieces
free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
days = st.dates(date(2000, 1, 1), date(2099, 12, 31))
out_of_range_days = st.sampled_from(["1999-12-31", "2100-01-01", "0001-01-01", "9999-12-31"])


def amount_text(minor: int, currency: str) -> str:
    return f"{to_decimal(minor, currency):f}"


@st.composite
def money(draw, lo: int = 0, hi: int = MAX_MINOR) -> tuple[str, int]:
    currency = draw(st.sampled_from(CURRENCIES))
    return currency, draw(st.integers(lo, hi))


def whole_bad(draw, good: bytes, kinds: tuple[str, ...] = ("latin1", "nul", "binary")) -> bytes:
    """A file bad as a whole, made from a good one: a Latin-1 byte, a NUL byte, or random binary."""
    kind = draw(st.sampled_from(kinds))
    if kind == "binary":
        good = draw(st.binary(max_size=300))
    at = draw(st.integers(0, len(good)))
    return good[:at] + (b"\xe9" if kind == "latin1" else b"\x00") + good[at:]


def physical_lines(text: str) -> int:
    return len(NEWLINE.findall(text))


def csv_bytes(header: list[str], rows: list[list[str]]) -> tuple[bytes, list[int]]:
    """CSV with \r\n line ends; the physical line each row starts on (the header is line 1)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    starts = []
    for row in rows:
        starts.append(physical_lines(out.getvalue()) + 1)
        writer.writerow(row)
    return out.getvalue().encode(), starts


# ------------------------------------------------------------------ Adyen settlement details
ADYEN_HEADER = [c.header for c in adyen.COLUMNS] + ["Creation Date", "TimeZone", "Booking Date"]


@st.composite
def adyen_good(draw, file_no: int) -> dict:
    gross_currency, gross = draw(money())
    net_currency, net = draw(money())
    debit = draw(st.booleans())
    day, second = draw(st.dates(date(2000, 1, 2), date(2099, 12, 30))), draw(st.integers(0, 86399))
    line = {
        "Company Account": draw(free_text), "Merchant Account": f"M{file_no}", "Psp Reference": draw(free_text),
        "Merchant Reference": draw(free_text), "Payment Method": "visa", "Type": draw(st.sampled_from(sorted(adyen.TYPES))),
        "Modification Reference": "", "Gross Currency": gross_currency,
        "Gross Debit (GC)": amount_text(gross, gross_currency) if debit else "",
        "Gross Credit (GC)": "" if debit else amount_text(gross, gross_currency),
        "Exchange Rate": draw(st.sampled_from(["1", "0.9234", "12345678.0123456789"])), "Net Currency": net_currency,
        "Net Debit (NC)": amount_text(net, net_currency) if debit else "",
        "Net Credit (NC)": "" if debit else amount_text(net, net_currency),
        "Commission (NC)": amount_text(draw(st.integers(-10**6, 10**6)), net_currency), "Markup (NC)": "",
        "Scheme Fees (NC)": "", "Interchange (NC)": "", "Batch Number": str(draw(st.integers(0, 2**31 - 1))),
        "Creation Date": f"{day} {second // 3600:02}:{second // 60 % 60:02}:{second % 60:02}",
        "TimeZone": draw(st.sampled_from(["UTC", "CET", "CEST", "Europe/Amsterdam", "America/Vancouver"])),
        "Booking Date": "",
    }
    return line


ADYEN_BAD = {  # kind -> (column, value or None (drawn), reason fragment)
    "negative gross credit": ("Gross Credit (GC)", "-12", "is negative"),
    "exponent": ("Gross Credit (GC)", "1e20", "exponent notation"),
    "20 digits": ("Gross Credit (GC)", "99999999999999999999.00", "out of range"),
    "beyond bigint": ("Net Debit (NC)", None, "out of range"),  # one minor unit more than a bigint, in its currency
    "negative net debit": ("Net Debit (NC)", "-1", "is negative"),
    "non-ISO currency": ("Gross Currency", "QQQ", "unknown currency 'QQQ'"),
    "metal": ("Net Currency", "XAU", "unknown currency 'XAU'"),
    "decimals": ("Gross Credit (GC)", "1.23456", "decimals"),
    "decimal comma": ("Net Credit (NC)", "12,50", "not a decimal amount"),
    "digit separator": ("Net Credit (NC)", "1_000.00", "not a decimal amount"),
    "NaN": ("Gross Debit (GC)", "NaN", "not a decimal amount"),
    "type": ("Type", "Settld", "unknown Type"),
    "date": ("Creation Date", "2026-13-01 00:00:00", "bad Creation Date"),
    "old date": ("Creation Date", "0001-01-01 00:00:00", "out of range"),
    "late date": ("Creation Date", "9999-12-31 23:59:59", "out of range"),
    "zone": ("TimeZone", "America", "unknown TimeZone"),
    "batch": ("Batch Number", str(2**31), "bad 'Batch Number'"),
    "superscript batch": ("Batch Number", "²", "bad 'Batch Number'"),
    "rate": ("Exchange Rate", "1e20", "Exchange Rate"),
    "long rate": ("Exchange Rate", "123456789.5", "does not fit"),
    "negative rate": ("Exchange Rate", "-1", "positive"),
    "no merchant": ("Merchant Account", "", "empty required column"),
}


@st.composite
def adyen_file(draw, file_no: int) -> tuple[str, bytes, Expect]:
    rows: list[tuple[list[str], str | None]] = []
    for _ in range(draw(st.integers(0, 8))):
        line = draw(adyen_good(file_no))
        kind = draw(st.one_of(st.none(), st.sampled_from(sorted(ADYEN_BAD)), st.just("extra fields")))
        fragment = None
        if kind == "extra fields":
            row, fragment = [line[h] for h in ADYEN_HEADER] + ["x"], "fields, the header has"
        else:
            if kind is not None:
                column, value, fragment = ADYEN_BAD[kind]
                line[column] = amount_text(MAX_MINOR + 1, line["Net Currency"]) if value is None else value
            row = [line[h] for h in ADYEN_HEADER]
        rows.append((row, fragment))
    content, starts = csv_bytes(ADYEN_HEADER, [r for r, _ in rows])
    expect = Expect(good={s for s, (_, f) in zip(starts, rows, strict=True) if f is None},
                    bad={s: f for s, (_, f) in zip(starts, rows, strict=True) if f is not None})
    if draw(st.integers(0, 4)) == 0:
        content, expect = whole_bad(draw, content), Expect(refused=True)
    elif draw(st.integers(0, 9)) == 0:
        content, expect = content.replace(b"Type", b"Typ", 1), Expect(refused=True)  # the header lacks a column
    return f"settlement_detail_report_batch_{file_no}.csv", content, expect


@EXAMPLES
@given(st.data())
def test_adyen_reports_good_lines_load_bad_lines_and_files_are_quarantined(world, data):
    files = [data.draw(adyen_file(n)) for n in range(data.draw(st.integers(1, 4)))]
    run_and_check(world, files, lambda folder: adyen.ingest(world.engine, folder, {}), "adyen_settlement_lines", "line_number")


# ------------------------------------------------------------------ GL exports
GL_HEADER = ["journal_id", "line", "posted_date", "account", "account_name", "debit", "credit", "currency", "memo", "reference"]
GL_BAD = {  # kind -> (column, value, reason fragment)
    "exponent": ("debit", "1e20", "exponent notation"),
    "20 digits": ("debit", "99999999999999999999.00", "out of range"),
    "negative": ("credit", "-5.00", "is negative"),
    "non-ISO currency": ("currency", "QQQ", "unknown currency 'QQQ'"),
    "metal": ("currency", "XAU", "unknown currency 'XAU'"),
    "date": ("posted_date", "2026-02-30", "bad posted_date"),
    "old date": ("posted_date", "1900-01-01", "out of range"),
    "line": ("line", "x", "bad line"),
    "line zero": ("line", "0", "bad line"),
    "no account": ("account", "", "empty required column"),
    "both": ("credit", "1.00", "both debit"),
}


@st.composite
def gl_file(draw, file_no: int) -> tuple[str, bytes, Expect]:
    rows: list[tuple[list[str], str | None]] = []
    for j in range(draw(st.integers(0, 4))):
        journal = f"F{file_no}-J{j}"
        currency = draw(st.sampled_from(CURRENCIES))
        posted = draw(days).isoformat()
        debits = draw(st.lists(st.integers(1, MAX_MINOR // 8), min_size=1, max_size=3))
        lines = [[journal, "", posted, "1010", draw(free_text), amount_text(d, currency), "", currency, draw(free_text), ""]
                 for d in debits]
        lines.append([journal, "", posted, "1150", "", "", amount_text(sum(debits), currency), currency, "", f"REF-{j}"])
        unbalanced = draw(st.integers(0, 5)) == 0
        if unbalanced:  # every line of it parses, but without its credit it does not balance: all of it goes
            lines.pop()
        journal_rows: list[tuple[list[str], str | None]] = [(line, "does not balance" if unbalanced else None)
                                                           for line in lines]
        for kind in draw(st.lists(st.sampled_from(sorted(GL_BAD)), max_size=2)):
            column, value, fragment = GL_BAD[kind]
            line = [journal, "", posted, "6150", "", "1.00", "", "USD", "", ""]
            line[GL_HEADER.index(column)] = value
            journal_rows.insert(draw(st.integers(0, len(journal_rows))), (line, fragment))
        number = 0
        for row, _ in journal_rows:
            if row[1] == "":
                number += 1
                row[1] = str(number)
        rows += journal_rows
    content, starts = csv_bytes(GL_HEADER, [r for r, _ in rows])
    expect = Expect(good={s for s, (_, f) in zip(starts, rows, strict=True) if f is None},
                    bad={s: f for s, (_, f) in zip(starts, rows, strict=True) if f is not None})
    if draw(st.integers(0, 4)) == 0:
        content, expect = whole_bad(draw, content), Expect(refused=True)
    return f"gl_{file_no}.csv", content, expect


@EXAMPLES
@given(st.data())
def test_gl_exports_good_lines_load_bad_lines_and_files_are_quarantined(world, data):
    files = [data.draw(gl_file(n)) for n in range(data.draw(st.integers(1, 4)))]
    run_and_check(world, files, lambda folder: ledger.ingest(world.engine, folder, {}), "gl_lines", "file_line")


# ------------------------------------------------------------------ FX rates
FX_BAD = {  # kind -> (currency, rate, reason fragment); the date is drawn
    "non-ISO currency": ("QQQ", "1.5", "unknown currency 'QQQ'"),
    "not a code": ("US", "1.5", "bad currency"),
    "exponent": ("EUR", "1e2", "bad rate_to_reporting"),
    "zero": ("EUR", "0", "positive"),
    "negative": ("EUR", "-1.2", "positive"),
    "eleven decimals": ("EUR", "1.12345678901", "does not fit"),
    "eleven digits": ("EUR", "12345678901", "does not fit"),
    "NaN": ("EUR", "NaN", "bad rate_to_reporting"),
    "reporting not 1": ("USD", "1.01", "must have rate 1"),
}


@st.composite
def fx_file(draw) -> tuple[str, bytes, Expect]:
    keys = draw(st.lists(st.tuples(days, st.sampled_from([*sorted(CURRENCY_EXPONENTS), "XAU", "XDR"])), max_size=8,
                         unique=True))
    rows: list[tuple[list[str], str | None]] = []
    for day, currency in keys:
        digits = draw(st.integers(1, 10**20 - 1))
        rate = "1" if currency == "USD" else f"{Decimal(digits).scaleb(-10):f}"
        rows.append(([day.isoformat(), currency, rate], None))
    for kind in draw(st.lists(st.sampled_from([*sorted(FX_BAD), "old date", "bad date", "short"]), max_size=4)):
        at = draw(st.integers(0, len(rows)))
        if kind == "old date":
            row, fragment = [draw(out_of_range_days), "EUR", "1.1"], "out of range"
        elif kind == "bad date":
            row, fragment = ["2026-11-31", "EUR", "1.1"], "bad date"
        elif kind == "short":
            row, fragment = ["2026-11-20", "EUR"], "missing required column"
        else:
            currency, rate, fragment = FX_BAD[kind]
            row = [draw(days).isoformat(), currency, rate]
        rows.insert(at, (row, fragment))
    content, starts = csv_bytes(["date", "currency", "rate_to_reporting"], [r for r, _ in rows])
    expect = Expect(good={s for s, (_, f) in zip(starts, rows, strict=True) if f is None},
                    bad={s: f for s, (_, f) in zip(starts, rows, strict=True) if f is not None})
    kind = draw(st.integers(0, 5))
    if kind == 0:
        content, expect = whole_bad(draw, content), Expect(refused=True)
    elif kind == 1:
        content, expect = b"", Expect(refused=True)
    return "fx_rates.csv", content, expect


@EXAMPLES
@given(fx_file())
def test_fx_rates_good_lines_load_bad_lines_and_files_are_quarantined(world, file):
    name, content, expect = file
    world.sql(f"TRUNCATE {TABLES}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        stats = fx.ingest(world.engine, path, {})
        assert stats.outcome == "succeeded"
        quarantined = dict(world.sql("SELECT line_number, reason FROM quarantine"))
        if expect.refused:
            assert world.sql("SELECT count(*) FROM fx_rates") == [(0,)]
            assert list(quarantined) == [0] and quarantined[0].startswith(REFUSED)
        else:
            lines = NEWLINE.split(content.decode())
            wanted = {(date.fromisoformat(lines[n - 1].split(",")[0]), lines[n - 1].split(",")[1], Decimal(lines[n - 1].split(",")[2]))
                      for n in expect.good}
            assert set(world.sql("SELECT rate_date, currency, rate_to_reporting FROM fx_rates")) == wanted
            assert set(quarantined) == set(expect.bad)
            for number, fragment in expect.bad.items():
                assert fragment in quarantined[number], (number, quarantined[number], fragment)
        assert fx.ingest(world.engine, path, {}).rows_read == 0


# ------------------------------------------------------------------ bank statements: BAI2
BAI2_BAD = {  # kind -> (type code, amount, reason fragment)
    "20 digits": ("165", "12345678901234567890", "out of range"),
    "beyond bigint": ("165", str(MAX_MINOR + 1), "out of range"),
    "decimal": ("165", "12.50", "bad amount"),
    "negative": ("475", "-500", "bad amount"),
    "zero": ("301", "0", "amount 0"),
    "unsupported code": ("999", "100", "unreadable type 16 record"),
    "neither credit nor debit": ("890", "100", "neither a credit"),
}
WORD = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", max_size=12)


@st.composite
def bai2_file(draw, file_no: int) -> tuple[str, bytes, Expect]:
    """One group, one account; trailers as the bank computes them over the amounts that are digits."""
    body: list[str] = []
    expect = Expect()
    amounts = 0
    for _ in range(draw(st.integers(0, 8))):
        line_no = len(body) + 4
        kind = draw(st.one_of(st.none(), st.sampled_from([*sorted(BAI2_BAD), "garbage"])))
        if kind == "garbage":
            body.append("GARBAGE," + draw(WORD))
            expect.bad[line_no] = "not a BAI2 record"
            continue
        code, amount = draw(st.sampled_from(["165", "169", "195", "301", "475", "698"])), str(draw(st.integers(1, MAX_MINOR)))
        if kind is not None:
            code, amount, expect.bad[line_no] = BAI2_BAD[kind]
        else:
            expect.good.add(line_no)
        if amount.isdigit():
            amounts += int(amount)
        text = draw(WORD)
        body.append(f"16,{code},{amount},0,B{line_no},,{text}")
        body += [f"88,{draw(WORD)}" for _ in range(draw(st.integers(0, 2)))]
    records = [r for r in body if not r.startswith("GARBAGE")]
    total = 1000 + amounts
    lines = ["01,121000358,PARKCO,261120,2330,1,80,,2/", "02,PARKCO,121000358,1,261120,2400,USD,4/",
             "03,4401237788,USD,010,1000,,/", *body, f"49,{total},{len(records) + 2}/", f"98,{total},1,{len(records) + 4}/",
             f"99,{total},1,{len(records) + 6}/"]
    content = ("\n".join(lines) + "\n").encode()
    kind = draw(st.integers(0, 7))
    if kind == 0:  # BAI2 is ASCII: a Latin-1 byte in it is read as Latin-1 text (collectors/ingest/bank.py)
        content, expect = whole_bad(draw, content, ("nul", "binary")), Expect(refused=True)
    elif kind == 1:  # cut short: no trailers, or some of them
        content, expect = ("\n".join(lines[:-draw(st.integers(1, 3))]) + "\n").encode(), Expect(refused=True)
    elif kind == 2:  # the group header lost: a structure the reader cannot follow
        content, expect = ("\n".join(lines[:1] + lines[2:]) + "\n").encode(), Expect(refused=True)
    return f"bai2_{file_no}.txt", content, expect


# ------------------------------------------------------------------ bank statements: camt.053
CAMT_BAD = {  # kind -> (element changes, reason fragment)
    "exponent": ({"amount": "1e20"}, "exponent notation"),
    "20 digits": ({"amount": "99999999999999999999.00"}, "out of range"),
    "negative": ({"amount": "-5.00"}, "not a positive amount"),
    "zero": ({"amount": "0"}, "not a positive amount"),
    "non-ISO currency": ({"currency": "QQQ"}, "unknown currency 'QQQ'"),
    "decimals": ({"amount": "1.23456"}, "decimals"),
    "pending": ({"status": "PDNG"}, "not booked"),
    "date": ({"booked": "2026-02-30"}, "bad BookgDt"),
    "old date": ({"booked": "1999-12-31"}, "out of range"),
    "direction": ({"direction": "XX"}, "neither CRDT nor DBIT"),
}


@st.composite
def camt_entry(draw) -> dict:
    currency, minor = draw(money(lo=1))
    return {"amount": amount_text(minor, currency), "currency": currency, "direction": draw(st.sampled_from(["CRDT", "DBIT"])),
            "status": draw(st.sampled_from(["BOOK", None])), "booked": draw(days).isoformat(),
            "text": draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xD7FF), max_size=12))}


def camt_xml(entry: dict) -> str:
    status = f"<Sts><Cd>{entry['status']}</Cd></Sts>" if entry["status"] else ""
    return (f"<Ntry><Amt Ccy={quoteattr(entry['currency'])}>{escape(entry['amount'])}</Amt>"
            f"<CdtDbtInd>{entry['direction']}</CdtDbtInd>{status}<BookgDt><Dt>{entry['booked']}</Dt></BookgDt>"
            f"<AddtlNtryInf>{escape(entry['text'])}</AddtlNtryInf></Ntry>")


@st.composite
def camt_file(draw, file_no: int) -> tuple[str, bytes, Expect]:
    expect = Expect()
    statements = []
    number = 0
    for s in range(draw(st.integers(1, 2))):
        entries = []
        for _ in range(draw(st.integers(0, 5))):
            number += 1
            entry = draw(camt_entry())
            kind = draw(st.one_of(st.none(), st.sampled_from(sorted(CAMT_BAD))))
            if kind is None:
                expect.good.add(number)
            else:
                changes, expect.bad[number] = CAMT_BAD[kind]
                entry.update(changes)
            entries.append(camt_xml(entry))
        statements.append(f"<Stmt><Id>S{s}</Id><Acct><Id><IBAN>DE89370400440532013{file_no:03}</IBAN></Id></Acct>"
                          + "\n".join(entries) + "</Stmt>")
    content = ('<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
               "<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>\n" + "\n".join(statements)
               + "</BkToCstmrStmt></Document>\n").encode()
    kind = draw(st.integers(0, 7))
    if kind == 0:
        content, expect = whole_bad(draw, content), Expect(refused=True)  # a Latin-1 byte breaks its UTF-8 XML
    elif kind == 1:  # cut short: not well formed
        content, expect = content[:draw(st.integers(0, len(content) - 30))], Expect(refused=True)
    elif kind == 2:
        content, expect = content.replace(b"BkToCstmrStmt", b"BkToCstmrAcctRpt"), Expect(refused=True)  # camt.052
    return f"camt053_{file_no}.xml", content, expect


@EXAMPLES
@given(st.data())
def test_bank_statements_good_lines_load_bad_lines_and_files_are_quarantined(world, data):
    files = [data.draw(st.one_of(bai2_file(n), camt_file(n))) for n in range(data.draw(st.integers(1, 4)))]
    run_and_check(world, files, lambda folder: bank.ingest(world.engine, folder, {}), "bank_lines", "line_number")
