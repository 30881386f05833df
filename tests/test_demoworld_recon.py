"""The demo world's reconciliation sources against a real PostgreSQL: bank statements (BAI2
parsed by the `bai2` library with its integrity checks, camt.053 parsed as XML), GL exports
and FX rates read from the files on disk, each checked against the gateways (SQL over the
Stripe tables, the Adyen files) and billing (SQL with AT TIME ZONE), and the seven
reconciliation incidents re-derived from the files and compared with the manifest."""
from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from bai2 import bai2

from demoworld import (
    DemoParams,
    adyen_reports_dir,
    bank_statements_dir,
    content_hash,
    demo_sources,
    fx_rates_path,
    generate,
    gl_exports_dir,
    load_manifest,
    write_bank_files,
    write_fx_rates,
    write_gl_exports,
)
from demoworld.params import Period
from demoworld.transfers import calendar
from tests.worlds.demo import SMALL_WORLD, incident, q

# Two weeks across a month end (rent, the bank's monthly fee) and the US fall-back weekend.
END = datetime(2026, 11, 4, 15, 0, tzinfo=UTC)
PARAMS = DemoParams(**SMALL_WORLD, end=END)
EXPONENT = {"USD": 2, "CAD": 2}
ROLES = {"1010": "cash", "1150": "clearing", "4000": "revenue", "2300": "tax", "6150": "fees", "4050": "refunds"}
GL_HEADER = ["journal_id", "line", "posted_date", "account", "account_name", "debit", "credit", "currency", "memo",
             "reference"]
CREDIT_CODES, DEBIT_CODES, PAYOUT_CODES = {"165", "169", "301", "399"}, {"475", "495", "698"}, {"165", "169"}
NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"}
RECON_IDS = ["payout_short_of_entries", "payout_missing_in_bank", "deposit_short_bank_fee", "bank_credit_without_reference",
             "payout_booked_twice", "refund_not_booked", "revenue_day_missing", "fx_rate_missing"]


@pytest.fixture(scope="module")
def world(make_db, tmp_path_factory):
    url = make_db()
    out = tmp_path_factory.mktemp("demo_recon")
    manifest = generate(url, PARAMS, out_dir=out)
    return url, manifest, out




def minor(text: str, currency: str) -> int:
    """A decimal string in major units -> minor units, exactly (the exponent's digits, no more)."""
    exp = EXPONENT[currency]
    if not re.fullmatch(r"\d+" + (rf"\.\d{{{exp}}}" if exp else ""), text):
        raise ValueError(f"not a {currency} amount: {text!r}")
    return int(Decimal(text).scaleb(exp))


def business(d: date) -> bool:
    return d.weekday() < 5


def next_business_day(d: date) -> date:
    d += timedelta(days=1)
    while not business(d):
        d += timedelta(days=1)
    return d


def last_export(manifest: dict) -> date:
    end = datetime.fromisoformat(manifest["period"]["end"])
    return end.date() - timedelta(days=1)


def bank_days(manifest: dict) -> list[date]:
    first = datetime.fromisoformat(manifest["period"]["start"]).date()
    out, d = [], first
    while d <= last_export(manifest):
        if business(d):
            out.append(d)
        d += timedelta(days=1)
    return out


# ---------------------------------------------------------------- the files, parsed
@pytest.fixture(scope="module")
def bank(world):
    """Every bank entry: dicts with file, format, date, account, currency, code, amount (minor),
    credit, text; and per (format, date, account) the opening and closing balances."""
    _, manifest, out = world
    entries, balances = [], {}
    accounts = {c: a["account"] for c, a in manifest["recon"]["bank"]["accounts"].items()}
    for path in sorted(bank_statements_dir(out).iterdir()):
        if path.suffix == ".txt":
            m = re.fullmatch(r"bai2_(\d{8})\.txt", path.name)
            day = date.fromisoformat(m.group(1))  # YYYYMMDD
            f = bai2.parse_from_string(path.read_text(), check_integrity=True)
            assert f.header.version_number == 2 and len(f.children) == 1
            group = f.children[0]
            assert group.header.as_of_date == day
            for account in group.children:
                cur = account.header.currency
                assert account.header.customer_account_number == accounts[cur]
                items = {s.type_code.code: s.amount for s in account.header.summary_items}
                balances[("bai2", day, cur)] = (items["010"], items["015"])
                for t in account.children:
                    code = t.type_code.code
                    assert isinstance(t.amount, int) and t.amount > 0
                    assert code in CREDIT_CODES | DEBIT_CODES, code
                    entries.append(dict(file=path.name, format="bai2", date=day, currency=cur,
                                        account=accounts[cur], code=code, amount=t.amount,
                                        credit=code in CREDIT_CODES, text=t.text, ref=t.bank_reference))
        else:
            m = re.fullmatch(r"camt053_(\d{8})\.xml", path.name)
            day = date.fromisoformat(m.group(1))  # YYYYMMDD
            root = ET.parse(path).getroot()
            assert root.tag == f"{{{NS['c']}}}Document"
            stmts = root.findall("c:BkToCstmrStmt/c:Stmt", NS)
            assert stmts
            for st in stmts:
                cur = st.findtext("c:Acct/c:Ccy", namespaces=NS)
                assert st.findtext("c:Acct/c:Id/c:Othr/c:Id", namespaces=NS) == accounts[cur]
                bal = {}
                for b in st.findall("c:Bal", NS):
                    amt = b.find("c:Amt", NS)
                    assert amt.get("Ccy") == cur
                    sign = 1 if b.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -1
                    bal[b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS)] = sign * minor(amt.text, cur)
                balances[("camt053", day, cur)] = (bal["OPBD"], bal["CLBD"])
                mine = []
                for n in st.findall("c:Ntry", NS):
                    amt = n.find("c:Amt", NS)
                    assert amt.get("Ccy") == cur
                    assert n.findtext("c:BookgDt/c:Dt", namespaces=NS) == day.isoformat()
                    assert n.findtext("c:ValDt/c:Dt", namespaces=NS) == day.isoformat()
                    assert n.findtext("c:Sts", namespaces=NS) == "BOOK"
                    credit = n.findtext("c:CdtDbtInd", namespaces=NS)
                    assert credit in ("CRDT", "DBIT")
                    code = n.findtext("c:BkTxCd/c:Prtry/c:Cd", namespaces=NS)
                    assert (code in CREDIT_CODES) == (credit == "CRDT"), code
                    mine.append(dict(file=path.name, format="camt053", date=day, currency=cur, account=accounts[cur],
                                     code=code, amount=minor(amt.text, cur), credit=credit == "CRDT",
                                     text=n.findtext("c:AddtlNtryInf", namespaces=NS),
                                     ref=n.findtext("c:NtryRef", namespaces=NS)))
                summary = st.find("c:TxsSummry", NS)
                cr = [e["amount"] for e in mine if e["credit"]]
                db = [e["amount"] for e in mine if not e["credit"]]
                assert int(summary.findtext("c:TtlNtries/c:NbOfNtries", namespaces=NS)) == len(mine)
                assert minor(summary.findtext("c:TtlNtries/c:Sum", namespaces=NS), cur) == sum(cr) + sum(db)
                assert int(summary.findtext("c:TtlCdtNtries/c:NbOfNtries", namespaces=NS)) == len(cr)
                assert minor(summary.findtext("c:TtlCdtNtries/c:Sum", namespaces=NS), cur) == sum(cr)
                assert minor(summary.findtext("c:TtlDbtNtries/c:Sum", namespaces=NS), cur) == sum(db)
                entries.extend(mine)
    return entries, balances


@pytest.fixture(scope="module")
def gl(world):
    """{journal_id: {"lines": [...], "file": name}} from the GL exports on disk."""
    _, _, out = world
    journals: dict[str, dict] = {}
    for path in sorted(gl_exports_dir(out).glob("*.csv")):
        day = date.fromisoformat(re.fullmatch(r"gl_export_(\d{8})\.csv", path.name).group(1))  # YYYYMMDD
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            assert next(reader) == GL_HEADER
            for row in reader:
                r = dict(zip(GL_HEADER, row, strict=True))
                assert len(row) == len(GL_HEADER) and r["posted_date"] == day.isoformat(), (path.name, row)
                j = journals.setdefault(r["journal_id"], {"lines": [], "file": path.name})
                assert j["file"] == path.name  # a journal lives in one export
                j["lines"].append(r)
    return journals


def journal_view(lines: list[dict]) -> dict:
    """One journal -> {posted, currency, reference, debit: {account: minor}, credit: {...}}."""
    assert [int(r["line"]) for r in lines] == list(range(1, len(lines) + 1))
    view = {"posted": lines[0]["posted_date"], "currency": lines[0]["currency"], "reference": lines[0]["reference"],
            "debit": defaultdict(int), "credit": defaultdict(int)}
    for r in lines:
        assert (r["posted_date"], r["currency"], r["reference"]) == \
            (view["posted"], view["currency"], view["reference"])
        assert (r["debit"] == "") != (r["credit"] == ""), r  # exactly one side
        side = "debit" if r["debit"] else "credit"
        view[side][r["account"]] += minor(r[side], r["currency"])
    return view


@pytest.fixture(scope="module")
def journals(gl):
    return {jid: journal_view(j["lines"]) for jid, j in gl.items()}


@pytest.fixture(scope="module")
def adyen_payouts(world):
    """{batch number: (currency, net debit minor, fees minor, close date)} from the Adyen files."""
    _, _, out = world
    batches = {}
    for path in sorted(adyen_reports_dir(out).glob("*.csv")):
        fees, payout = 0, None
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            for fields in reader:
                if len(fields) != len(header):
                    continue  # a line of the malformed file with a missing column: rejected whole
                r = dict(zip(header, fields, strict=True))
                cur = r["Net Currency"]
                if cur not in EXPONENT or r["Gross Currency"] != cur:
                    continue  # a garbled copy of the malformed file: rejected whole
                try:
                    amounts = {k: minor(r[k], cur) for k in r if k.endswith(("(NC)", "(GC)")) and r[k]}
                except ValueError:
                    continue
                fees += sum(amounts.get(k, 0) for k in ("Commission (NC)", "Markup (NC)", "Scheme Fees (NC)",
                                                         "Interchange (NC)"))
                if r["Type"] == "Fee":
                    fees += amounts["Net Debit (NC)"]
                if r["Type"] == "MerchantPayout":
                    payout = r
        if payout and payout["Net Debit (NC)"]:
            closed = date.fromisoformat(payout["Creation Date"][:10])  # the local date of "YYYY-MM-DD HH:MM:SS"
            batches[int(payout["Batch Number"])] = (payout["Net Currency"], minor(payout["Net Debit (NC)"],
                                                    payout["Net Currency"]), fees, closed)
    return batches


@pytest.fixture(scope="module")
def stripe_payouts(world):
    """[(id, currency, amount, status, arrival date, fees)] from the Stripe tables."""
    url, _, _ = world
    rows = q(url, """SELECT p.id, upper(p.currency), p.amount, p.status, p.arrival_date,
                            coalesce(sum(t.fee) FILTER (WHERE t.id <> p.balance_transaction), 0)
                            + coalesce(sum(-t.amount) FILTER (WHERE t.reporting_category = 'fee'), 0)
                     FROM demo.stripe_payouts p LEFT JOIN demo.stripe_balance_transactions t ON t.payout = p.id
                     GROUP BY p.id ORDER BY p.id""")
    return [(i, c, a, s, datetime.fromtimestamp(arr, UTC).date(), int(f)) for i, c, a, s, arr, f in rows]


# ---------------------------------------------------------------- bank
def test_bank_files_every_business_day_with_balances(world, bank):
    _, manifest, out = world
    entries, balances = bank
    names = sorted(p.name for p in bank_statements_dir(out).iterdir())
    days = bank_days(manifest)
    assert days and names == sorted([f"bai2_{d:%Y%m%d}.txt" for d in days] + [f"camt053_{d:%Y%m%d}.xml" for d in days])
    assert manifest["recon"]["bank"]["files"] == len(names)
    assert manifest["recon"]["bank"]["entries"] == len(entries)
    # balances carry over from day to day and move by the day's entries
    for fmt, cur in (("bai2", "USD"), ("camt053", "CAD")):
        previous = None
        for d in days:
            opening, closing = balances[(fmt, d, cur)]
            assert previous is None or opening == previous
            mine = [e for e in entries if e["date"] == d and e["currency"] == cur]
            assert all(e["format"] == fmt for e in mine)
            assert closing == opening + sum(e["amount"] if e["credit"] else -e["amount"] for e in mine)
            previous = closing
    # other activity: every kind of code shows up, the monthly fee on the first business day of November
    codes = Counter(e["code"] for e in entries)
    assert all(codes[c] for c in ("165", "169", "475", "495")) and codes["301"] + codes["399"] > 0
    fees = [e for e in entries if e["code"] == "698"]
    assert {(e["date"], e["currency"]) for e in fees} == {(date(2026, 11, 2), "USD"), (date(2026, 11, 2), "CAD")}
    assert all(e["text"] == "ACCOUNT ANALYSIS FEE" and not e["credit"] for e in fees)
    assert len({(e["account"], e["ref"]) for e in entries}) == len(entries)  # bank references are unique
    # BAI2 files as the format has them: records of at most 80 characters, trailers last
    for path in bank_statements_dir(out).glob("bai2_*.txt"):
        lines = path.read_text().splitlines()
        assert lines[0].startswith("01,") and lines[-1].startswith("99,") and max(map(len, lines)) <= 80


def test_every_payout_reaches_the_bank_once_on_its_day(world, bank, stripe_payouts, adyen_payouts):
    _, manifest, _ = world
    entries, _ = bank
    missing = incident(manifest, "payout_missing_in_bank")["expected"]
    short = incident(manifest, "deposit_short_bank_fee")["expected"]
    noref = incident(manifest, "bank_credit_without_reference")["expected"]
    last_bank_day = bank_days(manifest)[-1]
    payouts = {}  # reference in the bank text -> (currency, amount, bank day, ledger reference, gateway)
    for pid, cur, amount, status, arrival, _ in stripe_payouts:
        if status == "failed":
            assert not [e for e in entries if pid in e["text"]]
            continue
        assert business(arrival)
        if status == "in_transit":
            assert arrival > last_bank_day
        if arrival <= last_bank_day:
            assert status == "paid"
            payouts[f"STRIPE PAYOUT {pid}"] = (cur, amount, arrival, pid, "stripe")
    for batch, (cur, amount, _, closed) in adyen_payouts.items():
        day = next_business_day(closed)
        if day <= last_bank_day:
            payouts[f"ADYEN BATCH {batch}"] = (cur, amount, day, f"ADYEN-{batch}", "adyen")
    assert sum(p[4] == "stripe" for p in payouts.values()) >= 4 and sum(p[4] == "adyen" for p in payouts.values()) >= 4
    credits = [e for e in entries if e["code"] in PAYOUT_CODES]
    by_text = defaultdict(list)
    for e in credits:
        by_text[e["text"]].append(e)
    seen = 0
    for text, (cur, amount, day, ref, gw) in payouts.items():
        got = by_text.pop(text, [])
        if ref == missing["payout_reference"]:
            assert got == [] and (cur, amount, day.isoformat()) == (missing["currency"], missing["amount_minor"],
                                                                  missing["arrival_date"])
            continue
        if ref == noref["payout_reference"]:
            assert got == []
            match = [e for e in credits if e["text"] == f"{gw.upper()} TRANSFER" and e["amount"] == amount
                     and e["currency"] == cur and e["date"] == day]
            assert len(match) == 1 and (cur, amount, day.isoformat()) == (noref["currency"], noref["amount_minor"],
                                                                          noref["bank_date"])
            seen += 1
            continue
        assert len(got) == 1, text
        e = got[0]
        assert (e["currency"], e["date"], e["code"]) == (cur, day, "165" if gw == "stripe" else "169")
        if ref == short["payout_reference"]:
            assert (amount, e["amount"], amount - e["amount"]) == (short["payout_minor"], short["deposited_minor"],
                                                                   short["bank_fee_minor"]) and amount > e["amount"]
        else:
            assert e["amount"] == amount, text
        seen += 1
    # nothing else arrives as a payout; unreferenced only the incident's credit
    assert list(by_text) == [f"{noref['gateway'].upper()} TRANSFER"]
    assert seen == len(credits) == manifest["recon"]["bank"]["payout_credits"]
    # other credits never carry a payout's code or amount
    amounts = {(p[0], p[1]) for p in payouts.values()}
    for e in entries:
        if e["code"] not in PAYOUT_CODES:
            assert "STRIPE" not in e["text"] and "ADYEN" not in e["text"]
            assert not e["credit"] or (e["currency"], e["amount"]) not in amounts


# ---------------------------------------------------------------- general ledger
def test_gl_exports_every_day_and_every_journal_balances(world, gl, journals):
    _, manifest, out = world
    first = datetime.fromisoformat(manifest["period"]["start"]).date()
    n = (last_export(manifest) - first).days + 1
    names = sorted(p.name for p in gl_exports_dir(out).glob("*.csv"))
    assert names == [f"gl_export_{first + timedelta(days=k):%Y%m%d}.csv" for k in range(n)]
    assert manifest["recon"]["gl"]["exports"] == n and manifest["recon"]["gl"]["journals"] == len(journals)
    ids = list(journals)
    assert all(re.fullmatch(r"JE-\d{6}", j) for j in ids) and sorted(ids) == ids
    assert ids == [f"JE-{k:06d}" for k in range(1, len(ids) + 1)]
    for jid, j in journals.items():
        assert sum(j["debit"].values()) == sum(j["credit"].values()) > 0, jid
    assert manifest["recon"]["gl"]["accounts"] == {v: k for k, v in ROLES.items()}
    # unrelated activity: on none of the role accounts
    other = [j for j in journals.values() if not re.match(r"(REV-|po_|ADYEN-|rf_)", j["reference"])]
    assert {j["reference"].split("-")[0] for j in other} == {"RENT", "PAYROLL"}
    assert all(not set(j["debit"]) & set(ROLES) and not set(j["credit"]) & set(ROLES) for j in other)
    assert {j["posted"] for j in other if j["reference"].startswith("RENT")} == {"2026-11-01"}


def test_revenue_journals_equal_invoices_per_site_local_day(world, journals):
    url, manifest, _ = world
    e = incident(manifest, "revenue_day_missing")["expected"]
    rows = q(url, """SELECT s.site_id, (i.issued_at AT TIME ZONE s.timezone)::date AS local_day, i.currency,
                            sum(i.subtotal_minor), sum(i.tax_minor), sum(i.total_minor)
                     FROM billing.invoices i JOIN billing.parking_sessions p USING (session_id)
                     JOIN billing.sites s USING (site_id)
                     WHERE i.status <> 'void'
                       AND (i.issued_at AT TIME ZONE s.timezone)::date < (%s::timestamptz AT TIME ZONE s.timezone)::date
                       AND (i.issued_at AT TIME ZONE s.timezone)::date + 1 <= %s::date
                     GROUP BY 1, 2, 3""", END, last_export(manifest))
    want = {f"REV-{site}-{d.isoformat()}": (cur, int(sub), int(tax), int(tot), (d + timedelta(days=1)).isoformat())
            for site, d, cur, sub, tax, tot in rows}
    got = {}
    for _jid, j in journals.items():
        if j["reference"].startswith("REV-"):
            assert j["reference"] not in got, j["reference"]
            assert set(j["debit"]) == {"1150"} and set(j["credit"]) == {"4000", "2300"}
            got[j["reference"]] = (j["currency"], j["credit"]["4000"], j["credit"]["2300"], j["debit"]["1150"],
                                   j["posted"])
    assert len(want) > 50
    missing = want.pop(e["reference"])
    assert got == want
    assert missing[:4] == (e["currency"], e["subtotal_minor"], e["tax_minor"], e["total_minor"])
    assert e["reference"] == f"REV-{e['site_id']}-{e['local_date']}"


def test_payout_journals_equal_the_payouts(world, journals, stripe_payouts, adyen_payouts):
    _, manifest, _ = world
    twice = incident(manifest, "payout_booked_twice")
    last = last_export(manifest)
    want = {}
    for pid, cur, amount, status, arrival, fees in stripe_payouts:
        if status != "failed" and arrival <= last:
            want[pid] = (cur, amount, fees, arrival)
    for batch, (cur, amount, fees, closed) in adyen_payouts.items():
        if next_business_day(closed) <= last:
            want[f"ADYEN-{batch}"] = (cur, amount, fees, next_business_day(closed))
    got = defaultdict(list)
    for jid, j in journals.items():
        if j["reference"].startswith(("po_", "ADYEN-")):
            got[j["reference"]].append((jid, j))
    assert set(got) == set(want) and len(want) >= 8
    for ref, (cur, amount, fees, day) in want.items():
        js = got[ref]
        expect_days = [day.isoformat()]
        if ref == twice["expected"]["payout_reference"]:
            expect_days.append((day + timedelta(days=1)).isoformat())
            assert [jid for jid, _ in js] == twice["expected"]["journal_ids"]
            assert (cur, amount) == (twice["expected"]["currency"], twice["expected"]["amount_minor"])
            assert js[0][1]["debit"] == js[1][1]["debit"] and js[0][1]["credit"] == js[1][1]["credit"]
        assert [j["posted"] for _, j in js] == expect_days, ref
        for _, j in js:
            assert j["currency"] == cur and fees > 0
            assert dict(j["debit"]) == {"1010": amount, "6150": fees} and dict(j["credit"]) == {"1150": amount + fees}


def test_refund_journals(world, journals):
    url, manifest, _ = world
    e = incident(manifest, "refund_not_booked")["expected"]
    rows = q(url, "SELECT refund_id, currency, amount_minor, status, (created_at::date + 1)::text FROM billing.refunds")
    booked = {j["reference"]: j for j in journals.values() if j["reference"].startswith("rf_")}
    due = 0
    for rid, cur, amount, status, post in rows:
        if status != "succeeded" or date.fromisoformat(post) > last_export(manifest):
            assert rid not in booked
        elif rid == e["refund_id"]:
            assert rid not in booked and (cur, amount) == (e["currency"], e["amount_minor"])
        else:
            j = booked.pop(rid)
            due += 1
            assert (j["currency"], j["posted"], dict(j["debit"]), dict(j["credit"])) == \
                (cur, post, {"4050": amount}, {"1150": amount})
    assert booked == {} and due > 10


# ---------------------------------------------------------------- FX
def test_fx_rates_every_day_but_the_missing_one(world):
    _, manifest, out = world
    e = incident(manifest, "fx_rate_missing")["expected"]
    lines = fx_rates_path(out).read_text().splitlines()
    assert lines[0] == "date,currency,rate_to_reporting"
    rows = [line.split(",") for line in lines[1:]]
    assert all(re.fullmatch(r"\d\.\d{6}", r[2]) for r in rows)
    assert all(Decimal("0.71") <= Decimal(r[2]) <= Decimal("0.74") for r in rows)
    first = datetime.fromisoformat(manifest["period"]["start"]).date()  # 15:00 UTC: the same date in every zone
    assert manifest["recon"]["fx"]["first_day"] == first.isoformat()
    last = (END - timedelta(seconds=1)).date()
    days = [(first + timedelta(days=k)).isoformat() for k in range((last - first).days + 1)]
    assert [(r[0], r[1]) for r in rows] == [(d, "CAD") for d in days if (d, "CAD") != (e["date"], e["currency"])]
    assert len(rows) == len(days) - 1 == manifest["recon"]["fx"]["rows"]
    assert len({r[2] for r in rows}) > len(rows) // 2  # a walk, not a constant


def test_fx_rates_start_on_the_first_local_day_of_a_world_that_starts_at_midnight_utc():
    """A world starting 00:00 UTC starts the evening before in America/*: that day's revenue is booked
    in its currency, so the FX file has its rate (the month close would name the day missing)."""
    start = int(datetime(2026, 11, 17, tzinfo=UTC).timestamp())
    period = Period(start, start + 14 * 86_400, 14)
    evening_before = (start // 86_400) - 1
    assert calendar(period, evening_before).days[0] == evening_before * 86_400
    assert calendar(period).days[0] == start  # no site west of UTC: the world's first day


# ---------------------------------------------------------------- incidents
def test_recon_incidents_in_the_manifest(world, journals, stripe_payouts, adyen_payouts):
    url, manifest, _ = world
    ids = [i["id"] for i in manifest["incidents"]]
    assert ids[-8:] == RECON_IDS and len(set(ids)) == len(ids)
    start = datetime.fromisoformat(manifest["period"]["start"])
    end = datetime.fromisoformat(manifest["period"]["end"])
    for name in RECON_IDS:
        inc = incident(manifest, name)
        lo, hi = datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"])
        assert start + timedelta(days=2) <= lo < hi <= end - timedelta(days=1), name  # well inside the world
    refs = [incident(manifest, n)["expected"]["payout_reference"] for n in RECON_IDS[:5]]
    assert len(set(refs)) == 5 and incident(manifest, RECON_IDS[1])["expected"]["gateway"] == "stripe"
    assert manifest["gateways"]["stripe"]["failed_payout"] not in refs
    # the payout short of its entries, the missing one, the short deposit's one, the unreferenced one and the
    # one booked twice are all in the GL
    booked = Counter(j["reference"] for j in journals.values())
    assert [booked[r] for r in refs] == [1, 1, 1, 1, 2]
    # the payout short of its entries is paid, and booked, as Stripe paid it: only its entries disagree
    e = incident(manifest, "payout_short_of_entries")["expected"]
    assert e["gateway"] == "stripe" and e["short_minor"] == e["entries_net_minor"] - e["payout_minor"] > 0
    ((amount, status, net, entries),) = q(
        url, """SELECT p.amount, p.status, sum(t.amount - t.fee) FILTER (WHERE t.type <> 'payout'),
                       count(*) FILTER (WHERE t.type <> 'payout')
                FROM demo.stripe_payouts p JOIN demo.stripe_balance_transactions t ON t.payout = p.id
                WHERE p.id = %s GROUP BY 1, 2""", e["payout_reference"])
    assert (amount, status, net, entries) == (e["payout_minor"], "paid", e["entries_net_minor"], e["entries"])
    journal = next(j for j in journals.values() if j["reference"] == e["payout_reference"])
    assert journal["debit"]["1010"] == e["payout_minor"]
    # the missing refund succeeded; the missing revenue day is not booked at all
    e = incident(manifest, "refund_not_booked")["expected"]
    assert q(url, "SELECT status, amount_minor FROM billing.refunds WHERE refund_id = %s", e["refund_id"]) == \
        [("succeeded", e["amount_minor"])]
    assert booked[e["refund_id"]] == 0
    assert booked[incident(manifest, "revenue_day_missing")["expected"]["reference"]] == 0
    # the unreferenced credit's amount is unique among the payouts (any status) of its currency within five days
    e = incident(manifest, "bank_credit_without_reference")["expected"]
    d = date.fromisoformat(e["bank_date"])
    every = [(c, a, arrival) for _, c, a, _, arrival, _ in stripe_payouts] + \
        [(c, a, next_business_day(closed)) for c, a, _, closed in adyen_payouts.values()]
    assert [x for x in every if x[:2] == (e["currency"], e["amount_minor"]) and abs((x[2] - d).days) <= 5] == \
        [(e["currency"], e["amount_minor"], d)]


# ---------------------------------------------------------------- stored, re-written, deterministic
def test_files_come_back_from_the_database(world, tmp_path):
    url, _, out = world
    again = write_bank_files(url, tmp_path / "bank")
    assert sorted(p.name for p in again) == sorted(p.name for p in bank_statements_dir(out).iterdir())
    for p in again:
        assert p.read_bytes() == (bank_statements_dir(out) / p.name).read_bytes()
    again = write_gl_exports(url, tmp_path / "gl")
    assert sorted(p.name for p in again) == sorted(p.name for p in gl_exports_dir(out).iterdir())
    for p in again:
        assert p.read_bytes() == (gl_exports_dir(out) / p.name).read_bytes()
    assert write_fx_rates(url, tmp_path / "fx.csv").read_bytes() == fx_rates_path(out).read_bytes()
    # demo_sources writes them where the folder is missing, and points the settings at them
    with demo_sources(url, tmp_path / "elsewhere") as overrides:
        assert overrides["bank_statements_dir"] == bank_statements_dir(tmp_path / "elsewhere")
        assert overrides["gl_exports_dir"] == gl_exports_dir(tmp_path / "elsewhere")
        assert overrides["fx_rates_path"] == fx_rates_path(tmp_path / "elsewhere")
        assert sorted(p.name for p in overrides["bank_statements_dir"].iterdir()) == \
            sorted(p.name for p in bank_statements_dir(out).iterdir())
        assert len(list(overrides["gl_exports_dir"].iterdir())) == len(list(gl_exports_dir(out).iterdir()))
        assert overrides["fx_rates_path"].read_bytes() == fx_rates_path(out).read_bytes()


def test_same_seed_same_files(world, make_db, tmp_path):
    url, manifest, out = world
    other = make_db()
    assert generate(other, PARAMS, out_dir=tmp_path) == manifest == load_manifest(other)
    assert content_hash(other) == content_hash(url)
    for folder in (bank_statements_dir, gl_exports_dir):
        mine = sorted(folder(out).iterdir())
        assert [p.name for p in mine] == sorted(p.name for p in folder(tmp_path).iterdir())
        for p in mine:
            assert (folder(tmp_path) / p.name).read_bytes() == p.read_bytes()
    assert fx_rates_path(tmp_path).read_bytes() == fx_rates_path(out).read_bytes()
    # the hash covers the new tables
    with psycopg.connect(other) as conn:
        conn.execute("UPDATE demo.gl_exports SET content = content || ' ' WHERE file_name = "
                     "(SELECT min(file_name) FROM demo.gl_exports)")
    assert content_hash(other) != content_hash(url)


def test_bank_directory_helpers():
    assert bank_statements_dir(Path("/x")) == Path("/x/bank")
    assert gl_exports_dir(Path("/x")) == Path("/x/gl")
    assert fx_rates_path(Path("/x")) == Path("/x/fx_rates.csv")
