"""Billing rows at and past the edge of the input contract (issue 15, points 3, 4 and 10), on top of
tests/worlds/billing.py's world (site S1, USD, UTC, every class once):

- site SQ bills in `QQQ`, a code outside ISO 4217: Q1 billed right (600 + 60), Q2 under-billed
  (300 + 30 for 660), each with a payment attempt in QQQ (Q1's succeeded, Q2's failed);
- site SX bills in USD, but its session XQ got an invoice in `XXQ` (600 + 60), paid by an
  attempt in XXQ that failed once and then succeeded;
- site MZ's time zone is "Mars/Olympus", not a zone: session Z1 billed right (its attempt succeeded),
  Z2 never billed;
- site TK in Asia/Tokyo, beside it: session K1 enters 19:00 UTC (04:00 the next day in Tokyo), exits
  21:00 UTC, billed right, so a real zone's local day is seen to be still decided.
"""
from __future__ import annotations

from datetime import timedelta

import psycopg

from tests.worlds.billing import H, T, add_billed_site, build
from tests.worlds.sites import Site, add_sites

UNKNOWN_SITE_CURRENCY, UNKNOWN_INVOICE_CURRENCY, BAD_ZONE = "QQQ", "XXQ", "Mars/Olympus"
EXIT = T + 2 * H  # every session here stays 2 h: expected 600 + 60 = 660
TOKYO_ENTRY = T + 9 * H  # 19:00 UTC, 04:00 on the next day in Tokyo
ODD_SESSIONS = {
    "SQ": (UNKNOWN_SITE_CURRENCY, {"Q1": (EXIT, [("QQQ", 600, 60, 660, "paid")]),
                                   "Q2": (EXIT, [("QQQ", 300, 30, 330, "paid")])}),
    "SX": ("USD", {"XQ": (EXIT, [("XXQ", 600, 60, 660, "paid")])}),
}
# attempt, invoice, number, status, failure code, amount, currency, attempted_at
ATTEMPTS = [
    ("aq1", "Q1-0", 1, "succeeded", None, 660, "QQQ", EXIT + timedelta(minutes=1)),
    ("aq2", "Q2-0", 1, "failed", "insufficient_funds", 330, "QQQ", EXIT + timedelta(minutes=1)),
    ("ax1", "XQ-0", 1, "failed", "insufficient_funds", 660, "XXQ", EXIT + timedelta(minutes=1)),
    ("ax2", "XQ-0", 2, "succeeded", None, 660, "XXQ", EXIT + timedelta(minutes=30)),
]


def add_unknown_currencies(world):
    """Sites SQ and SX with their sessions, invoices and attempts (module docstring)."""
    for site, (currency, sessions) in ODD_SESSIONS.items():
        add_billed_site(world, site, currency, sessions)
    with psycopg.connect(world.libpq) as conn:
        conn.cursor().executemany(
            "INSERT INTO payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference,"
            " idempotency_key, amount_minor, currency, status, failure_code, payment_method_type, card_brand,"
            " attempted_at, updated_at) VALUES (%s, %s, %s, 'stripe', %s, %s, %s, %s, %s, %s, 'card', 'visa', %s, %s)",
            [(a, i, n, f"ch_{a}", f"idem-{a}", amount, cur, status, code, at, at)
             for a, i, n, status, code, amount, cur, at in ATTEMPTS])


def add_bad_zone_site(world, site: str = "MZ"):
    """Site `site` (USD) in the zone BAD_ZONE: Z1 billed right, Z2 never billed."""
    add_billed_site(world, site, "USD", {"Z1": (EXIT, [("USD", 600, 60, 660, "paid")]), "Z2": (EXIT, [])})
    world.sql("UPDATE sites SET timezone = %s WHERE site_id = %s", (BAD_ZONE, site))


def add_tokyo_site(world, site: str = "TK"):
    """Site `site` in Asia/Tokyo (USD, J1, the plan of tests/worlds/billing.py): K1 billed right."""
    add_sites(world, Site(site, site.lower(), timezone="Asia/Tokyo"))
    world.sql("INSERT INTO rate_plans VALUES (%s, %s, '2025-01-01Z', NULL, 10, 60, 300, NULL)", (f"P-{site}", site))
    world.sql("INSERT INTO parking_sessions (session_id, site_id, entered_at, exited_at, updated_at)"
              " VALUES ('K1', %s, %s, %s, %s)", (site, TOKYO_ENTRY, TOKYO_ENTRY + 2 * H, TOKYO_ENTRY + 2 * H))
    world.sql("INSERT INTO invoices VALUES ('K1-0', 'K1', 'USD', 600, 60, 660, %s, 'paid', %s)",
              (TOKYO_ENTRY + 2 * H, TOKYO_ENTRY + 2 * H))


def add_zone_sites(world):
    """MZ (not a zone) and TK (Tokyo), with an attempt paying Z1's invoice."""
    add_bad_zone_site(world)
    add_tokyo_site(world)
    with psycopg.connect(world.libpq) as conn:
        conn.execute(
            "INSERT INTO payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference,"
            " idempotency_key, amount_minor, currency, status, failure_code, payment_method_type, card_brand,"
            " attempted_at, updated_at) VALUES ('az1', 'Z1-0', 1, 'stripe', 'ch_az1', 'idem-az1', 660, 'USD',"
            " 'succeeded', NULL, 'card', 'visa', %s, %s)", (EXIT, EXIT))


def build_odd(world):
    """tests/worlds/billing.py's world plus every odd site of the module docstring (not yet computed)."""
    build(world)
    add_unknown_currencies(world)
    add_zone_sites(world)
    return world
