"""The hash-chained audit log (revwatch/audit.py) on a real PostgreSQL: append, verify, tampering
detected (altered, deleted, reordered), the append-only trigger, the CLI, what writes entries
(break actions, job runs, backfills, settings), and the Audit page."""
from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timezone
from itertools import pairwise

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from metrics.actions import break_workflow as wf
from metrics.figures import audit_log as q
from revwatch import audit, clock
from revwatch.cli import main
from revwatch.runlog import recorded_run
from tests.people import ANA, DANA
from tests.worlds.recon import add_break, add_item, t


# ---------------------------------------------------------------- the pure hash
def test_entry_hash_known_vector():
    at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    body = ('{"action":"break.resolve","actor":"ana","at":"2026-11-20T12:00:00.000000+00:00",'
            '"detail":{"a":1,"é":"x"},"seq":1,"target":"break:7"}')
    expected = hashlib.sha256(("0" * 64 + body).encode("utf-8")).hexdigest()
    assert audit.entry_hash(audit.GENESIS, 1, at, "ana", "break.resolve", "break:7", {"é": "x", "a": 1}) == expected
    # the same instant in another zone hashes the same; any change of content does not
    from datetime import timedelta
    other_zone = at.astimezone(timezone(timedelta(hours=-8)))
    assert audit.entry_hash(audit.GENESIS, 1, other_zone, "ana", "break.resolve", "break:7", {"a": 1, "é": "x"}) == expected
    assert audit.entry_hash(audit.GENESIS, 2, at, "ana", "break.resolve", "break:7", {"a": 1, "é": "x"}) != expected
    assert audit.entry_hash("f" * 64, 1, at, "ana", "break.resolve", "break:7", {"a": 1, "é": "x"}) != expected
    with pytest.raises(ValueError, match="must be timezone-aware"):
        audit.entry_hash(audit.GENESIS, 1, at.replace(tzinfo=None), "ana", "x", None, None)


# ---------------------------------------------------------------- append and verify
def _fill(w, n: int) -> list[audit.AuditEntry]:
    out = []
    for i in range(n):
        with w.engine.begin() as conn:
            out.append(audit.append(conn, f"user{i % 2}", "test.action", f"thing:{i}",
                                    {"i": i, "when": datetime(2026, 11, 1, tzinfo=UTC), "share": 0.999, "txt": "ünï"}))
    return out


def _verify(w, batch: int = audit.BATCH) -> audit.VerifyResult:
    with w.engine.connect() as conn:
        return audit.verify(conn, batch=batch)


@pytest.fixture
def world(make_world):
    return make_world()


def test_append_chains_and_verifies(world):
    assert _verify(world) == audit.VerifyResult(True, 0, message="audit log intact: 0 entries")
    entries = _fill(world, 7)
    assert [e.seq for e in entries] == list(range(1, 8))
    assert entries[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.entry_hash for a, b in pairwise(entries))
    assert entries[0].detail["when"] == "2026-11-01 00:00:00+00:00"  # stored as JSON gives it back
    result = _verify(world, batch=3)  # several keyset batches
    assert (result.ok, result.checked, result.first_bad_seq) == (True, 7, None)


def test_a_rolled_back_action_leaves_no_entry_and_no_gap(world):
    _fill(world, 2)

    def failing_action() -> None:
        with world.engine.begin() as conn:
            audit.append(conn, "ana", "test.action")
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError, match="the action failed"):
        failing_action()
    (e,) = _fill(world, 1)
    assert e.seq == 3 and _verify(world).ok


def test_concurrent_appends_stay_ordered(world):
    import threading

    def work():
        for _ in range(10):
            with world.engine.begin() as conn:
                audit.append(conn, "ana", "test.concurrent")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    result = _verify(world)
    assert (result.ok, result.checked) == (True, 40)


def _tamper(w, *statements: str) -> None:
    with psycopg.connect(w.libpq) as conn:  # the test server's user is the superuser
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        for sql in statements:
            conn.execute(sql)
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def test_the_database_refuses_update_delete_truncate(world):
    _fill(world, 2)
    for sql in ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2",
                "TRUNCATE audit_log"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            world.sql(sql)
    assert world.sql("SELECT count(*) FROM audit_log")[0][0] == 2


def test_an_altered_detail_is_found(world):
    _fill(world, 5)
    _tamper(world, """UPDATE audit_log SET detail = jsonb_set(detail, '{i}', '99') WHERE seq = 3""")
    r = _verify(world, batch=2)
    assert (r.ok, r.first_bad_seq, r.problem, r.checked) == (False, 3, "altered", 2)


def test_an_altered_and_rehashed_entry_is_found(world):
    entries = _fill(world, 5)
    e = entries[1]
    forged = audit.entry_hash(e.prev_hash, e.seq, e.at, "mallory", e.action, e.target, e.detail)
    _tamper(world, f"UPDATE audit_log SET actor = 'mallory', entry_hash = '{forged}' WHERE seq = 2")
    r = _verify(world)
    assert (r.ok, r.first_bad_seq, r.problem) == (False, 2, "altered")


def test_a_deleted_entry_is_found(world):
    _fill(world, 5)
    _tamper(world, "DELETE FROM audit_log WHERE seq = 3")
    r = _verify(world)
    assert (r.ok, r.first_bad_seq, r.problem, r.checked) == (False, 3, "deleted", 2)
    assert "from seq 2 to 4" in r.message


def test_deleting_the_first_entries_is_found(world):
    _fill(world, 4)
    _tamper(world, "DELETE FROM audit_log WHERE seq <= 2")
    r = _verify(world)
    assert (r.ok, r.first_bad_seq, r.problem) == (False, 1, "deleted")


def test_swapped_entries_are_found_as_reordered(world):
    _fill(world, 5)
    _tamper(world, "UPDATE audit_log SET seq = -1 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = -1")
    r = _verify(world)
    assert (r.ok, r.first_bad_seq, r.problem) == (False, 2, "reordered")


# ---------------------------------------------------------------- the CLI
@pytest.fixture
def cli(world, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", world.url)
    monkeypatch.setenv("REVWATCH_DATA_DIR", str(world.cfg.revwatch_data_dir))
    return lambda *args: CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_audit_verify_exit_codes(world, cli):
    _fill(world, 3)
    ok = cli("audit", "verify")
    assert ok.exit_code == 0 and "audit log intact: 3 entries" in ok.output
    _tamper(world, "DELETE FROM audit_log WHERE seq = 2")
    bad = cli("audit", "verify")
    assert bad.exit_code == 1, bad.output
    assert "seq 2" in bad.output and "deleted" in bad.output


def test_a_backfill_is_audited_with_its_operator(world, cli, monkeypatch):
    monkeypatch.setenv("USER", "olga")
    run = cli("collect", "rollup-sessions", "--from", "2026-11-18 00:00:00", "--to", "2026-11-19 00:00:00")
    assert run.exit_code == 0, run.output
    rows = world.sql("SELECT actor, target, detail FROM audit_log WHERE action = 'job.backfill'")
    assert rows == [("olga", "rollup-sessions", {"jobs": ["rollup-sessions"], "window_start": "2026-11-18T00:00:00+00:00",
                                                 "window_end": "2026-11-19T00:00:00+00:00"})]
    runs = world.sql("SELECT target, detail->>'outcome', detail->>'window_start' FROM audit_log"
                     " WHERE action = 'job.run' ORDER BY seq")
    assert runs == [("rollup-sessions", "succeeded", "2026-11-18T00:00:00+00:00")]
    assert _verify(world).ok


# ---------------------------------------------------------------- what writes entries
def test_a_break_action_writes_an_audit_entry(world):
    with world.engine.begin() as conn:
        add_item(conn, "S1", "attempt:a3", "payment", "break", "USD", 500, t("2026-10-01"), break_type="missing",
                 break_amount_minor=500, fingerprint="fp-a3-v1")
        bid = add_break(conn, "S1", "attempt:a3", "open")
    with world.engine.begin() as conn:
        wf.assign(conn, bid, ANA, "dana")
    with world.engine.begin() as conn:
        wf.resolve(conn, bid, DANA, wf.Reason("timing", "arrived on 3 Oct"))
    # refused: nothing written, in the audit log neither
    with pytest.raises(wf.ActionRefused), world.engine.begin() as conn:
        wf.resolve(conn, bid, DANA, "timing: again")
    rows = world.sql("SELECT actor, action, target, detail->>'category', detail->>'note' FROM audit_log ORDER BY seq")
    assert rows == [(ANA.actor, "break.assign", f"break:{bid}", None, None),
                    (DANA.actor, "break.resolve", f"break:{bid}", "timing", "arrived on 3 Oct")]
    assert _verify(world).ok


def test_a_job_run_writes_an_audit_entry(world):
    start, end = t("2026-11-01", 0), t("2026-11-02", 0)
    with recorded_run(world.engine, "some-job", start, end) as stats:
        stats.rows_read, stats.rows_written = 10, 4
    with pytest.raises(ZeroDivisionError), recorded_run(world.engine, "some-job"):
        raise ZeroDivisionError("division by zero")
    rows = world.sql("SELECT actor, action, target, detail FROM audit_log ORDER BY seq")
    run_ids = [r[0] for r in world.sql("SELECT run_id FROM job_runs ORDER BY run_id")]
    assert rows[0] == ("revwatch", "job.run", "some-job", {
        "run_id": run_ids[0], "outcome": "succeeded", "rows_read": 10, "rows_written": 4,
        "window_start": "2026-11-01T00:00:00+00:00", "window_end": "2026-11-02T00:00:00+00:00", "error": None})
    assert rows[1][3]["outcome"] == "failed" and rows[1][3]["error"].startswith("ZeroDivisionError")
    assert _verify(world).ok


def test_settings_are_recorded_once_per_distinct_config_without_secrets(world):
    cfg = world.cfg.model_copy(update={"stripe_api_key": "sk_test_SECRET123",
                                       "billing_database_url": "postgresql://bill:hunter2@db.example/billing"})
    for _ in range(3):  # restarts with the same config add nothing
        with world.engine.begin() as conn:
            audit.record_settings(conn, cfg)
    changed = cfg.model_copy(update={"recon_gateway_days": 4})
    with world.engine.begin() as conn:
        assert audit.record_settings(conn, changed) is not None
    with world.engine.begin() as conn:
        assert audit.record_settings(conn, changed) is None
    rows = world.sql("SELECT detail FROM audit_log WHERE action = 'settings.loaded' ORDER BY seq")
    assert len(rows) == 2
    assert rows[0][0]["settings"]["recon_gateway_days"] == 2 and rows[1][0]["settings"]["recon_gateway_days"] == 4
    stored = world.sql("SELECT detail::text FROM audit_log")
    assert not any("SECRET123" in r[0] or "hunter2" in r[0] for r in stored)
    assert rows[0][0]["settings"]["stripe_api_key"] == "set"
    assert rows[0][0]["settings"]["billing_database_url"] == "postgresql://bill@db.example/billing"


def test_the_worker_command_records_settings(world, cli, monkeypatch):
    from revwatch.cli import supervise as cli_module

    monkeypatch.setattr(cli_module, "_once", lambda work: None)  # the settings hook, not the jobs
    assert cli("worker", "--once").exit_code == 0
    assert cli("worker", "--once").exit_code == 0
    assert world.sql("SELECT count(*) FROM audit_log WHERE action = 'settings.loaded'")[0][0] == 1


# ---------------------------------------------------------------- queries and page
def test_search_filters(world):
    _fill(world, 6)
    with world.engine.begin() as conn:
        audit.append(conn, "ana", "break.comment", "break:42", {"note": "asked Stripe"})
    with world.engine.connect() as conn:
        every = q.search(conn, q.Search())
        assert list(every["seq"]) == list(range(7, 0, -1))  # newest first
        assert list(q.search(conn, q.Search(actor="ana"))["seq"]) == [7]
        assert list(q.search(conn, q.Search(action_prefix="break."))["seq"]) == [7]
        assert list(q.search(conn, q.Search(text="stripe"))["seq"]) == [7]
        assert list(q.search(conn, q.Search(text="thing:3"))["seq"]) == [4]
        today = clock.now().date()
        assert len(q.search(conn, q.Search(day_from=today, day_to=today))) == 7
        assert q.search(conn, q.Search(day_to=date_before(today))).empty
        # a cut search and how many match in all (the page's "first N of M"); no limit: every entry
        assert list(q.search(conn, q.Search(limit=2))["seq"]) == [7, 6] and q.count(conn, q.Search(limit=2)) == 7
        assert q.count(conn, q.Search(actor="ana")) == 1 and q.count(conn, q.Search(text="nothing like it")) == 0
        assert len(q.search(conn, q.Search(limit=None))) == 7
        assert "break." in q.action_prefixes(conn) and q.actors(conn) == ["ana", "user0", "user1"]


def date_before(d):
    from datetime import timedelta
    return d - timedelta(days=1)


def test_audit_page_renders_and_filters_by_actor(world, page_for):
    _fill(world, 3)
    with world.engine.begin() as conn:
        audit.append(conn, "ana", "break.comment", "break:42", {"note": "asked Stripe"})
    at = page_for(world, "pages/audit.py")
    assert at.title[0].value == "Audit"
    assert any("Chain intact: 4 entries" in s.value for s in at.success)
    assert len(at.dataframe[0].value) == 4
    at.selectbox(key="audit_actor").set_value("ana").run()
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df["actor"]) == ["ana"] and list(df["target"]) == ["break:42"]


def test_audit_page_shows_a_broken_chain(world, page_for):
    _fill(world, 3)
    _tamper(world, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    at = page_for(world, "pages/audit.py")
    assert any("broken at entry 2 (altered)" in e.value for e in at.error)


def test_audit_page_reads_entries_for_people_says_first_n_of_m_and_downloads_all(world, page_for, downloads):
    """More entries match than the page draws: it says "first 1,000 of 1,003" and the CSV has all 1,003. Details
    read as key/value text with money formatted; the stored JSON is one click away."""
    with world.engine.begin() as conn:
        for i in range(1002):
            audit.append(conn, "bot", "test.bulk", f"thing:{i}", {"i": i})
        audit.append(conn, "ana", "break.write_off", "break:7", {"amount_minor": 123456, "currency": "USD",
                                                                 "category": "bank_fee", "note": None,
                                                                 "rate": "0.7327380000"})
    at = page_for(world, "pages/audit.py")
    assert not at.exception
    assert "First 1,000 of 1,003 entries, newest first: the download gives all of them." in [c.value for c in at.caption]
    table = at.dataframe[0].value
    assert len(table) == 1000
    assert table["detail"].iloc[0] == "amount: USD 1,234.56 · category: bank fee · rate: 0.732738"  # no note: left out
    assert not table["detail"].str.contains("amount_minor|None|{", regex=True).any()

    csv = pd.read_csv(io.BytesIO(downloads["audit_csv"]()))
    assert len(csv) == 1003 and json.loads(csv["detail"].iloc[0])["amount_minor"] == 123456  # as stored

    at.selectbox(key="audit_entry").set_value(1003).run()
    assert not at.exception
    assert any("**amount**: USD 1,234.56" in m.value and "**note**: –" in m.value for m in at.markdown)
    assert any("amount_minor" in str(j.value) for j in at.json)
