"""Shadow rating (SOURCES.md §1), the pure reference: every boundary of the rule."""
from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.reference.shadow_rating import Plan, TaxRate, rate_session, session_minutes

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPEN_TAX = (TaxRate("X", Decimal("0.100000"), date(2000, 1, 1), None),)
NO_TAX = (TaxRate("X", Decimal("0"), date(2000, 1, 1), None),)


def plan(grace=10, inc=15, price=250, dmax=None, frm=datetime(2020, 1, 1, tzinfo=UTC), to=None, pid="p1") -> Plan:
    return Plan(pid, frm, to, grace, inc, price, dmax)


def rate(minutes=0, seconds=0, plans=None, taxes=NO_TAX, tz="UTC", cur="USD", entered=T0):
    exited = entered + timedelta(minutes=minutes, seconds=seconds)
    return rate_session(entered, exited, tz, cur, plans if plans is not None else (plan(),), taxes)


@pytest.mark.parametrize(("seconds", "minutes"), [(0, 0), (1, 1), (59, 1), (60, 1), (61, 2), (120, 2), (121, 3)])
def test_minutes_round_seconds_up(seconds, minutes):
    assert session_minutes(T0, T0 + timedelta(seconds=seconds)) == minutes
    assert rate(seconds=seconds).minutes == minutes


def test_microseconds_count_too():
    assert session_minutes(T0, T0 + timedelta(seconds=60, microseconds=1)) == 2


def test_grace_edge():
    at = rate(minutes=10)  # minutes == grace: nothing to bill
    assert (at.within_grace, at.billable, at.subtotal_minor, at.tax_minor, at.total_minor) == (True, False, 0, 0, 0)
    over = rate(minutes=11)
    assert (over.within_grace, over.billable, over.blocks, over.subtotal_minor) == (False, True, 1, 250)
    # 10 min 1 s is 11 minutes: billable
    assert rate(minutes=10, seconds=1).billable is True
    # grace 0: a zero-length stay is not billable, one second is
    assert rate(plans=(plan(grace=0),)).billable is False
    assert rate(seconds=1, plans=(plan(grace=0),)).subtotal_minor == 250


@pytest.mark.parametrize(("minutes", "blocks"), [(15, 1), (16, 2), (30, 2), (31, 3), (60, 4), (61, 5)])
def test_increment_edges(minutes, blocks):
    e = rate(minutes=minutes)
    assert (e.blocks, e.blocks_minor, e.subtotal_minor) == (blocks, blocks * 250, blocks * 250)


def test_no_daily_max_multi_day():
    e = rate(minutes=3 * 1440 + 7, plans=(plan(inc=60, price=300),))
    assert e.blocks == 73 and e.subtotal_minor == 73 * 300


def test_daily_max_one_day_exactly_and_one_minute_over():
    p = (plan(inc=60, price=300, dmax=2000),)
    day = rate(minutes=1440, plans=p)
    assert (day.full_days, day.remainder_minutes, day.blocks, day.subtotal_minor) == (1, 0, 0, 2000)
    over = rate(minutes=1441, plans=p)
    assert (over.full_days, over.remainder_minutes, over.blocks, over.subtotal_minor) == (1, 1, 1, 2300)
    # under a day, the cap binds once the blocks exceed it
    assert rate(minutes=1439, plans=p).subtotal_minor == 2000
    assert rate(minutes=6 * 60, plans=p).subtotal_minor == 1800  # 6 blocks = 1800 < 2000
    assert rate(minutes=7 * 60, plans=p).subtotal_minor == 2000  # 7 blocks = 2100 > 2000


def test_daily_max_three_days_plus_remainder():
    p = (plan(inc=60, price=300, dmax=2000),)
    big = rate(minutes=3 * 1440 + 10 * 60, plans=p)  # blocks(rem) = 3000 > D
    assert (big.full_days, big.remainder_minutes, big.blocks_minor, big.subtotal_minor) == (3, 600, 3000, 8000)
    small = rate(minutes=3 * 1440 + 2 * 60 + 1, plans=p)  # blocks(rem) = 900 < D
    assert (small.full_days, small.blocks, small.subtotal_minor) == (3, 3, 6900)
    equal = rate(minutes=3 * 1440 + 20 * 60, plans=(plan(inc=60, price=100, dmax=2000),))  # blocks(rem) == D
    assert equal.subtotal_minor == 8000


def test_plan_change_exactly_at_entry():
    change = T0
    old = plan(pid="old", price=100, to=change)
    new = plan(pid="new", price=200, frm=change)
    assert rate(minutes=30, plans=(old, new)).rate_plan_id == "new"  # effective_from <= E
    before = rate(minutes=30, plans=(old, new), entered=change - timedelta(microseconds=1))
    assert before.rate_plan_id == "old"  # E < effective_to
    assert before.subtotal_minor == 2 * 100 and before.blocks == 2
    assert rate(minutes=30, plans=(old, new)).subtotal_minor == 2 * 200


def test_no_plan_is_a_problem_not_an_exception():
    e = rate(minutes=30, plans=(plan(frm=T0 + timedelta(seconds=1)),))
    assert e.problem and "no rate plan" in e.problem and e.subtotal_minor is None and e.total_minor is None
    both = rate(minutes=30, plans=(plan(pid="a"), plan(pid="b")))
    assert both.problem and "2 rate plans" in both.problem


def test_other_problems_are_values():
    assert rate_session(T0, None, "UTC", "USD", (plan(),), NO_TAX).problem
    assert rate_session(T0, T0 - timedelta(seconds=1), "UTC", "USD", (plan(),), NO_TAX).problem
    assert rate_session(T0, T0, "Nowhere/Atlantis", "USD", (plan(),), NO_TAX).problem
    assert rate_session(T0, T0, "UTC", "XXX", (plan(),), NO_TAX).problem
    missing = rate(minutes=60, taxes=())
    assert missing.problem and "no tax rate" in missing.problem
    assert missing.subtotal_minor == 1000 and missing.tax_minor is None and missing.total_minor is None
    # within grace, a missing tax rate does not matter: nothing is billed
    assert rate(minutes=5, taxes=()).problem is None and rate(minutes=5, taxes=()).total_minor == 0


def test_tax_day_is_the_local_entry_day():
    taxes = (TaxRate("CA", Decimal("0.070000"), date(2026, 1, 1), date(2026, 3, 2)),
             TaxRate("CA", Decimal("0.090000"), date(2026, 3, 2), None))
    la = "America/Los_Angeles"
    # 07:30 UTC on 2 March is 23:30 on 1 March in Los Angeles (UTC-8): the old rate
    early = rate(minutes=100, plans=(plan(grace=0, inc=100, price=1000),), taxes=taxes, tz=la,
                 entered=datetime(2026, 3, 2, 7, 30, tzinfo=UTC))
    assert early.local_entry_date == date(2026, 3, 1) and early.tax_rate == Decimal("0.07") and early.tax_minor == 70
    late = rate(minutes=100, plans=(plan(grace=0, inc=100, price=1000),), taxes=taxes, tz=la,
                entered=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    assert late.local_entry_date == date(2026, 3, 2) and late.tax_minor == 90
    # effective_to is exclusive: the last day of the old rate is 1 March
    assert early.total_minor == 1070 and late.total_minor == 1090


def test_tax_half_up():
    p = (plan(grace=0, inc=60, price=5),)
    half = rate(minutes=60, plans=p, taxes=(TaxRate("X", Decimal("0.100000"), date(2000, 1, 1), None),))
    assert half.tax_minor == 1 and half.total_minor == 6  # 0.5 -> 1
    below = rate(minutes=60, plans=p, taxes=(TaxRate("X", Decimal("0.099999"), date(2000, 1, 1), None),))
    assert below.tax_minor == 0  # 0.499995 -> 0
    p2 = (plan(grace=0, inc=60, price=1234),)
    t = rate(minutes=60, plans=p2, taxes=(TaxRate("X", Decimal("0.102500"), date(2000, 1, 1), None),))
    assert t.tax_minor == 126 and t.total_minor == 1360  # 126.485 -> 126
    t = rate(minutes=60, plans=(plan(grace=0, inc=60, price=200),),
             taxes=(TaxRate("X", Decimal("0.102500"), date(2000, 1, 1), None),))
    assert t.tax_minor == 21  # 20.5 -> 21


def test_zero_decimal_currency():
    taxes = (TaxRate("JP", Decimal("0.100000"), date(2000, 1, 1), None),)
    p = (plan(grace=15, inc=30, price=205, dmax=1500),)
    e = rate(minutes=31, plans=p, taxes=taxes, tz="Asia/Tokyo", cur="JPY")
    assert (e.currency, e.subtotal_minor, e.tax_minor, e.total_minor) == ("JPY", 410, 41, 451)
    e = rate(minutes=30 * 3, plans=p, taxes=taxes, tz="Asia/Tokyo", cur="JPY")
    assert (e.subtotal_minor, e.tax_minor, e.total_minor) == (615, 62, 677)  # 61.5 yen -> 62
    # Tokyo's day starts at 15:00 UTC of the day before
    e = rate(minutes=31, plans=p, taxes=taxes, tz="Asia/Tokyo", cur="JPY", entered=datetime(2026, 3, 1, 15, 0, tzinfo=UTC))
    assert e.local_entry_date == date(2026, 3, 2)


def test_expected_is_frozen():
    e = rate(minutes=30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.total_minor = 1  # type: ignore[misc]
