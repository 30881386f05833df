"""Exchange rates: exact decimals, bad lines and a reporting currency not at 1 quarantined, the
file taken again whenever its content changed (back to an earlier version too), only changed
rates written. The test writes its own file (SOURCES §6)."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from collectors.ingest.fx import ingest
from collectors.jobs import JOBS

D20, D21 = date(2026, 11, 20), date(2026, 11, 21)
RATES_SQL = "SELECT rate_date, currency, rate_to_reporting FROM fx_rates ORDER BY rate_date, currency"


def write(path, *lines: str) -> list[str]:
    content = ["date,currency,rate_to_reporting", *lines]
    path.write_text("\n".join(content) + "\n")
    return content


def test_rates_land_exactly_and_bad_lines_are_quarantined(make_world, tmp_path):
    world = make_world()
    raw = write(tmp_path / "fx.csv",
                "2026-11-20,EUR,1.0823",          # 2
                "2026-11-20,JPY,0.0066123456",    # 3 ten decimals fit
                "2026-11-20,USD,1.000",           # 4 the reporting currency at 1
                "2026-11-20,CAD,abc",             # 5
                "2026-11-20,GBP,-1.2",            # 6
                "2026-11-20,CHF,1.12345678901",   # 7 eleven decimals would be rounded
                "2026-11-31,EUR,1.08",            # 8
                "2026-11-20,US,1",                # 9
                "2026-11-21,USD,1.01",            # 10
                "2026-11-21,EUR,1.0800",          # 11 superseded by line 12
                "2026-11-21,EUR,1.0900",          # 12
                "2026-11-21,cad,0.7125")          # 13
    stats = ingest(world.engine, tmp_path / "fx.csv", {"fx_rates": ["month-close"]})
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 12, 5)
    assert world.sql(RATES_SQL) == [
        (D20, "EUR", Decimal("1.0823000000")), (D20, "JPY", Decimal("0.0066123456")), (D20, "USD", Decimal("1.0000000000")),
        (D21, "CAD", Decimal("0.7125000000")), (D21, "EUR", Decimal("1.0900000000"))]
    assert world.sql("SELECT file_name, line_number, reason, record FROM quarantine ORDER BY line_number") == [
        ("fx.csv", 5, "bad rate_to_reporting 'abc'", raw[4]),
        ("fx.csv", 6, "bad rate_to_reporting '-1.2': a rate is a positive number", raw[5]),
        ("fx.csv", 7, "rate_to_reporting '1.12345678901' does not fit 10 decimals and 10 integer digits without rounding", raw[6]),
        ("fx.csv", 8, "bad date '2026-11-31'", raw[7]),
        ("fx.csv", 9, "bad currency 'US'", raw[8]),
        ("fx.csv", 10, "the reporting currency USD must have rate 1, not 1.01", raw[9]),
        ("fx.csv", 11, "superseded by line 12 (same date and currency: the last line wins)", raw[10]),
    ]
    assert world.sql("SELECT source, lines_read, lines_loaded, lines_quarantined FROM source_files") == [("fx", 12, 5, 7)]
    assert world.sql("SELECT consumer, window_start, window_end FROM pending_windows") == [
        ("month-close", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))]


def test_the_file_is_taken_again_only_when_its_content_changed(make_world, tmp_path):
    world = make_world()
    path = tmp_path / "fx_rates.csv"
    v1 = ("2026-11-20,EUR,1.08", "2026-11-20,CAD,0.71", "2026-11-20,CAD,oops")
    write(path, *v1)
    assert ingest(world.engine, path, {}).rows_written == 2
    unchanged = ingest(world.engine, path, {})
    assert (unchanged.rows_read, unchanged.rows_written) == (0, 0)

    write(path, "2026-11-20,EUR,1.080", "2026-11-20,CAD,0.72", "2026-11-21,EUR,1.09")
    changed = ingest(world.engine, path, {})
    assert (changed.rows_read, changed.rows_written) == (3, 2)  # CAD changed, 11-21 EUR new; 1.080 = 1.08
    shas = world.sql("SELECT sha256 FROM source_files ORDER BY ingested_at")
    assert world.sql("SELECT currency, rate_date, rate_to_reporting, file_sha256 FROM fx_rates ORDER BY 2, 1") == [
        ("CAD", D20, Decimal("0.7200000000"), shas[1][0]), ("EUR", D20, Decimal("1.0800000000"), shas[0][0]),
        ("EUR", D21, Decimal("1.0900000000"), shas[1][0])]

    write(path, *v1)  # restored to the first version: taken again
    restored = ingest(world.engine, path, {})
    assert (restored.rows_read, restored.rows_written) == (3, 1)
    assert world.sql(RATES_SQL) == [(D20, "CAD", Decimal("0.7100000000")), (D20, "EUR", Decimal("1.0800000000")),
                                    (D21, "EUR", Decimal("1.0900000000"))]  # a rate the file dropped is kept
    assert world.sql("SELECT count(*) FROM source_files") == [(2,)]
    assert world.sql("SELECT line_number, reason FROM quarantine") == [(4, "bad rate_to_reporting 'oops'")]  # not twice


def test_the_reporting_currency_comes_from_the_settings(make_world, tmp_path):
    world = make_world()
    write(tmp_path / "fx.csv", "2026-11-20,EUR,1.1", "2026-11-21,EUR,1", "2026-11-20,USD,0.92")
    cfg = world.cfg.model_copy(update={"fx_rates_path": tmp_path / "fx.csv", "reporting_currency": "EUR"})
    assert JOBS["ingest-fx"].run(world.engine, cfg, None, None).rows_written == 2
    assert world.sql(RATES_SQL) == [(D20, "USD", Decimal("0.9200000000")), (D21, "EUR", Decimal("1.0000000000"))]
    assert world.sql("SELECT line_number, reason FROM quarantine") == [(2, "the reporting currency EUR must have rate 1, not 1.1")]


def test_a_missing_file_fails_the_run(make_world, tmp_path):
    world = make_world()
    with pytest.raises(FileNotFoundError):
        ingest(world.engine, tmp_path / "nowhere.csv", {})
    assert world.sql("SELECT outcome FROM job_runs WHERE job = 'ingest-fx'") == [("failed",)]


def test_without_a_path_the_job_does_nothing_and_says_why(make_world):
    world = make_world()
    assert world.cfg.fx_rates_path is None
    stats = JOBS["ingest-fx"].run(world.engine, world.cfg, None, None)
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("skipped", 0, 0)
    assert world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-fx'") == [
        ("skipped", "FX_RATES_PATH is not set: exchange rates are not read")]
    assert world.sql("SELECT count(*) FROM fx_rates") == [(0,)]
