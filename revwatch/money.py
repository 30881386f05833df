"""Money as integer minor units plus an ISO 4217 currency. Decimal for parsing; never float."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

# ISO 4217 (list one, as published 2026-01-01): every current code that has a minor unit, with its
# exponent. A code missing here is not money to Revwatch: sources are refused at the door.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2, "BAM": 2,
    "BBD": 2, "BDT": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2,
    "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4,
    "CLP": 0, "CNY": 2, "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2,
    "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2,
    "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2,
    "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2,
    "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2,
    "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2, "NAD": 2,
    "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2,
    "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2,
    "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
    "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2,
    "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2,
    "VED": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAD": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0,
    "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}
# ISO 4217 codes without a minor unit (metals, SDR, bond-market units, test and "no currency"): real
# codes, so an exchange-rate file may list them, but never an amount of money here.
WITHOUT_MINOR_UNIT = frozenset({"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"})
MAX_MINOR = 2**63 - 1  # what PostgreSQL bigint holds; |minor| beyond it is refused at parse
# A plain decimal string: optional sign, ASCII digits, optional point. No exponent, no digit
# separators, no NaN or infinity, no other scripts' digits (all of which Decimal() would take).
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
EXPONENT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
MAX_TEXT = 64  # characters: longer than any amount a bigint holds, with decimals and zeros to spare


class MoneyError(ValueError):
    """A value that cannot be exact money."""


def is_iso_4217(code: str) -> bool:
    """An ISO 4217 code, with or without a minor unit (upper case as written)."""
    return code in CURRENCY_EXPONENTS or code in WITHOUT_MINOR_UNIT


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency.upper()]
    except (KeyError, AttributeError):
        if isinstance(currency, str) and currency.upper() in WITHOUT_MINOR_UNIT:
            raise MoneyError(f"currency {currency!r} has no minor unit in ISO 4217: not an amount of money") from None
        raise MoneyError(f"unknown currency {currency!r} (not ISO 4217)") from None


def parse_decimal(text: str) -> Decimal:
    """A plain decimal string (see DECIMAL_TEXT; surrounding spaces allowed) -> its exact Decimal."""
    value = str(text).strip()
    if len(value) > MAX_TEXT:
        raise MoneyError(f"not a decimal amount: {value[:20]!r}... ({len(value)} characters)")
    if not DECIMAL_TEXT.fullmatch(value):
        refused = " (exponent notation is refused)" if EXPONENT_TEXT.fullmatch(value) else ""
        raise MoneyError(f"not a decimal amount: {text!r}{refused}")
    return Decimal(value)


def _significant(value: Decimal) -> tuple[int, int, int]:
    """A finite non-zero Decimal as (sign, coefficient, exponent) without trailing zeros, exactly."""
    sign, digits, exp = value.as_tuple()
    exp = int(exp)  # a finite Decimal's exponent is an int
    end = len(digits)
    while end > 1 and digits[end - 1] == 0:
        end -= 1
    return sign, int("".join(map(str, digits[:end]))), exp + len(digits) - end


def fits(value: Decimal, decimals: int, integer_digits: int) -> bool:
    """Does a finite Decimal hold in `integer_digits` digits before the point and `decimals` after,
    exactly (trailing zeros do not count)? Integer arithmetic only: no context rounding."""
    if not value.is_finite():
        return False
    if value.is_zero():
        return True
    if value.adjusted() >= integer_digits:
        return False
    return -_significant(value)[2] <= decimals


class Money(NamedTuple):
    minor: int
    currency: str

    def __add__(self, other):  # type: ignore[override]
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency:
            raise MoneyError(f"cannot add {self.currency} and {other.currency} without FX conversion")
        return Money(self.minor + other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __sub__(self, other):  # type: ignore[override]
        if not isinstance(other, Money):
            return NotImplemented
        return self + (-other)

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)


def parse_minor(text: str | Decimal | int, currency: str) -> int:
    """Decimal string in major units -> integer minor units, exactly.

    "12.30" USD -> 1230; "1 234,5", "1e20", "1_000", "NaN" are rejected; more decimals than the
    currency has is an error rather than a silent rounding; an amount whose minor units a bigint
    cannot hold (|minor| > MAX_MINOR) is an error naming the value. No context precision is used,
    so nothing is ever rounded on the way.
    """
    exp = exponent(currency)
    if isinstance(text, (float, bool)):
        raise MoneyError(f"money must not be a {type(text).__name__}")
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, int):
        value = Decimal(text)
    else:
        value = parse_decimal(text)
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {text!r}")
    if value.is_zero():
        return 0
    if value.adjusted() + exp > 18:  # >= 10**19 minor units, beyond any bigint
        raise MoneyError(f"{text!r} is out of range: beyond {MAX_MINOR} minor units of {currency}")
    if not fits(value, exp, 19):
        raise MoneyError(f"{text!r} has more than {exp} decimals for {currency}")
    sign, coefficient, places = _significant(value)
    minor = coefficient * 10 ** (places + exp)  # places + exp >= 0: fits() said so
    if minor > MAX_MINOR:
        raise MoneyError(f"{text!r} is out of range: beyond {MAX_MINOR} minor units of {currency}")
    return -minor if sign else minor


def parse_whole_minor(text: str) -> int:
    """A count of minor units as a source writes it (BAI2 amounts): ASCII digits only, no sign,
    at most MAX_MINOR; MoneyError otherwise."""
    value = text.strip()
    if not value or not value.isascii() or not value.isdigit():
        raise MoneyError(f"not a whole number of minor units: {text!r}")
    if len(value.lstrip("0")) > 19 or int(value) > MAX_MINOR:
        raise MoneyError(f"{text!r} is out of range: beyond {MAX_MINOR} minor units")
    return int(value)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Integer minor units -> Decimal major units (for display and export only)."""
    return Decimal(int(minor)).scaleb(-exponent(currency))


def format_money(minor: int, currency: str) -> str:
    """1234567 USD -> 'USD 12,345.67'. Formatting is kept apart from arithmetic.

    A code without a known exponent (outside ISO 4217, or not in CURRENCY_EXPONENTS) is shown, never
    raised: its amount stays in minor units and says so, 1234 QQQ -> 'QQQ 1234 (minor units, unknown
    currency)', since nobody can tell where its decimal point goes."""
    if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
        code = currency if isinstance(currency, str) and currency else "no currency"
        return f"{code} {int(minor)} (minor units, unknown currency)"
    exp = exponent(currency)
    value = to_decimal(minor, currency)
    return f"{currency} {value:,.{exp}f}"


def chart_amount(minor: int, currency: str) -> Decimal:
    """For a chart axis only (never arithmetic): major units where the currency's exponent is known,
    else the minor units as they are (format_money says so wherever the amount is written out)."""
    if isinstance(currency, str) and currency.upper() in CURRENCY_EXPONENTS:
        return to_decimal(minor, currency)
    return Decimal(int(minor))


def round_half_up(value: Decimal) -> int:
    """Round a Decimal to an integer, halves away from zero (the tax rule of SOURCES.md §1)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_rate(minor: int, rate: Decimal | str) -> int:
    """minor * rate rounded half up to whole minor units (tax on a subtotal)."""
    return round_half_up(Decimal(int(minor)) * Decimal(str(rate)))
