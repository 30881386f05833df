"""The metric catalogue: one place saying what each figure on a page means.

Pages use it for labels and help tooltips, so a number and its definition never drift apart.
Ratios are defined over additive counts and computed at read time, never stored or averaged.
"""
from __future__ import annotations

from dataclasses import dataclass

# Gateway failure codes that mean "the gateway or acquirer broke", not "the card was declined".
PROCESSING_ERROR_CODES: tuple[str, ...] = ("processing_error", "Acquirer Error")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "money" (minor units per currency), "count" or "ratio"
    description: str  # the formula in words


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric(
            "invoiced_revenue", "Invoiced revenue", "money",
            "Sum of invoice totals (subtotal + tax) by issue time, per currency, excluding void invoices. "
            "Days are each site's local days. Today / week to date / month to date run up to now, and are "
            "compared with the same span before (yesterday, the same days of last week or last month) "
            "up to the same time of day. Currencies are never added together.",
        ),
        Metric(
            "invoices", "Invoices", "count",
            "Number of invoices issued, by issue time, excluding void invoices.",
        ),
        Metric(
            "sessions", "Sessions", "count",
            "Parking sessions by entry time, in the selected local days; compared with the same number of "
            "days just before.",
        ),
        Metric(
            "payment_attempts", "Payment attempts", "count",
            "Payment attempts by attempt time, retries included, any status.",
        ),
        Metric(
            "payment_success_rate", "Payment success rate", "ratio",
            "Successful attempts / all attempts (retries included) in the selected local days; compared "
            "with the same number of days just before. Pending and unknown attempts count as not successful.",
        ),
        Metric(
            "first_attempt_success_rate", "First-attempt success rate", "ratio",
            "Successful first attempts / first attempts (attempt number 1): how often a charge works "
            "without a retry.",
        ),
        Metric(
            "payment_failure_rate", "Payment failure rate", "ratio",
            "Failed attempts / all attempts, per UTC hour and gateway.",
        ),
        Metric(
            "processing_error_share", "Processing-error share", "ratio",
            "Failed attempts whose failure code is a gateway/acquirer error ("
            + ", ".join(PROCESSING_ERROR_CODES) + ") / all failed attempts.",
        ),
        Metric(
            "failed_attempts_by_code", "Failed attempts by code", "count",
            "Failed payment attempts in the selected local days, grouped by gateway and the gateway's "
            "failure code.",
        ),
        Metric(
            "freshness", "Data freshness", "count",
            "Per collector job: when its last successful run finished, and the outcome of its last run.",
        ),
    )
}


def help_text(key: str) -> str:
    """Tooltip text for a metric: its definition in words."""
    return METRICS[key].description
