"""Gateway vs billing: a hand-built case whose findings are worked out by hand, the settle
delay, idempotent re-runs, and the Payments page section against plain SQL."""
from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from collectors.compute import gateway_mismatches as gm
from collectors.jobs import JOBS, consumers
from metrics.figures import gateway_mismatches as q
from metrics.figures.query import Filters
from revwatch.money import format_money
from revwatch.settings import SettingsError, load_settings
from tests.worlds.sites import add_sites

APP = Path(__file__).resolve().parent.parent / "app.py"


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


# ---------------------------------------------------------------- the hand-built world
# One site W1 in Los Angeles (USD; UTC-8 in November). Billing watermark 11 Nov 12:00 UTC,
# so with the 2 h settle delay gateway objects before 11 Nov 10:00 UTC are judged.
#   a1 stripe ch_1 billing 'failed'     / Stripe ch_1 succeeded 1000          -> unrecorded_success
#   a2 adyen (no reference) 'unknown'   / Adyen Settled psp ...0002 for a2, 2000, in two files
#                                                                             -> unrecorded_success (once)
#   a3 stripe ch_3 'succeeded'          / Stripe ch_3 succeeded 3000           -> matched, nothing
#      Stripe ch_x succeeded 3000, metadata attempt pa_ghost, invoice i3       -> no_internal_attempt
#   a4 adyen psp ...0004 'succeeded'    / Adyen Settled 4000                   -> matched, nothing
#   a5 stripe ch_5 'failed'             / Stripe ch_5 failed                   -> nothing
#      Stripe ch_new succeeded 700, no attempt, at 11 Nov 11:00 (inside the settle delay) -> not yet
SITES = [("W1", "West One", "west", "America/Los_Angeles", "USD", "US-CA")]
SESSIONS = [(f"s{i}", "W1", t("2026-11-10 16:00"), t("2026-11-10 17:00"), f"cus_{i}abc{i}9876", t("2026-11-10 17:00"))
            for i in range(1, 6)]
INVOICES = [(f"i{i}", f"s{i}", amount, t("2026-11-10 17:30"))
            for i, amount in ((1, 1000), (2, 2000), (3, 3000), (4, 4000), (5, 500))]
# attempt, invoice, gateway, reference, amount, status, code, attempted_at
ATTEMPTS = [
    ("a1", "i1", "stripe", "ch_1", 1000, "failed", "card_declined", t("2026-11-10 18:00")),
    ("a2", "i2", "adyen", None, 2000, "unknown", None, t("2026-11-10 18:30")),
    ("a3", "i3", "stripe", "ch_3", 3000, "succeeded", None, t("2026-11-10 19:00")),
    ("a4", "i4", "adyen", "8800000000000004", 4000, "succeeded", None, t("2026-11-10 19:30")),
    ("a5", "i5", "stripe", "ch_5", 500, "failed", "card_declined", t("2026-11-10 20:00")),
]
# id, created, amount, status, metadata attempt_id, metadata invoice_id
CHARGES = [
    ("ch_1", t("2026-11-10 18:00"), 1000, "succeeded", "a1", "i1"),
    ("ch_3", t("2026-11-10 19:00"), 3000, "succeeded", "a3", "i3"),
    ("ch_x", t("2026-11-10 19:00:05"), 3000, "succeeded", "pa_ghost", "i3"),
    ("ch_5", t("2026-11-10 20:00"), 500, "failed", "a5", "i5"),
    ("ch_new", t("2026-11-11 11:00"), 700, "succeeded", "pa_late", None),
]
# file, line, psp, merchant reference, created_at, gross credit
SETTLED = [
    ("f1", 2, "8800000000000002", "a2", t("2026-11-10 21:00"), 2000),
    ("f2", 2, "8800000000000002", "a2", t("2026-11-10 21:00"), 2000),  # the same line in a second report
    ("f1", 3, "8800000000000004", "a4", t("2026-11-10 22:00"), 4000),
]
WATERMARK = t("2026-11-11 12:00")

# (gateway, reference, kind, attempt_id, gateway_attempt_id, invoice_id, site, currency, amount,
#  gateway_status, billing_status, local_date)
EXPECTED = {
    ("stripe", "ch_1", "unrecorded_success", "a1", "a1", "i1", "W1", "USD", 1000, "succeeded", "failed",
     date(2026, 11, 10)),
    ("adyen", "8800000000000002", "unrecorded_success", "a2", "a2", "i2", "W1", "USD", 2000, "Settled", "unknown",
     date(2026, 11, 10)),
    ("stripe", "ch_x", "no_internal_attempt", None, "pa_ghost", "i3", "W1", "USD", 3000, "succeeded", None,
     date(2026, 11, 10)),
}
LATE = ("stripe", "ch_new", "no_internal_attempt", None, "pa_late", None, None, "USD", 700, "succeeded", None,
        date(2026, 11, 11))

_FINDINGS = """SELECT gateway, gateway_reference, kind, attempt_id, gateway_attempt_id, invoice_id, site_id, currency,
                      amount_minor, gateway_status, billing_status, local_date FROM gateway_mismatches"""


def _insert(world) -> None:
    with psycopg.connect(world.libpq) as conn:
        add_sites(conn, *SITES)
        conn.cursor().executemany("INSERT INTO parking_sessions VALUES (%s, %s, %s, %s, %s, %s)", SESSIONS)
        conn.cursor().executemany(
            "INSERT INTO invoices (invoice_id, session_id, currency, subtotal_minor, tax_minor, total_minor, issued_at,"
            " status, updated_at) VALUES (%s, %s, 'USD', %s, 0, %s, %s, 'open', %s)",
            [(i, s, amount, amount, at, at) for i, s, amount, at in INVOICES])
        conn.cursor().executemany(
            "INSERT INTO payment_attempts VALUES (%s, %s, 1, %s, %s, %s, %s, 'USD', %s, %s, 'card', 'visa', %s, %s)",
            [(a, i, g, ref, f"idem-{a}", amount, status, code, at, at) for a, i, g, ref, amount, status, code, at in ATTEMPTS])
        conn.cursor().executemany(
            "INSERT INTO stripe_charges (id, created, currency, raw, amount, amount_refunded, status, card_brand,"
            " attempt_id, invoice_id) VALUES (%s, %s, 'USD', '{}', %s, 0, %s, 'visa', %s, %s)", CHARGES)
        conn.cursor().executemany(
            "INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, psp_reference,"
            " merchant_reference, payment_method, created_at, type, gross_currency, gross_credit_minor, net_currency,"
            " batch_number) VALUES (%s, %s, 'ParkingUS', %s, %s, 'visa', %s, 'Settled', 'USD', %s, 'USD', 7)", SETTLED)
        conn.execute("INSERT INTO sync_state VALUES ('billing', 'payment_attempts', %s)", (WATERMARK,))


@pytest.fixture(scope="module")
def world(make_world):
    w = make_world()
    _insert(w)
    return w


def _findings(world) -> set[tuple]:
    return set(world.sql(_FINDINGS))


def test_the_job_reads_the_gateway_copies_and_billing_attempts():
    reads = consumers()
    for table in ("stripe_charges", "adyen_settlement_lines", "payment_attempts"):
        assert gm.JOB in reads[table]
    assert gm.JOB in JOBS and JOBS[gm.JOB].kind == "compute"


def test_findings_worked_out_by_hand_and_rerun_changes_nothing(world):
    s0, s1 = t("2026-11-10 00:00"), t("2026-11-12 00:00")
    stats = gm.run_job(world.engine, s0, s1)
    assert stats.outcome == "succeeded"
    assert _findings(world) == EXPECTED
    # read: ch_1, ch_3, ch_x (succeeded, judged) and the two first Settled lines; ch_new is after the cutoff
    assert (stats.rows_read, stats.rows_written) == (5, 3)
    # judged up to the cutoff (11 Nov 10:00); what lies after waits for billing
    assert world.sql("SELECT watermark FROM sync_state WHERE source = %s", (gm.JOB,)) == [(t("2026-11-11 10:00"),)]
    before = world.sql(_FINDINGS + " ORDER BY gateway, gateway_reference")
    again = gm.run_job(world.engine, s0, s1)
    assert world.sql(_FINDINGS + " ORDER BY gateway, gateway_reference") == before
    assert (again.rows_read, again.rows_written) == (5, 3)
    # a smaller window inside replaces only its own part
    gm.run_job(world.engine, t("2026-11-10 18:00"), t("2026-11-10 19:00"))
    assert _findings(world) == EXPECTED


def test_recent_charges_wait_for_billing_to_catch_up(world):
    gm.run_job(world.engine, t("2026-11-10 00:00"), t("2026-11-12 00:00"))
    assert LATE not in _findings(world)
    # billing syncs further: the next run, with nothing queued, judges [old cutoff, new cutoff)
    world.sql("UPDATE sync_state SET watermark = %s WHERE source = 'billing' AND table_name = 'payment_attempts'",
              (t("2026-11-11 14:00"),))
    gm.run_job(world.engine)
    assert _findings(world) == EXPECTED | {LATE}
    # a billing attempt appears late for ch_new: the queued attempt window widens to its charge
    world.sql("INSERT INTO payment_attempts VALUES ('pa_late', 'i5', 2, 'stripe', 'ch_new', 'idem-late', 700, 'USD',"
              " 'succeeded', NULL, 'card', 'visa', '2026-11-11 10:59+00', '2026-11-11 13:00+00')")
    world.sql("DELETE FROM pending_windows")
    world.sql("INSERT INTO pending_windows (table_name, consumer, window_start, window_end)"
              " VALUES ('payment_attempts', %s, '2026-11-11 10:00+00', '2026-11-11 11:00+00')", (gm.JOB,))
    gm.run_job(world.engine)
    assert _findings(world) == EXPECTED
    world.sql("DELETE FROM payment_attempts WHERE attempt_id = 'pa_late'")
    world.sql("UPDATE sync_state SET watermark = %s WHERE source = 'billing' AND table_name = 'payment_attempts'",
              (WATERMARK,))
    gm.run_job(world.engine, t("2026-11-10 00:00"), t("2026-11-12 00:00"))
    assert _findings(world) == EXPECTED


def test_settle_delay_is_a_validated_setting(monkeypatch):
    monkeypatch.delenv("GATEWAY_SETTLE_MINUTES", raising=False)
    assert load_settings().gateway_settle_minutes == 120 == gm.DEFAULT_SETTLE.total_seconds() / 60
    monkeypatch.setenv("GATEWAY_SETTLE_MINUTES", "30")
    assert load_settings().gateway_settle_minutes == 30
    monkeypatch.setenv("GATEWAY_SETTLE_MINUTES", "soon")
    with pytest.raises(SettingsError, match="GATEWAY_SETTLE_MINUTES"):
        load_settings()


def test_metrics_count_and_sum_per_kind_gateway_currency(world):
    gm.run_job(world.engine, t("2026-11-10 00:00"), t("2026-11-12 00:00"))
    f = Filters(date(2026, 11, 10), date(2026, 11, 11))
    tot = q.mismatch_totals(world.engine, f)
    assert sorted(map(tuple, tot.itertuples(index=False))) == [
        ("no_internal_attempt", "stripe", "USD", 1, 3000),
        ("unrecorded_success", "adyen", "USD", 1, 2000),
        ("unrecorded_success", "stripe", "USD", 1, 1000)]
    by = q.mismatch_by_currency(world.engine, f)
    assert sorted(map(tuple, by.itertuples(index=False))) == [
        ("USD", "no_internal_attempt", 1, 3000), ("USD", "unrecorded_success", 2, 3000)]
    rows = q.mismatches(world.engine, f)
    assert list(rows["gateway_reference"]) == ["8800000000000002", "ch_x", "ch_1"]  # newest first
    assert list(rows["session_id"]) == ["s2", "s3", "s1"] and rows["customer_id"].iloc[0] == "cus_2abc29876"
    assert list(q.mismatches(world.engine, f, kind="no_internal_attempt")["gateway_reference"]) == ["ch_x"]
    assert q.mismatch_totals(world.engine, Filters(date(2026, 11, 10), date(2026, 11, 10), site_ids=("nope",))).empty
    assert q.mismatch_totals(world.engine, Filters(date(2026, 11, 12), date(2026, 11, 13))).empty


@pytest.fixture
def payments_page(monkeypatch):
    def make(world) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", world.url)
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(APP), default_timeout=90).run()
        at.switch_page("pages/payments.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def test_payments_page_section_equals_sql(world, payments_page):
    for name in ("rollup-sessions", "rollup-invoices", "rollup-payments", "rollup-invoice-outcomes"):
        JOBS[name].run(world.engine, world.cfg, t("2026-11-10 00:00"), t("2026-11-12 00:00"))
    gm.run_job(world.engine, t("2026-11-10 00:00"), t("2026-11-12 00:00"))
    at = payments_page(world)
    assert any(s.value == "Charged at the gateway, not in billing" for s in at.subheader)
    rows = world.sql("SELECT currency, kind, count(*), sum(amount_minor) FROM gateway_mismatches GROUP BY 1, 2")
    assert rows
    label = {"unrecorded_success": "Charged, billing says failed", "no_internal_attempt": "Charged, no attempt in billing"}
    for cur, kind, n, amount in rows:
        tile = next(m for m in at.metric if m.label == f"{label[kind]} · {cur}")
        assert tile.value == format_money(int(amount), cur)
        assert tile.proto.delta == f"{n:,} charge{'s' if n != 1 else ''}", tile.proto.delta
    table = next(d.value for d in at.dataframe if "gateway_reference" in d.value.columns)
    assert set(table["gateway_reference"]) == {r[1] for r in EXPECTED}
    assert all(c == "" or "…" in c for c in table["customer"]) and "customer_id" not in table.columns
    assert any(b.proto.label == "Download CSV" for b in at.get("download_button"))
    drill = at.selectbox(key="drill_mismatch")
    drill.set_value("a1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("a1" in m.value for m in at.markdown)
