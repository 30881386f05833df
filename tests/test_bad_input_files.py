"""Bad input in the file sources is data, never a failed job (issue 15, points 2 and 10): one test
per reported defect, each reproducing it. A file that cannot be read as a whole is refused (one
quarantine record at line 0, nothing of it loaded, recorded in source_files so it is read again
only when its content changes) and the folder's other files load; a line with an out-of-range,
non-ISO 4217 or wrongly signed value is quarantined with its line and reason, the rest loads."""
from __future__ import annotations

import csv
import io
import os
from decimal import Decimal

from sqlalchemy import text

from collectors.ingest import adyen, bank, fx, ledger
from collectors.ingest.files import FileResult, ingest_files
from tests.worlds.source_files import CAMT, GL_HEADER, adyen_line, bai2, gl, write_adyen

REFUSED = "file not loaded: "


def adyen_folder(folder, n: int = 14) -> None:
    """n good settlement reports, one batch each, two lines a file."""
    for batch in range(1, n + 1):
        write_adyen(folder / f"settlement_detail_report_batch_{batch}.csv", [
            adyen_line("Settled", psp=f"P{batch}", ref=f"att_{batch}", gcr="10.00", ncr="9.70", batch=str(batch)),
            adyen_line("MerchantPayout", gc="", nd="9.70", batch=str(batch)),
        ])


def refused(world, source: str) -> list[tuple]:
    return world.sql("SELECT file_name, line_number, reason, record FROM quarantine WHERE source = %s"
                     " AND line_number = 0 ORDER BY file_name", (source,))


def job_outcomes(world, job: str) -> list[str]:
    return [r[0] for r in world.sql("SELECT outcome FROM job_runs WHERE job = %s ORDER BY run_id", (job,))]


def spoil(path, old: bytes, new: bytes) -> None:
    content = path.read_bytes()
    assert old in content
    path.write_bytes(content.replace(old, new, 1))


# ------------------------------------------------------------------ whole files
def test_an_adyen_report_with_one_latin1_byte_is_refused_and_the_other_13_load(make_world, tmp_path):
    world = make_world()
    adyen_folder(tmp_path)
    bad = tmp_path / "settlement_detail_report_batch_7.csv"
    spoil(bad, b"ParkCo_US,Settled,P7", "ParkCo_US,Settled,P7 Café".encode("latin-1"))  # 'utf-8' codec can't decode byte 0xe9
    stats = adyen.ingest(world.engine, tmp_path, {})
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT count(DISTINCT file_sha256), count(*) FROM adyen_settlement_lines") == [(13, 26)]
    assert world.sql("SELECT count(*) FROM adyen_settlement_lines WHERE batch_number = 7") == [(0,)]
    [(name, number, reason, record)] = refused(world, "adyen")
    assert (name, number) == (bad.name, 0)
    assert reason == REFUSED + "not UTF-8 text: byte(s) e9 on line 2 (invalid continuation byte)"
    assert record.startswith("ParkCo_US,Settled,P7 Caf\\xe9,")  # the line, its odd byte escaped
    assert world.sql("SELECT lines_read, lines_loaded, lines_quarantined FROM source_files WHERE file_name = %s",
                     (bad.name,)) == [(1, 0, 1)]

    again = adyen.ingest(world.engine, tmp_path, {})  # the same content is not read again
    assert (again.outcome, again.rows_read) == ("succeeded", 0)
    spoil(bad, "P7 Café".encode("latin-1"), b"P7 Cafe")  # repaired: a new hash, read again
    repaired = adyen.ingest(world.engine, tmp_path, {})
    assert (repaired.rows_read, repaired.rows_written) == (2, 2)
    assert world.sql("SELECT count(*) FROM adyen_settlement_lines") == [(28,)]
    assert job_outcomes(world, "ingest-adyen") == ["succeeded"] * 3


def test_random_binary_and_a_nul_byte_among_adyen_reports_are_refused(make_world, tmp_path):
    world = make_world()
    adyen_folder(tmp_path, 4)
    (tmp_path / "settlement_detail_report_batch_90.csv").write_bytes(bytes(range(256)) * 8)
    nul = tmp_path / "settlement_detail_report_batch_3.csv"
    spoil(nul, b"P3,", b"P\x003,")
    stats = adyen.ingest(world.engine, tmp_path, {})
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT DISTINCT batch_number FROM adyen_settlement_lines ORDER BY 1") == [(1,), (2,), (4,)]
    rows = refused(world, "adyen")
    assert [(r[0], r[2]) for r in rows] == [
        (nul.name, REFUSED + "a NUL byte on line 2: not a text file"),
        ("settlement_detail_report_batch_90.csv", REFUSED + "a NUL byte on line 1: not a text file")]
    assert "P\\x003," in rows[0][3]


def test_csv_files_without_their_header_are_refused_not_every_line(make_world, tmp_path):
    world = make_world()
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "no_header.csv").write_text("journal_id,line,posted_date,account,debit,credit\nJ1,1,2026-11-20,1010,1.00,\n")
    ledger_folder = tmp_path / "gl"
    ledger_folder.mkdir()
    (ledger_folder / "no_header.csv").write_text("journal_id,line,posted_date,account,debit,credit\nJ2,1,2026-11-20,1010,1.00,\n")
    assert adyen.ingest(world.engine, tmp_path, {}).outcome == "succeeded"
    assert ledger.ingest(world.engine, ledger_folder, {}).outcome == "succeeded"
    assert [(r[0], r[2]) for r in refused(world, "adyen")] == [
        ("empty.csv", REFUSED + "no header line: the file is empty or starts with a blank line"),
        ("no_header.csv", REFUSED + "the header (line 1) lacks 'Merchant Account', 'Type', 'Net Currency', 'Batch Number', "
                                    "'Creation Date', 'TimeZone'")]
    assert [(r[0], r[2]) for r in refused(world, "gl")] == [("no_header.csv", REFUSED + "the header (line 1) lacks 'currency'")]


def test_an_fx_file_with_one_latin1_byte_is_refused_until_it_changes(make_world, tmp_path):
    world = make_world()
    path = tmp_path / "fx_rates.csv"
    path.write_bytes("date,currency,rate_to_reporting\n2026-11-20,EUR,1.08\n2026-11-20,CAD,0.71 é\n".encode("latin-1"))
    stats = fx.ingest(world.engine, path, {})
    assert (stats.outcome, stats.rows_written) == ("succeeded", 0)
    assert [(r[1], r[2]) for r in refused(world, "fx")] == [(0, REFUSED + "not UTF-8 text: byte(s) e9 on line 3 (invalid continuation byte)")]
    assert fx.ingest(world.engine, path, {}).rows_read == 0  # the same content: not retried every run
    path.write_text("date,currency,rate_to_reporting\n2026-11-20,EUR,1.08\n2026-11-20,CAD,0.71\n")
    assert fx.ingest(world.engine, path, {}).rows_written == 2
    assert job_outcomes(world, "ingest-fx") == ["succeeded"] * 3


def test_bank_files_that_cannot_be_read_are_refused_and_the_rest_load(make_world, tmp_path):
    world = make_world()
    (tmp_path / "good.txt").write_text(bai2("16,165,1000,0,B1,,STRIPE PAYOUT po_1"))
    (tmp_path / "nul.txt").write_bytes(bai2("16,165,1000,0,B1,,STRIPE\x00PAYOUT").encode())
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)))
    (tmp_path / "broken.txt").write_text("01,121000358,PARKCO,261120,2330,1,80,,2/\n16,165,5,0,,,\n99,5,1,3/\n")
    (tmp_path / "latin1.xml").write_bytes(CAMT.replace("ADYEN N.V.", "ADYEN Café").encode("latin-1"))
    (tmp_path / "bomb.xml").write_text('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>')
    (tmp_path / "pain.xml").write_text('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>')
    stats = bank.ingest(world.engine, tmp_path, {})
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT line_number, amount_minor FROM bank_lines") == [(4, 1000)]
    reasons = {r[0]: r[2] for r in refused(world, "bank")}
    assert set(reasons) == {"nul.txt", "binary.bin", "broken.txt", "latin1.xml", "bomb.xml", "pain.xml"}
    assert reasons["nul.txt"] == REFUSED + "a NUL byte on line 4: not a text file"
    assert reasons["binary.bin"] == REFUSED + "neither BAI2 (a file starting with record 01) nor camt.053 XML"
    assert reasons["broken.txt"].startswith(REFUSED + "not a readable BAI2 file (at line 2)")
    assert reasons["latin1.xml"].startswith(REFUSED + "XML not well formed (at line 15): not well-formed (invalid token)")
    assert reasons["bomb.xml"] == REFUSED + "a DOCTYPE declaration: camt.053 has none"
    assert reasons["pain.xml"] == REFUSED + "not a camt.053 statement: <Document> holds no BkToCstmrStmt"
    assert world.sql("SELECT count(*) FROM source_files WHERE lines_loaded = 0 AND lines_quarantined = 1") == [(6,)]


def test_a_file_name_that_is_not_utf8_is_data_too(make_world, tmp_path):
    world = make_world()
    adyen_folder(tmp_path, 1)
    os.rename(tmp_path / "settlement_detail_report_batch_1.csv", os.path.join(os.fsencode(tmp_path), b"batch_caf\xe9.csv"))
    assert adyen.ingest(world.engine, tmp_path, {}).rows_written == 2
    assert world.sql("SELECT file_name FROM source_files") == [("batch_caf\\xe9.csv",)]


def test_a_value_the_database_refuses_refuses_its_file_and_leaves_nothing(make_world, tmp_path):
    """The safety net behind the checks: a data exception (SQLSTATE class 22) while a file loads rolls
    the file back to its savepoint and records it as refused; the next file loads."""
    world = make_world()
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(name)

    def load(conn, path, sha) -> FileResult:
        conn.execute(text("INSERT INTO fx_rates (rate_date, currency, rate_to_reporting, file_sha256)"
                          " VALUES ('2026-11-20', :c, 1, :sha)"), {"c": path.stem.upper() * 3, "sha": sha})
        if path.name == "a.csv":
            conn.execute(text("SELECT CAST('1e20' AS bigint)"))
        return FileResult(lines=1, loaded=1)

    stats = ingest_files(world.engine, "ingest-fx", "fx", "fx_rates", lambda: sorted(tmp_path.iterdir()), load, {})
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT currency FROM fx_rates") == [("BBB",)]
    [(name, number, reason, _)] = refused(world, "fx")
    assert (name, number) == ("a.csv", 0)
    assert reason == REFUSED + 'the database refused a value of it: invalid input syntax for type bigint: "1e20"'


# ------------------------------------------------------------------ lines
def test_adyen_amounts_beyond_bigint_or_in_exponent_notation_are_quarantined_per_line(make_world, tmp_path):
    world = make_world()
    adyen_folder(tmp_path, 13)
    write_adyen(tmp_path / "settlement_detail_report_batch_14.csv", [
        adyen_line("Settled", psp="OK1", gcr="10.00", ncr="9.70", batch="14"),
        adyen_line("Settled", psp="E20", gcr="1e20", ncr="9.70", batch="14"),
        adyen_line("Settled", psp="BIG", gcr="99999999999999999999.00", ncr="9.70", batch="14"),
        adyen_line("Settled", psp="MAX", gcr="92233720368547758.07", ncr="9.70", batch="14"),  # the largest bigint
        adyen_line("Settled", psp="RATE", gcr="1.00", ncr="9.70", rate="1e20", batch="14"),
        adyen_line("Settled", psp="OK2", gcr="3.00", ncr="2.91", batch="14"),
    ])
    stats = adyen.ingest(world.engine, tmp_path, {})
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT count(DISTINCT file_sha256) FROM adyen_settlement_lines") == [(14,)]
    assert world.sql("SELECT psp_reference, gross_credit_minor FROM adyen_settlement_lines WHERE batch_number = 14"
                     " ORDER BY line_number") == [("OK1", 1000), ("MAX", 2**63 - 1), ("OK2", 300)]
    assert world.sql("SELECT line_number, reason FROM quarantine ORDER BY line_number") == [
        (3, "'Gross Credit (GC)': not a decimal amount: '1e20' (exponent notation is refused)"),
        (4, "'Gross Credit (GC)': '99999999999999999999.00' is out of range: beyond 9223372036854775807 minor units of USD"),
        (6, "bad 'Exchange Rate' '1e20'")]


def test_a_negative_adyen_gross_credit_is_quarantined(make_world, tmp_path):
    world = make_world()
    write_adyen(tmp_path / "batch.csv", [
        adyen_line("Settled", psp="NEG", gcr="-12.50", ncr="12.13"),
        adyen_line("Refunded", psp="NEGN", gd="5.00", nd="-5.00"),
        adyen_line("Settled", psp="FEE", gcr="12.50", ncr="12.13", fees=("-0.10", "", "", "")),  # a fee credited back
    ])
    assert adyen.ingest(world.engine, tmp_path, {}).outcome == "succeeded"
    assert world.sql("SELECT psp_reference, commission_minor FROM adyen_settlement_lines") == [("FEE", -10)]
    assert world.sql("SELECT line_number, reason FROM quarantine ORDER BY line_number") == [
        (2, "'Gross Credit (GC)' '-12.50' is negative: the column says the direction, the amount is a magnitude"),
        (3, "'Net Debit (NC)' '-5.00' is negative: the column says the direction, the amount is a magnitude")]


def test_non_iso_currencies_and_dates_out_of_range_are_quarantined_in_adyen_reports(make_world, tmp_path):
    world = make_world()
    write_adyen(tmp_path / "batch.csv", [
        adyen_line("Settled", psp="QQQ", gc="QQQ", gcr="1.00", ncr="1.00"),
        adyen_line("Settled", psp="XAU", gc="XAU", gcr="1.00", ncr="1.00"),
        adyen_line("Settled", psp="Y1", gcr="1.00", ncr="1.00", date="0001-01-01 00:00:00"),  # overflows converting to UTC
        adyen_line("Settled", psp="DIR", gcr="1.00", ncr="1.00", tz="America"),  # a folder of the zone database
        adyen_line("Settled", psp="SUP", gcr="1.00", ncr="1.00", batch="²"),
        adyen_line("Settled", psp="KES", gc="KES", gcr="1.00", nc="KES", ncr="1.00"),  # ISO 4217, not a demo currency
    ])
    assert adyen.ingest(world.engine, tmp_path, {}).outcome == "succeeded"
    assert world.sql("SELECT psp_reference, gross_currency FROM adyen_settlement_lines") == [("KES", "KES")]
    assert world.sql("SELECT line_number, reason FROM quarantine ORDER BY line_number") == [
        (2, "unknown currency 'QQQ' in 'Gross Currency'"), (3, "unknown currency 'XAU' in 'Gross Currency'"),
        (4, "Creation Date 0001-01-01 is out of range (2000-01-01 to 2099-12-31)"), (5, "unknown TimeZone 'America'"),
        (6, "bad 'Batch Number' '²'")]


def test_a_gl_debit_of_1e20_is_quarantined_and_every_export_loads(make_world, tmp_path):
    world = make_world()
    for n in range(1, 8):
        rows = [gl(f"J{n}", 1, "2026-11-20", "1010", debit="10.00"), gl(f"J{n}", 2, "2026-11-20", "1150", credit="10.00")]
        if n == 4:
            rows += [gl("J4-BAD", 1, "2026-11-20", "1010", debit="1e20"), gl("J4-BAD", 2, "2026-11-20", "1150", credit="1e20"),
                     gl("J4-BIG", 1, "2026-11-20", "1010", debit="100000000000000000000"),
                     gl("J4-QQQ", 1, "2026-11-20", "1010", debit="1.00", currency="QQQ"),
                     gl("J4-OLD", 1, "1900-01-01", "1010", debit="1.00")]
        out = io.StringIO()
        writer = csv.DictWriter(out, GL_HEADER, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        (tmp_path / f"gl_{n}.csv").write_text(out.getvalue())
    stats = ledger.ingest(world.engine, tmp_path, {})  # was: bigint out of range, 0 of 7 files
    assert stats.outcome == "succeeded"
    assert world.sql("SELECT count(*), count(DISTINCT file_sha256) FROM gl_lines") == [(14, 7)]
    assert world.sql("SELECT line_number, reason FROM quarantine ORDER BY line_number") == [
        (4, "debit: not a decimal amount: '1e20' (exponent notation is refused)"),
        (5, "credit: not a decimal amount: '1e20' (exponent notation is refused)"),
        (6, "debit: '100000000000000000000' is out of range: beyond 9223372036854775807 minor units of USD"),
        (7, "unknown currency 'QQQ'"),
        (8, "posted_date 1900-01-01 is out of range (2000-01-01 to 2099-12-31)")]


def test_a_bai2_amount_of_20_digits_is_quarantined_and_the_file_loads(make_world, tmp_path):
    world = make_world()
    content = bai2("16,165,1000,0,B1,,STRIPE PAYOUT po_1", "16,165,12345678901234567890,0,B2,,HUGE",
                   "16,165,9223372036854775807,0,B3,,LARGEST", "16,475,250,0,B4,,CHECK")
    (tmp_path / "day.txt").write_text(content)
    stats = bank.ingest(world.engine, tmp_path, {})
    assert (stats.outcome, stats.rows_written) == ("succeeded", 3)
    assert world.sql("SELECT line_number, amount_minor FROM bank_lines ORDER BY 1") == [(4, 1000), (6, 2**63 - 1), (7, 250)]
    # the bank's totals count the huge amount, which the stand-in keeps: the totals agree, no line-0 note
    assert world.sql("SELECT line_number, reason FROM quarantine") == [
        (5, "amount '12345678901234567890' is out of range: beyond 9223372036854775807 minor units")]


def test_a_camt_amt_of_1e20_is_quarantined_and_the_other_entries_load(make_world, tmp_path):
    world = make_world()
    spoiled = CAMT.replace('<c:Amt Ccy="EUR">80.00</c:Amt>', '<c:Amt Ccy="EUR">1e20</c:Amt>')
    spoiled = spoiled.replace('<c:Amt Ccy="EUR">99.99</c:Amt>', '<c:Amt Ccy="EUR">99999999999999999999.00</c:Amt>')
    spoiled = spoiled.replace('<c:Amt Ccy="EUR">2.5</c:Amt>', '<c:Amt Ccy="EUR">-2.5</c:Amt>')
    spoiled = spoiled.replace('<c:Amt Ccy="JPY">1500</c:Amt>', '<c:Amt Ccy="QQQ">1500</c:Amt>')
    (tmp_path / "camt.xml").write_text(spoiled)
    assert bank.ingest(world.engine, tmp_path, {}).outcome == "succeeded"
    assert world.sql("SELECT line_number, amount_minor FROM bank_lines") == [(1, 123450)]
    assert world.sql("SELECT line_number, reason FROM quarantine WHERE line_number IN (2, 4, 5, 6) ORDER BY 1") == [
        (2, "entry 2: Amt '-2.5' is not a positive amount (CdtDbtInd says the direction)"),
        (4, "entry 4: Amt: not a decimal amount: '1e20' (exponent notation is refused)"),
        (5, "entry 5: Amt: '99999999999999999999.00' is out of range: beyond 9223372036854775807 minor units of EUR"),
        (6, "entry 6: unknown currency 'QQQ' (Amt@Ccy, else Acct/Ccy)")]


def test_an_fx_row_for_a_currency_that_does_not_exist_is_quarantined(make_world, tmp_path):
    world = make_world()
    path = tmp_path / "fx.csv"
    path.write_text("date,currency,rate_to_reporting\n2026-11-20,QQQ,1.5\n2026-11-20,EUR,1.08\n2026-11-20,XDR,1.33\n"
                    "2026-11-20,KES,0.0077\n2026-11-20,GBP,1e2\n1999-12-31,CHF,1.1\n2026-11-20,SEK,1_0\n")
    assert fx.ingest(world.engine, path, {}).outcome == "succeeded"
    assert world.sql("SELECT currency, rate_to_reporting FROM fx_rates ORDER BY 1") == [
        ("EUR", Decimal("1.0800000000")), ("KES", Decimal("0.0077000000")), ("XDR", Decimal("1.3300000000"))]
    assert world.sql("SELECT line_number, reason FROM quarantine ORDER BY 1") == [
        (2, "unknown currency 'QQQ': not an ISO 4217 code"), (6, "bad rate_to_reporting '1e2'"),
        (7, "date 1999-12-31 is out of range (2000-01-01 to 2099-12-31)"), (8, "bad rate_to_reporting '1_0'")]


def test_a_value_the_database_refuses_mid_copy_refuses_its_file(make_world, tmp_path, monkeypatch):
    """The same net under Adyen's COPY: the stream is aborted, the savepoint rolled back, the next file loads."""
    world = make_world()
    adyen_folder(tmp_path, 3)
    real = adyen.parse_line

    def overflowing(fields):
        row = real(fields)
        if row["batch_number"] == 2:
            row["gross_credit_minor"] = 2**64  # past the checks, as a gap in them would let it
        return row

    monkeypatch.setattr(adyen, "parse_line", overflowing)
    assert adyen.ingest(world.engine, tmp_path, {}).outcome == "succeeded"
    assert world.sql("SELECT DISTINCT batch_number FROM adyen_settlement_lines ORDER BY 1") == [(1,), (3,)]
    [(name, _, reason, _)] = refused(world, "adyen")
    assert name == "settlement_detail_report_batch_2.csv"
    assert reason.startswith(REFUSED + 'the database refused a value of it: value "18446744073709551616" is out of range')
