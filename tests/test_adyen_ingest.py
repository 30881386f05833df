"""Adyen settlement detail reports: exact minor units, each file once, bad lines quarantined,
and a file that fails half-way leaves nothing behind. The test writes its own files (SOURCES §3)."""
from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from collectors.ingest import files as files_ingest
from collectors.ingest.adyen import ingest, run_job
from tests.worlds.source_files import adyen_line as line
from tests.worlds.source_files import write_adyen as write


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


GOOD = [
    line("Settled", psp="PSP1", ref="att_1", gcr="12.50", ncr="12.13", fees=("0.12", "0.05", "0.10", "0.10")),
    line("Refunded", psp="PSP2", ref="rf_1", gd="5.00", nd="5", tz="UTC"),
    line("Chargeback", psp="PSP3", ref="att_3", gd="20.00", nd="20.00", date="2026-07-01 09:00:00", tz="Europe/Amsterdam"),
    line("ChargebackReversed", psp="PSP3", ref="att_3", gcr="20.00", ncr="20.00"),
    line("Fee", gc="", ncr="", nd="0.25"),
    line("Settled", psp="PSP4", ref="att_4", gc="JPY", gcr="1500", nc="JPY", ncr="1450", fees=("50", "", "", "")),
    line("MerchantPayout", gc="", nd="1000.01"),
]


def test_lines_land_in_exact_minor_units_with_utc_times(make_world, tmp_path):
    world = make_world()
    write(tmp_path / "settlement_detail_report_batch_42.csv", GOOD)
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 7, 7)
    rows = world.sql(
        "SELECT line_number, type, psp_reference, merchant_reference, created_at, gross_currency, gross_debit_minor,"
        " gross_credit_minor, net_currency, net_debit_minor, net_credit_minor, commission_minor, markup_minor,"
        " scheme_fees_minor, interchange_minor, batch_number FROM adyen_settlement_lines ORDER BY line_number"
    )
    cet = utc(2026, 11, 20, 13, 3, 11)  # CET is UTC+1 in November
    assert rows == [
        (2, "Settled", "PSP1", "att_1", cet, "USD", None, 1250, "USD", None, 1213, 12, 5, 10, 10, 42),
        (3, "Refunded", "PSP2", "rf_1", utc(2026, 11, 20, 14, 3, 11), "USD", 500, None, "USD", 500, None, None, None, None, None, 42),
        (4, "Chargeback", "PSP3", "att_3", utc(2026, 7, 1, 7), "USD", 2000, None, "USD", 2000, None, None, None, None, None, 42),
        (5, "ChargebackReversed", "PSP3", "att_3", cet, "USD", None, 2000, "USD", None, 2000, None, None, None, None, 42),
        (6, "Fee", None, None, cet, None, None, None, "USD", 25, None, None, None, None, None, 42),
        (7, "Settled", "PSP4", "att_4", cet, "JPY", None, 1500, "JPY", None, 1450, 50, None, None, None, 42),
        (8, "MerchantPayout", None, None, cet, None, None, None, "USD", 100001, None, None, None, None, None, 42),
    ]
    assert world.sql("SELECT exchange_rate, company_account, merchant_account FROM adyen_settlement_lines WHERE line_number = 2") == [
        (Decimal("1.0000000000"), "ParkCo", "ParkCo_US")]
    assert world.sql("SELECT file_name, lines_read, lines_loaded, lines_quarantined FROM source_files") == [
        ("settlement_detail_report_batch_42.csv", 7, 7, 0)]


def test_a_file_is_taken_once_even_renamed(make_world, tmp_path):
    world = make_world()
    write(tmp_path / "a.csv", GOOD)
    assert ingest(world.engine, tmp_path, {}).rows_written == 7
    shutil.copy(tmp_path / "a.csv", tmp_path / "a_again.csv")
    (tmp_path / "a.csv").rename(tmp_path / "renamed.csv")
    again = ingest(world.engine, tmp_path, {})
    assert (again.rows_read, again.rows_written) == (0, 0)
    assert world.sql("SELECT count(*) FROM source_files") == [(1,)]
    assert world.sql("SELECT count(*) FROM adyen_settlement_lines") == [(7,)]


def test_malformed_lines_are_quarantined_and_the_rest_goes_in(make_world, tmp_path):
    world = make_world()
    bad = [
        line("Settled", psp="OK1", gcr="10.00", ncr="9.70"),
        line("Settled", psp="B1", gcr="12,50", ncr="12.13"),  # decimal comma
        line("Settled", psp="B2", gcr="12.345", ncr="12.13"),  # too many decimals for USD
        line("Settled", psp="B3", gc="XYZ", gcr="1.00", ncr="1.00"),  # unknown currency
        line("Settld", psp="B4", gcr="1.00", ncr="1.00"),  # unknown type
        line("Settled", psp="B5", gcr="1.00", ncr="1.00", date="2026-13-01 00:00:00"),  # bad date
        line("Settled", psp="B6", gcr="1.00", ncr="1.00", tz="Mars/Olympus"),  # unknown zone
        line("Settled", psp="B7", gc="JPY", gcr="1.5", nc="JPY", ncr="1"),  # JPY has no decimals
        line("Settled", psp="OK2", gcr="3.00", ncr="2.91"),
    ]
    content = write(tmp_path / "bad.csv", bad)
    with open(tmp_path / "bad.csv", "a", encoding="utf-8") as f:
        f.write("ParkCo_US,Settled,B8\r\n")  # a line cut short: the required columns are missing
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 10, 2)
    assert world.sql("SELECT psp_reference, gross_credit_minor FROM adyen_settlement_lines ORDER BY line_number") == [
        ("OK1", 1000), ("OK2", 300)]
    quarantined = world.sql("SELECT source, file_name, line_number, reason, record FROM quarantine ORDER BY line_number")
    raw_lines = (content + "ParkCo_US,Settled,B8\r\n").split("\r\n")
    assert [(q[0], q[1], q[2]) for q in quarantined] == [("adyen", "bad.csv", n) for n in (3, 4, 5, 6, 7, 8, 9, 11)]
    assert [q[4] for q in quarantined] == [raw_lines[n - 1] for n in (3, 4, 5, 6, 7, 8, 9, 11)]
    reasons = [q[3] for q in quarantined]
    for reason, expected in zip(reasons, ("not a decimal amount: '12,50'", "more than 2 decimals", "unknown currency 'XYZ'",
                                          "unknown Type 'Settld'", "bad Creation Date", "unknown TimeZone 'Mars/Olympus'",
                                          "more than 0 decimals for JPY", "missing required column"), strict=True):
        assert expected in reason, (reason, expected)
    assert world.sql("SELECT lines_read, lines_loaded, lines_quarantined FROM source_files") == [(10, 2, 8)]


def test_a_file_whose_read_fails_half_way_leaves_nothing(make_world, tmp_path, monkeypatch):
    world = make_world()
    write(tmp_path / "a.csv", GOOD)
    write(tmp_path / "b.csv", [line("Settled", psp=f"P{i}", gcr="1.00", ncr="0.97") for i in range(3000)])
    real_open = open

    class Failing(io.TextIOWrapper):
        def __next__(self):
            line_text = super().__next__()
            if "P1500," in line_text:
                raise OSError("Input/output error")
            return line_text

    def flaky_open(path, mode="r", **kw):
        if str(path).endswith("b.csv") and "b" not in mode:
            return Failing(real_open(path, "rb"), **kw)
        return real_open(path, mode, **kw)

    monkeypatch.setattr(files_ingest, "open", flaky_open, raising=False)  # a read error is the machine's, not data
    with pytest.raises(OSError, match="Input/output error"):
        ingest(world.engine, tmp_path, {})
    assert world.sql("SELECT file_name FROM source_files") == [("a.csv",)]  # a.csv went in before
    assert world.sql("SELECT count(*) FROM adyen_settlement_lines") == [(7,)]
    assert world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-adyen'") == [("failed", "OSError: Input/output error")]

    monkeypatch.undo()
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.rows_read, stats.rows_written) == (3000, 3000)
    assert world.sql("SELECT count(*), count(DISTINCT psp_reference) FROM adyen_settlement_lines WHERE psp_reference ~ '^P[0-9]+$'") == [(3000, 3000)]


def test_without_a_folder_the_job_is_skipped_with_a_reason(make_world):
    world = make_world()
    assert run_job(world.engine, world.cfg, {}).outcome == "skipped"
    assert world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-adyen'") == [
        ("skipped", "ADYEN_REPORTS_DIR is not set: Adyen reports are not read")]
