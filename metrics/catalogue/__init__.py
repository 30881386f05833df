"""The metric catalogue: one place saying what each figure means, for every face that shows it.

Pages read labels and help tooltips here (`METRICS`, `help_text`), the Prometheus exporter its
families (`prometheus.py`: name, type, labels, HELP line), so a number and its definition never
drift apart. Thresholds that decide how a figure is judged live here too. Ratios are defined over
additive counts and computed at read time, never stored or averaged.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

# Card network dispute-monitoring levels (disputes / sales transactions of a month): above
# these a merchant enters the network's monitoring programme (Visa VDMP 0.9 %, Mastercard ECM 1.5 %).
DISPUTE_RATIO_THRESHOLDS: dict[str, float] = {"visa": 0.009, "mastercard": 0.015}

# Fewer attempts than this in an hour and its success or failure rate is noise: such hours get no
# rate on the charts and are never a "worst hour" (1 failure of 2 is not 50 %).
MIN_RATE_ATTEMPTS = 10

# Windows that find incidents (metrics/figures/incident_windows.py, read by payments.worst_hours): an
# hour's failures (failed + unknown) against its baseline, the gateway's same hour of the week over the
# range and BASELINE_WEEKS weeks before it (when that pool holds MIN_BASELINE_ATTEMPTS attempts; else the
# other gateways in that hour, the gateway's same hour of the day, all its hours). An hour stands out when
# its one-sided exact binomial tail is below HOUR_SIGNIFICANCE; adjacent ones form a window, an incident
# when it has MIN_INCIDENT_ATTEMPTS attempts and a tail below INCIDENT_SIGNIFICANCE (about one false
# window in a thousand two-week ranges of two gateways: 672 hours tested).
BASELINE_WEEKS = 4
MIN_BASELINE_ATTEMPTS = 200
HOUR_SIGNIFICANCE = 1e-3
INCIDENT_SIGNIFICANCE = 1e-6
MIN_INCIDENT_ATTEMPTS = 20

# A job is stale when its last success is older than this many of its configured intervals
# (revwatch.schedule.intervals: the catalogue's defaults under WORKER_SCHEDULE). The Health page
# and the CollectorStale alert (alerts/alerting_rules.yml; a test keeps its factor equal) judge so.
STALE_AFTER_INTERVALS = 2

# How old each source's newest data may be before it is stale (the Health page's source freshness).
# Files arrive daily and banks, ledgers and rate feeds skip weekends and holidays, so their thresholds are days.
SOURCE_FRESHNESS_THRESHOLDS: dict[str, timedelta] = {
    "billing": timedelta(hours=2),
    "stripe": timedelta(hours=6),
    "adyen": timedelta(days=2),
    "bank": timedelta(days=4),
    "gl": timedelta(days=4),
    "fx": timedelta(days=4),
}


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "money" (minor units per currency), "count", "ratio" or "seconds"
    description: str  # the formula in words
    thresholds: Mapping[str, float] = field(default_factory=dict)  # levels the figure is judged against


def _levels(thresholds: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v * 100:.1f} %" for k, v in thresholds.items())


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        # ------------------------------------------------------------ revenue and sessions
        Metric(
            "invoiced_revenue", "Invoiced revenue", "money",
            "Sum of invoice totals (subtotal + tax) by issue time, per currency, excluding void invoices. "
            "Days are each site's local days. Today / week to date / month to date run up to now, and are "
            "compared with the same span before (yesterday, the same days of last week or last month) "
            "up to the same time of day. Currencies are never added together.",
        ),
        Metric("invoices", "Invoices", "count", "Number of invoices issued, by issue time, excluding void invoices."),
        Metric(
            "sessions", "Sessions", "count",
            "Parking sessions by entry time, in the selected local days; compared with the same number of "
            "days just before.",
        ),
        # ------------------------------------------------------------ payment attempts
        Metric("payment_attempts", "Payment attempts", "count",
               "Payment attempts by attempt time, retries included, any status."),
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
            "attempt_success_rate", "Attempt success rate", "ratio",
            "Successful attempts / all attempts (retries included), by attempt time (UTC hour or the site's "
            "local day), per gateway. The headline compares with the same local days one week earlier. "
            f"An hour with fewer than {MIN_RATE_ATTEMPTS} attempts gets no rate on the chart.",
        ),
        Metric(
            "failed_attempts", "Failed attempts", "count",
            "Payment attempts with status failed, by attempt time, retries included.",
        ),
        Metric(
            "payment_failure_rate", "Payment failure rate", "ratio",
            f"Failed attempts / all attempts, per UTC hour and gateway, for hours with at least {MIN_RATE_ATTEMPTS} "
            "attempts (fewer and the rate is noise: no point is drawn). The hover shows the hour's gateway-error "
            "share: failed attempts of decline class 'gateway or processing error' / all failed attempts.",
        ),
        Metric(
            "gateway_errors", "Gateway errors", "count",
            "Failed attempts whose code is in the decline class 'gateway or processing error' (the gateway or "
            "acquirer broke, not the card).",
        ),
        Metric(
            "gateway_error_share", "Gateway-error share", "ratio",
            "Failed attempts of decline class 'gateway or processing error' / all failed attempts.",
        ),
        Metric(
            "failed_attempts_by_code", "Failed attempts by code", "count",
            "Failed payment attempts in the selected local days, grouped by gateway and the gateway's "
            "failure code.",
        ),
        Metric(
            "decline_class", "Decline class", "count",
            "Failed attempts by class of their failure code (one taxonomy for Stripe and Adyen): soft decline "
            "(retryable), hard decline, fraud or blocked card, authentication required, gateway or processing "
            "error; codes not in the taxonomy are 'unclassified', never dropped.",
        ),
        # ------------------------------------------------------------ invoices and retries
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
        # ------------------------------------------------------------ the worst windows and what they cost
        Metric(
            "worst_windows", "Worst windows", "count",
            "Gateway-hours whose failures (failed or timed out) stand far above their baseline (the gateway's same "
            "hour of the week, else the other gateways that hour, its same hour of the day, all its hours): a "
            "one-sided binomial tail below 0.001 an hour; adjacent ones form a window, kept with at least 20 attempts "
            "and a tail below 1e-6; ranked by how far the failure rate stands above the baseline.",
        ),
        Metric(
            "failed_window_cost", "Cost of failed attempts", "money",
            "For the failed attempts of a window: their amount, the part a later attempt on the same invoice "
            "collected (recovered later), and the part whose invoice is still unpaid; per currency.",
        ),
        Metric("window_recovered", "Recovered later", "count",
               "Failed attempts whose invoice a later attempt collected."),
        Metric("window_unpaid", "Still unpaid", "count",
               "Failed attempts whose invoice has no successful attempt yet."),
        Metric("window_baseline_rate", "Usual failure rate", "ratio",
               "The failure rate these hours usually have (the same gateway's same hours in the weeks before, or a "
               "wider pool when those are too few): the baseline the window is judged by."),
        Metric("window_failure_rate", "Failure rate in window", "ratio",
               "Failed attempts and attempts the gateway never answered, of all attempts."),
        Metric("window_excess", "Failures above usual", "count",
               "Failures beyond what the usual rate predicts for the window's attempts."),
        Metric("window_timeouts", "No answer (timeouts)", "count",
               "Attempts the gateway never answered: a failure the customer sees."),
        Metric(
            "gateway_mismatches", "Charged at the gateway, not in billing", "money",
            "Succeeded Stripe charges and Adyen Settled lines whose billing attempt is failed or unknown "
            "(the customer paid, billing does not know), or that have no attempt in billing at all (a "
            "double charge). Judged only once billing has synced past the gateway time plus the settle "
            "delay (default 2 h), so recent charges are not listed yet.",
        ),
        Metric(
            "mismatch_unrecorded_success", "Charged, billing says failed", "money",
            "Succeeded Stripe charges and Adyen Settled lines whose billing attempt is failed or unknown: the "
            "customer paid, billing does not know. Count and amount per currency.",
        ),
        Metric(
            "mismatch_no_internal_attempt", "Charged, no attempt in billing", "money",
            "Succeeded Stripe charges and Adyen Settled lines with no attempt in billing at all: a double "
            "charge. Count and amount per currency.",
        ),
        # ------------------------------------------------------------ refunds and disputes
        Metric(
            "refunds", "Refunds", "money",
            "Billing refunds by creation time (site local day): count and amount per currency, any status; "
            "failed refunds are the ones the gateway rejected.",
        ),
        Metric(
            "failed_refunds", "Failed refunds", "count",
            "Refunds the gateway rejected, by creation day: their count, and their amount, which was not "
            "returned to the customer. Pending refunds are not failed (yet).",
        ),
        Metric(
            "time_to_refund", "Mean time to refund", "seconds",
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
            f"Monitoring levels: {_levels(DISPUTE_RATIO_THRESHOLDS)}.",
            thresholds=DISPUTE_RATIO_THRESHOLDS,
        ),
        # ------------------------------------------------------------ operations
        Metric(
            "freshness", "Data freshness", "count",
            "Per collector job: when its last successful run finished, and the outcome of its last run.",
        ),
        Metric(
            "job_stale", "Stale", "count",
            f"Jobs whose last success is older than {STALE_AFTER_INTERVALS}× their configured interval "
            "(WORKER_SCHEDULE, else the job catalogue's default): the condition of the CollectorStale alert.",
            thresholds={"intervals": STALE_AFTER_INTERVALS},
        ),
        Metric(
            "alerts_firing", "Firing", "count",
            "Alerts Alertmanager holds that are neither silenced nor inhibited, listed most severe first; "
            "oldest first within a severity.",
        ),
        Metric(
            "alerts_suppressed", "Silenced / inhibited", "count",
            "Alerts Alertmanager holds but does not notify: silenced by a silence, or inhibited by another alert.",
        ),
        Metric(
            "alerts_pending", "Pending", "count",
            "Prometheus alerts whose condition is true now, but not yet for the rule's `for`: they fire if it "
            "stays true.",
        ),
        Metric(
            "alert_rules", "Rules", "count",
            "Every rule Prometheus has loaded: alerting rules with their state, recording rules with their "
            "health. A rule whose health is 'err' is not evaluated correctly.",
        ),
        Metric("rules_failing", "Rules failing", "count", "Rules whose last evaluation failed (health 'err')."),
        Metric("jobs_ok", "Jobs ok", "count",
               "Last run succeeded, or is running after a recent success; a job on its first run is not ok until it has "
               "succeeded once."),
        Metric("jobs_failing", "Failing", "count", "The last run failed or was abandoned, or the job never succeeded."),
        Metric("jobs", "Jobs", "count",
               "Every job of the catalogue, also those never run. p50/p95: durations of the last succeeded runs. "
               "Failures: failed or abandoned runs."),
        Metric(
            "job_intervals", "Interval", "seconds",
            "'interval': the worker's configured interval (WORKER_SCHEDULE, else the catalogue's default); a job is "
            f"stale when its last success is older than {STALE_AFTER_INTERVALS} of them, as the CollectorStale alert "
            "judges. 'observed interval': the median gap between its recent starts.",
        ),
        Metric("job_durations", "Job durations", "seconds",
               "Finished (not skipped) runs per job and time bucket: the median duration, with the longest run, the "
               "number of runs and failures on hover."),
        Metric("source_freshness", "Source freshness", "seconds",
               "Each source's newest data against a threshold of its own (files, banks, ledgers and rates skip "
               "weekends). Dates are whole UTC days old."),
        Metric("sources_stale", "Sources stale", "count", "Sources whose newest data is older than its threshold.",
               thresholds={s: t.total_seconds() for s, t in SOURCE_FRESHNESS_THRESHOLDS.items()}),
        Metric("quarantined", "Quarantined (7 d)", "count",
               "Source records set aside with file, line and reason in the last 7 days."),
        Metric("quarantine", "Quarantine", "count",
               "Records a file ingest could not take in, kept with file, line and reason (the rest of the file went "
               "in). The record text stays off this page."),
        # ------------------------------------------------------------ billing accuracy
        Metric("billing_accuracy", "Billing accuracy", "ratio",
               "Correctly billed sessions / billable sessions (stays longer than the grace period)."),
        Metric("billable_sessions", "Billable sessions", "count",
               "Judged sessions whose stay outlasted the grace period of the plan in force (an unrated session with "
               "a plan in force counts: nobody can say it was billed right)."),
        Metric("mis_billed_sessions", "Mis-billed sessions", "count",
               "Judged sessions whose class is not correct (incl. invoices for sessions within grace)."),
        Metric("billing_leakage", "Leakage", "money",
               "Money billing failed to collect: under-billed, never billed, tax too low."),
        Metric("billing_overcharge", "Overcharge", "money",
               "Customer harm: over-billed, duplicate invoices, invoices not due, tax too high."),
        Metric("expected_total", "Expected total", "money",
               "What the session should have cost: the rate plan in force rated step by step (the classify job's "
               "own rating), subtotal + tax."),
        Metric("billed_total", "Billed total", "money", "Sum of the session's non-void invoice totals."),
        Metric("billing_difference", "Difference", "money",
               "Billed total - expected total (none when the currencies differ or the session is unrated)."),
        # ------------------------------------------------------------ reconciliation
        Metric("recon_reconciled_share", "Reconciled", "ratio",
               "Items matched, or breaks resolved or written off, of all items (counts, every currency)."),
        Metric("recon_funnel", "Stage funnel", "count",
               "Each stage's items as the last reconciliation judged them: matched, expected (still inside its "
               "timing window) or break."),
        Metric("recon_breaks", "Breaks", "count",
               "Items that did not match, with their workflow state. Money at stake converted to the reporting "
               "currency (latest rate) only to sort; each amount is shown in its own currency."),
        Metric("payouts_missing_in_bank", "Payouts missing in the bank", "count",
               "Open S3 breaks of payouts no bank line carries, every accounting month: the figure the "
               "PayoutMissingInBank alert fires on."),
        Metric("break_amount", "Amount", "money", "The item's own amount, in the item's currency."),
        Metric("break_counter_amount", "Other side", "money",
               "The amount on the other side of the match; – when that side has nothing."),
        Metric("break_at_stake", "At stake", "money",
               "Money at stake in the break: its break amount (absolute), else the item's amount."),
        Metric("month_close", "Month close", "count",
               "Is the accounting month ready to close? Resolved and written-off breaks count as explained; "
               "thresholds are the CLOSE_* settings."),
        Metric("unreconciled", "Unreconciled", "money",
               "Money at stake in the month's open breaks, each currency converted at the rate of the month's last "
               "day (or the latest earlier one). Not available while a rate is missing."),
        Metric("open_breaks", "Open breaks", "count",
               "The month's items in break whose break is neither resolved nor written off."),
        Metric("oldest_open_break", "Oldest open break", "seconds",
               "Age of the month's oldest open break: whole days since its item occurred."),
        Metric("open_break_age", "Open breaks by age", "count", "Open breaks of the month by age: days since the item occurred."),
        Metric("fx_gaps", "FX gaps", "count", "Days of the month without a rate for a currency its items use."),
        Metric("trace_link", "Link", "count",
               "Each hop is coloured by the reconciliation status of the link into it: green matched, grey expected "
               "(inside its timing window), red a break with its type and amount."),
    )
}


def help_text(key: str) -> str:
    """Tooltip text for a metric: its definition in words (a KeyError names a key nobody defined)."""
    return METRICS[key].description


def label(key: str) -> str:
    """A metric's name as the faces show it."""
    return METRICS[key].label
