"""The hand-built payments world (tests/test_payment_metrics.py, tests/test_show.py), its answers
worked out by hand in those tests.

Two sites: W1 in Los Angeles (USD), E1 in Toronto (CAD). Invoices issued on 10 Nov 2026:
  i1 USD 1000  a1 #1 stripe visa succeeded                       -> paid first try
  i2 USD 2000  a2 #1 stripe visa insufficient_funds; a3 #2 ok     -> recovered (soft), 2000
  i3 USD 3000  a4 #1 adyen mastercard Expired Card                -> hard, unpaid
  i4 USD  500  void, no attempt
  i5 CAD 4000  a5 #1 adyen mc Acquirer Error; a6 #2 Refused       -> gateway error, retried, unpaid
  i6 CAD 1500  a7 #1 adyen mc weird_new_code; a8 #2 ok            -> recovered (unclassified), 1500
"""
from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from collectors.jobs import JOBS
from tests.worlds.sites import add_sites


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


SITES = [("W1", "West One", "west", "America/Los_Angeles", "USD", "US-CA"),
         ("E1", "East One", "east", "America/Toronto", "CAD", "CA-ON")]
SESSIONS = [(f"s{i}", site, t("2026-11-10 16:00"), t("2026-11-10 18:00"), f"cus_{i}00{i}4321", t("2026-11-10 18:00"))
            for i, site in ((1, "W1"), (2, "W1"), (3, "W1"), (4, "W1"), (5, "E1"), (6, "E1"))]
INVOICES = [
    ("i1", "s1", "USD", 1000, t("2026-11-10 18:05"), "paid"),
    ("i2", "s2", "USD", 2000, t("2026-11-10 18:10"), "paid"),
    ("i3", "s3", "USD", 3000, t("2026-11-10 18:20"), "uncollectible"),
    ("i4", "s4", "USD", 500, t("2026-11-10 18:30"), "void"),
    ("i5", "s5", "CAD", 4000, t("2026-11-10 19:00"), "open"),
    ("i6", "s6", "CAD", 1500, t("2026-11-10 19:30"), "paid"),
]
# attempt, invoice, number, gateway, reference, status, code, method, brand, attempted_at
ATTEMPTS = [
    ("a1", "i1", 1, "stripe", "ch_a1", "succeeded", None, "card", "visa", t("2026-11-10 18:06")),
    ("a2", "i2", 1, "stripe", "ch_a2", "failed", "insufficient_funds", "card", "visa", t("2026-11-10 18:11")),
    ("a3", "i2", 2, "stripe", "ch_a3", "succeeded", None, "card", "visa", t("2026-11-11 02:00")),
    ("a4", "i3", 1, "adyen", "8800000000000004", "failed", "Expired Card", "card", "mastercard", t("2026-11-10 18:21")),
    ("a5", "i5", 1, "adyen", "8800000000000005", "failed", "Acquirer Error", "card", "mastercard", t("2026-11-10 19:01")),
    ("a6", "i5", 2, "adyen", "8800000000000006", "failed", "Refused", "card", "mastercard", t("2026-11-12 10:00")),
    ("a7", "i6", 1, "adyen", "8800000000000007", "failed", "weird_new_code", "card", "mastercard", t("2026-11-10 19:31")),
    ("a8", "i6", 2, "adyen", "8800000000000008", "succeeded", None, "card", "mastercard", t("2026-11-10 23:00")),
]
# refund, invoice, attempt, gateway, amount, currency, reason, status, created_at
REFUNDS = [
    ("r1", "i1", "a1", "stripe", 400, "USD", "customer_complaint", "succeeded", t("2026-11-11 18:06")),  # 86 400 s
    ("r2", "i2", "a3", "stripe", 2000, "USD", "duplicate", "failed", t("2026-11-11 08:00")),             # 21 600 s
    ("r3", "i6", "a8", "adyen", 1500, "CAD", "goodwill", "succeeded", t("2026-11-11 01:00")),            # 7 200 s
]


# when the copies were last updated at the source: after everything in this world happened (a
# fixed instant, so nothing here depends on the day the tests run)
COPIED_AT = "CAST('2026-12-01 00:00+00' AS timestamptz)"


def _insert(world) -> None:
    with psycopg.connect(world.libpq) as conn:
        add_sites(conn, *SITES)
        conn.cursor().executemany("INSERT INTO parking_sessions VALUES (%s, %s, %s, %s, %s, %s)", SESSIONS)
        conn.cursor().executemany(
            "INSERT INTO invoices (invoice_id, session_id, currency, subtotal_minor, tax_minor, total_minor, issued_at,"
            f" status, updated_at) VALUES (%s, %s, %s, %s, 0, %s, %s, %s, {COPIED_AT})",
            [(i, s, c, tot, tot, at, st) for i, s, c, tot, at, st in INVOICES])
        totals = {i: (c, tot) for i, _, c, tot, _, _ in INVOICES}
        conn.cursor().executemany(
            f"INSERT INTO payment_attempts VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {COPIED_AT})",
            [(a, i, n, g, ref, f"idem-{a}", totals[i][1], totals[i][0], st, code, m, b, at)
             for a, i, n, g, ref, st, code, m, b, at in ATTEMPTS])
        conn.cursor().executemany(
            f"INSERT INTO refunds VALUES (%s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, {COPIED_AT})", REFUNDS)
        # Disputes: Stripe dp1 (a1, lost) and dp2 (a3, open); Adyen chargeback on a8 reported twice
        # (two files) then reversed (won); an Adyen chargeback no attempt matches (lost, unknown site).
        conn.execute(
            "INSERT INTO stripe_charges (id, created, currency, raw, amount, amount_refunded, status, card_brand,"
            " attempt_id, invoice_id) VALUES"
            " ('ch_a1', '2026-11-10 18:06+00', 'USD', '{\"id\": \"ch_a1\", \"object\": \"charge\"}', 1000, 400,"
            "  'succeeded', 'visa', 'a1', 'i1'),"
            " ('ch_a3', '2026-11-11 02:00+00', 'USD', '{\"id\": \"ch_a3\"}', 2000, 0, 'succeeded', 'visa', 'a3', 'i2')")
        conn.execute(
            "INSERT INTO stripe_disputes (id, created, currency, raw, charge, amount, status, reason) VALUES"
            " ('dp_1', '2026-11-20 18:00+00', 'USD', '{}', 'ch_a1', 1000, 'lost', 'fraudulent'),"
            " ('dp_2', '2026-11-21 18:00+00', 'USD', '{}', 'ch_a3', 2000, 'needs_response', 'product_not_received')")
        conn.cursor().executemany(
            "INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, psp_reference,"
            " merchant_reference, payment_method, created_at, type, gross_currency, gross_debit_minor,"
            " gross_credit_minor, net_currency, batch_number) VALUES (%s, %s, 'M', %s, %s, %s, %s, %s, 'CAD', %s, %s, 'CAD', %s)",
            [("f1", 1, "8800000000000008", "a8", "mc", t("2026-11-22 15:00"), "Chargeback", 1500, None, 1),
             ("f2", 7, "8800000000000008", "a8", "mc", t("2026-11-23 15:00"), "Chargeback", 1500, None, 2),
             ("f3", 2, "8800000000000008", "a8", "mc", t("2026-11-25 15:00"), "ChargebackReversed", None, 1500, 3),
             ("f1", 2, "8899999999999999", "pa_x", "mc", t("2026-11-22 16:00"), "Chargeback", 700, None, 1),
             ("f1", 3, "8800000000000001", "a1", "visa", t("2026-11-10 20:00"), "Settled", None, 1000, 1)])


def build(world):
    """The hand-built world in `world`, rolled up over November (every compute job)."""
    _insert(world)
    for job in JOBS.values():
        if job.kind == "compute":
            job.run(world.engine, world.cfg, t("2026-11-01 00:00"), t("2026-12-01 00:00"))
    return world
