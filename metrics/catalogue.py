"""The metric catalogue: one place saying what each figure on a page means.

Pages use it for labels and help tooltips, so a number and its definition never drift apart.
Ratios are defined over additive counts and computed at read time, never stored or averaged.
"""
from __future__ import annotations

from dataclasses import dataclass

# Gateway failure codes that mean "the gateway or acquirer broke", not "the card was declined".
PROCESSING_ERROR_CODES: tuple[str, ...] = ("processing_error", "Acquirer Error")

# Card network dispute-monitoring levels (disputes / sales transactions of a month): above
# these a merchant enters the network's monitoring programme (Visa VDMP 0.9 %, Mastercard ECM 1.5 %).
DISPUTE_RATIO_THRESHOLDS: dict[str, float] = {"visa": 0.009, "mastercard": 0.015}


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
            "attempt_success_rate", "Attempt success rate", "ratio",
            "Successful attempts / all attempts (retries included), by attempt time (UTC hour or the site's "
            "local day), per gateway. The headline compares with the same local days one week earlier.",
        ),
        Metric(
            "gateway_errors", "Gateway errors", "count",
            "Failed attempts whose code is in the decline class 'gateway or processing error' (the gateway or "
            "acquirer broke, not the card).",
        ),
        Metric(
            "invoice_first_attempt_rate", "Paid on first try", "ratio",
            "Invoices whose first attempt succeeded / invoices charged at least once, by invoice issue day, "
            "void invoices excluded: success without retries.",
        ),
        Metric(
            "invoice_eventual_rate", "Paid eventually", "ratio",
            "Invoices with any successful attempt / invoices charged at least once, by issue day: success "
            "with retries. The gap to 'Paid on first try' is what retries recover.",
        ),
        Metric(
            "retry_recovered", "Recovered by retry", "money",
            "Invoices paid by a later attempt after the first failed, and the amount of that successful attempt, "
            "per currency, by invoice issue day. Recovery rate = recovered / invoices whose first attempt "
            "did not succeed.",
        ),
        Metric(
            "still_unpaid", "Still unpaid", "money",
            "Non-void invoices charged at least once with no successful attempt (yet): count and total, per currency.",
        ),
        Metric(
            "decline_class", "Decline class", "count",
            "Failed attempts by class of their failure code (one taxonomy for Stripe and Adyen): soft decline "
            "(retryable), hard decline, fraud or blocked card, authentication required, gateway or processing "
            "error; codes not in the taxonomy are 'unclassified', never dropped.",
        ),
        Metric(
            "failed_window_cost", "Cost of failed attempts", "money",
            "For the failed attempts of a window: their amount, the part a later attempt on the same invoice "
            "collected (recovered later), and the part whose invoice is still unpaid; per currency.",
        ),
        Metric(
            "refunds", "Refunds", "money",
            "Billing refunds by creation time (site local day): count and amount per currency, any status; "
            "failed refunds are the ones the gateway rejected.",
        ),
        Metric(
            "time_to_refund", "Mean time to refund", "ratio",
            "Sum of (refund created - paid attempt made) / number of refunds whose attempt is known.",
        ),
        Metric(
            "disputes", "Disputes", "money",
            "Stripe disputes and Adyen chargebacks by the day they were opened: count, amount, won, lost, open. "
            "Stripe: status won (or inquiry closed / prevented) = won, lost = lost, else open. Adyen: a chargeback "
            "with a ChargebackReversed line = won, else lost (the settlement report has no defence status).",
        ),
        Metric(
            "dispute_ratio", "Dispute ratio", "ratio",
            "Per card network and local month: disputes opened / successful card payments of that network. "
            "Monitoring levels: "
            + ", ".join(f"{k} {v * 100:.1f} %" for k, v in DISPUTE_RATIO_THRESHOLDS.items()) + ".",
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
