"""Money as integer minor units plus an ISO 4217 currency. Decimal for parsing; never float."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

# ISO 4217 minor-unit exponents for the currencies Revwatch may meet.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2,
    "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
    "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2, "NZD": 2,
    "OMR": 3, "PLN": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "USD": 2,
    "VND": 0, "ZAR": 2,
}


class MoneyError(ValueError):
    """A value that cannot be exact money."""


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency.upper()]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


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

    "12.30" USD -> 1230; "1 234,5" is rejected; more decimals than the currency has is an
    error rather than a silent rounding.
    """
    exp = exponent(currency)
    if isinstance(text, float):
        raise MoneyError("money must not be a float")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise MoneyError(f"not a decimal amount: {text!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {text!r}")
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{text!r} has more than {exp} decimals for {currency}")
    return int(scaled)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Integer minor units -> Decimal major units (for display and export only)."""
    return Decimal(int(minor)).scaleb(-exponent(currency))


def format_money(minor: int, currency: str) -> str:
    """1234567 USD -> 'USD 12,345.67'. Formatting is kept apart from arithmetic."""
    exp = exponent(currency)
    value = to_decimal(minor, currency)
    return f"{currency} {value:,.{exp}f}"


def round_half_up(value: Decimal) -> int:
    """Round a Decimal to an integer, halves away from zero (the tax rule of SOURCES.md §1)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_rate(minor: int, rate: Decimal | str) -> int:
    """minor * rate rounded half up to whole minor units (tax on a subtotal)."""
    return round_half_up(Decimal(int(minor)) * Decimal(str(rate)))
