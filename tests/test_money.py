from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revwatch.money import Money, MoneyError, apply_rate, format_money, parse_minor, round_half_up, to_decimal


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.30", "USD", 1230), ("0.01", "CAD", 1), ("-5.5", "EUR", -550), ("1500", "JPY", 1500), ("1.234", "KWD", 1234), (" 7 ", "USD", 700)],
)
def test_parse_minor_exact(text, currency, minor):
    assert parse_minor(text, currency) == minor


@pytest.mark.parametrize(("text", "currency"), [("12.345", "USD"), ("1.5", "JPY"), ("abc", "USD"), ("1,000.00", "USD"), ("NaN", "USD"), ("", "USD")])
def test_parse_minor_rejects_inexact_or_garbage(text, currency):
    with pytest.raises(MoneyError):
        parse_minor(text, currency)


def test_parse_minor_refuses_float_and_unknown_currency():
    with pytest.raises(MoneyError):
        parse_minor(0.1, "USD")
    with pytest.raises(MoneyError):
        parse_minor("1", "XYZ")


def test_format_and_decimal():
    assert format_money(123456789, "USD") == "USD 1,234,567.89"
    assert format_money(-5, "CAD") == "CAD -0.05"
    assert format_money(1500, "JPY") == "JPY 1,500"
    assert to_decimal(1230, "USD") == Decimal("12.30")


def test_round_half_up_and_tax():
    assert round_half_up(Decimal("2.5")) == 3
    assert round_half_up(Decimal("-2.5")) == -3
    assert round_half_up(Decimal("2.4999")) == 2
    assert apply_rate(1000, "0.102500") == 103  # 102.5 -> 103, not banker's 102
    assert apply_rate(200, Decimal("0.0125")) == 3  # 2.5 -> 3
    assert apply_rate(0, "0.13") == 0


def test_money_never_adds_across_currencies():
    assert Money(100, "USD") + Money(250, "USD") == Money(350, "USD")
    assert Money(100, "USD") - Money(250, "USD") == Money(-150, "USD")
    with pytest.raises(MoneyError):
        Money(100, "USD") + Money(100, "CAD")
    assert str(Money(1999, "CAD")) == "CAD 19.99"


@given(st.integers(min_value=-10**15, max_value=10**15), st.sampled_from(["USD", "CAD", "JPY", "KWD"]))
def test_parse_inverts_decimal(minor, currency):
    assert parse_minor(str(to_decimal(minor, currency)), currency) == minor
