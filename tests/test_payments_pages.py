"""The Payments and Refunds & disputes pages, run headless through AppTest against real PostgreSQL.

Figures shown must equal plain SQL over the raw tables; the processing-error spike must be the
first window offered, and its gateway errors the manifest's count.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from revwatch.money import format_money

pytestmark = pytest.mark.dates  # figures judged at revwatch.clock's now: run again as of awkward instants


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


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
    start, end = _days(demo_world, 14)
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
    start, end = _days(demo_world, 14)
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
        at = page_for(world, page)
        assert any("revwatch collect" in i.value for i in at.info)
