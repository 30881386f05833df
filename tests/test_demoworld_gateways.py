"""The demo world's gateway side against a real PostgreSQL: the local Stripe API through the
real `stripe` library, Stripe objects against billing, payouts that balance, Adyen files
parsed with csv + Decimal, and each gateway incident's ground truth re-derived independently
(SQL over the tables, the CSV files) and compared with the manifest."""
from __future__ import annotations

import contextlib
import csv
import json
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import stripe

from demoworld import DemoParams, StripeDemoServer, adyen_reports_dir, content_hash, generate, write_adyen_reports
from tests.worlds.demo import incident, q

END = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
PARAMS = DemoParams(days=10, sites=6, scale=0.06, seed=5, end=END)
# SOURCES.md §3, in Adyen's order
ADYEN_COLUMNS = ["Company Account", "Merchant Account", "Psp Reference", "Merchant Reference", "Payment Method",
                 "Creation Date", "TimeZone", "Type", "Modification Reference", "Gross Currency",
                 "Gross Debit (GC)", "Gross Credit (GC)", "Exchange Rate", "Net Currency", "Net Debit (NC)",
                 "Net Credit (NC)", "Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)",
                 "Batch Number"]
EXPONENT = {"USD": 2, "CAD": 2}
AMOUNTS = ["Gross Debit (GC)", "Gross Credit (GC)", "Net Debit (NC)", "Net Credit (NC)", "Commission (NC)",
           "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)"]
FEES = ["Commission (NC)", "Markup (NC)", "Scheme Fees (NC)", "Interchange (NC)"]


@pytest.fixture(scope="module")
def world(make_db, tmp_path_factory):
    url = make_db()
    out = tmp_path_factory.mktemp("demo_gw")
    manifest = generate(url, PARAMS, out_dir=out)
    return url, manifest, out


@pytest.fixture(scope="module")
def server(world):
    with StripeDemoServer(world[0]) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return stripe.StripeClient("sk_test_demo", base_addresses={"api": server.base_url}, max_network_retries=0)


def ts(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


# ---------------------------------------------------------------- Adyen files, parsed
def minor(text: str, currency: str) -> int:
    """A decimal string in major units -> minor units, exactly; raises on anything else."""
    value = Decimal(text)
    exp = EXPONENT[currency]
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value() or value.as_tuple().exponent < -exp or value < 0:
        raise InvalidOperation(text)
    return int(scaled)


def parse_line(fields: list[str]) -> dict:
    """One data line -> dict with amounts in minor units (None where empty); raises ValueError
    naming the reason when the line is malformed."""
    if len(fields) != len(ADYEN_COLUMNS):
        raise ValueError("missing_column")
    row = dict(zip(ADYEN_COLUMNS, fields, strict=True))
    cur = row["Gross Currency"]
    if cur not in EXPONENT or row["Net Currency"] != cur:
        raise ValueError("unknown_currency")
    for col in AMOUNTS:
        try:
            row[col] = minor(row[col], cur) if row[col] else None
        except InvalidOperation:
            raise ValueError("bad_decimal") from None
    # a wall time of the line's own TimeZone (checked for its format only)
    datetime.strptime(row["Creation Date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(row["TimeZone"]))
    return row


@pytest.fixture(scope="module")
def adyen(world):
    """{file name: (good rows, [(line number, reason)])} from the files on disk."""
    _, _, out = world
    files = {}
    for path in sorted(adyen_reports_dir(out).glob("*.csv")):
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            assert header == ADYEN_COLUMNS, path.name
            good, bad = [], []
            for fields in reader:
                try:
                    good.append(parse_line(fields))
                except ValueError as exc:
                    bad.append((reader.line_num, str(exc)))
        files[path.name] = (good, bad)
    return files


def adyen_rows(adyen, kind: str | None = None) -> list[dict]:
    return [r for good, _ in adyen.values() for r in good if kind is None or r["Type"] == kind]


# ---------------------------------------------------------------- the local Stripe API
def test_list_newest_first_and_default_limit(world, client):
    url, _, _ = world
    page = client.v1.charges.list()
    assert page.object == "list" and page.url == "/v1/charges" and page.has_more
    want = q(url, "SELECT id FROM demo.stripe_charges ORDER BY created DESC, id DESC LIMIT 10")
    assert [c.id for c in page.data] == [r[0] for r in want]
    assert all(c.object == "charge" for c in page.data)


def test_auto_paging_over_a_created_range_is_exactly_the_database(world, client):
    url, manifest, _ = world
    start = ts(manifest["period"]["start"]) + 2 * 86_400
    end = start + 2 * 86_400
    want = q(url, "SELECT id FROM demo.stripe_charges WHERE created >= %s AND created < %s "
                  "ORDER BY created DESC, id DESC", start, end)
    assert len(want) > 150  # several pages of 100... or at least two
    got = [c.id for c in client.v1.charges.list(params={"limit": 100, "created": {"gte": start, "lt": end}})
           .auto_paging_iter()]
    assert got == [r[0] for r in want]
    # small pages walk the same list; gt/lte are exclusive/inclusive the other way round
    got = [c.id for c in client.v1.charges.list(params={"limit": 7, "created": {"gt": start - 1, "lte": end - 1}})
           .auto_paging_iter()]
    assert got == [r[0] for r in want]


def test_cursors_and_plain_created(world, client):
    url, _, _ = world
    ids = [r[0] for r in q(url, "SELECT id FROM demo.stripe_refunds ORDER BY created DESC, id DESC")]
    assert len(ids) >= 3
    page = client.v1.refunds.list(params={"limit": 2, "starting_after": ids[0]})
    assert [r.id for r in page.data] == ids[1:3] and page.has_more == (len(ids) > 3)
    page = client.v1.refunds.list(params={"limit": 2, "ending_before": ids[-1]})
    assert [r.id for r in page.data] == ids[-3:-1]
    created, = q(url, "SELECT created FROM demo.stripe_charges ORDER BY id LIMIT 1")[0]
    same = {r[0] for r in q(url, "SELECT id FROM demo.stripe_charges WHERE created = %s", created)}
    assert {c.id for c in client.v1.charges.list(params={"created": created, "limit": 100}).data} == same


def test_retrieve_every_resource_and_404(world, client):
    url, _, _ = world
    for resource, table in (("charges", "stripe_charges"), ("refunds", "stripe_refunds"),
                            ("disputes", "stripe_disputes"), ("balance_transactions", "stripe_balance_transactions"),
                            ("payouts", "stripe_payouts")):
        oid = q(url, f"SELECT id FROM demo.{table} ORDER BY id LIMIT 1")[0][0]
        obj = getattr(client.v1, resource).retrieve(oid)
        assert obj.id == oid
        assert [o.id for o in getattr(client.v1, resource).list(params={"limit": 1}).data]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.charges.retrieve("ch_doesnotexist")
    assert err.value.http_status == 404 and "No such charge" in err.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.charges.list(params={"limit": 101})
    assert err.value.http_status == 400


def test_authentication_is_required(server):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        req = urllib.request.Request(server.base_url + "/v1/charges", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        assert json.loads(err.value.read())["error"]["type"] == "invalid_request_error"
    req = urllib.request.Request(server.base_url + "/v1/nothing", headers={"Authorization": "Bearer x"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 404 and "error" in json.loads(err.value.read())


# ---------------------------------------------------------------- Stripe against billing
def test_each_charge_matches_its_attempt(world, client):
    url, manifest, _ = world
    unrecorded = set(incident(manifest, "unrecorded_success")["expected"]["attempt_ids"])
    rows = q(url, """SELECT a.attempt_id, a.status, c.status, a.amount_minor = c.amount,
                            lower(a.currency) = c.currency, a.invoice_id = c.invoice_id, a.attempt_id = c.attempt_id
                     FROM billing.payment_attempts a
                     FULL JOIN demo.stripe_charges c ON c.id = a.gateway_reference
                     WHERE a.gateway = 'stripe' AND a.gateway_reference IS NOT NULL OR c.id IS NOT NULL""")
    with_attempt = [r for r in rows if r[0] is not None]
    assert with_attempt and all(r[2] is not None for r in with_attempt)  # every attempt that reached Stripe
    for attempt_id, billing_status, status, *same in with_attempt:
        assert all(same), attempt_id
        if attempt_id in unrecorded:
            assert (billing_status, status) == ("failed", "succeeded")
        else:
            assert billing_status == status, attempt_id
    # JSON as the API renders it, for a sample
    sample = q(url, "SELECT c.id, a.attempt_id, a.invoice_id, a.failure_code, a.card_brand, a.payment_method_type "
                    "FROM demo.stripe_charges c JOIN billing.payment_attempts a ON a.gateway_reference = c.id "
                    "WHERE a.status = 'failed' AND a.attempt_id <> ALL(%s) ORDER BY c.id LIMIT 20", list(unrecorded))
    for cid, attempt_id, invoice_id, code, brand, method in sample:
        ch = client.v1.charges.retrieve(cid)
        assert ch.metadata["attempt_id"] == attempt_id and ch.metadata["invoice_id"] == invoice_id
        assert not ch.paid and ch.balance_transaction is None and ch.failure_code and ch.failure_message
        assert ch.outcome.type in ("issuer_declined", "blocked", "invalid")
        assert code in (ch.outcome.reason, ch.failure_code) or ch.outcome.type == "blocked"
        if method == "card":
            assert ch.payment_method_details.card.brand == brand


@pytest.fixture(scope="module")
def adyen_spike_world(make_db, tmp_path_factory):
    """A world whose processing-error spike hits Adyen (seed 6; seed 5 puts it on Stripe)."""
    url = make_db()
    out = tmp_path_factory.mktemp("demo_gw_adyen")
    params = DemoParams(days=10, sites=6, scale=0.03, seed=6, end=END)
    return url, generate(url, params, out_dir=out), out


def _parsed(out: Path) -> dict:
    files = {}
    for path in sorted(adyen_reports_dir(out).glob("*.csv")):
        rows = list(csv.reader(path.open(newline="")))[1:]
        good = []
        for fields in rows:
            with contextlib.suppress(ValueError):
                good.append(parse_line(fields))
        files[path.name] = (good, [])
    return files


@pytest.mark.parametrize("which", ["stripe", "adyen"])
def test_processing_error_spike_on_the_gateway_side(which, request):
    world = request.getfixturevalue("world" if which == "stripe" else "adyen_spike_world")
    url, manifest, out = world
    adyen = _parsed(out)
    e = incident(manifest, "processing_error_spike")
    assert e["expected"]["gateway"] == which
    inc = e
    window = (datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"]))
    failed = q(url, "SELECT attempt_id, gateway_reference FROM billing.payment_attempts WHERE gateway = %s AND "
                    "status = 'failed' AND failure_code = %s AND attempted_at >= %s AND attempted_at < %s",
               e["expected"]["gateway"], e["expected"]["failure_code"], *window)
    assert len(failed) == e["expected"]["failed_with_code"] > 0
    if e["expected"]["gateway"] == "stripe":
        codes = q(url, "SELECT demo.stripe_charge_json(c)->>'failure_code', count(*) FROM demo.stripe_charges c "
                       "WHERE id = ANY(%s) GROUP BY 1", [r[1] for r in failed])
        assert codes == [("processing_error", len(failed))]
    else:
        settled = {r["Psp Reference"] for r in adyen_rows(adyen, "Settled")}
        assert settled and not settled & {r[1] for r in failed}


def test_balance_transactions_and_payouts_balance(world, client):
    url, manifest, _ = world
    # one charge transaction per succeeded charge, with Stripe's fee
    bad = q(url, """SELECT count(*) FROM demo.stripe_charges c LEFT JOIN demo.stripe_balance_transactions t
                    ON t.id = c.balance_transaction
                    WHERE (c.status = 'succeeded') <> (t.id IS NOT NULL)
                       OR t.amount <> c.amount OR t.source <> c.id
                       OR t.fee <> CASE WHEN c.payment_method = 'ach' THEN least(round(c.amount * 0.008), 500)
                                        ELSE round(c.amount * 0.029) + 30 END""")
    assert bad == [(0,)]
    rows = q(url, """SELECT p.id, p.amount, p.status, sum(t.amount - t.fee) FILTER (WHERE t.type <> 'payout'),
                            sum(t.amount) FILTER (WHERE t.type = 'payout'), count(*)
                     FROM demo.stripe_payouts p JOIN demo.stripe_balance_transactions t ON t.payout = p.id
                     GROUP BY p.id, p.amount, p.status""")
    assert len(rows) == manifest["gateways"]["stripe"]["payouts"] > 0
    short = next(i for i in manifest["incidents"] if i["id"] == "payout_short_of_entries")["expected"]
    for pid, amount, _, net, own, n in rows:
        assert amount > 0 and own == -amount
        if pid == short["payout_reference"]:  # the S2 incident: one charge listed with it was not paid
            assert (amount, net, net - amount, n - 1) == (short["payout_minor"], short["entries_net_minor"],
                                                          short["short_minor"], short["entries"])
            entry = client.v1.balance_transactions.retrieve(short["entry"])
            assert entry.type == "charge" and entry.net == short["short_minor"]
        else:
            assert net == amount
    statuses = Counter(r[2] for r in rows)
    assert statuses["failed"] == 1 and statuses["paid"] > 0
    # ... and through the API, as Stripe lists a payout's transactions
    for pid, amount, *_ in sorted(r for r in rows if r[0] != short["payout_reference"])[:4]:
        txns = list(client.v1.balance_transactions.list(params={"payout": pid, "limit": 100}).auto_paging_iter())
        assert sum(t.net for t in txns if t.type != "payout") == amount
        assert [t.id for t in txns if t.type == "payout"] == [client.v1.payouts.retrieve(pid).balance_transaction]
    # the failed payout is credited back and paid out again
    failed = manifest["gateways"]["stripe"]["failed_payout"]
    po = client.v1.payouts.retrieve(failed)
    assert po.status == "failed" and po.failure_balance_transaction
    back = client.v1.balance_transactions.retrieve(po.failure_balance_transaction)
    assert back.amount == po.amount and back.type == "payout_failure"


# ---------------------------------------------------------------- Adyen
def test_adyen_files_parse_and_each_batch_pays_out_its_net(world, adyen):
    url, manifest, out = world
    mal = incident(manifest, "malformed_adyen_lines")["expected"]
    assert len(adyen) == manifest["gateways"]["adyen"]["files"] > 0
    for name, (good, bad) in adyen.items():
        if name != mal["file_name"]:
            assert bad == [], name
        payout = [r for r in good if r["Type"] == "MerchantPayout"]
        assert len(payout) == 1 and payout[0] is good[-1]
        batch = {r["Batch Number"] for r in good}
        assert batch == {name.removeprefix("settlement_detail_report_batch_").removesuffix(".csv")}
        net = sum((r["Net Credit (NC)"] or 0) - (r["Net Debit (NC)"] or 0) for r in good[:-1])
        assert (payout[0]["Net Debit (NC)"] or 0) - (payout[0]["Net Credit (NC)"] or 0) == net
        assert {r["TimeZone"] for r in good} == {"UTC"}
        assert len({r["Merchant Account"] for r in good}) == 1
        for r in good:
            if r["Type"] == "Settled":
                assert r["Net Credit (NC)"] == r["Gross Credit (GC)"] - sum(r[f] for f in FEES)
    # the DB holds the same files
    again = write_adyen_reports(url, out / "again")
    assert sorted(p.name for p in again) == sorted(adyen)
    for p in again:
        assert p.read_bytes() == (adyen_reports_dir(out) / p.name).read_bytes()


def test_settled_lines_against_billing(world, adyen):
    url, manifest, _ = world
    settled = adyen_rows(adyen, "Settled")
    attempts = {r[0]: r[1:] for r in q(url, "SELECT attempt_id, gateway_reference, status, amount_minor, currency "
                                            "FROM billing.payment_attempts WHERE gateway = 'adyen'")}
    unrecorded = set(incident(manifest, "unrecorded_success")["expected"]["attempt_ids"])
    for r in settled:
        a = attempts.get(r["Merchant Reference"])
        if a is None:
            continue  # a charge billing never made: gateway_double_charge
        ref, status, amount, cur = a
        assert r["Psp Reference"] == ref and r["Gross Credit (GC)"] == amount and r["Gross Currency"] == cur
        assert status == "succeeded" or (status == "failed" and r["Merchant Reference"] in unrecorded)
    # every success settles, once its batch has closed
    last_close = max(datetime.strptime(r["Creation Date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                     for r in adyen_rows(adyen, "MerchantPayout"))
    settled_refs = Counter(r["Merchant Reference"] for r in settled)
    due = q(url, "SELECT attempt_id FROM billing.payment_attempts WHERE gateway = 'adyen' AND status = 'succeeded' "
                 "AND updated_at + interval '6 hours' < %s - interval '26 hours'", last_close)
    assert due and all(settled_refs[a] == 1 for (a,) in due)
    refunds = {r[0]: r[1:] for r in q(url, "SELECT refund_id, amount_minor, status FROM billing.refunds "
                                           "WHERE gateway = 'adyen'")}
    for r in adyen_rows(adyen, "Refunded"):
        assert refunds[r["Merchant Reference"]] == (r["Gross Debit (GC)"], "succeeded")


# ---------------------------------------------------------------- incidents, re-derived
def test_issuer_decline_spike(world):
    url, manifest, _ = world
    inc = incident(manifest, "issuer_decline_spike")
    e = inc["expected"]
    rows = q(url, """SELECT gateway, currency, count(*),
                            count(*) FILTER (WHERE status = 'failed' AND failure_code =
                                             CASE gateway WHEN 'stripe' THEN 'do_not_honor' ELSE 'Refused' END),
                            coalesce(sum(amount_minor) FILTER (WHERE status = 'failed' AND failure_code =
                                             CASE gateway WHEN 'stripe' THEN 'do_not_honor' ELSE 'Refused' END), 0)
                     FROM billing.payment_attempts
                     WHERE payment_method_type = 'card' AND card_brand = %s AND attempted_at >= %s AND attempted_at < %s
                     GROUP BY 1, 2""", e["brand"], datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"]))
    assert sum(r[2] for r in rows) == e["attempts"] and sum(r[3] for r in rows) == e["declined"]
    assert e["declined"] >= e["attempts"] * 0.3  # a jump: the usual rate is a few percent
    for g in ("stripe", "adyen"):
        assert (sum(r[2] for r in rows if r[0] == g), sum(r[3] for r in rows if r[0] == g)) == \
            (e["by_gateway"][g]["attempts"], e["by_gateway"][g]["declined"])
    by_cur = defaultdict(lambda: [0, 0, 0])
    for _, cur, n, d, amt in rows:
        by_cur[cur][0] += n
        by_cur[cur][1] += d
        by_cur[cur][2] += int(amt)
    assert {c: {"attempts": v[0], "declined": v[1], "declined_minor": v[2]} for c, v in by_cur.items()} == e["by_currency"]


def test_dispute_surge(world, adyen):
    url, manifest, _ = world
    inc = incident(manifest, "dispute_surge")
    e = inc["expected"]
    start, end = datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"])
    site_of = {r[0]: r[1:] for r in q(url, """SELECT a.attempt_id, s.site_id, a.currency, a.amount_minor
                                               FROM billing.payment_attempts a JOIN billing.invoices i USING (invoice_id)
                                               JOIN billing.parking_sessions s USING (session_id)""")}
    stripe_rows = q(url, """SELECT c.attempt_id, d.reason FROM demo.stripe_disputes d
                            JOIN demo.stripe_charges c ON c.id = d.charge
                            WHERE d.created >= %s AND d.created < %s""", int(start.timestamp()), int(end.timestamp()))
    got = defaultdict(lambda: defaultdict(lambda: {"disputes": 0, "amount_minor": 0}))
    for attempt_id, reason in stripe_rows:
        site, cur, amount = site_of[attempt_id]
        if site == e["site_id"]:
            assert reason == e["reason"]
            got["stripe"][cur]["disputes"] += 1
            got["stripe"][cur]["amount_minor"] += amount
    for r in adyen_rows(adyen, "Chargeback"):
        when = datetime.strptime(r["Creation Date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        site, cur, amount = site_of[r["Merchant Reference"]]
        if site == e["site_id"] and start <= when < end:
            assert r["Gross Debit (GC)"] == amount
            got["adyen"][cur]["disputes"] += 1
            got["adyen"][cur]["amount_minor"] += amount
    assert {g: dict(v) for g, v in got.items() if v} == {g: v for g, v in e["by_gateway"].items() if v}
    assert e["stripe_disputes"] == sum(v["disputes"] for v in got["stripe"].values())
    assert e["adyen_chargebacks"] == sum(v["disputes"] for v in got["adyen"].values())
    total = q(url, "SELECT count(*) FROM demo.stripe_disputes")[0][0] + manifest["gateways"]["adyen"]["chargebacks"]
    assert e["disputes"] >= 0.3 * total  # a surge: two days at one site against the whole world


def test_unrecorded_success(world, adyen):
    url, manifest, _ = world
    e = incident(manifest, "unrecorded_success")["expected"]
    stripe_rows = q(url, """SELECT a.attempt_id, a.currency, a.amount_minor FROM billing.payment_attempts a
                            JOIN demo.stripe_charges c ON c.id = a.gateway_reference
                            WHERE a.status IN ('failed', 'unknown') AND c.status = 'succeeded'""")
    attempts = {r[1]: r for r in q(url, "SELECT attempt_id, gateway_reference, currency, amount_minor "
                                        "FROM billing.payment_attempts WHERE status IN ('failed', 'unknown')")}
    adyen_hits = [(attempts[r["Psp Reference"]][0], r["Gross Currency"], r["Gross Credit (GC)"])
                  for r in adyen_rows(adyen, "Settled") if r["Psp Reference"] in attempts]
    for gateway, rows in (("stripe", stripe_rows), ("adyen", adyen_hits)):
        by = defaultdict(lambda: {"attempts": 0, "amount_minor": 0})
        for _, cur, amount in rows:
            by[cur]["attempts"] += 1
            by[cur]["amount_minor"] += amount
        assert {"attempts": len(rows), "by_currency": dict(by)} == e["by_gateway"][gateway]
    assert sorted(r[0] for r in stripe_rows + adyen_hits) == e["attempt_ids"]
    assert e["attempts"] == len(e["attempt_ids"]) > 0


def test_gateway_double_charge(world, adyen, client):
    url, manifest, _ = world
    e = incident(manifest, "gateway_double_charge")["expected"]
    stripe_rows = q(url, """SELECT c.id, c.attempt_id, c.invoice_id, c.currency, c.amount FROM demo.stripe_charges c
                            LEFT JOIN billing.payment_attempts a ON a.attempt_id = c.attempt_id
                            WHERE a.attempt_id IS NULL AND c.status = 'succeeded'""")
    known = {r[0] for r in q(url, "SELECT attempt_id FROM billing.payment_attempts")}
    adyen_hits = [r for r in adyen_rows(adyen, "Settled") if r["Merchant Reference"] not in known]
    invoices = {r[0]: r[1:] for r in q(url, "SELECT invoice_id, currency, total_minor FROM billing.invoices")}
    s = e["by_gateway"]["stripe"]
    assert sorted(r[0] for r in stripe_rows) == s["references"]
    assert sorted(r[1] for r in stripe_rows) == s["attempt_ids"]
    by = defaultdict(lambda: {"charges": 0, "amount_minor": 0})
    for _, _, invoice_id, cur, amount in stripe_rows:
        assert invoices[invoice_id] == (cur.upper(), amount)  # the same invoice, charged again
        by[cur.upper()]["charges"] += 1
        by[cur.upper()]["amount_minor"] += amount
    assert dict(by) == s["by_currency"] and s["charges"] == len(stripe_rows)
    a = e["by_gateway"]["adyen"]
    assert sorted(r["Psp Reference"] for r in adyen_hits) == a["references"]
    assert sorted(r["Merchant Reference"] for r in adyen_hits) == a["attempt_ids"]
    by = defaultdict(lambda: {"charges": 0, "amount_minor": 0})
    for r in adyen_hits:
        by[r["Gross Currency"]]["charges"] += 1
        by[r["Gross Currency"]]["amount_minor"] += r["Gross Credit (GC)"]
    assert dict(by) == a["by_currency"]
    assert e["charges"] == len(stripe_rows) + len(adyen_hits) > 0
    if stripe_rows:
        ch = client.v1.charges.retrieve(stripe_rows[0][0])
        assert ch.paid and ch.metadata["attempt_id"] not in known


def test_malformed_adyen_lines(world, adyen):
    _, manifest, out = world
    e = incident(manifest, "malformed_adyen_lines")["expected"]
    good, bad = adyen[e["file_name"]]
    assert bad == [(x["line"], x["reason"]) for x in e["lines"]]
    assert e["malformed"] == len(bad) == 3
    assert len(good) == e["good_lines"]
    assert dict(Counter(r["Type"] for r in good)) == e["good_by_type"]
    assert good[-1]["Net Debit (NC)"] == e["payout_minor"]
    lines = (adyen_reports_dir(out) / e["file_name"]).read_text().splitlines()
    for x in e["lines"]:
        assert x["psp_reference"] in lines[x["line"] - 1]
        assert sum(r["Psp Reference"] == x["psp_reference"] for r in good) == 1  # the good copy is kept


# ---------------------------------------------------------------- determinism
def test_same_params_same_gateway_data(world, make_db, tmp_path):
    url, manifest, out = world
    other = make_db()
    assert generate(other, PARAMS, out_dir=tmp_path) == manifest
    assert content_hash(other) == content_hash(url)
    for p in adyen_reports_dir(out).glob("*.csv"):
        assert (adyen_reports_dir(tmp_path) / p.name).read_bytes() == p.read_bytes()
    # the hash covers the gateway side: change one charge, the hash changes
    with psycopg.connect(other) as conn:
        conn.execute("UPDATE demo.stripe_charges SET amount = amount + 1 WHERE id = "
                     "(SELECT min(id) FROM demo.stripe_charges)")
    assert content_hash(other) != content_hash(url)
    with psycopg.connect(other) as conn:
        conn.execute("UPDATE demo.stripe_charges SET amount = amount - 1 WHERE id = "
                     "(SELECT min(id) FROM demo.stripe_charges)")
        conn.execute("UPDATE demo.adyen_reports SET content = content || ' ' WHERE batch_number = 1")
    assert content_hash(other) != content_hash(url)


def test_adyen_reports_dir():
    assert adyen_reports_dir(Path("/x")) == Path("/x/adyen")
