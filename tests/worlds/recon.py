"""The hand-built reconciliation world: recon_items / recon_breaks / fx_rates and the source copies
behind them, every expected figure of the tests that use it worked out by hand from this table
(tests/test_recon_metrics.py, test_reconciliation_page.py, test_show_recon.py; test_audit.py and
test_break_workflow.py build worlds of their own with add_item and add_break).

October 2026, reporting currency USD, judged as of 5 Nov 2026 12:00 UTC:

  stage item key            type             cur  amount status    break (at stake)              workflow
  S1    attempt:a1          payment          USD   1000 matched                                    cleared (broke once)
  S1    attempt:a2          payment          USD   2000 matched
  S1    attempt:a3          payment          USD    500 break     missing gateway (500), 1 Oct    open, 35 days
  S1    attempt:a6          payment          USD    300 expected  (due 2 Nov)
  S1    stripe:ch_x         gateway_payment  USD   1200 break     missing billing (1200), 15 Oct  resolved
  S1    attempt:a4          payment          EUR   3000 matched
  S1    attempt:a5          payment          EUR    700 break     amount_mismatch (50), 30 Oct    open, 6 days, dana
  S2    payout:stripe:po_1  payout           USD   2700 matched   (reconstruction 3000-300)
  S2    payout:adyen:7      payout           EUR   2900 break     amount_mismatch (50), 22 Oct    written off
  S3    payout:stripe:po_1  payout           USD   2700 matched   (bank:sha1:3)
  S3    bank:sha1:9         bank_credit      USD    999 break     missing payout (999), 25 Oct    open, 11 days
  S4    (none)
November: S1 attempt:a9 JPY 700 break missing (700), 3 Nov, open, 2 days.

FX (EUR→USD): every day 1-30 Oct except Wed 14 Oct, 1.09 on 30 Oct, none on Sat 31 Oct;
JPY→USD 0.0065 on 2 Nov. Unreconciled October: USD 500 + 999 = 1499; EUR 50 at 1.09 of 30 Oct
(not the exact day) = 54.5 cents -> 55 half up; total USD 15.54.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from revwatch.schedule import INGESTS

OCT = date(2026, 10, 1)
AS_OF = datetime(2026, 11, 5, 12, tzinfo=UTC)


def t(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# ---------------------------------------------------------------- builders
def add_item(conn, stage: str, key: str, item_type: str, status: str, currency: str, amount: int, occurred: datetime,
             **kw) -> None:
    row = dict(stage=stage, item_key=key, item_type=item_type, status=status, currency=currency, amount_minor=amount,
               occurred_at=occurred, accounting_month=date(occurred.year, occurred.month, 1),
               fingerprint=kw.pop("fingerprint", f"fp-{stage}-{key}"), break_type=None, missing_side=None,
               gateway=None, site_id=None, counter_amount_minor=None, break_amount_minor=None, left_ref=None,
               right_ref=None, match_rule=None, due_at=None, detail=None)
    row.update(kw)
    row["detail"] = json.dumps(row["detail"]) if row["detail"] is not None else None
    conn.execute(text(f"""INSERT INTO recon_items ({', '.join(row)})
                          VALUES ({', '.join('CAST(:detail AS jsonb)' if k == 'detail' else ':' + k for k in row)})"""),
                 row)


def add_break(conn, stage: str, key: str, state: str = "open", opened: datetime | None = None, **kw) -> int:
    """A recon_breaks row plus its 'opened' event by the reconciliation job; returns break_id."""
    row = dict(stage=stage, item_key=key, state=state, opened_at=opened or t("2026-11-01"), assignee=None,
               resolution_reason=None, resolved_by=None, resolved_at=None, resolved_fingerprint=None)
    row.update(kw)
    bid = conn.execute(text(f"INSERT INTO recon_breaks ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"
                            " RETURNING break_id"), row).scalar()
    conn.execute(text("INSERT INTO recon_break_events (break_id, at, actor, action)"
                      " VALUES (:b, :at, 'reconcile', 'opened')"),
                 {"b": bid, "at": row["opened_at"]})
    return bid


def add_rate(conn, day: date, currency: str, rate: str) -> None:
    conn.execute(text("INSERT INTO fx_rates (rate_date, currency, rate_to_reporting, file_sha256)"
                      " VALUES (:d, :c, :r, 'fx')"),
                 {"d": day, "c": currency, "r": Decimal(rate)})


def build_october(conn) -> dict[str, int]:
    """The world of the module docstring (without its source copies); returns break ids by name."""
    add_item(conn, "S1", "attempt:a1", "payment", "matched", "USD", 1000, t("2026-10-03"), gateway="stripe",
             site_id="W1", left_ref="a1", right_ref="ch_1", match_rule="reference")
    add_item(conn, "S1", "attempt:a2", "payment", "matched", "USD", 2000, t("2026-10-10"), gateway="stripe",
             site_id="W1", left_ref="a2", right_ref="ch_2", match_rule="reference")
    add_item(conn, "S1", "attempt:a3", "payment", "break", "USD", 500, t("2026-10-01"), gateway="stripe", site_id="W1",
             break_type="missing", missing_side="gateway", break_amount_minor=500, left_ref="a3")
    add_item(conn, "S1", "attempt:a6", "payment", "expected", "USD", 300, t("2026-10-31"), gateway="stripe",
             site_id="W2", left_ref="a6", due_at=t("2026-11-02"))
    add_item(conn, "S1", "stripe:ch_x", "gateway_payment", "break", "USD", 1200, t("2026-10-15"), gateway="stripe",
             break_type="missing", missing_side="billing", break_amount_minor=1200, right_ref="ch_x")
    add_item(conn, "S1", "attempt:a4", "payment", "matched", "EUR", 3000, t("2026-10-20"), gateway="adyen",
             site_id="E1", left_ref="a4", right_ref="PSP4", match_rule="reference")
    add_item(conn, "S1", "attempt:a5", "payment", "break", "EUR", 700, t("2026-10-30"), gateway="adyen", site_id="E1",
             break_type="amount_mismatch", counter_amount_minor=650, break_amount_minor=50, left_ref="a5",
             right_ref="PSP5", match_rule="reference")
    add_item(conn, "S2", "payout:stripe:po_1", "payout", "matched", "USD", 2700, t("2026-10-12"), gateway="stripe",
             counter_amount_minor=2700, left_ref="txn_c1,txn_c2,txn_f", right_ref="po_1", match_rule="many_to_one",
             detail={"gross_minor": 3000, "fees_minor": 300, "refunds_minor": 0, "disputes_minor": 0,
                     "adjustments_minor": 0, "net_minor": 2700, "entries": 3})
    add_item(conn, "S2", "payout:adyen:7", "payout", "break", "EUR", 2900, t("2026-10-22"), gateway="adyen",
             break_type="amount_mismatch", counter_amount_minor=2950, break_amount_minor=50,
             detail={"gross_minor": 3000, "fees_minor": 50, "refunds_minor": 0, "disputes_minor": 0,
                     "adjustments_minor": 0, "net_minor": 2950, "entries": 2})
    add_item(conn, "S3", "payout:stripe:po_1", "payout", "matched", "USD", 2700, t("2026-10-12"), gateway="stripe",
             left_ref="po_1", right_ref="bank:sha1:3", match_rule="reference",
             detail={"arrival_date": "2026-10-14", "bank_dates": ["2026-10-14"], "bank_amount_minor": 2700,
                     "bank_texts": ["STRIPE PAYOUT po_1"]})
    add_item(conn, "S3", "bank:sha1:9", "bank_credit", "break", "USD", 999, t("2026-10-25"), break_type="missing",
             missing_side="payout", break_amount_minor=999, right_ref="bank:sha1:9")
    add_item(conn, "S1", "attempt:a9", "payment", "break", "JPY", 700, t("2026-11-03"), gateway="stripe", site_id="J1",
             break_type="missing", missing_side="gateway", break_amount_minor=700, left_ref="a9")
    ids = {
        "a1": add_break(conn, "S1", "attempt:a1", "cleared", t("2026-10-04")),
        "a3": add_break(conn, "S1", "attempt:a3", "open", t("2026-10-04")),
        "ch_x": add_break(conn, "S1", "stripe:ch_x", "resolved", t("2026-10-17"), resolved_by="kim",
                          resolution_reason="data_fix: attempt re-keyed", resolved_at=t("2026-10-20"),
                          resolved_fingerprint="fp-S1-stripe:ch_x"),
        "a5": add_break(conn, "S1", "attempt:a5", "open", t("2026-11-01"), assignee="dana"),
        "ady7": add_break(conn, "S2", "payout:adyen:7", "written_off", t("2026-10-24"), resolved_by="kim",
                          resolution_reason="immaterial: 0.50", resolved_at=t("2026-10-25"),
                          resolved_fingerprint="fp-S2-payout:adyen:7"),
        "bank9": add_break(conn, "S3", "bank:sha1:9", "open", t("2026-10-28")),
        "a9": add_break(conn, "S1", "attempt:a9", "open", t("2026-11-04")),
    }
    for d in range(1, 31):
        if d != 14:
            add_rate(conn, date(2026, 10, d), "EUR", "1.09" if d == 30 else "1.08")
    add_rate(conn, date(2026, 11, 2), "JPY", "0.0065")
    add_rate(conn, date(2026, 11, 2), "EUR", "1.07")  # after October: never used for October
    return ids


def build_sources(conn) -> None:
    """The source copies behind a5 (Adyen), po_1 (Stripe payout, bank deposit, journal) and bank:sha1:9."""
    conn.execute(text("""
        INSERT INTO invoices (invoice_id, session_id, currency, subtotal_minor, tax_minor, total_minor, issued_at, status,
                              updated_at)
        VALUES ('i5', 's5', 'EUR', 600, 100, 700, '2026-10-30 11:00+00', 'paid', '2026-10-30 11:00+00')"""))
    conn.execute(text("""
        INSERT INTO payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference, idempotency_key,
            amount_minor, currency, status, payment_method_type, attempted_at, updated_at)
        VALUES ('a5', 'i5', 1, 'adyen', 'PSP5', 'k5', 700, 'EUR', 'succeeded', 'card', '2026-10-30 12:00+00',
                '2026-10-30 12:00+00')"""))
    conn.execute(text("""
        INSERT INTO adyen_settlement_lines (file_sha256, line_number, merchant_account, psp_reference, merchant_reference,
            created_at, type, gross_currency, gross_credit_minor, net_currency, net_credit_minor, batch_number)
        VALUES ('ady', 1, 'M', 'PSP5', 'a5', '2026-10-30 12:05+00', 'Settled', 'EUR', 650, 'EUR', 640, 8),
               ('ady', 2, 'M', 'PSP4', 'a4', '2026-10-20 12:05+00', 'Settled', 'EUR', 3000, 'EUR', 2950, 7),
               ('ady', 3, 'M', NULL, NULL, '2026-10-22 06:00+00', 'MerchantPayout', NULL, NULL, 'EUR', NULL, 7)"""))
    conn.execute(text("""
        INSERT INTO stripe_payouts (id, created, currency, raw, amount, status, arrival_date)
        VALUES ('po_1', '2026-10-12 00:00+00', 'USD', '{}', 2700, 'paid', '2026-10-14 00:00+00')"""))
    conn.execute(text("""
        INSERT INTO stripe_balance_transactions (id, created, currency, raw, amount, fee, net, type, reporting_category,
                                                 source, payout)
        VALUES ('txn_c1', '2026-10-09 10:00+00', 'USD', '{}', 1000, 100, 900, 'charge', 'charge', 'ch_1', 'po_1'),
               ('txn_c2', '2026-10-10 10:00+00', 'USD', '{}', 2000, 200, 1800, 'charge', 'charge', 'ch_2', 'po_1'),
               ('txn_zz', '2026-10-10 10:00+00', 'USD', '{}', 5000, 0, 5000, 'charge', 'charge', 'ch_9', 'po_2')"""))
    conn.execute(text("""
        INSERT INTO bank_lines (file_sha256, line_number, format, account, currency, bank_date, type_code, direction,
                                amount_minor, text, payout_refs, payout_candidate)
        VALUES ('sha1', 3, 'bai2', 'OPER', 'USD', '2026-10-14', '165', 'credit', 2700, 'STRIPE PAYOUT po_1', '{po_1}',
                true),
               ('sha1', 9, 'bai2', 'OPER', 'USD', '2026-10-25', '165', 'credit', 999, 'STRIPE TRANSFER', '{}', true),
               ('sha1', 4, 'bai2', 'OPER', 'USD', '2026-10-14', '475', 'debit', 25, 'BANK FEE', '{}', false)"""))
    conn.execute(text("""
        INSERT INTO gl_lines (journal_id, line, posted_date, account, debit_minor, credit_minor, currency, reference,
                              file_sha256, file_line)
        VALUES ('J1', 1, '2026-10-14', '1010', 2700, 0, 'USD', 'po_1', 'gl', 1),
               ('J1', 2, '2026-10-14', '6150', 300, 0, 'USD', 'po_1', 'gl', 2),
               ('J1', 3, '2026-10-14', '1150', 0, 3000, 'USD', 'po_1', 'gl', 3),
               ('J2', 1, '2026-10-15', '1010', 5, 0, 'USD', 'other', 'gl', 4)"""))


def october_world(make_world):
    """A new world holding build_october's items (ids in `w.ids`) and build_sources' records."""
    w = make_world()
    with w.engine.begin() as conn:
        w.ids = build_october(conn)
        build_sources(conn)
    return w


def ran(world, reconcile: str = "succeeded") -> None:
    """The run log of a reconciliation over its inputs: every ingest brought data, then reconcile ran
    (or is still running)."""
    t0 = AS_OF - timedelta(hours=3)
    for job in INGESTS:
        world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written) VALUES (%s, %s, %s, "
                  "'succeeded', 1)", (job, t0, t0 + timedelta(minutes=1)))
    start = t0 + timedelta(minutes=30)
    world.sql("INSERT INTO job_runs (job, started_at, finished_at, outcome, rows_written) VALUES ('reconcile', %s, %s, "
              "%s, 5)", (start, None if reconcile == "running" else start + timedelta(minutes=2), reconcile))
