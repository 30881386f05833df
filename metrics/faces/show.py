"""`revwatch show TOPIC`: every page's figures as rows, for terminals and machines.

Each topic is a function (db, Options) -> rows (a DataFrame, or for `overview` show_format.Rows) built ONLY
by calling the query functions
the pages call (metrics/overview, payments, billing_accuracy, reconciliation, health) and
reshaping their result: one definition of each figure. Money stays integer minor units with a
`currency` column (`*_reporting_minor` beside it in the reporting currency where the page shows
one); every ratio comes with its numerator and denominator. Formatting is apart
(metrics/faces/show_format.py): `table` for people, `csv` and `json` for machines.

The topics that reshape frames live in show_topics.py and are imported (with pandas, a second of imports) by
the first call that needs them: `revwatch show overview` and the Overview figures need neither (issue 17).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import import_module
from typing import Any

from metrics.faces.show_format import Frame, Rows
from metrics.figures import overview as ov
from metrics.figures.query import Db, Filters
from metrics.figures.readiness import Readiness, readiness
from revwatch import clock

DEFAULT_DAYS = 30  # as the pages: the last 30 days with data when no range is given
# options a topic's figures cannot be narrowed by: refused, never silently ignored
NOT_NARROWED_BY: dict[str, tuple[str, ...]] = {
    "breaks": ("--region",),
    "close": ("--from", "--site", "--region"),
    "health": ("--from", "--to", "--site", "--region", "--currency"),
    "queue": ("--from", "--to", "--region"),
    "actions": ("--from", "--to", "--region"),
}
# `--by`: each topic's other groupings (the first row shape, without --by, is the topic's default)
GROUPINGS: dict[str, tuple[str, ...]] = {
    "payments": ("method", "brand", "site", "region", "decline_class"),
    "refunds": ("reason", "day"),
    "disputes": ("currency", "reason"),
    "close": ("currency", "age", "reasons", "fx_gaps", "adjustments"),
    "health": ("source", "load"),
    "queue": ("type", "resolution", "team", "trend"),
    "actions": ("refund_customer", "reinvoice", "record_payment", "refund_double_charge", "retry_refund",
                "submit_evidence", "post_journal", "investigate_break"),
}


# each topic's figures come from the jobs of a readiness topic (metrics/figures/readiness.py TOPIC_JOBS); health
# reads the run log itself and is always known
READINESS: dict[str, str | None] = {
    "overview": "overview", "payments": "payments", "declines": "declines", "billing": "billing_accuracy",
    "misbilled": "billing_accuracy", "breaks": "reconciliation", "close": "reconciliation", "health": None,
    "refunds": "refunds", "disputes": "disputes", "queue": "work_queue",
    "actions": "work_queue",
}
# `table` format: the columns left out first when a table is wider than the terminal, least important first
# (csv and json always carry every column; `--wide` prints them all)
LESS_IMPORTANT: dict[str, tuple[str, ...]] = {
    "overview": ("unit", "previous_numerator", "previous_denominator"),
    "payments": ("gateway_errors", "failed", "recovered", "eventually_succeeded", "first_succeeded", "succeeded",
                 "invoices_charged"),
    "misbilled": ("void_invoices", "invoices", "expected_subtotal_minor", "expected_tax_minor",
                  "billed_subtotal_minor", "billed_tax_minor", "billed_currency", "site_id"),
    "breaks": ("state", "item_status", "reporting_currency", "break_amount_minor", "accounting_month", "site_id",
               "item_type", "right_ref"),
    "close": ("matched_items", "matched_share", "reasons", "exact_rate", "rate_date"),
    "health": ("runs_24h", "failures_24h", "last_success_at", "kind", "threshold_seconds"),
    "refunds": ("timed_refunds", "refund_seconds", "previous_amount_minor", "previous_refunds", "pending"),
    "disputes": ("previous_disputes",),
    "queue": ("explained", "action", "trace_id", "item_ref", "source_key", "opened_at", "time_left_hours", "reporting_currency",
              "site_id", "age_days", "team", "company_minor", "customer_minor", "state"),
}


@dataclass(frozen=True)
class Options:
    """What the command line narrowed the figures to (local dates, both ends included)."""

    start: date | None = None
    end: date | None = None
    site_ids: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    currency: str | None = None
    by: str | None = None
    month: date | None = None
    as_of: datetime | None = None
    cfg: Any = None  # Settings: reporting currency and close thresholds
    limit: int | None = None  # every row: a machine reading the list must not lose its tail
    stages: tuple[str, ...] = ()       # breaks only
    break_types: tuple[str, ...] = ()  # breaks only
    item_types: tuple[str, ...] = ()   # breaks only
    work_types: tuple[str, ...] = ()   # queue only
    teams: tuple[str, ...] = ()        # queue only
    owners: tuple[str, ...] = ()       # queue only

    @property
    def reporting_currency(self) -> str:
        return getattr(self.cfg, "reporting_currency", None) or "USD"


def filters(db: Db, o: Options) -> Filters:
    """The page Filters for these options; a missing end is the last day with data, a missing
    start DEFAULT_DAYS before the end (never before the first day with data)."""
    rng = ov.data_range(db)
    end = o.end or (rng.last if rng else clock.today())
    start = o.start or max(rng.first if rng else end, end - timedelta(days=DEFAULT_DAYS - 1))
    start = min(start, end)
    return Filters(start, end, tuple(o.regions), tuple(o.site_ids))


def state(db: Db, topic: str, o: Options) -> Readiness | None:
    """Are the topic's figures known at `o.as_of` (now), or not computed yet (why)? None: the topic needs no
    computation (health). The first selected day lets a first load say how far it has come."""
    name = READINESS[topic]
    if name is None:
        return None
    since = None if topic in ("breaks", "close", "queue", "actions") else filters(db, o).start
    return readiness(db, name, o.as_of or clock.now(), since)



# ---------------------------------------------------------------- topics
def overview(db: Db, o: Options) -> Rows:
    """The Overview page's KPIs, one row each: kpi, unit (count|ratio|money), currency, value,
    numerator, denominator, previous, previous_numerator, previous_denominator. The previous
    figures are those the page compares with (the equal span before; revenue: the comparable
    period) and empty where the page shows no comparison."""
    f = filters(db, o)
    k = ov.range_kpis(db, f)
    rng = ov.data_range(db)
    compare = rng is not None and rng.holds(f.previous())
    cur, prev = k.payments, k.previous_payments

    def row(kpi, unit, value, previous, num=None, den=None, prev_num=None, prev_den=None, currency=None):
        if not compare:
            previous = prev_num = prev_den = None
        return dict(kpi=kpi, unit=unit, currency=currency, value=value, numerator=num, denominator=den,
                    previous=previous, previous_numerator=prev_num, previous_denominator=prev_den)

    rows = [
        row("sessions", "count", k.sessions, k.previous_sessions),
        row("payment_attempts", "count", cur.attempts, prev.attempts),
        row("success_rate", "ratio", cur.success_rate, prev.success_rate, cur.succeeded, cur.attempts,
            prev.succeeded, prev.attempts),
        row("first_attempt_success_rate", "ratio", cur.first_attempt_success_rate, prev.first_attempt_success_rate,
            cur.first_succeeded, cur.first_attempts, prev.first_succeeded, prev.first_attempts),
        row("failed_attempts", "count", cur.failed, prev.failed),
    ]
    revenue = {(r.period, r.currency): r for r in ov.revenue_to_date(db, f, o.as_of)}
    currencies = sorted({c for _, c in revenue if not o.currency or c == o.currency})
    for currency in currencies:
        for period in ov.PERIODS:  # every period of a currency, as the page's cards (zero when none)
            r = revenue.get((period, currency), ov.PeriodRevenue(period, currency, 0, 0))
            shown = r.previous_minor if r.previous_complete and r.previous_minor else None  # as the page: no made-up change
            rows.append(dict(row(f"revenue_{period}", "money", r.total_minor, None, currency=currency), previous=shown))
    return Rows.of_dicts(rows)



# the topics of show_topics.py, imported by their first call (and as attributes: `show.close`, `show.health`)
_LATER = ("payments", "declines", "billing", "misbilled", "breaks", "close", "health", "refunds", "disputes", "queue",
          "actions")


def _later(name: str) -> Callable[[Db, Options], Frame]:
    def topic(db: Db, o: Options) -> Frame:
        return getattr(import_module("metrics.faces.show_topics"), name)(db, o)
    return topic


def __getattr__(name: str) -> Any:
    if name in _LATER:
        return getattr(import_module("metrics.faces.show_topics"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


TOPICS: dict[str, Callable[[Db, Options], Frame]] = {"overview": overview, **{name: _later(name) for name in _LATER}}
