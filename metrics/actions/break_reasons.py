"""Why a break was resolved or written off (metrics/actions/break_workflow.py): a category from CATEGORIES that can
explain the break's type (FITTING: a duplicate is not a timing difference), and text saying what was found."""
from __future__ import annotations

from typing import NamedTuple

from metrics.actions.break_refusal import ActionRefused

CATEGORIES: dict[str, str] = {
    "timing": "Timing difference: it will match later",
    "bank_fee": "Bank fee deducted",
    "duplicate_posting": "Duplicate posting",
    "gateway_error": "Gateway error",
    "data_fix": "Source data corrected",
    "immaterial": "Immaterial amount",
    "other": "Other",
}
# the reasons that can explain each break type: a duplicate is not a timing difference, nor a bank fee a
# missing record (a break type not listed here admits every category)
FITTING: dict[str, frozenset[str]] = {
    "missing": frozenset({"timing", "duplicate_posting", "gateway_error", "data_fix", "immaterial", "other"}),
    "amount_mismatch": frozenset({"bank_fee", "gateway_error", "data_fix", "immaterial", "other"}),
    "duplicate": frozenset({"duplicate_posting", "gateway_error", "data_fix", "immaterial", "other"}),
    "status_mismatch": frozenset({"timing", "gateway_error", "data_fix", "immaterial", "other"}),
    "currency_mismatch": frozenset({"gateway_error", "data_fix", "immaterial", "other"}),
}


class Reason(NamedTuple):
    """Why a break was resolved or written off: one of CATEGORIES plus free text."""

    category: str
    text: str = ""

    def __str__(self) -> str:
        return f"{self.category}: {self.text}" if self.text else self.category


def fitting_categories(break_type: str | None) -> tuple[str, ...]:
    """The CATEGORIES (in their order) that can explain a break of `break_type`."""
    fits = FITTING.get(break_type or "", frozenset(CATEGORIES))
    return tuple(c for c in CATEGORIES if c in fits)


def parse_reason(value: Reason | str | tuple, break_id: int | None = None, action: str = "resolve",
                 break_type: str | None = None) -> Reason:
    """A Reason from a Reason, a (category, text) pair or a "category: text" string; refused when
    the category is not one of CATEGORIES or does not fit `break_type`, or the text is empty."""
    if isinstance(value, str):
        head, sep, tail = value.partition(":")
        value = Reason(head.strip(), tail.strip()) if sep else Reason(value.strip(), "")
    elif not isinstance(value, Reason):
        value = Reason(*value)
    category, note = (value.category or "").strip(), (value.text or "").strip()
    if category not in CATEGORIES:
        raise ActionRefused(break_id, action, f"reason category {category!r} is not one of {', '.join(CATEGORIES)}")
    fits = fitting_categories(break_type)
    if category not in fits:
        raise ActionRefused(break_id, action, f"{CATEGORIES[category].lower()!r} does not explain a "
                                              f"{(break_type or '').replace('_', ' ')} break; one of: "
                                              f"{', '.join(fits)}")
    if not note:
        raise ActionRefused(break_id, action, "a reason text is required (what was found, and where)")
    return Reason(category, note)
