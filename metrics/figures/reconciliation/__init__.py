"""Reconciliation figures, over `recon_items` and `recon_breaks` (collectors/compute/reconciliation.py)
plus, for one break or one payout, the source copies by key. Faces import from here; each name is
defined once in the module that says what it is:

- scope: the vocabulary, ReconFilters / BreakFilters, what an open break and its money at stake are;
- summary: `months`, `last_run`, `funnel` (per stage and currency: matched / expected / break,
  breaks split into open, resolved and written off);
- break_list: `breaks` (the list people work) and `breaks_total` (how many it has uncut), `open_break_totals`, `payouts_missing_in_bank` and
  `item_counts` (what the alerts fire on, every month);
- break_drilldown: `break_detail` (one break's item, history and both sides' records);
- payout_trail: `payouts`, `payout_count`, `payout_view` (a payout's reconstruction, bank deposit and journal);
- close_signoff: `close_snapshot` (a month's close figures frozen as JSON), `latest_signoff`, `after_close`
  (a signed-off month's adjustments since), `signed_off_months`;
- month_close: `close_readiness` (shares, ageing, unreconciled money converted with the rate
  shown, FX gaps, judged against the close thresholds).

Everything is set-based SQL with bound parameters over indexed keys. Amounts are magnitudes of
integer minor units per currency, never added across currencies; the only conversion is
`to_reporting` (Decimal, half up, with the rate shown).
"""
from __future__ import annotations

from metrics.figures.reconciliation.break_drilldown import BreakDetail, break_detail, events
from metrics.figures.reconciliation.break_list import (
    PAYOUT_MISSING_IN_BANK,
    AtStake,
    BreakKind,
    ItemCount,
    MissingPayouts,
    OpenBreaks,
    break_at_stake,
    breaks,
    breaks_total,
    item_counts,
    open_break_totals,
    payouts_missing_in_bank,
)
from metrics.figures.reconciliation.close_signoff import (
    Adjustment,
    AfterClose,
    Signoff,
    after_close,
    close_snapshot,
    latest_signoff,
    signed_off_months,
)
from metrics.figures.reconciliation.month_close import (
    CloseReadiness,
    CloseReason,
    CloseThresholds,
    Rate,
    close_readiness,
    rates_on,
    to_reporting,
    verdict_table,
)
from metrics.figures.reconciliation.payout_trail import PayoutView, payout_count, payout_view, payouts
from metrics.figures.reconciliation.scope import (
    AGE_BUCKETS,
    BREAK_STATES,
    RECON_JOB,
    SIDES,
    SORTS,
    STAGE_LABELS,
    STAGES,
    STATUSES,
    BreakFilters,
    ReconFilters,
    month_end,
    month_start,
)
from metrics.figures.reconciliation.source_rows import Source
from metrics.figures.reconciliation.summary import LastRun, default_close_month, funnel, last_run, months
from revwatch.recon_keys import BREAK_TYPES, GATEWAYS, ITEM_TYPES

__all__ = [
    "AGE_BUCKETS",
    "BREAK_STATES",
    "BREAK_TYPES",
    "GATEWAYS",
    "ITEM_TYPES",
    "PAYOUT_MISSING_IN_BANK",
    "RECON_JOB",
    "SIDES",
    "SORTS",
    "STAGES",
    "STAGE_LABELS",
    "STATUSES",
    "Adjustment",
    "AfterClose",
    "AtStake",
    "BreakDetail",
    "BreakFilters",
    "BreakKind",
    "CloseReadiness",
    "CloseReason",
    "CloseThresholds",
    "ItemCount",
    "LastRun",
    "MissingPayouts",
    "OpenBreaks",
    "PayoutView",
    "Rate",
    "ReconFilters",
    "Signoff",
    "Source",
    "after_close",
    "break_at_stake",
    "break_detail",
    "breaks",
    "breaks_total",
    "close_readiness",
    "close_snapshot",
    "default_close_month",
    "events",
    "funnel",
    "item_counts",
    "last_run",
    "latest_signoff",
    "month_end",
    "month_start",
    "months",
    "open_break_totals",
    "payout_count",
    "payout_view",
    "payouts",
    "payouts_missing_in_bank",
    "rates_on",
    "signed_off_months",
    "to_reporting",
    "verdict_table",
]
