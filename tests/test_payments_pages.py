"""The Payments and Refunds & disputes pages, run headless through AppTest against real PostgreSQL.

Figures shown must equal plain SQL over the raw tables; the processing-error spike must be the
first window offered, and its gateway errors the manifest's count.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from metrics.figures import disputes
from metrics.figures.query import Filters
from revwatch.money import format_money
from tests.worlds.demo import SMALL_WORLD


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _table(at: AppTest, column: str):
    """The first table shown with `column`."""
    return next(t.value for t in at.dataframe if column in t.value.columns)


def _days(world, days: int):
    (last,) = world.sql("SELECT max(local_date) FROM rollup_payments")[0]
    (first,) = world.sql("SELECT min(local_date) FROM rollup_payments")[0]
    return max(first, last - timedelta(days=days - 1)), last


_ATTEMPTS_BY_LOCAL_DAY = """
    SELECT count(*), count(*) FILTER (WHERE a.status = 'succeeded'), count(*) FILTER (WHERE a.status = 'failed')
    FROM payment_attempts a LEFT JOIN invoices i USING (invoice_id) LEFT JOIN parking_sessions p USING (session_id)
    LEFT JOIN sites s ON s.site_id = p.site_id
    WHERE (a.attempted_at AT TIME ZONE coalesce(s.timezone, 'UTC'))::date BETWEEN %s AND %s"""


def test_payments_page_shows_sql_figures_and_the_spike_with_its_cost(demo_world, page_for):
    at = page_for(demo_world, "pages/payments.py")
    assert at.title[0].value == "Payments"
    start, end = _days(demo_world, 30)
    attempts, ok, failed = demo_world.sql(_ATTEMPTS_BY_LOCAL_DAY, (start, end))[0]
    shown = _metrics(at)
    assert shown["Attempt success rate"] == f"{ok / attempts * 100:.2f}%"
    assert shown["Failed attempts"] == f"{failed:,}"
    inv = demo_world.sql(
        "WITH x AS (SELECT i.invoice_id, bool_or(a.status = 'succeeded') AS paid,"
        " bool_or(a.status = 'succeeded' AND a.attempt_number = 1) AS first"
        " FROM invoices i JOIN payment_attempts a USING (invoice_id) JOIN parking_sessions p USING (session_id)"
        " JOIN sites s USING (site_id) WHERE i.status <> 'void'"
        " AND (i.issued_at AT TIME ZONE s.timezone)::date BETWEEN %s AND %s GROUP BY 1)"
        " SELECT count(*), count(*) FILTER (WHERE first), count(*) FILTER (WHERE paid) FROM x", (start, end))[0]
    assert shown["Paid on first try"] == f"{inv[1] / inv[0] * 100:.2f}%"
    assert shown["Paid eventually"] == f"{inv[2] / inv[0] * 100:.2f}%"

    # The spike is the first window offered (selected by default), and its figures are the manifest's.
    spike = next(i for i in demo_world.manifest["incidents"] if i["id"] == "processing_error_spike")
    exp = spike["expected"]
    s0, s1 = datetime.fromisoformat(spike["start"]), datetime.fromisoformat(spike["end"])
    box = at.selectbox(key="episode")
    label = box.options[0]  # AppTest shows options as the page formats them
    assert f"{s0:%d %b %H:00}–{s1:%H:00} UTC · {exp['gateway']}" in label
    box.set_value(box.value).run()  # choosing it again changes nothing
    shown = _metrics(at)
    assert shown["Gateway errors in window"] == f"{exp['failed_with_code']:,}"
    _, amounts = demo_world.sql(
        "SELECT count(*), json_object_agg(currency, m) FROM (SELECT currency, count(*) AS n, sum(amount_minor) AS m"
        " FROM payment_attempts WHERE status = 'failed' AND gateway = %s AND attempted_at >= %s AND attempted_at < %s"
        " GROUP BY 1) x", (exp["gateway"], s0, s1))[0]
    n_failed = demo_world.sql("SELECT count(*) FROM payment_attempts WHERE status = 'failed' AND gateway = %s"
                              " AND attempted_at >= %s AND attempted_at < %s", (exp["gateway"], s0, s1))[0][0]
    assert shown["Failed attempts in window"] == f"{n_failed:,}"
    assert {k: v for k, v in shown.items() if k.startswith("Amount failed · ")} == {
        f"Amount failed · {c}": format_money(int(v), c) for c, v in amounts.items()}

    # Drill down from a failed attempt of the spike to its invoice and gateway object; customers masked.
    table = at.dataframe[0].value
    assert len(table) == n_failed and all(c == "" or "…" in c for c in table["customer"])
    drill = at.selectbox(key="drill_window")
    attempt_id = drill.options[1]
    drill.set_value(attempt_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(attempt_id in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 3
    assert len(at.get("download_button")) >= 3


def test_payments_page_follows_the_region_filter(demo_world, page_for):
    at = page_for(demo_world, "pages/payments.py")
    region = demo_world.sql("SELECT region FROM sites ORDER BY region LIMIT 1")[0][0]
    at.sidebar.multiselect(key="regions").set_value([region]).run()
    assert not at.exception, [e.value for e in at.exception]
    start, end = _days(demo_world, 30)
    _attempts, _ok, failed = demo_world.sql(_ATTEMPTS_BY_LOCAL_DAY + " AND s.region = %s", (start, end, region))[0]
    assert _metrics(at)["Failed attempts"] == f"{failed:,}"


def test_refunds_disputes_page_shows_sql_figures(demo_world, page_for):
    at = page_for(demo_world, "pages/refunds_disputes.py")
    assert at.title[0].value == "Refunds & disputes"
    start, end = _days(demo_world, 30)
    rows = demo_world.sql(
        "SELECT r.currency, count(*), sum(r.amount_minor), count(*) FILTER (WHERE r.status = 'failed')"
        " FROM refunds r JOIN invoices i USING (invoice_id) JOIN parking_sessions p USING (session_id)"
        " JOIN sites s USING (site_id) WHERE (r.created_at AT TIME ZONE s.timezone)::date BETWEEN %s AND %s GROUP BY 1",
        (start, end))
    assert rows, "the demo world has refunds"
    shown = _metrics(at)
    for cur, n, amount, failed in rows:
        assert shown[f"Refunds · {cur}"] == f"{n:,}"
        assert shown[f"Refunded · {cur}"] == format_money(int(amount), cur)
        assert shown[f"Failed refunds · {cur}"] == f"{failed:,}"
    disputes = demo_world.sql("SELECT count(*) FROM stripe_disputes")[0][0] + demo_world.sql(
        "SELECT count(DISTINCT psp_reference) FROM adyen_settlement_lines WHERE type = 'Chargeback'")[0][0]
    if disputes:
        assert any(k.startswith("Disputes · ") for k in shown)
    assert len(at.get("download_button")) >= 1


def test_pages_on_an_empty_database(make_world, page_for):
    world = make_world()
    for page in ("pages/payments.py", "pages/refunds_disputes.py"):
        at = page_for(world, page)  # nothing has run: what is being waited for, not "run revwatch demo"
        assert any("Not computed yet" in i.value and "ingest-billing has not run yet" in i.value for i in at.info)



def csv_rows(download) -> list[dict]:
    data = download()
    return list(csv.DictReader(io.StringIO(data.decode() if isinstance(data, bytes) else data)))


@pytest.fixture(scope="module")
def crowded_world(make_world):
    """The demo world with 600 more failed attempts in the processing-error spike and 600 more charges billing
    does not know: lists longer than a page shows."""
    world = make_world(demo=SMALL_WORLD)
    spike = next(i for i in world.manifest["incidents"] if i["id"] == "processing_error_spike")
    gateway, s0 = spike["expected"]["gateway"], datetime.fromisoformat(spike["start"])
    world.sql("""
        INSERT INTO payment_attempts (attempt_id, invoice_id, attempt_number, gateway, gateway_reference, idempotency_key,
                                      amount_minor, currency, status, failure_code, payment_method_type, card_brand,
                                      attempted_at, updated_at)
        SELECT 'pa_bulk_' || g, a.invoice_id, a.attempt_number, a.gateway, NULL, 'bulk-' || g, a.amount_minor,
               a.currency, 'failed', a.failure_code, a.payment_method_type, a.card_brand,
               %s + g * interval '1 second', a.updated_at
        FROM (SELECT * FROM payment_attempts WHERE status = 'failed' AND gateway = %s AND attempted_at >= %s
              ORDER BY attempted_at LIMIT 1) a CROSS JOIN generate_series(1, 600) g""", (s0, gateway, s0))
    world.sql("""
        INSERT INTO gateway_mismatches (gateway, gateway_reference, kind, occurred_at, hour, local_date, attempt_id,
                                        gateway_attempt_id, invoice_id, site_id, currency, amount_minor, gateway_status,
                                        billing_status)
        SELECT m.gateway, 'bulk_' || g, 'no_internal_attempt', m.occurred_at, m.hour, m.local_date, NULL, NULL,
               m.invoice_id, m.site_id, m.currency, m.amount_minor, m.gateway_status, NULL
        FROM (SELECT * FROM gateway_mismatches ORDER BY occurred_at DESC LIMIT 1) m CROSS JOIN generate_series(1, 600) g""")
    return world


def test_long_lists_say_first_n_of_m_and_download_all(crowded_world, page_for, deferred_downloads):
    """Issue 16: the failed attempts of a window and the charges billing does not know were cut at 500 rows, silently.
    Now the list says "First 500 of M" and its download gives all M rows."""
    world = crowded_world
    at = page_for(world, "pages/payments.py")
    spike = next(i for i in world.manifest["incidents"] if i["id"] == "processing_error_spike")
    gateway, s0, s1 = (spike["expected"]["gateway"], datetime.fromisoformat(spike["start"]),
                       datetime.fromisoformat(spike["end"]))
    (failed,) = world.sql("SELECT count(*) FROM payment_attempts WHERE status = 'failed' AND gateway = %s"
                          " AND attempted_at >= %s AND attempted_at < %s", (gateway, s0, s1))[0]
    start, end = _days(world, 30)
    (charges,) = world.sql("SELECT count(*) FROM gateway_mismatches WHERE local_date BETWEEN %s AND %s", (start, end))[0]
    assert failed > 500 and charges > 500
    captions = [c.value for c in at.caption]
    assert f"First 500 of {failed:,} failed attempts: the download gives all of them." in captions, captions
    assert f"First 500 of {charges:,} charges: the download gives all of them." in captions, captions
    assert len(_table(at, "invoice_outcome")) == 500 and len(_table(at, "gateway_status")) == 500
    rows = csv_rows(deferred_downloads["failed_attempts.csv"])
    assert len(rows) == failed and {r["attempt_id"] for r in rows} >= {f"pa_bulk_{g}" for g in range(1, 601)}
    assert all(r["customer_id"] == "" or "…" in r["customer_id"] for r in rows)  # masked in the download too
    assert len(csv_rows(deferred_downloads["charged_not_in_billing.csv"])) == charges

    # the matching job has not run over these days: no "Nothing found", the page says what it waits for
    world.sql("DELETE FROM gateway_mismatches")
    world.sql("DELETE FROM job_runs WHERE job = 'match-gateway-payments'")
    st.cache_data.clear()
    at = page_for(world, "pages/payments.py")
    said = [e.value for kind in ("success", "info", "warning", "caption") for e in getattr(at, kind)]
    assert not any("Nothing found" in t for t in said), said
    assert any("Not computed yet: match-gateway-payments has not run yet" in i.value for i in at.info), said


def test_mismatch_tiles_are_short_and_dispute_reasons_are_money(demo_world, page_for):
    """Issue 16: "Charged, billing says failed, amount · CAD" was cut off in its tile; the disputes-by-reason table
    showed amount_minor 396093."""
    at = page_for(demo_world, "pages/payments.py")
    tiles = [m for m in at.metric if m.label.startswith("Charged")]
    assert tiles and all(len(m.label) <= 40 and "amount" not in m.label for m in tiles), [m.label for m in tiles]
    assert all(m.delta.endswith(("charge", "charges")) for m in tiles)
    at = page_for(demo_world, "pages/refunds_disputes.py")
    for table in at.dataframe:
        df = table.value
        assert not [c for c in df.columns if c.endswith("_minor")], list(df.columns)
        assert not [c for c in df.columns if df[c].isna().any()], "cells shown as None"
    start, end = at.sidebar.date_input(key="days").value
    want = disputes.disputes_by_reason(demo_world.engine, Filters(start, end))
    assert not want.empty
    shown = _table(at, "amount lost")
    for col, minor in (("amount", "amount_minor"), ("amount lost", "lost_minor")):
        assert list(shown[col]) == [format_money(int(v), c) for v, c in zip(want[minor], want["currency"], strict=True)]
