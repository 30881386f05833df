"""Reconciliation rules on a hand-built world whose every item is worked out by hand: each stage,
each break type, tolerances and timing windows, near misses, many-to-one, idempotence, the
incremental run, and the break lifecycle (opened, cleared, reopened when resolved data changes)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from collectors.compute import reconciliation as rc
from collectors.compute.windows import queue_recompute
from tests.worlds.sites import add_sites


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


POLICY = rc.Policy()  # tolerance 0, gateway 2 d, payout 3 d, bank 2 business days, ±3 d, ledger 5 d


class Builder:
    """Rows straight into the product's copies (what ingest would have written)."""

    def __init__(self, libpq: str):
        self.conn = psycopg.connect(libpq, autocommit=True)
        add_sites(self.conn, ("W1", "West", "west", "America/Los_Angeles", "USD", "US-CA"))
        self.conn.execute("INSERT INTO parking_sessions VALUES ('s1', 'W1', %s, %s, NULL, %s)",
                          (t("2026-10-01 10:00"), t("2026-10-01 11:00"), t("2026-10-01 11:00")))
        self.conn.execute("INSERT INTO invoices VALUES ('i1', 's1', 'USD', 1000, 0, 1000, %s, 'paid', %s)",
                          (t("2026-10-01 11:00"), t("2026-10-01 11:00")))

    def attempt(self, aid, gateway, ref, amount, status, at, currency="USD", completed=None):
        self.conn.execute("INSERT INTO payment_attempts VALUES (%s, 'i1', 1, %s, %s, %s, %s, %s, %s, NULL, 'card',"
                          " 'visa', %s, %s)", (aid, gateway, ref, f"k-{aid}", amount, currency, status, at,
                                               completed or at))

    def charge(self, cid, amount, status, at, currency="USD"):
        self.conn.execute("INSERT INTO stripe_charges (id, created, currency, raw, amount, amount_refunded, status)"
                          " VALUES (%s, %s, %s, '{}', %s, 0, %s)", (cid, at, currency, amount, status))

    def adyen(self, batch, line, typ, at, psp=None, mref=None, gross_credit=None, gross_debit=None, net_credit=None,
              net_debit=None, commission=None, currency="USD"):
        self.conn.execute(
            "INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, psp_reference,"
            " merchant_reference, created_at, type, gross_currency, gross_credit_minor, gross_debit_minor,"
            " net_currency, net_credit_minor, net_debit_minor, commission_minor, batch_number)"
            " VALUES (%s, %s, 'M', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (f"f{batch}", line, psp, mref, at, typ, currency, gross_credit, gross_debit, currency, net_credit,
             net_debit, commission, batch))

    def refund(self, rid, gateway, ref, amount, status, at):
        self.conn.execute("INSERT INTO refunds VALUES (%s, 'i1', 'a1', %s, %s, %s, 'USD', 'x', %s, %s, %s)",
                          (rid, gateway, ref, amount, status, at, at))

    def stripe_refund(self, rid, amount, status, at):
        self.conn.execute("INSERT INTO stripe_refunds (id, created, currency, raw, amount, status)"
                          " VALUES (%s, %s, 'USD', '{}', %s, %s)", (rid, at, amount, status))

    def txn(self, tid, amount, fee, category, at, payout=None, typ=None, status="available"):
        self.conn.execute(
            "INSERT INTO stripe_balance_transactions (id, created, currency, raw, amount, fee, net, type,"
            " reporting_category, available_on, status, payout) VALUES (%s, %s, 'USD', '{}', %s, %s, %s, %s, %s, %s,"
            " %s, %s)", (tid, at, amount, fee, amount - fee, typ or category, category, at + timedelta(days=2),
                         status, payout))

    def payout(self, pid, amount, created, arrival, status="paid"):
        self.conn.execute("INSERT INTO stripe_payouts (id, created, currency, raw, amount, status, arrival_date)"
                          " VALUES (%s, %s, 'USD', '{}', %s, %s, %s)", (pid, created, amount, status, arrival))
        self.txn(f"txn_{pid}", -amount, 0, "payout", created, payout=pid)

    def bank(self, line, day, amount, text_, refs=(), candidate=True, currency="USD", direction="credit"):
        self.conn.execute(
            "INSERT INTO bank_lines (file_sha256, line_number, format, account, currency, bank_date, type_code,"
            " direction, amount_minor, text, payout_refs, payout_candidate) VALUES ('b', %s, 'bai2', '123', %s, %s,"
            " '165', %s, %s, %s, %s, %s)", (line, currency, day, direction, amount, text_, list(refs), candidate))

    def journal(self, jid, day, reference, *lines, currency="USD"):
        """lines: (account, debit, credit) in minor units."""
        for n, (account, debit, credit) in enumerate(lines, 1):
            self.conn.execute(
                "INSERT INTO gl_lines (journal_id, line, posted_date, account, debit_minor, credit_minor, currency,"
                " reference, file_sha256, file_line) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'g', %s)",
                (jid, n, day, account, debit, credit, currency, reference, n))

    def revenue(self, day, subtotal, tax, status="paid"):
        self.conn.execute(
            "INSERT INTO rollup_invoices (hour, local_date, site_id, currency, status, invoices, subtotal_minor, tax_minor,"
            " total_minor) VALUES (%s, %s, 'W1', 'USD', %s, 1, %s, %s, %s)",
            (datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12), day, status, subtotal, tax,
             subtotal + tax))


@pytest.fixture(scope="module")
def world(make_world):
    w = make_world()
    b = Builder(w.libpq)
    # ---- S1: attempts against gateway charges (coverage: Stripe up to 20 Oct, Adyen up to 20 Oct)
    b.attempt("a1", "stripe", "ch_1", 1000, "succeeded", t("2026-10-01 12:00"))
    b.charge("ch_1", 1000, "succeeded", t("2026-10-01 12:00"))                 # matched
    b.attempt("a2", "stripe", "ch_2", 2000, "succeeded", t("2026-10-01 13:00"))
    b.charge("ch_2", 1999, "succeeded", t("2026-10-01 13:00"))                 # near miss: amount_mismatch 1
    b.attempt("a3", "stripe", "ch_3", 3000, "failed", t("2026-10-01 14:00"))
    b.charge("ch_3", 3000, "succeeded", t("2026-10-01 14:00"))                 # charged, recorded failed
    b.attempt("a4", "stripe", "ch_4", 4000, "succeeded", t("2026-10-01 15:00"))  # no charge, window over: missing
    b.attempt("a4b", "stripe", "ch_4b", 400, "succeeded", t("2026-10-19 15:00"))  # no charge yet: expected
    # an ACH payment attempted on the 15th succeeds on the 19th: its window runs from then
    b.attempt("a8", "adyen", "PSP8", 800, "succeeded", t("2026-10-15 09:00"), completed=t("2026-10-19 12:00"))
    b.attempt("a5", "adyen", "PSP5", 5000, "succeeded", t("2026-10-01 16:00"))
    b.adyen(1, 1, "Settled", t("2026-10-01 18:00"), psp="PSP5", mref="a5", gross_credit=5000, net_credit=4990,
            commission=10)
    b.adyen(2, 1, "Settled", t("2026-10-02 18:00"), psp="PSP5", mref="a5", gross_credit=5000, net_credit=4990,
            commission=10)                                                      # settled twice: duplicate
    b.attempt("a6", "stripe", "ch_6", 600, "succeeded", t("2026-10-01 17:00"))
    b.charge("ch_6", 600, "succeeded", t("2026-10-01 17:00"), currency="CAD")  # currency mismatch
    b.charge("ch_ghost", 700, "succeeded", t("2026-10-01 18:00"))              # no attempt: missing in billing
    b.charge("ch_last", 100, "failed", t("2026-10-20 00:00"))                  # Stripe coverage
    b.adyen(3, 1, "Fee", t("2026-10-20 00:00"), net_debit=100)                # Adyen coverage (batch 3 open)
    b.refund("r1", "stripe", "re_1", 300, "succeeded", t("2026-10-02 10:00"))
    b.stripe_refund("re_1", 300, "succeeded", t("2026-10-02 10:00"))           # matched
    b.refund("r2", "adyen", None, 250, "succeeded", t("2026-10-02 11:00"))     # no Refunded line: missing
    # ---- S2: balance entries and payouts (payout coverage: 20 Oct)
    b.txn("t1", 1000, 59, "charge", t("2026-10-01 12:00"), payout="po_1")
    b.txn("t2", -200, 0, "refund", t("2026-10-01 13:00"), payout="po_1")
    b.payout("po_1", 741, t("2026-10-03 04:00"), t("2026-10-05 00:00"))         # 1000 - 59 - 200: matched
    b.txn("t3", 530, 31, "charge", t("2026-10-02 12:00"), payout="po_2")
    b.payout("po_2", 500, t("2026-10-04 04:00"), t("2026-10-06 00:00"))         # entries net 499: amount_mismatch 1
    b.txn("t9", 80, 3, "charge", t("2026-10-05 12:00"))                         # in no payout, window over
    b.txn("t10", 90, 3, "charge", t("2026-10-19 12:00"))                        # in no payout yet: expected
    for n, (amount, created, arrival) in enumerate(((900, "2026-10-06", "2026-10-07"), (1500, "2026-10-07", "2026-10-08"),
                                                     (300, "2026-10-08", "2026-10-09"), (200, "2026-10-08", "2026-10-09"),
                                                     (2500, "2026-10-09", "2026-10-12"), (650, "2026-10-19", "2026-10-20"),
                                                     (777, "2026-10-12", "2026-10-13")), start=3):
        b.txn(f"tp{n}", amount, 0, "charge", t(created + " 01:00"), payout=f"po_{n}")
        b.payout(f"po_{n}", amount, t(created + " 04:00"), t(arrival + " 00:00"))
    b.payout("po_20", 5, t("2026-10-20 04:00"), t("2026-10-21 00:00"))          # payout coverage; no entries yet
    # Adyen batch 1 (the duplicate above) closes with its payout: 4990 - 0 = net
    b.adyen(1, 2, "MerchantPayout", t("2026-10-02 02:00"), net_debit=4990)
    # ---- S3: bank (USD coverage: 16 Oct)
    b.bank(1, date(2026, 10, 5), 741, "STRIPE PAYOUT po_1", ["po_1"])           # reference
    b.bank(2, date(2026, 10, 7), 500, "STRIPE TRANSFER")                         # po_2 by amount and date
    b.bank(3, date(2026, 10, 8), 885, "STRIPE PAYOUT po_3", ["po_3"])            # po_3 900, short 15
    b.bank(4, date(2026, 10, 8), 1501, "TRANSFER")                               # po_4 1500: near miss, no match
    b.bank(5, date(2026, 10, 9), 500, "STRIPE")                                  # po_5 + po_6 (300 + 200), many-to-one
    # po_7 (2500, arrival 12 Oct): never in the bank; po_8 (arrival 20 Oct): after coverage, expected
    b.bank(6, date(2026, 10, 13), 777, "PAYOUTS po_9", ["po_9"])                 # reference
    b.bank(7, date(2026, 10, 16), 4990, "ADYEN BATCH 1", ["ADYEN-1"])            # Adyen batch by reference
    b.bank(8, date(2026, 10, 16), 12, "BANK FEE", candidate=False, direction="debit")
    # ---- S4: ledger (coverage 20 Oct)
    b.journal("JE1", date(2026, 10, 5), "po_1", ("1010", 741, 0), ("6150", 259, 0), ("1150", 0, 1000))
    b.journal("JE1b", date(2026, 10, 5), "po_1x", ("1010", 1, 0), ("1150", 0, 1))   # nobody expects po_1x
    b.journal("JE2", date(2026, 10, 6), "po_2", ("1010", 500, 0), ("6150", 31, 0), ("1150", 0, 531))
    b.journal("JE3", date(2026, 10, 7), "po_2", ("1010", 500, 0), ("6150", 31, 0), ("1150", 0, 531))  # twice
    b.revenue(date(2026, 10, 1), 1000, 100)
    b.revenue(date(2026, 10, 2), 2000, 200)
    b.revenue(date(2026, 10, 3), 3000, 300)
    b.revenue(date(2026, 10, 3), 50, 5, status="void")                            # void: not revenue
    b.journal("JR1", date(2026, 10, 2), "REV-W1-2026-10-01", ("1150", 1100, 0), ("4000", 0, 1000), ("2300", 0, 100))
    b.journal("JR3", date(2026, 10, 4), "REV-W1-2026-10-03", ("1150", 3290, 0), ("4000", 0, 3000), ("2300", 0, 290))
    b.journal("JR9", date(2026, 10, 4), "REV-W1-2026-09-01", ("1150", 10, 0), ("4000", 0, 10))  # no such revenue
    b.journal("JF1", date(2026, 10, 3), "r1", ("4050", 300, 0), ("1150", 0, 300))
    b.journal("JX", date(2026, 10, 20), "RENT-10", ("7000", 5000, 0), ("1010", 0, 5000))  # not ours; GL coverage
    w.builder = b
    return w


def _run(world, lo=None, hi=None):
    with world.engine.begin() as conn:
        return rc.reconcile(conn, POLICY, [(lo or rc.BEGINNING, hi or rc.END_OF_TIME)])


def _items(world) -> dict[tuple[str, str], tuple]:
    rows = world.sql("SELECT stage, item_key, status, break_type, missing_side, break_amount_minor, match_rule"
                     " FROM recon_items")
    return {(r[0], r[1]): r[2:] for r in rows}


EXPECTED = {
    # S1
    ("S1", "attempt:a1"): ("matched", None, None, None, "reference"),
    ("S1", "attempt:a2"): ("break", "amount_mismatch", None, 1, None),
    ("S1", "attempt:a3"): ("break", "status_mismatch", None, 3000, None),
    ("S1", "attempt:a4"): ("break", "missing", "gateway", 4000, None),
    ("S1", "attempt:a4b"): ("expected", None, None, None, None),
    ("S1", "attempt:a5"): ("break", "duplicate", None, 5000, None),
    ("S1", "attempt:a8"): ("expected", None, None, None, None),
    ("S1", "attempt:a6"): ("break", "currency_mismatch", None, 600, None),
    ("S1", "stripe:ch_ghost"): ("break", "missing", "billing", 700, None),
    ("S1", "refund:r1"): ("matched", None, None, None, "reference"),
    ("S1", "refund:r2"): ("break", "missing", "gateway", 250, None),
    # S2
    ("S2", "txn:t1"): ("matched", None, None, None, "reference"),
    ("S2", "txn:t9"): ("break", "missing", "payout", 77, None),
    ("S2", "txn:t10"): ("expected", None, None, None, None),
    ("S2", "payout:stripe:po_1"): ("matched", None, None, None, "reconstruction"),
    ("S2", "payout:stripe:po_2"): ("break", "amount_mismatch", None, 1, None),
    ("S2", "payout:stripe:po_20"): ("expected", None, None, None, None),
    ("S2", "payout:adyen:1"): ("matched", None, None, None, "reconstruction"),
    ("S2", "payout:adyen:3"): ("expected", None, None, None, None),
    # S3
    ("S3", "payout:stripe:po_1"): ("matched", None, None, None, "reference"),
    ("S3", "payout:stripe:po_2"): ("matched", None, None, None, "amount_date"),
    ("S3", "payout:stripe:po_3"): ("break", "amount_mismatch", None, 15, None),
    ("S3", "payout:stripe:po_4"): ("break", "missing", "bank", 1500, None),
    ("S3", "payout:stripe:po_5"): ("matched", None, None, None, "many_to_one"),
    ("S3", "payout:stripe:po_6"): ("matched", None, None, None, "many_to_one"),
    ("S3", "payout:stripe:po_7"): ("break", "missing", "bank", 2500, None),
    ("S3", "payout:stripe:po_8"): ("expected", None, None, None, None),
    ("S3", "payout:stripe:po_9"): ("matched", None, None, None, "reference"),
    ("S3", "payout:adyen:1"): ("matched", None, None, None, "reference"),
    ("S3", "bank:b:4"): ("break", "missing", "payout", 1501, None),
    # S4
    ("S4", "payout:stripe:po_1"): ("break", "amount_mismatch", None, 200, None),  # fees booked 259, entries 59
    ("S4", "payout:stripe:po_2"): ("break", "duplicate", None, 500, None),
    ("S4", "payout:stripe:po_3"): ("break", "missing", "ledger", 900, None),
    ("S4", "payout:stripe:po_8"): ("expected", None, None, None, None),
    ("S4", "rev:W1:2026-10-01:USD"): ("matched", None, None, None, "reference"),
    ("S4", "rev:W1:2026-10-02:USD"): ("break", "missing", "ledger", 2200, None),
    ("S4", "rev:W1:2026-10-03:USD"): ("break", "amount_mismatch", None, 10, None),
    ("S4", "refund:r1"): ("matched", None, None, None, "reference"),
    ("S4", "refund:r2"): ("break", "missing", "ledger", 250, None),
    ("S4", "gl:po_1x"): ("break", "missing", "gateway", 1, None),
    ("S4", "gl:REV-W1-2026-09-01"): ("break", "missing", "billing", 10, None),
}


def test_every_rule_on_hand_built_items(world):
    _run(world)
    got = _items(world)
    for key, want in EXPECTED.items():
        assert got.get(key) == want, key
    # failed attempts the gateway also failed, and the coverage charge, are not money: no items
    assert ("S1", "stripe:ch_last") not in got


def test_payout_reconstruction_detail(world):
    (detail,) = world.sql("SELECT detail FROM recon_items WHERE stage = 'S2' AND item_key = 'payout:stripe:po_1'")[0]
    assert {k: detail[k] for k in ("gross_minor", "fees_minor", "refunds_minor", "disputes_minor",
                                   "adjustments_minor", "net_minor")} == dict(
        gross_minor=1000, fees_minor=59, refunds_minor=200, disputes_minor=0, adjustments_minor=0, net_minor=741)


def _judged_with(world, policy, stage, key) -> str:
    """The status `key` gets when `stage` is judged under `policy` (rolled back afterwards)."""
    with world.engine.begin() as conn:
        rc.scratch_tables(conn)
        rc.run_stage(conn, stage, policy, rc.coverage(conn), [(rc.BEGINNING, rc.END_OF_TIME)])
        status = conn.execute(text("SELECT status FROM recon_items WHERE stage = :s AND item_key = :k"),
                              {"s": stage, "k": key}).scalar_one()
        conn.rollback()
    return status


def test_tolerance_and_windows_are_configuration(world):
    _run(world)
    assert _judged_with(world, rc.Policy(tolerance_minor=1), "S1", "attempt:a2") == "matched"  # 1 minor unit off
    assert _judged_with(world, rc.Policy(tolerance_minor=15), "S3", "payout:stripe:po_3") == "matched"  # 15 short
    # po_4 arrived 8 Oct, bank statements up to 16 Oct: missing after 2 business days, expected within 10
    assert _judged_with(world, rc.Policy(bank_business_days=10), "S3", "payout:stripe:po_4") == "expected"
    # the 2 Oct revenue day, ledger up to 20 Oct: still expected with a 30-day posting window
    assert _judged_with(world, rc.Policy(ledger_days=30), "S4", "rev:W1:2026-10-02:USD") == "expected"
    # the bank credit 1 minor unit over po_4 matches it by amount and date once 1 is tolerated
    assert _judged_with(world, rc.Policy(tolerance_minor=1), "S3", "payout:stripe:po_4") == "matched"


def test_rerun_changes_nothing_and_breaks_open_once(world):
    _run(world)
    before = world.sql("SELECT * FROM recon_items ORDER BY stage, item_key")
    judged, changed = _run(world)
    assert changed == 0 and judged > 0
    assert world.sql("SELECT * FROM recon_items ORDER BY stage, item_key") == before
    opened = world.sql("SELECT count(*), count(DISTINCT break_id) FROM recon_break_events WHERE action = 'opened'")[0]
    breaks = world.sql("SELECT count(*) FROM recon_items WHERE status = 'break'")[0][0]
    assert opened == (breaks, breaks)


def test_incremental_run_judges_the_new_span_and_open_items_only(world):
    _run(world)
    total = world.sql("SELECT count(*) FROM recon_items")[0][0]
    b = world.builder
    b.attempt("a7", "stripe", "ch_7", 700, "succeeded", t("2026-10-15 09:00"))
    b.charge("ch_7", 700, "succeeded", t("2026-10-15 09:00"))
    with world.engine.begin() as conn:
        queue_recompute(conn, "payment_attempts", [rc.JOB], t("2026-10-15 09:00"), t("2026-10-15 09:00"))
    stats = rc.run_job(world.engine, POLICY)
    assert stats.outcome == "succeeded"
    assert _items(world)[("S1", "attempt:a7")] == ("matched", None, None, None, "reference")
    assert stats.rows_read < total  # only the span's neighbourhood and the open items were judged
    assert world.sql("SELECT count(*) FROM pending_windows WHERE consumer = %s", (rc.JOB,)) == [(0,)]
    again = rc.run_job(world.engine, POLICY)  # nothing queued: nothing done
    assert (again.rows_read, again.rows_written) == (0, 0)


def test_a_resolved_break_reopens_when_its_data_changes_and_clears_when_it_matches(world):
    _run(world)
    key = "attempt:a2"
    (break_id, fingerprint) = world.sql("SELECT b.break_id, i.fingerprint FROM recon_breaks b JOIN recon_items i"
                                        " USING (stage, item_key) WHERE b.item_key = %s", (key,))[0]
    from metrics.actions import break_workflow
    from tests.people import ANA

    with world.engine.begin() as conn:
        break_workflow.resolve(conn, break_id, ANA, ("gateway_error", "Stripe rounding, confirmed with support"))
    _run(world)
    assert world.sql("SELECT state FROM recon_breaks WHERE break_id = %s", (break_id,)) == [("resolved",)]
    # the gateway amount changes: the resolved break reopens
    world.builder.conn.execute("UPDATE stripe_charges SET amount = 1998 WHERE id = 'ch_2'")
    _run(world)
    assert world.sql("SELECT state, resolved_by, resolved_fingerprint FROM recon_breaks WHERE break_id = %s",
                     (break_id,)) == [("open", None, None)]
    (was,) = world.sql("SELECT detail FROM recon_break_events WHERE break_id = %s AND action = 'reopened'",
                       (break_id,))[0]
    assert (was["was"], was["resolved_by"]) == ("resolved", ANA.actor)
    with world.engine.begin() as conn:  # an analyst asks to write it off: a request, awaiting a controller
        break_workflow.write_off(conn, break_id, ANA, ("gateway_error", "Stripe says 19.98"))
    # then it is corrected: the break clears, and the request waiting on it is void
    world.builder.conn.execute("UPDATE stripe_charges SET amount = 2000 WHERE id = 'ch_2'")
    _run(world)
    assert world.sql("SELECT state FROM recon_breaks WHERE break_id = %s", (break_id,)) == [("cleared",)]
    assert world.sql("SELECT decision, decided_by, decision_note FROM recon_break_requests WHERE break_id = %s",
                     (break_id,)) == [("void", rc.JOB, "the break is cleared")]
    actions = [r[0] for r in world.sql("SELECT action FROM recon_break_events WHERE break_id = %s ORDER BY event_id",
                                       (break_id,))]
    assert actions == ["opened", "resolved", "reopened", "approval_requested", "cleared", "request_void"]
    with pytest.raises(Exception, match="append-only"):
        world.sql("DELETE FROM recon_break_events WHERE break_id = %s", (break_id,))
    assert fingerprint


def test_every_rule_names_the_judged_columns(world):
    """Rules are read by column name, never by position: each gives exactly recon_stages.JUDGED."""
    from collectors.compute.recon_stages import JUDGED, STAGES

    params = {**POLICY.params(), "lo": rc.BEGINNING, "hi": rc.END_OF_TIME, "stripe_cov": None, "adyen_cov": None,
              "billing_cov": None, "payout_cov": None, "gl_cov": None}
    with world.engine.begin() as conn:
        rc.scratch_tables(conn)
        for stage, spec in STAGES.items():
            for step in spec.steps:
                conn.execute(text(step), {**params, "stage": stage})
            for rule in spec.rules:
                columns = tuple(conn.execute(text(f"SELECT * FROM ({rule}) AS j LIMIT 0"), {**params, "stage": stage}).keys())
                assert columns == JUDGED, stage
        conn.rollback()


def _queued_run(world, table: str, at: datetime):
    """Ingest's part done by hand: `table` changed at `at`; then the job's incremental run. Every Adyen line
    here is in batch 9, which has not paid out: S2 judges that open payout again on every run (1 item)."""
    with world.engine.begin() as conn:
        queue_recompute(conn, table, [rc.JOB], at, at)
    stats = rc.run_job(world.engine, POLICY)
    assert stats.outcome == "succeeded"
    return stats


def test_an_open_item_is_judged_again_only_when_its_other_side_changes_or_its_window_passes(make_world):
    """Issue 17: at a million breaks whose gateway side never came, judging every open item on every run
    cost minutes. An item outside the changed span is judged again when its other side changes (found by
    reference, however far apart the two sides' times are) or when that side's coverage passes its window."""
    w = make_world()
    b = Builder(w.libpq)
    b.attempt("a_old", "stripe", "ch_old", 100, "succeeded", t("2026-10-01 10:00"))  # never charged: a break
    b.attempt("a_late", "adyen", "PSP_L", 200, "succeeded", t("2026-10-01 11:00"))   # settles days later
    b.attempt("a_dup", "adyen", "PSP_D", 300, "succeeded", t("2026-10-01 12:00"))
    b.adyen(9, 2, "Settled", t("2026-10-01 20:00"), psp="PSP_D", gross_credit=300, net_credit=300)
    b.attempt("a_wait", "stripe", "ch_w", 400, "succeeded", t("2026-10-19 12:00"))   # inside its window
    b.charge("ch_ghost", 500, "succeeded", t("2026-10-02 09:00"))                     # no billing record yet
    b.charge("ch_last", 1, "failed", t("2026-10-20 00:00"))                           # Stripe coverage
    b.adyen(9, 1, "Fee", t("2026-10-20 00:00"), net_debit=1)                          # Adyen coverage
    indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'recon_items' ORDER BY 1"
    before = w.sql(indexes)
    _run(w)  # the first run fills recon_items with its indexes set aside, and builds them again after
    assert w.sql(indexes) == before and len(before) == 6
    assert {k[1]: v[:3] for k, v in _items(w).items() if k[0] == "S1"} == {
        "attempt:a_old": ("break", "missing", "gateway"), "attempt:a_late": ("break", "missing", "gateway"),
        "attempt:a_dup": ("matched", None, None), "attempt:a_wait": ("expected", None, None),
        "stripe:ch_ghost": ("break", "missing", "billing")}

    # the Settled line of a_late comes four days after it: a_late alone is judged, and matches
    b.adyen(9, 3, "Settled", t("2026-10-05 08:00"), psp="PSP_L", gross_credit=200, net_credit=200)
    assert _queued_run(w, "adyen_settlement_lines", t("2026-10-05 08:00")).rows_read == 1 + 1
    assert _items(w)[("S1", "attempt:a_late")][0] == "matched"
    # PSP_D settles a second time, in a later file: the matched a_dup is judged again, a duplicate
    b.adyen(9, 4, "Settled", t("2026-10-06 08:00"), psp="PSP_D", gross_credit=300, net_credit=300)
    assert _queued_run(w, "adyen_settlement_lines", t("2026-10-06 08:00")).rows_read == 1 + 1
    assert _items(w)[("S1", "attempt:a_dup")][:2] == ("break", "duplicate")
    # the billing record of ch_ghost comes, dated days after the charge: the gateway-only item is gone, its
    # break cleared, and the attempt matches
    b.attempt("a_g", "stripe", "ch_ghost", 500, "succeeded", t("2026-10-04 09:00"))
    assert _queued_run(w, "payment_attempts", t("2026-10-04 09:00")).rows_read == 1 + 1
    items = _items(w)
    assert ("S1", "stripe:ch_ghost") not in items and items[("S1", "attempt:a_g")][0] == "matched"
    assert w.sql("SELECT state FROM recon_breaks WHERE item_key = 'stripe:ch_ghost'") == [("cleared",)]
    # Stripe's coverage moves past a_wait's window (19 Oct + 2 days): a_wait alone is judged, now a break
    b.charge("ch_next", 1, "failed", t("2026-10-22 00:00"))
    assert _queued_run(w, "stripe_charges", t("2026-10-22 00:00")).rows_read == 1 + 1
    assert _items(w)[("S1", "attempt:a_wait")][:3] == ("break", "missing", "gateway")
    # a change a fortnight back and one now are two small spans, not the days between: a_old and a_late
    # (10:00 and 11:00 on 1 Oct, within an hour of the first) and a_wait (19 Oct); a_dup at 12:00 is not reached
    with w.engine.begin() as conn:
        queue_recompute(conn, "payment_attempts", [rc.JOB], t("2026-10-01 10:30"), t("2026-10-01 10:30"))
    assert _queued_run(w, "payment_attempts", t("2026-10-19 12:00")).rows_read == 3 + 1
    # through it all a_old, whose gateway side never came, was judged only when its own span changed
    assert _items(w)[("S1", "attempt:a_old")][:2] == ("break", "missing")
    assert w.sql("SELECT count(*) FROM recon_break_events e JOIN recon_breaks USING (break_id)"
                 " WHERE item_key = 'attempt:a_old'") == [(1,)]
