"""The audit log is tamper-evident at its end too (issue 15, point 5): the keyed hash
(AUDIT_HMAC_KEY), the anchors of the head kept outside the table (the anchor file, the weekly
reports, /metrics' head figure) and `revwatch audit verify` comparing the chain with them, on a
real PostgreSQL. Each tampering case is done as a superuser with the append-only trigger disabled.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

import psycopg
import pytest
from click.testing import CliRunner

from metrics.actions import weekly_report as reports
from metrics.figures import audit_log as q
from metrics.figures.weekly_report import last_complete_week
from revwatch import audit, audit_anchors, clock
from revwatch.cli import main
from revwatch.settings import SettingsError, load_settings

KEY = "k3y-for-tests-0123456789abcdef"
OTHER_KEY = "another-key-0123456789abcdef-xyz"


# ---------------------------------------------------------------- helpers
@pytest.fixture
def world(make_world, monkeypatch):
    monkeypatch.delenv(audit.KEY_ENV, raising=False)
    return make_world()


@pytest.fixture
def cli(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))
    monkeypatch.delenv("AUDIT_ANCHOR_FILE", raising=False)
    return lambda *args: CliRunner().invoke(main, list(args), catch_exceptions=False)


def fill(w, n: int) -> None:
    for i in range(n):
        with w.engine.begin() as conn:
            audit.append(conn, f"user{i % 2}", "test.action", f"thing:{i}", {"i": i, "txt": "ünï"})


def tamper(w, *statements: str | tuple[str, tuple]) -> None:
    with psycopg.connect(w.libpq) as conn:  # the test server's user is the superuser
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        for st in statements:
            sql, params = (st, None) if isinstance(st, str) else st
            conn.execute(sql, params)
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def rewrite_from(w, start: int, key: bytes | None = None) -> None:
    """Change entry `start`'s actor and recompute its hash and every later one with the project's own
    function (keyed with `key`, as someone holding a key would; plain sha256 without)."""
    rows = w.sql("SELECT seq, at, actor, action, target, detail FROM audit_log WHERE seq >= %s ORDER BY seq", (start,))
    before = w.sql("SELECT entry_hash FROM audit_log WHERE seq = %s", (start - 1,))
    prev = before[0][0] if before else audit.GENESIS
    updates = []
    for seq, at, actor, action, target, detail in rows:
        actor = "mallory" if seq == start else actor
        digest = audit.entry_hash(prev, seq, at, actor, action, target, detail, key=key)
        updates.append(("UPDATE audit_log SET actor = %s, prev_hash = %s, entry_hash = %s WHERE seq = %s",
                        (actor, prev, digest, seq)))
        prev = digest
    tamper(w, *updates)


def verify(w, anchors: audit_anchors.AnchorFile | None = None) -> audit.VerifyResult:
    with w.engine.connect() as conn:
        return audit_anchors.check(conn, anchors, audit.hmac_key())


def broken(result, seq: int | None, problem: str) -> str:
    assert result.exit_code == 1, result.output
    where = "" if seq is None else f" at seq {seq}"
    assert f"audit log BROKEN{where} ({problem})" in result.output, result.output
    return result.output


def anchored(w, cli, n: int) -> None:
    """n more entries, then an `audit verify` that finds the log intact and anchors its head."""
    fill(w, n)
    ok = cli("audit", "verify")
    (top,) = w.sql("SELECT max(seq) FROM audit_log")[0]
    assert ok.exit_code == 0 and f"anchored entry {top}" in ok.output, ok.output


# ---------------------------------------------------------------- every tampering case, through the CLI
def test_an_edit_is_found(world, cli):
    anchored(world, cli, 6)
    tamper(world, "UPDATE audit_log SET detail = jsonb_set(detail, '{i}', '99') WHERE seq = 3")
    assert "entry 3 altered" in broken(cli("audit", "verify"), 3, "altered")


def test_a_delete_in_the_middle_is_found(world, cli):
    anchored(world, cli, 6)
    tamper(world, "DELETE FROM audit_log WHERE seq = 3")
    assert "from seq 2 to 4" in broken(cli("audit", "verify"), 3, "deleted")


def test_a_delete_at_the_end_is_found(world, cli):
    anchored(world, cli, 6)
    tamper(world, "DELETE FROM audit_log WHERE seq = 6")
    out = broken(cli("audit", "verify"), 6, "deleted")
    assert "entry 6 deleted at the end" in out and "now ends at entry 5" in out


def test_deleting_the_last_five_is_found(world, cli):
    anchored(world, cli, 8)
    tamper(world, "DELETE FROM audit_log WHERE seq > 3")
    assert "entry 4–8 deleted at the end" in broken(cli("audit", "verify"), 4, "deleted")


def test_deleting_all_but_the_first_is_found(world, cli):
    anchored(world, cli, 8)
    tamper(world, "DELETE FROM audit_log WHERE seq > 1")
    assert "entry 2–8 deleted at the end" in broken(cli("audit", "verify"), 2, "deleted")


def test_a_truncate_is_found(world, cli):
    anchored(world, cli, 5)
    tamper(world, "TRUNCATE audit_log")
    out = broken(cli("audit", "verify"), 1, "truncated")
    assert "the audit log is empty" in out and "entries 1–5 deleted" in out


def test_a_reorder_is_found(world, cli):
    anchored(world, cli, 5)
    tamper(world, "UPDATE audit_log SET seq = -1 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 3",
           "UPDATE audit_log SET seq = 3 WHERE seq = -1")
    assert "entry 2 reordered" in broken(cli("audit", "verify"), 2, "reordered")


def test_a_rewrite_with_recomputed_hashes_without_the_key_is_found_by_the_anchors(world, cli):
    anchored(world, cli, 3)
    anchored(world, cli, 3)  # anchors at entries 3 and 6
    rewrite_from(world, 5)
    with world.engine.connect() as conn:
        assert audit.verify(conn).ok  # the chain alone cannot tell
    out = broken(cli("audit", "verify"), 6, "rewritten")
    assert "entries 4–6 were rewritten" in out  # between the last anchor that still holds and the first that does not
    assert "AUDIT_HMAC_KEY is not set: a rewrite of the log that recomputes every later hash cannot be detected" in out


def test_without_key_or_anchor_verify_says_plainly_what_it_cannot_tell(world, cli):
    fill(world, 4)
    rewrite_from(world, 2)
    ok = cli("audit", "verify")  # nothing outside the database to compare with: intact, and it says why that is weak
    assert ok.exit_code == 0, ok.output
    assert "checked against key: AUDIT_HMAC_KEY not set" in ok.output
    assert "note: AUDIT_HMAC_KEY is not set: a rewrite of the log that recomputes every later hash cannot be" \
           " detected from the database" in ok.output
    assert "anchor file" in ok.output and "none yet" in ok.output
    assert "no anchor outside the database yet" in ok.output


def test_a_rewrite_with_recomputed_hashes_with_the_key_is_found_without_any_anchor(world, cli, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    fill(world, 6)
    rewrite_from(world, 3)  # by someone without the key: the project's own function, plain sha256
    out = broken(cli("audit", "verify"), 3, "rewritten")
    assert "not keyed although the entries from 1 on are" in out
    rewrite_from(world, 3, key=OTHER_KEY.encode())  # with a key, but not ours
    assert "entry 3 altered" in broken(cli("audit", "verify"), 3, "altered")


def test_a_rewrite_of_every_entry_with_the_key_set_is_found_by_the_anchor(world, cli, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    anchored(world, cli, 5)
    rewrite_from(world, 1)  # every entry rewritten unkeyed: a chain that looks older than the key
    assert "entries 1–5 were rewritten" in broken(cli("audit", "verify"), 5, "rewritten")


# ---------------------------------------------------------------- the key
def test_keyed_entries_and_entries_from_before_the_key(world, cli, monkeypatch):
    fill(world, 3)  # written before the key was set: plain sha256, kept as they are
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    fill(world, 3)
    hashes = [h for (h,) in world.sql("SELECT entry_hash FROM audit_log ORDER BY seq")]
    assert [audit.is_keyed(h) for h in hashes] == [False] * 3 + [True] * 3
    assert all(len(h.removeprefix(audit.KEYED)) == 64 for h in hashes)
    ok = cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "entries 4–6 keyed and their HMACs checked; entries 1–3 predate the key (sha256)" in ok.output
    # the legacy entries are covered by the keyed ones after them: a rewrite of them breaks the first keyed link
    rewrite_from(world, 2)
    tamper(world, ("UPDATE audit_log SET prev_hash = %s WHERE seq = 4", (hashes[2],)))
    assert broken(cli("audit", "verify"), 3, "altered")


def test_without_the_key_keyed_entries_are_checked_for_links_only(world, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    fill(world, 4)
    monkeypatch.delenv(audit.KEY_ENV)
    r = verify(world)
    assert r.ok and (r.keyed_from, r.unchecked) == (1, 4)
    assert any("keyed entries from 1 on were checked for links only" in n for n in r.notes)
    monkeypatch.setenv(audit.KEY_ENV, OTHER_KEY)
    r = verify(world)
    assert (r.ok, r.first_bad_seq, r.problem) == (False, 1, "altered") and "not the key it was written with" in r.message


def test_a_writer_without_the_key_after_it_was_set_is_reported(world, monkeypatch, caplog):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    fill(world, 2)
    monkeypatch.delenv(audit.KEY_ENV)
    with caplog.at_level(logging.WARNING, logger="revwatch.audit"):
        fill(world, 1)
    assert "AUDIT_HMAC_KEY is not set here: entry 3 is written unkeyed" in caplog.text
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    r = verify(world)
    assert (r.ok, r.first_bad_seq, r.problem) == (False, 3, "rewritten")


def test_the_key_is_validated_and_never_stored_shown_or_logged(world, cli, monkeypatch, caplog):
    monkeypatch.setenv(audit.KEY_ENV, "short-secret")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert "AUDIT_HMAC_KEY: Value error, must be at least 16 characters" in str(exc.value)
    assert "short-secret" not in str(exc.value)
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    cfg = load_settings(database_url=world.url)
    assert KEY not in repr(cfg) and audit.settings_snapshot(cfg)["audit_hmac_key"] == "set"
    with caplog.at_level(logging.DEBUG):
        with world.engine.begin() as conn:
            audit.record_settings(conn, cfg)
        fill(world, 2)
        out = cli("audit", "verify").output
    stored = world.sql("SELECT audit_log::text FROM audit_log")
    anchor_file = (world.cfg.revwatch_data_dir / audit_anchors.FILE_NAME).read_text()
    assert all(KEY not in text for text in (out, caplog.text, anchor_file, *(r[0] for r in stored)))


# ---------------------------------------------------------------- the anchor file
def test_the_anchor_file_is_appended_one_line_per_verify_and_only_when_intact(world, cli, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    anchored(world, cli, 2)
    anchored(world, cli, 1)
    path = world.cfg.revwatch_data_dir / audit_anchors.FILE_NAME
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(a["seq"], a["by"], a["v"]) for a in lines] == [(2, "audit verify", 1), (3, "audit verify", 1)]
    assert lines[1]["hash"] == world.sql("SELECT entry_hash FROM audit_log WHERE seq = 3")[0][0]
    assert lines[1]["db"] == world.sql("SELECT current_database()")[0][0] and len(lines[1]["mac"]) == 64
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    out = cli("audit", "verify").output
    assert "anchor file" in out and "2 anchor(s) (2 with a valid MAC); the furthest: entry 3" in out
    tamper(world, "DELETE FROM audit_log WHERE seq = 3")
    broken(cli("audit", "verify"), 3, "deleted")
    assert len(path.read_text().splitlines()) == 3  # a broken log is not anchored


def test_a_forged_or_unreadable_anchor_line(world, cli, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    anchored(world, cli, 3)
    path = world.cfg.revwatch_data_dir / audit_anchors.FILE_NAME
    line = json.loads(path.read_text())
    with path.open("a") as fh:
        fh.write("not json\n")
        fh.write(json.dumps({**line, "seq": 2, "hash": "0" * 64}) + "\n")  # an edit without the key
    out = broken(cli("audit", "verify"), None, "forged anchor")
    assert f"{audit_anchors.FILE_NAME} line 3: its MAC does not match" in out
    assert "1 line(s) of audit-anchors.jsonl are not anchors (first: line 2)" in out


def test_anchors_of_another_database_are_not_compared(world, cli):
    path = world.cfg.revwatch_data_dir / audit_anchors.FILE_NAME
    audit_anchors.append_file(path, audit_anchors.anchor_of("some_other_db", 40, "f" * 64, "audit verify", None))
    fill(world, 2)
    ok = cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "anchors of other databases in audit-anchors.jsonl not compared: some_other_db" in ok.output


def test_an_anchor_written_while_verify_runs_is_never_past_the_head(world):
    fill(world, 3)
    path = world.cfg.revwatch_data_dir / audit_anchors.FILE_NAME
    early = audit_anchors.read_file(path, None)  # read first, as the CLI and the page do
    fill(world, 2)
    with world.engine.connect() as conn:
        audit_anchors.append_file(path, audit_anchors.current(conn, "audit verify", None))
    assert verify(world, early).ok and verify(world, audit_anchors.read_file(path, None)).ok


# ---------------------------------------------------------------- the weekly report and /metrics
def _render(f):
    return reports.Rendered("<html><body>report</body></html>", b"%PDF-1.4 test")


def test_every_weekly_report_stores_and_files_an_anchor_that_verify_compares(world, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    fill(world, 4)
    report_id = reports.build(world.engine, last_complete_week(), world.cfg, "test", _render)
    (stored,) = world.sql("SELECT figures->'audit_head' FROM weekly_reports WHERE report_id = %s", (report_id,))[0]
    assert (stored["seq"], stored["by"], stored["hash"]) == (4, "weekly report", world.sql(
        "SELECT entry_hash FROM audit_log WHERE seq = 4")[0][0])
    path = world.cfg.audit_anchor_path
    assert json.loads(path.read_text()) == stored  # the same anchor in the anchor file
    path.unlink()  # the file gone too: the report's anchor still tells
    tamper(world, "TRUNCATE audit_log")
    r = verify(world, audit_anchors.read_file(path, audit.hmac_key()))
    assert (r.ok, r.problem, r.first_bad_seq) == (False, "truncated", 1)
    assert f"weekly report #{report_id}" in r.message
    assert any(line.startswith("weekly reports: 1 anchor(s) (1 with a valid MAC)") for line in r.against)


def test_a_report_whose_anchor_file_cannot_be_written_is_still_stored(world, tmp_path, caplog):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    cfg = world.cfg.model_copy(update={"audit_anchor_file": blocked / "anchors.jsonl"})
    with caplog.at_level(logging.WARNING, logger="revwatch.reports"):
        report_id = reports.build(world.engine, last_complete_week(), cfg, "test", _render)
    assert world.sql("SELECT count(*) FROM weekly_reports WHERE report_id = %s", (report_id,)) == [(1,)]
    assert "could not be anchored" in caplog.text


def test_the_head_figure_for_metrics(world, monkeypatch):
    with world.engine.connect() as conn:
        assert q.head(conn) == q.Head(0, None, audit_anchors.head_digest(0, audit.GENESIS, None), False)
    fill(world, 3)
    (h3,) = world.sql("SELECT entry_hash FROM audit_log WHERE seq = 3")[0]
    with world.engine.connect() as conn:
        plain = q.head(conn)
        monkeypatch.setenv(audit.KEY_ENV, KEY)
        keyed = q.head(conn)
    assert (plain.seq, plain.keyed, keyed.seq) == (3, False, 3)
    assert isinstance(plain.at, datetime) and plain.at.tzinfo is not None and plain.at <= clock.now()
    assert plain.digest == audit_anchors.head_digest(3, h3, None) and keyed.digest != plain.digest
    assert 0 <= keyed.digest < 2 ** 52 and float(keyed.digest) == keyed.digest  # exact as a Prometheus sample


# ---------------------------------------------------------------- the Audit page
def test_the_audit_page_shows_a_deletion_at_the_end(world, cli, page_for, monkeypatch):
    anchored(world, cli, 4)
    tamper(world, "DELETE FROM audit_log WHERE seq > 2")
    at = page_for(world, "pages/audit.py")
    assert any("Chain broken at entry 3 (deleted)" in e.value and "deleted at the end" in e.value for e in at.error)
    assert any("AUDIT\\_HMAC\\_KEY is not set" in w.value for w in at.warning)
    assert any("Checked against:" in c.value and "anchor file" in c.value for c in at.caption)
