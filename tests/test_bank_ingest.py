"""Bank statements, BAI2 and camt.053: exact minor units, directions, payout references and
candidates, each file once, bad records quarantined where they are while the rest goes in,
unreadable files recorded once. The test writes its own files (SOURCES §4)."""
from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import pytest

from collectors.ingest.bank import ingest, payout_refs, run_job
from collectors.jobs import JOBS
from tests.worlds.source_files import CAMT, bai2

D20, D21 = date(2026, 11, 20), date(2026, 11, 21)
CONSUMERS = {"bank_lines": ["reconcile"]}

# A BAI2 file as a bank sends it: two accounts (USD, JPY), control totals and record counts right.
BAI2 = """01,121000358,PARKCO,261120,2330,20261120,80,,2/
02,PARKCO,121000358,1,261120,2400,USD,4/
03,4401237788,USD,010,2500000,,,015,2763444,,/
16,165,125000,0,B1,,STRIPE PAYOUT po_1QxYz/
16,169,98765,V,261121,,B2,C2,ADYEN BATCH 42/
16,301,40000,0,B3,,COUNTER DEPOSIT/
16,698,321,0,B4,,ACCOUNT ANALYSIS FEE/
49,5527530,6/
03,7700112233,JPY,010,900000,,/
16,195,150000,0,B5,,adyen  batch 7 po_9Aa
88,PAYOUT CONTINUED
16,475,2500,0,B6,,CHECK 10001/
49,1052500,5/
98,6580030,2,13/
99,6580030,1,15/
"""

ROW_SQL = ("SELECT line_number, format, account, currency, bank_date, value_date, type_code, direction, amount_minor,"
           " bank_reference, customer_reference, text, payout_refs, payout_candidate FROM bank_lines")


def utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def test_payout_refs_finds_stripe_ids_and_adyen_batches_in_order_once():
    assert payout_refs("STRIPE PAYOUT po_1QxYz") == ["po_1QxYz"]
    assert payout_refs("adyen batch 12") == ["ADYEN-12"]
    assert payout_refs("ADYEN   BATCH   0042 and po_B then po_A, adyen batch 42 again, po_B") == ["ADYEN-42", "po_B", "po_A"]
    assert payout_refs("AdYeN BaTcH7") == ["ADYEN-7"]
    assert payout_refs("repo_x, PO_1, ADYEN TRANSFER, BATCH 5, ADYEN BATCH") == []
    assert payout_refs("text po_1", None, "ref ADYEN BATCH 3", "po_1") == ["po_1", "ADYEN-3"]
    assert payout_refs(None) == [] and payout_refs("") == []


def test_bai2_lines_land_exactly_with_directions_refs_and_candidates(make_world, tmp_path):
    world = make_world()
    (tmp_path / "bai2_20261120.txt").write_text(BAI2)
    stats = ingest(world.engine, tmp_path, CONSUMERS)
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 6, 6)
    assert world.sql(ROW_SQL + " ORDER BY line_number") == [
        (4, "bai2", "4401237788", "USD", D20, None, "165", "credit", 125000, "B1", None, "STRIPE PAYOUT po_1QxYz",
         ["po_1QxYz"], True),
        (5, "bai2", "4401237788", "USD", D20, D21, "169", "credit", 98765, "B2", "C2", "ADYEN BATCH 42", ["ADYEN-42"], True),
        (6, "bai2", "4401237788", "USD", D20, None, "301", "credit", 40000, "B3", None, "COUNTER DEPOSIT", [], False),
        (7, "bai2", "4401237788", "USD", D20, None, "698", "debit", 321, "B4", None, "ACCOUNT ANALYSIS FEE", [], False),
        (10, "bai2", "7700112233", "JPY", D20, None, "195", "credit", 150000, "B5", None,
         "adyen  batch 7 po_9Aa PAYOUT CONTINUED", ["ADYEN-7", "po_9Aa"], True),
        (12, "bai2", "7700112233", "JPY", D20, None, "475", "debit", 2500, "B6", None, "CHECK 10001", [], False),
    ]
    assert world.sql("SELECT count(*) FROM quarantine") == [(0,)]  # the control totals agree: no note
    assert world.sql("SELECT source, file_name, lines_read, lines_loaded, lines_quarantined FROM source_files") == [
        ("bank", "bai2_20261120.txt", 6, 6, 0)]
    assert world.sql("SELECT table_name, consumer, window_start, window_end FROM pending_windows") == [
        ("bank_lines", "reconcile", utc(D20), utc(D21))]


def test_payout_type_codes_come_from_the_settings(make_world, tmp_path):
    world = make_world()
    (tmp_path / "bai2_20261120.txt").write_text(BAI2)
    cfg = world.cfg.model_copy(update={"bank_statements_dir": tmp_path, "bank_payout_type_codes": "301,475"})
    assert run_job(world.engine, cfg, {}).rows_written == 6
    assert world.sql("SELECT type_code FROM bank_lines WHERE payout_candidate ORDER BY line_number") == [("301",)]





def test_camt053_entries_land_exactly_numbered_by_entry(make_world, tmp_path):
    world = make_world()
    (tmp_path / "camt053_20261120.xml").write_text(CAMT)
    stats = ingest(world.engine, tmp_path, CONSUMERS)
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 10, 5)
    iban = "DE89370400440532013000"
    assert world.sql(ROW_SQL + " ORDER BY line_number") == [
        (1, "camt053", iban, "EUR", D20, D21, "PMNT/RCDT/ESCT", "credit", 123450, "BANKREF1", None,
         "ADYEN N.V. | adyen batch 0077", ["ADYEN-77"], True),
        (2, "camt053", iban, "EUR", D20, None, "ACMT/MDOP/CHRG", "debit", 250, "E2", None, "ACCOUNT FEE", [], False),
        (4, "camt053", iban, "EUR", D20, None, "301", "credit", 8000, None, None, "COUNTER DEPOSIT", [], False),
        (5, "camt053", iban, "EUR", D20, None, "301", "credit", 9999, None, "po_1Q2w3E", None, ["po_1Q2w3E"], True),
        (6, "camt053", "0038812047", "JPY", D21, None, "165", "credit", 1500, "J1", None, "TRANSFER", [], True),
    ]
    quarantined = world.sql("SELECT file_name, line_number, reason, record FROM quarantine ORDER BY line_number")
    assert [q[:3] for q in quarantined] == [("camt053_20261120.xml", n, reason) for n, reason in (
        (3, "entry 3: Amt: '12.345' has more than 2 decimals for EUR"), (7, "entry 7: Amt: '15.5' has more than 0 decimals for JPY"),
        (8, "entry 8: status PDNG is not booked"), (9, "entry 9: bad BookgDt '2026-02-30'"),
        (10, "entry 10: CdtDbtInd 'XX' is neither CRDT nor DBIT"))]
    assert all(q[3].startswith("<") and "Ntry" in q[3] for q in quarantined)
    assert world.sql("SELECT lines_read, lines_loaded, lines_quarantined FROM source_files") == [(10, 5, 5)]
    assert world.sql("SELECT window_start, window_end FROM pending_windows") == [(utc(D20), utc(date(2026, 11, 22)))]


def test_a_statement_is_taken_once_even_renamed(make_world, tmp_path):
    world = make_world()
    (tmp_path / "a.txt").write_text(BAI2)
    assert ingest(world.engine, tmp_path, {}).rows_written == 6
    shutil.copy(tmp_path / "a.txt", tmp_path / "a_again.txt")
    (tmp_path / "a.txt").rename(tmp_path / "renamed.txt")
    again = ingest(world.engine, tmp_path, {})
    assert (again.rows_read, again.rows_written) == (0, 0)
    assert world.sql("SELECT count(*) FROM source_files") == [(1,)]
    assert world.sql("SELECT count(*) FROM bank_lines") == [(6,)]


def test_bad_detail_records_are_quarantined_and_the_rest_of_the_file_goes_in(make_world, tmp_path):
    world = make_world()
    content = bai2("16,165,1000,0,B1,,STRIPE PAYOUT po_1", "16,999,1500,0,B2,,UNKNOWN CODE", "16,890,0,0,,,INFO ONLY",
                   "16,301,0,0,B4,,ZERO", "16,698,25,0,B5,,FEE")
    (tmp_path / "day.txt").write_text(content)
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.rows_read, stats.rows_written) == (5, 2)
    assert world.sql("SELECT line_number, type_code, amount_minor FROM bank_lines ORDER BY line_number") == [
        (4, "165", 1000), (8, "698", 25)]
    lines = content.splitlines()
    # the bank's totals include the quarantined records, whose amounts are readable: no totals note
    assert world.sql("SELECT file_name, line_number, reason, record FROM quarantine ORDER BY line_number") == [
        ("day.txt", 5, "unreadable type 16 record: Type code '999' is not supported yet", lines[4]),
        ("day.txt", 6, "type code 890 is neither a credit (100-399) nor a debit (400-699)", lines[5]),
        ("day.txt", 7, "amount 0: a bank line moves money", lines[6]),
    ]
    assert world.sql("SELECT lines_read, lines_loaded, lines_quarantined FROM source_files") == [(5, 2, 3)]


def test_trailer_totals_that_disagree_are_noted_and_do_not_reject_the_file(make_world, tmp_path):
    world = make_world()
    (tmp_path / "a_off_by_one.txt").write_text(bai2("16,165,1000,0,B1,,X", "16,698,25,0,B2,,Y", total_fix=1))
    (tmp_path / "b_bad_amount.txt").write_text(
        bai2("16,165,12.50,0,B1,,DECIMAL AMOUNT", "16,301,700,0,B2,,OK", "GARBAGE LINE", total_fix=1250))
    stats = ingest(world.engine, tmp_path, {})
    assert stats.rows_written == 3
    assert world.sql("SELECT f.file_name, b.line_number, b.amount_minor FROM bank_lines b"
                     " JOIN source_files f ON f.sha256 = b.file_sha256 ORDER BY 1, 2") == [
        ("a_off_by_one.txt", 4, 1000), ("a_off_by_one.txt", 5, 25), ("b_bad_amount.txt", 5, 700)]
    notes = world.sql("SELECT file_name, line_number, reason FROM quarantine ORDER BY file_name, line_number")
    assert [(n[0], n[1]) for n in notes] == [("a_off_by_one.txt", 0), ("b_bad_amount.txt", 0), ("b_bad_amount.txt", 4),
                                            ("b_bad_amount.txt", 6)]
    assert "control totals do not match" in notes[0][2] and "expected 2026, found 2025" in notes[0][2]
    assert "may explain" not in notes[0][2]
    assert "control totals do not match" in notes[1][2] and "1 quarantined record(s) without a readable amount" in notes[1][2]
    assert notes[2][2] == "bad amount '12.50': BAI2 amounts are whole minor units"
    assert notes[3][2] == "not a BAI2 record: unknown record code 'GAR'"


def test_unreadable_files_are_quarantined_once_with_nothing_loaded(make_world, tmp_path):
    world = make_world()
    (tmp_path / "notes.csv").write_text("hello,world\n")
    (tmp_path / "broken.xml").write_text('<?xml version="1.0"?>\n<Document>\n<a></b></Document>\n')
    (tmp_path / "report.xml").write_text(
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"><BkToCstmrAcctRpt/></Document>')
    cut = BAI2.splitlines()[:7]  # the file stops after a detail record: no trailers
    (tmp_path / "cut.txt").write_text("\n".join(cut) + "\n")
    (tmp_path / ".partial.txt").write_text("01,being written")  # a dot file is left alone
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 4, 0)
    rows = world.sql("SELECT file_name, line_number, reason, record FROM quarantine ORDER BY file_name")
    # a file refused whole: line 0, the reason says where reading failed
    assert [(r[0], r[1]) for r in rows] == [("broken.xml", 0), ("cut.txt", 0), ("notes.csv", 0), ("report.xml", 0)]
    assert rows[0][2].startswith("file not loaded: XML not well formed (at line 3): mismatched tag")
    assert rows[0][3] == "<a></b></Document>"
    assert rows[1][2].startswith("file not loaded: not a readable BAI2 file (at line 7): it ends before its trailers")
    assert rows[1][3] == cut[6]
    assert rows[2][2:] == ("file not loaded: neither BAI2 (a file starting with record 01) nor camt.053 XML", "hello,world")
    assert rows[3][2] == "file not loaded: not a camt.053 statement: <Document> holds no BkToCstmrStmt"
    assert world.sql("SELECT file_name, lines_read, lines_loaded, lines_quarantined FROM source_files ORDER BY 1") == [
        ("broken.xml", 1, 0, 1), ("cut.txt", 1, 0, 1), ("notes.csv", 1, 0, 1), ("report.xml", 1, 0, 1)]
    again = ingest(world.engine, tmp_path, {})  # not retried forever
    assert (again.rows_read, again.rows_written) == (0, 0)
    assert world.sql("SELECT count(*) FROM quarantine") == [(4,)]


def test_a_missing_folder_fails_the_run(make_world, tmp_path):
    world = make_world()
    with pytest.raises(FileNotFoundError):
        ingest(world.engine, tmp_path / "nowhere", {})
    assert world.sql("SELECT outcome FROM job_runs WHERE job = 'ingest-bank'") == [("failed",)]


def test_without_a_folder_the_job_does_nothing_and_says_why(make_world):
    world = make_world()
    assert world.cfg.bank_statements_dir is None
    stats = JOBS["ingest-bank"].run(world.engine, world.cfg, None, None)
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("skipped", 0, 0)
    assert world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-bank'") == [
        ("skipped", "BANK_STATEMENTS_DIR is not set: bank statements are not read")]
    names = list(JOBS)
    at = names.index("ingest-adyen")
    assert names[at + 1:at + 4] == ["ingest-bank", "ingest-ledger", "ingest-fx"]
    assert {JOBS[n].kind for n in names[at + 1:at + 4]} == {"ingest"}
