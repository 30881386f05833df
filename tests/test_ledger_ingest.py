"""General-ledger exports: exact minor units, bad lines quarantined, a journal that does not
balance quarantined whole, a journal exported again replacing itself (only changed rows
written), each file once. The test writes its own files (SOURCES §5)."""
from __future__ import annotations

import csv
import io
import shutil
from datetime import UTC, date, datetime

from collectors.ingest.ledger import ingest
from collectors.jobs import JOBS
from tests.worlds.source_files import GL_HEADER as HEADER
from tests.worlds.source_files import gl

# the same columns shuffled, with one the product does not read
SHUFFLED = ["line", "journal_id", "currency", "posted_date", "debit", "credit", "account", "account_name", "memo",
            "reference", "exported_by"]
ROW_SQL = ("SELECT journal_id, line, posted_date, account, account_name, debit_minor, credit_minor, currency, memo,"
           " reference, file_line FROM gl_lines ORDER BY journal_id, line")


def write(path, rows: list[dict], header=HEADER) -> list[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return out.getvalue().split("\n")


def utc(y, m, d) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_lines_land_in_exact_minor_units_found_by_header_names(make_world, tmp_path):
    world = make_world()
    write(tmp_path / "gl_20261120.csv", [
        gl("JE-1", 1, "2026-11-20", "1150", debit="1234.56", name="Gateway clearing", reference="REV-S1-2026-11-20"),
        gl("JE-1", 2, "2026-11-20", "4000", credit="1133.00", debit="0", name="Parking revenue"),
        gl("JE-1", 3, "2026-11-20", "2300", credit="101.56", name="Sales tax payable"),
        gl("JE-2", 1, "2026-11-19", "1010", debit="1500", currency="JPY", memo="payout, JPY", reference="po_AbC"),
        gl("JE-2", 2, "2026-11-19", "6150", debit="45", currency="jpy"),
        gl("JE-2", 3, "2026-11-19", "1150", credit="1545", currency="JPY"),
        gl("JE-3", 1, "2026-11-19", "1150", debit="10.00"),
        gl("JE-3", 2, "2026-11-19", "4050", credit="10"),
        gl("JE-3", 3, "2026-11-19", "1150", debit="7", currency="CAD"),
        gl("JE-3", 4, "2026-11-19", "4050", credit="7.00", currency="CAD"),
    ], header=SHUFFLED)
    stats = ingest(world.engine, tmp_path, {"gl_lines": ["reconcile"]})
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("succeeded", 10, 10)
    d19, d20 = date(2026, 11, 19), date(2026, 11, 20)
    assert world.sql(ROW_SQL) == [
        ("JE-1", 1, d20, "1150", "Gateway clearing", 123456, 0, "USD", None, "REV-S1-2026-11-20", 2),
        ("JE-1", 2, d20, "4000", "Parking revenue", 0, 113300, "USD", None, None, 3),
        ("JE-1", 3, d20, "2300", "Sales tax payable", 0, 10156, "USD", None, None, 4),
        ("JE-2", 1, d19, "1010", None, 1500, 0, "JPY", "payout, JPY", "po_AbC", 5),
        ("JE-2", 2, d19, "6150", None, 45, 0, "JPY", None, None, 6),
        ("JE-2", 3, d19, "1150", None, 0, 1545, "JPY", None, None, 7),
        ("JE-3", 1, d19, "1150", None, 1000, 0, "USD", None, None, 8),
        ("JE-3", 2, d19, "4050", None, 0, 1000, "USD", None, None, 9),
        ("JE-3", 3, d19, "1150", None, 700, 0, "CAD", None, None, 10),
        ("JE-3", 4, d19, "4050", None, 0, 700, "CAD", None, None, 11),
    ]
    assert world.sql("SELECT source, file_name, lines_read, lines_loaded, lines_quarantined FROM source_files") == [
        ("gl", "gl_20261120.csv", 10, 10, 0)]
    assert world.sql("SELECT consumer, window_start, window_end FROM pending_windows") == [
        ("reconcile", utc(2026, 11, 19), utc(2026, 11, 21))]


def test_bad_lines_are_quarantined_and_a_journal_left_unbalanced_goes_whole(make_world, tmp_path):
    world = make_world()
    raw = write(tmp_path / "gl.csv", [
        gl("J-A", 1, "2026-11-20", "1010", debit="10.00"),           # 2
        gl("J-A", 2, "2026-11-20", "1150", credit="10.00"),          # 3
        gl("J-A", 3, "2026-13-01", "1150"),                          # 4 bad date; J-A still balances
        gl("J-B", 1, "2026-11-20", "1010", debit="12.345"),          # 5 too many decimals
        gl("J-B", 2, "2026-11-20", "1150", credit="12.34"),          # 6 J-B no longer balances
        gl("J-C", 1, "2026-11-20", "1010", debit="1.5", currency="JPY"),  # 7
        gl("J-D", 1, "2026-11-20", "1010", debit="-5.00"),           # 8
        gl("J-E", 1, "2026-11-20", "1010", debit="5.00", credit="5.00"),  # 9
        gl("J-F", 1, "2026-11-20", "1010", debit="5.00", currency="XYZ"),  # 10
        gl("J-G", "x", "2026-11-20", "1010", debit="5.00"),          # 11
        gl("", 1, "2026-11-20", "1010", debit="5.00"),               # 12
    ])
    with open(tmp_path / "gl.csv", "a", encoding="utf-8") as f:
        f.write("J-H,1,2026-11-20,1010,,5.00,,USD,,,extra,fields\n")  # 13
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.rows_read, stats.rows_written) == (12, 2)
    assert world.sql("SELECT journal_id, line, file_line FROM gl_lines ORDER BY file_line") == [("J-A", 1, 2), ("J-A", 2, 3)]
    quarantined = world.sql("SELECT file_name, line_number, reason, record FROM quarantine ORDER BY line_number")
    assert [q[1] for q in quarantined] == list(range(4, 14))
    assert {q[0] for q in quarantined} == {"gl.csv"}
    assert [q[3] for q in quarantined[:-1]] == raw[3:12]
    assert [q[2] for q in quarantined] == [
        "bad posted_date '2026-13-01'",
        "debit: '12.345' has more than 2 decimals for USD",
        "journal J-B does not balance without its quarantined line(s) 5: USD debits 0.00 != credits 12.34",
        "debit: '1.5' has more than 0 decimals for JPY",
        "debit '-5.00' is negative",
        "both debit '5.00' and credit '5.00' are non-zero",
        "unknown currency 'XYZ'",
        "bad line 'x'",
        "empty required column 'journal_id'",
        "12 fields, the header has 10",
    ]
    assert world.sql("SELECT lines_read, lines_loaded, lines_quarantined FROM source_files") == [(12, 2, 10)]


def test_an_unbalanced_journal_is_quarantined_whole_while_a_balanced_one_loads(make_world, tmp_path):
    world = make_world()
    write(tmp_path / "gl.csv", [
        gl("J-BAD", 1, "2026-11-20", "1010", debit="100.00"),
        gl("J-BAD", 2, "2026-11-20", "1150", credit="90.00"),
        gl("J-BAD", 3, "2026-11-20", "1010", debit="5", currency="CAD"),
        gl("J-BAD", 4, "2026-11-20", "1150", credit="5", currency="CAD"),
        gl("J-OK", 1, "2026-11-20", "1010", debit="90.00"),
        gl("J-OK", 2, "2026-11-20", "1150", credit="90.00"),
    ])
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.rows_read, stats.rows_written) == (6, 2)
    assert world.sql("SELECT journal_id, line, debit_minor, credit_minor FROM gl_lines ORDER BY line") == [
        ("J-OK", 1, 9000, 0), ("J-OK", 2, 0, 9000)]
    assert world.sql("SELECT line_number, reason FROM quarantine ORDER BY line_number") == [
        (n, "journal J-BAD does not balance: USD debits 100.00 != credits 90.00") for n in (2, 3, 4, 5)]


def test_a_journal_exported_again_replaces_itself_writing_only_what_changed(make_world, tmp_path):
    world = make_world()
    consumers = {"gl_lines": ["reconcile"]}
    write(tmp_path / "exp1.csv", [
        gl("J1", 1, "2026-11-18", "1010", debit="100.00"),
        gl("J1", 2, "2026-11-18", "1150", credit="60.00"),
        gl("J1", 3, "2026-11-18", "6150", credit="40.00"),
        gl("J2", 1, "2026-11-19", "1010", debit="5.00", memo="kept"),
        gl("J2", 2, "2026-11-19", "1150", credit="5.00"),
    ])
    assert ingest(world.engine, tmp_path, consumers).rows_written == 5
    assert world.sql("SELECT window_start, window_end FROM pending_windows") == [(utc(2026, 11, 18), utc(2026, 11, 20))]
    world.sql("DELETE FROM pending_windows")
    before = {(j, n): t for j, n, t in world.sql("SELECT journal_id, line, ingested_at FROM gl_lines")}
    write(tmp_path / "exp2.csv", [
        gl("J2", 1, "2026-11-19", "1010", debit="5", memo="kept"),  # same values, written differently
        gl("J2", 2, "2026-11-19", "1150", credit="5.00"),
        gl("J1", 1, "2026-11-20", "1010", debit="100.00"),          # moved to another day
        gl("J1", 2, "2026-11-20", "1150", credit="100.00"),         # changed; line 3 is gone
    ])
    stats = ingest(world.engine, tmp_path, consumers)
    assert (stats.rows_read, stats.rows_written) == (4, 3)  # two J1 lines changed, one deleted; J2 untouched
    sha = dict(world.sql("SELECT file_name, sha256 FROM source_files"))
    assert world.sql("SELECT journal_id, line, posted_date, debit_minor, credit_minor, file_sha256, file_line FROM gl_lines"
                     " ORDER BY journal_id, line") == [
        ("J1", 1, date(2026, 11, 20), 10000, 0, sha["exp2.csv"], 4),
        ("J1", 2, date(2026, 11, 20), 0, 10000, sha["exp2.csv"], 5),
        ("J2", 1, date(2026, 11, 19), 500, 0, sha["exp1.csv"], 5),
        ("J2", 2, date(2026, 11, 19), 0, 500, sha["exp1.csv"], 6),
    ]
    after = {(j, n): t for j, n, t in world.sql("SELECT journal_id, line, ingested_at FROM gl_lines")}
    assert after[("J2", 1)] == before[("J2", 1)] and after[("J2", 2)] == before[("J2", 2)]
    # the old day of the moved lines and the new one are both recomputed
    assert world.sql("SELECT window_start, window_end FROM pending_windows") == [(utc(2026, 11, 18), utc(2026, 11, 21))]


def test_within_a_file_the_last_occurrence_of_a_journal_wins(make_world, tmp_path):
    world = make_world()
    raw = write(tmp_path / "gl.csv", [
        gl("J1", 1, "2026-11-20", "1010", debit="10.00"),   # 2
        gl("J1", 2, "2026-11-20", "1150", credit="10.00"),  # 3
        gl("J2", 1, "2026-11-20", "1010", debit="1.00"),    # 4
        gl("J2", 2, "2026-11-20", "1150", credit="1.00"),   # 5
        gl("J1", 1, "2026-11-20", "1010", debit="20.00"),   # 6 J1 again: this version wins
        gl("J1", 2, "2026-11-20", "1150", credit="20.00"),  # 7
        gl("J3", 1, "2026-11-20", "1010", debit="3.00"),    # 8
        gl("J3", 2, "2026-11-20", "1150", credit="3.00"),   # 9
        gl("J3", 2, "2026-11-20", "1150", credit="3.00"),   # 10 the same line twice in one run
    ])
    stats = ingest(world.engine, tmp_path, {})
    assert (stats.rows_read, stats.rows_written) == (9, 6)
    assert world.sql("SELECT journal_id, line, debit_minor, credit_minor, file_line FROM gl_lines ORDER BY 1, 2") == [
        ("J1", 1, 2000, 0, 6), ("J1", 2, 0, 2000, 7), ("J2", 1, 100, 0, 4), ("J2", 2, 0, 100, 5),
        ("J3", 1, 300, 0, 8), ("J3", 2, 0, 300, 9)]
    assert world.sql("SELECT line_number, reason, record FROM quarantine ORDER BY line_number") == [
        (2, "journal J1 appears again from line 6: the last occurrence in a file wins", raw[1]),
        (3, "journal J1 appears again from line 6: the last occurrence in a file wins", raw[2]),
        (10, "line 2 of journal J3 is already at line 9", raw[9]),
    ]


def test_an_export_is_taken_once_even_renamed(make_world, tmp_path):
    world = make_world()
    write(tmp_path / "a.csv", [gl("J1", 1, "2026-11-20", "1010", debit="1.00"), gl("J1", 2, "2026-11-20", "1150", credit="1.00")])
    assert ingest(world.engine, tmp_path, {}).rows_written == 2
    shutil.copy(tmp_path / "a.csv", tmp_path / "b.csv")
    (tmp_path / "a.csv").rename(tmp_path / "c.csv")
    again = ingest(world.engine, tmp_path, {})
    assert (again.rows_read, again.rows_written) == (0, 0)
    assert world.sql("SELECT count(*) FROM source_files") == [(1,)]


def test_without_a_folder_the_job_does_nothing_and_says_why(make_world):
    world = make_world()
    assert world.cfg.gl_exports_dir is None
    stats = JOBS["ingest-ledger"].run(world.engine, world.cfg, None, None)
    assert (stats.outcome, stats.rows_read, stats.rows_written) == ("skipped", 0, 0)
    assert world.sql("SELECT outcome, error FROM job_runs WHERE job = 'ingest-ledger'") == [
        ("skipped", "GL_EXPORTS_DIR is not set: general-ledger exports are not read")]
    assert world.sql("SELECT count(*) FROM gl_lines") == [(0,)]
