from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revwatch.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR,
    WITHOUT_MINOR_UNIT,
    Money,
    MoneyError,
    apply_rate,
    exponent,
    fits,
    format_money,
    is_iso_4217,
    parse_decimal,
    parse_minor,
    parse_whole_minor,
    round_half_up,
    to_decimal,
)


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


# ------------------------------------------------------------------ at the door (issue 15, point 2)
def test_currency_exponents_are_the_iso_4217_list():
    assert len(CURRENCY_EXPONENTS) == 165  # list one of 2026-01-01, less the 13 codes without a minor unit
    assert {c: CURRENCY_EXPONENTS[c] for c in ("USD", "EUR", "CAD", "JPY", "KWD", "CLF", "UYW", "XCG", "ZWG", "KES")} == {
        "USD": 2, "EUR": 2, "CAD": 2, "JPY": 0, "KWD": 3, "CLF": 4, "UYW": 4, "XCG": 2, "ZWG": 2, "KES": 2}
    assert all(len(c) == 3 and c.isascii() and c.isupper() for c in CURRENCY_EXPONENTS)
    assert not {"HRK", "SLL", "ZWL", "CUC", "QQQ", "XYZ"} & set(CURRENCY_EXPONENTS)  # withdrawn, or never codes
    assert WITHOUT_MINOR_UNIT.isdisjoint(CURRENCY_EXPONENTS) and {"XAU", "XDR", "XXX"} <= WITHOUT_MINOR_UNIT
    assert is_iso_4217("XAU") and is_iso_4217("KES") and not is_iso_4217("QQQ")
    with pytest.raises(MoneyError, match="'XAU' has no minor unit"):
        exponent("XAU")
    with pytest.raises(MoneyError, match=r"unknown currency 'QQQ' \(not ISO 4217\)"):
        exponent("QQQ")


@pytest.mark.parametrize(("text", "message"), [
    ("1e20", "not a decimal amount: '1e20' (exponent notation is refused)"),
    ("1E-2", "not a decimal amount: '1E-2' (exponent notation is refused)"),
    ("99999999999999999999.00", "'99999999999999999999.00' is out of range: beyond 9223372036854775807 minor units of USD"),
    ("92233720368547758.08", "'92233720368547758.08' is out of range"),
    ("-92233720368547758.08", "'-92233720368547758.08' is out of range"),
    ("1_000.00", "not a decimal amount: '1_000.00'"),
    ("١٢٣", "not a decimal amount: '١٢٣'"),
    ("Infinity", "not a decimal amount: 'Infinity'"),
    ("Free", "not a decimal amount: 'Free'"),
    ("9" * 100, "not a decimal amount: '99999999999999999999'... (100 characters)"),
])
def test_parse_minor_refuses_what_a_bigint_cannot_hold_and_what_is_not_plain_decimal(text, message):
    with pytest.raises(MoneyError) as info:
        parse_minor(text, "USD")
    assert str(info.value).startswith(message)


def test_parse_minor_takes_the_bigint_bounds_exactly_without_context_rounding():
    assert parse_minor("92233720368547758.07", "USD") == MAX_MINOR
    assert parse_minor("-92233720368547758.07", "USD") == -MAX_MINOR
    assert parse_minor("9223372036854775807", "JPY") == MAX_MINOR
    assert parse_minor("12.30000000000000000000000000000000000000", "USD") == 1230  # 40 digits: context prec is 28
    with pytest.raises(MoneyError, match="more than 2 decimals"):
        parse_minor("12.30000000000000000000000000000000000001", "USD")  # rounded to 12.30 by a 28-digit context
    assert parse_minor(Decimal("1." + "0" * 6000), "USD") == 100  # beyond int()'s digit limit if done naively
    assert parse_minor(".5", "USD") == 50 and parse_minor("+5.", "USD") == 500 and parse_minor(Decimal("0E+99"), "USD") == 0


def test_whole_minor_units_are_ascii_digits_within_bigint():
    assert parse_whole_minor("00042") == 42 and parse_whole_minor(str(MAX_MINOR)) == MAX_MINOR
    for bad in ("12345678901234567890", str(MAX_MINOR + 1), "-1", "1.0", "١", "", "1e3"):
        with pytest.raises(MoneyError):
            parse_whole_minor(bad)


def test_fits_counts_digits_exactly():
    assert fits(Decimal("9999999999.9999999999"), 10, 10)
    assert fits(Decimal("1.1234567890000000000000000000000"), 10, 10)  # trailing zeros do not count
    assert not fits(Decimal("1.12345678901"), 10, 10) and not fits(Decimal("12345678901"), 10, 10)
    assert fits(Decimal(0), 0, 0) and not fits(Decimal("NaN"), 10, 10)
    assert parse_decimal(" 1.0800 ") == Decimal("1.08")


@given(st.text(alphabet="0123456789.-+eE_ ,", max_size=30), st.sampled_from(["USD", "JPY", "KWD", "CLF"]))
def test_parse_minor_is_exact_or_a_money_error(text, currency):
    try:
        minor = parse_minor(text, currency)
    except MoneyError:
        return
    assert abs(minor) <= MAX_MINOR
    assert Decimal(minor).scaleb(-exponent(currency)) == Decimal(text.strip())
