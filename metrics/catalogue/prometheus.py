"""The Prometheus families the exporter serves: name, type, labels and HELP line, in the order
served. Families are counts and sums only; every ratio is a recording rule (alerts/). Labels are
low-cardinality dimensions, never ids."""
from __future__ import annotations

from typing import NamedTuple


class Family(NamedTuple):
    name: str                 # as created: counters end in `_total`
    kind: str                 # counter | gauge | histogram | gaugehistogram (a window's distribution)
    labels: tuple[str, ...]
    help: str


FAMILIES: tuple[Family, ...] = (
    Family("revwatch_payment_attempts_total", "counter", ("gateway", "method", "region"),
           "Payment attempts, any status (rollup_payments)."),
    Family("revwatch_payment_successes_total", "counter", ("gateway", "method", "region"),
           "Payment attempts with status succeeded."),
    Family("revwatch_payment_failures_total", "counter", ("gateway", "method", "decline_class"),
           "Payment attempts with status failed, per decline class."),
    Family("revwatch_billing_sessions_judged", "gauge", ("currency",),
           "Billable sessions judged, exited in the last 24 h."),
    Family("revwatch_billing_sessions_correct", "gauge", ("currency",),
           "Billable sessions billed correctly, exited in the last 24 h."),
    Family("revwatch_billing_leakage_minor", "gauge", ("currency",),
           "Under-billing (expected - billed where positive), minor units, sessions exited in the last 24 h."),
    Family("revwatch_billing_overcharge_minor", "gauge", ("currency",),
           "Over-billing (billed - expected where positive), minor units, sessions exited in the last 24 h."),
    Family("revwatch_recon_open_breaks", "gauge", ("stage", "currency"),
           "Open reconciliation breaks."),
    Family("revwatch_recon_unreconciled_minor", "gauge", ("stage", "currency"),
           "Money at stake in open breaks, minor units."),
    Family("revwatch_recon_oldest_open_break_age_seconds", "gauge", ("stage",),
           "Age of the oldest open break (0 when none)."),
    Family("revwatch_recon_payouts_missing_in_bank", "gauge", ("gateway", "currency"),
           "Open S3 breaks: payouts no bank line carries."),
    Family("revwatch_recon_payouts_missing_in_bank_minor", "gauge", ("gateway", "currency"),
           "Money of payouts missing in the bank, minor units."),
    Family("revwatch_recon_items", "gauge", ("stage", "status"),
           "Reconciliation items per stage and status."),
    Family("revwatch_close_adjustments", "gauge", ("month",),
           "Figures of a signed-off accounting month (YYYY-MM) that changed since its sign-off (0: none)."),
    Family("revwatch_work_items_open", "gauge", ("work_type", "state"),
           "Open work-queue items per work type and state (unassigned, assigned, awaiting_approval)."),
    Family("revwatch_work_items_overdue", "gauge", ("work_type",),
           "Open work-queue items past the due time of their service level (WORK_SLAS)."),
    Family("revwatch_work_items_oldest_age_seconds", "gauge", ("work_type",),
           "Age of the oldest open work-queue item of the type, from when it was found (0: none open)."),
    Family("revwatch_work_customer_paging", "gauge", (),
           "1 when customer-impact items past their service level page (WORK_PAGE_CUSTOMER_OVERDUE), else 0."),
    Family("revwatch_work_resolve_seconds", "gaugehistogram", ("work_type",),
           "Time from found to first resolution of the work items first resolved in the last 28 days."),
    Family("revwatch_disputes_month", "gauge", ("network",),
           "Disputes opened in the current UTC month, per card network."),
    Family("revwatch_card_payments_month", "gauge", ("network",),
           "Successful card payments in the current UTC month, per card network."),
    Family("revwatch_job_runs_total", "counter", ("job", "outcome"),
           "Finished job runs per outcome."),
    Family("revwatch_job_rows_read_total", "counter", ("job",),
           "Rows read by finished job runs."),
    Family("revwatch_job_rows_written_total", "counter", ("job",),
           "Rows written by finished job runs."),
    Family("revwatch_job_duration_seconds", "histogram", ("job",),
           "Duration of finished job runs."),
    Family("revwatch_job_last_run_timestamp_seconds", "gauge", ("job",),
           "Start of the newest run (unix seconds)."),
    Family("revwatch_job_last_success_timestamp_seconds", "gauge", ("job",),
           "End of the newest succeeded run (unix seconds)."),
    Family("revwatch_job_interval_seconds", "gauge", ("job",),
           "The worker's configured interval per job."),
    Family("revwatch_worker_last_job_start_timestamp_seconds", "gauge", (),
           "Unix time of the newest start of a run of any scheduled job; the worker is stuck when it is older than "
           "2x the smallest revwatch_job_interval_seconds (Health's 'worker stuck')."),
    Family("revwatch_gateway_object_refused", "gauge", ("gateway", "object"),
           "1 if the newest ingest run could not read this gateway object type (HTTP 403: the API key may not "
           "read it; 404: the server has no such list), 0 if it read it."),
    Family("revwatch_audit_head_seq", "gauge", (),
           "Sequence number of the audit log's newest entry (0 when empty); it only grows, a decrease means "
           "entries were deleted."),
    Family("revwatch_audit_head_digest", "gauge", (),
           "52-bit digest of the newest audit entry's (seq, hash), HMAC-SHA256 with AUDIT_HMAC_KEY when set; it "
           "changes only with the sequence unless the log was rewritten."),
    Family("revwatch_figure_computed", "gauge", ("topic",),
           "1 when the topic's figures are computed (every job they come from succeeded after its data arrived), "
           "0 while they are not computed yet: then the topic's figure families have no series."),
    Family("revwatch_exporter_up", "gauge", (),
           "1 when the exporter could read the store, else 0."),
    Family("revwatch_exporter_collect_duration_seconds", "gauge", (),
           "Seconds the served snapshot took to read."),
)
EXPORTER_HELP: dict[str, str] = {f.name: f.help for f in FAMILIES}


def exporter_help(name: str) -> str:
    """The HELP line of exporter family `name`: as created (`…_total` for a counter) or as
    prometheus_client names the family (the counter's name without `_total`)."""
    return EXPORTER_HELP[name] if name in EXPORTER_HELP else EXPORTER_HELP[f"{name}_total"]
