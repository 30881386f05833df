"""The hand-built billing world: one site S1 (USD, UTC, tax jurisdiction J1 at 10 %) whose sessions
fall in every billing class once, with the answers worked out by hand (WANT), for the classifier's
tests (tests/test_billing_classification.py) and `revwatch show billing | misbilled`
(tests/test_show_billing.py, which adds a second site in EUR with add_billed_site).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.worlds.sites import Site, add_sites

T = datetime(2026, 3, 1, 10, tzinfo=UTC)  # every session enters here
H = timedelta(hours=1)
WM = datetime(2026, 3, 2, tzinfo=UTC)  # billing watermark: cutoff = 22:00 with the 2 h delay

# Plan: 10 min grace, 300 per started hour, no daily max; tax 10 %.
# A 2 h session: subtotal 600, tax 60, total 660. A 5 min one: within grace, 0.
SESSIONS = {  # session_id: (exit, [(currency, subtotal, tax, total, status)])
    "C": (T + 2 * H, [("USD", 600, 60, 660, "paid")]),                     # correct
    "M": (T + 2 * H, []),                                                  # missing_invoice: -660
    "D": (T + 2 * H, [("USD", 600, 60, 660, "paid"), ("USD", 600, 60, 660, "open")]),  # duplicate: +660
    "O": (T + 2 * H, [("USD", 900, 90, 990, "paid")]),                     # over_billed: +330
    "U": (T + 2 * H, [("USD", 300, 30, 330, "paid")]),                     # under_billed: -330
    "X": (T + 2 * H, [("USD", 600, 48, 648, "paid")]),                     # tax_error: -12
    "E": (T + 2 * H, [("EUR", 600, 60, 660, "paid")]),                     # currency_mismatch
    "N": (T + timedelta(minutes=5), [("USD", 300, 30, 330, "paid")]),      # invoice_not_due: +330
    "V": (T + 2 * H, [("USD", 600, 60, 660, "void")]),                     # voided_without_replacement: -660
    "R": (T + 2 * H, [("USD", 600, 60, 660, "void"), ("USD", 600, 60, 660, "paid")]),  # correct (replaced)
    "G": (T + timedelta(minutes=5), []),                                   # within grace, no invoice: no row
    "L": (T + 13 * H, []),                                                 # exits 23:00, after the cutoff: not judged
    "W": (None, []),                                                       # still parked: not judged
}
WANT = {  # session_id: (class, billed total, difference)
    "C": ("correct", 660, 0), "M": ("missing_invoice", 0, -660), "D": ("duplicate_invoice", 1320, 660),
    "O": ("over_billed", 990, 330), "U": ("under_billed", 330, -330), "X": ("tax_error", 648, -12),
    "E": ("currency_mismatch", 660, None), "N": ("invoice_not_due", 330, 330),
    "V": ("voided_without_replacement", 0, -660), "R": ("correct", 660, 0),
}


def set_watermark(world, wm):
    world.sql("INSERT INTO sync_state (source, table_name, watermark) VALUES ('billing', 'parking_sessions', %(w)s),"
              " ('billing', 'invoices', %(w)s) ON CONFLICT (source, table_name) DO UPDATE SET watermark = excluded.watermark",
              {"w": wm})


def add_tax(world):
    """Tax jurisdiction J1 (every site here): 10 % since 2020."""
    world.sql("INSERT INTO tax_rates (jurisdiction, effective_from, effective_to, rate) VALUES ('J1', '2020-01-01', NULL, 0.10)")


def add_billed_site(world, site, currency, sessions):
    """A site in `currency` (UTC, J1) on the plan above, and its `sessions` ({id: (exit, invoices)},
    as SESSIONS), all entering at T."""
    add_sites(world, Site(site, site.lower(), currency=currency))
    world.sql("INSERT INTO rate_plans VALUES (%s, %s, '2025-01-01Z', NULL, 10, 60, 300, NULL)", (f"P-{site}", site))
    for sid, (exit_, invoices) in sessions.items():
        world.sql("INSERT INTO parking_sessions (session_id, site_id, entered_at, exited_at, updated_at)"
                  " VALUES (%s, %s, %s, %s, %s)", (sid, site, T, exit_, exit_ or T))
        for k, (cur, sub, tax, total, status) in enumerate(invoices):
            world.sql("INSERT INTO invoices VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                      (f"{sid}-{k}", sid, cur, sub, tax, total, exit_, status, exit_))


def build(world):
    """The world of the module docstring in `world` (not yet classified), billing's watermark at WM."""
    add_tax(world)
    add_billed_site(world, "S1", "USD", SESSIONS)
    set_watermark(world, WM)
    return world


# the sessions of the counted site-hours the job judged: those exited before the cutoff it judged them with
# (the cutoff's own hour is judged in part; counting all of it failed whenever a session exited in it after the
# cut, which depended on the time of day the test ran)
_COUNTED = """SELECT p.session_id, p.site_id, p.entered_at, p.exited_at FROM parking_sessions p
    WHERE p.exited_at IS NOT NULL AND p.exited_at < :cut
      AND (p.site_id, date_trunc('hour', p.exited_at, 'UTC')) IN (SELECT site_id, hour FROM billing_correct)"""
_KEY = ("site_id", "hour", "local_date", "rate_plan_id", "currency")


def judged_rows(conn, cut=None) -> dict[str, dict]:
    """Every session the classify job judged, by id, as billing_judgment.COLUMNS: its billing_findings row,
    or, for a session counted correct, its judgment made again by the job's own statement. Asserts that
    the counts of billing_correct are exactly the sessions of their site-hours judged correct now. `cut`:
    the cutoff they were judged with, when not the job's with the default settle delay."""
    from collections import Counter

    from sqlalchemy import text

    from collectors.compute import billing_classification
    from revwatch.rules import billing_judgment

    cut = cut or billing_classification.cutoff(conn, billing_classification.DEFAULT_SETTLE)
    rows = {r.session_id: dict(r._mapping) for r in conn.execute(text("SELECT * FROM billing_findings"))}
    correct = [dict(r._mapping) for r in conn.execute(text(billing_judgment.judgment_sql(_COUNTED)), {"cut": cut})
               if r._mapping["class"] == "correct"]
    counted = {tuple(r[:5]): r[5] for r in conn.execute(text(f"SELECT {', '.join(_KEY)}, sessions FROM billing_correct"))}
    got = Counter(tuple(r[k] for k in _KEY) for r in correct)
    assert got == counted, ("billing_correct counts other sessions: (judged now, counted)",
                            {k: (got.get(k), counted.get(k)) for k in got.keys() | counted.keys() if got.get(k) != counted.get(k)})
    assert not rows.keys() & {r["session_id"] for r in correct}, "a session both found wrong and counted correct"
    return rows | {r["session_id"]: r for r in correct}


# Every judged session in plain SQL, apart from the figure functions: a finding is one session, a row of
# billing_correct `n` correct ones (billable, no difference).
EVERY_JUDGED = """(SELECT local_date, currency, class, billable, difference_minor, 1 AS n FROM billing_findings
    UNION ALL SELECT local_date, currency, 'correct', true, 0, sessions FROM billing_correct) j"""
