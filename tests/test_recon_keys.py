"""The reconciliation's keys and references (revwatch/recon_keys.py): built and parsed in Python
and in SQL by the one module, so the job that writes them and the reads that parse them agree.
Round trips in Python, the SQL fragments against Python on a real Postgres, and every key the job
wrote on the demo world parsed back."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from revwatch import recon_keys as k

PART = st.text(st.characters(blacklist_characters=":,", blacklist_categories=("Cs",)), min_size=1, max_size=40)
SHA = st.text("0123456789abcdef", min_size=64, max_size=64)
LINE = st.integers(min_value=0, max_value=2**31 - 1)
BATCH = st.integers(min_value=0, max_value=999_999_999)


@given(SHA, LINE)
def test_bank_key_round_trip(sha, line):
    key = k.bank_key(sha, line)
    assert key == f"bank:{sha}:{line}"
    assert k.parse_bank_key(key) == (sha, line)


@given(st.sampled_from(k.GATEWAYS), PART)
def test_payout_key_round_trip(gateway, ref):
    assert k.parse_payout_key(k.payout_key(gateway, ref)) == (gateway, ref)


@given(BATCH)
def test_adyen_payout_reference_round_trip(batch):
    reference = k.payout_reference("adyen", batch)
    assert reference == f"ADYEN-{batch}"
    assert k.parse_payout_reference(reference) == ("adyen", str(batch))
    assert k.parse_payout_key(k.payout_key("adyen", batch)) == ("adyen", str(batch))


@given(PART, st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)), st.sampled_from(["USD", "EUR", "JPY"]))
def test_revenue_key_and_reference_round_trip(site, day, currency):
    assert k.parse_revenue_key(k.revenue_key(site, day, currency)) == (site, day.isoformat(), currency)
    assert k.parse_revenue_reference(k.revenue_reference(site, day)) == (site, day.isoformat(), None)


@pytest.mark.parametrize("key", ["bank:abc", "bank:abc:x", "bank::3", "bank:abc:-1", "payout:abc:9", "gl:bank:a:1"])
def test_not_a_bank_key(key):
    assert k.parse_bank_key(key) is None


@pytest.mark.parametrize("key", ["payout:paypal:1", "payout:stripe:", "payout:stripe:po:1", "attempt:pa_1",
                                 "stripe:ch_1", "payout:adyen"])
def test_not_a_payout_key(key):
    assert k.parse_payout_key(key) is None


def test_references_and_refs():
    assert k.parse_payout_reference("po_123") == ("stripe", "po_123")
    assert k.parse_payout_reference("ADYEN-0042") == ("adyen", "42")
    for other in ("ADYEN-", "adyen-42", "ADYEN-4x", "REV-W1-2026-10-01", "rf_1", "ADYEN-1234567890"):
        assert k.parse_payout_reference(other) is None, other
    assert k.parse_revenue_reference("REV-site-a-2026-10-01") == ("site-a", "2026-10-01", None)
    assert k.parse_revenue_key("rev:W1:2026-10-1:USD") is None
    assert k.split_refs(k.join_refs(["bank:a:1", "bank:b:2"])) == ["bank:a:1", "bank:b:2"]
    assert k.split_refs(None) == [] and k.split_refs(" a , ,b") == ["a", "b"]
    assert k.split_key("attempt:pa_1:x") == ("attempt", "pa_1:x")


def test_a_part_with_the_separator_is_refused():
    with pytest.raises(ValueError, match="cannot be part"):
        k.payout_key("stripe", "po:1")
    with pytest.raises(ValueError, match="unknown gateway"):
        k.payout_key("paypal", "1")
    with pytest.raises(ValueError, match="cannot be part"):
        k.bank_key("", 1)


def test_sql_builds_and_parses_as_python_does(make_world):
    """The SQL fragments give the keys Python builds, and parse them back as Python does."""
    world = make_world()
    with world.engine.connect() as conn:
        def one(fragment: str, columns: str, values: str, alias: str = "t", **params):
            sql = f"SELECT {fragment} FROM (VALUES ({values})) AS {alias}({columns})"
            return conn.execute(text(sql), params).scalar()

        sha = "ab" * 32
        assert one(k.BANK_KEY_SQL, "file_sha256, line_number", "CAST(:s AS text), CAST(:n AS int)",
                   s=sha, n=17) == k.bank_key(sha, 17)
        assert one(k.STRIPE_PAYOUT_KEY_SQL, "id", "CAST(:i AS text)", alias="p", i="po_9") == \
            k.payout_key("stripe", "po_9")
        assert one(k.ADYEN_PAYOUT_KEY_SQL, "batch_number", "CAST(:b AS int)", b=42) == k.payout_key("adyen", 42)
        assert one(k.ADYEN_REFERENCE_SQL, "batch_number", "CAST(:b AS int)", b=42) == k.payout_reference("adyen", 42)
        day = date(2026, 10, 3)
        values = "CAST(:s AS text), CAST(:d AS date), CAST(:c AS text)"
        assert one(k.REVENUE_KEY_SQL, "site_id, local_date, currency", values, s="W-1", d=day, c="USD") == \
            k.revenue_key("W-1", day, "USD")
        assert one(k.REVENUE_REFERENCE_SQL, "site_id, local_date, currency", values, s="W-1", d=day, c="USD") == \
            k.revenue_reference("W-1", day)
        for key in (k.payout_key("stripe", "po_9"), k.payout_key("adyen", 42)):
            parsed = k.parse_payout_key(key)
            assert one(k.PAYOUT_GATEWAY_OF_KEY_SQL, "item_key", "CAST(:k AS text)", k=key) == parsed.gateway
            assert one(k.PAYOUT_REF_OF_KEY_SQL, "item_key", "CAST(:k AS text)", k=key) == parsed.ref
        assert one(k.ADYEN_BATCH_OF_KEY_SQL, "item_key", "CAST(:k AS text)", k=k.payout_key("adyen", 42)) == 42
        for ref in ("ADYEN-0042", "ADYEN-42", "po_1", "ADYEN-x", "REV-W-1-2026-10-03"):
            payout = k.parse_payout_reference(ref)
            want = int(payout.ref) if payout and payout.gateway == "adyen" else None
            assert one(k.ADYEN_BATCH_OF_REFERENCE_SQL, "ref", "CAST(:r AS text)", r=ref) == want, ref
            revenue = k.parse_revenue_reference(ref)
            assert one(k.REVENUE_SITE_OF_REFERENCE_SQL, "ref", "CAST(:r AS text)", r=ref) == (
                revenue.site_id if revenue else None), ref
            assert one(k.REVENUE_DAY_OF_REFERENCE_SQL, "ref", "CAST(:r AS text)", r=ref) == (
                date.fromisoformat(revenue.local_date) if revenue else None), ref


PARSERS = {"payout": k.parse_payout_key, "payout_journal": k.parse_payout_key, "bank_credit": k.parse_bank_key,
           "revenue_day": k.parse_revenue_key}
PREFIXES = {"payment": "attempt", "refund": "refund", "refund_journal": "refund", "balance_entry": "txn",
            "ledger_entry": "gl", "gateway_payment": k.GATEWAYS, "gateway_refund": k.GATEWAYS}


def test_every_key_the_job_wrote_parses(demo_world):
    rows = demo_world.sql("SELECT DISTINCT ON (item_type, split_part(item_key, ':', 1)) item_type, item_key,"
                          " site_id, currency FROM recon_items")
    assert {r[0] for r in rows} >= {"payment", "balance_entry", "payout", "payout_journal", "revenue_day"}
    for item_type, key, site_id, currency in rows:
        assert item_type in k.ITEM_TYPES, item_type
        if item_type in PARSERS:
            parsed = PARSERS[item_type](key)
            assert parsed is not None, key
            if item_type == "revenue_day":
                assert (parsed.site_id, parsed.currency) == (site_id, currency)
        else:
            prefix, rest = k.split_key(key)
            want = PREFIXES[item_type]
            assert (prefix in want if isinstance(want, tuple) else prefix == want) and rest, key
    # the bank lines a matched payout names: keys built in SQL, parsed in Python, found again by their parts
    named = [b for (refs,) in demo_world.sql("SELECT right_ref FROM recon_items WHERE stage = 'S3'"
                                             " AND item_type = 'payout' AND status = 'matched' LIMIT 50")
             for b in k.split_refs(refs)]
    assert named
    for key in named:
        bank = k.parse_bank_key(key)
        assert bank is not None, key
        assert demo_world.sql("SELECT count(*) FROM bank_lines WHERE file_sha256 = %s AND line_number = %s",
                              bank) == [(1,)], key
