"""The four stages of reconciliation: which rules each runs, in order (collectors/compute/reconciliation.py runs them).

A rule is one named SELECT (recon_s1, recon_payouts for S2, recon_s3, recon_s4) judging the items
of one kind in scope (event time in [:lo, :hi), or named by the stage's `rejudge`); every rule
gives the columns `JUDGED`, each aliased by name. `outcome` is `matched` or the break type it
would be (missing, amount_mismatch, duplicate, status_mismatch, currency_mismatch); `waiting`
says the item is still inside its timing window, so an unmatched item is *expected* rather than
a break; `accounting_day` is the day whose month the item is accounted in. Timing windows end
against what the other side has delivered (its coverage: the newest record copied), not against
the wall clock, so a source that stops sending turns its items into breaks once its data moves
past their window, and a re-run on the same data gives the same answer.

A stage's `rejudge` runs first: it files in `recon_rejudge` the items judged again beyond the span. S1
names the items whose other side changed or whose window has passed (recon_s1.REJUDGE): at a million
breaks whose gateway side never came, judging them all on every run cost minutes. The later stages hold
a few items a payout or a day, and judge again every unmatched one (`ALL_OPEN`). Its `steps` then run
(statements that fill its working tables: the payouts in scope, S3's candidate bank credits and matches);
its `rules` then judge. Every statement takes bound
parameters only; item keys and references are built and parsed by revwatch/recon_keys.py.
"""
from __future__ import annotations

from typing import NamedTuple

from collectors.compute import recon_payouts, recon_s1, recon_s3, recon_s4

JUDGED = ("item_key", "item_type", "gateway", "site_id", "currency", "amount_minor", "counter_amount_minor",
          "stake_minor", "left_ref", "right_ref", "match_rule", "occurred_at", "accounting_day", "due_at",
          "detail", "fp", "outcome", "missing_side", "waiting")


ALL_OPEN = """
INSERT INTO recon_rejudge (stage, item_type, item_key, left_ref, right_ref)
SELECT stage, item_type, item_key, left_ref, right_ref FROM recon_items WHERE stage = :stage AND status <> 'matched'
"""


class Stage(NamedTuple):
    steps: tuple[str, ...]
    rules: tuple[str, ...]
    rejudge: str = ALL_OPEN
    by_range: bool = False  # judged in each changed range apart (a late change days back and the newest hour
    # are two small spans); else in one span from the first to the last, its working tables filled once


STAGES: dict[str, Stage] = {
    "S1": Stage((), (recon_s1.PAYMENTS, recon_s1.GATEWAY_PAYMENTS, recon_s1.REFUNDS, recon_s1.GATEWAY_REFUNDS),
                recon_s1.REJUDGE, by_range=True),
    "S2": Stage(recon_payouts.S2_STEPS, (recon_payouts.S2_ENTRIES, recon_payouts.S2_PAYOUTS)),
    "S3": Stage(recon_s3.STEPS, (recon_s3.PAYOUT_DEPOSITS, recon_s3.UNMATCHED_CREDITS)),
    "S4": Stage(recon_s4.STEPS, (recon_s4.PAYOUT_JOURNALS, recon_s4.REVENUE_DAYS, recon_s4.REFUND_JOURNALS,
                                 recon_s4.LEDGER_ONLY)),
}

# the working tables every run creates first (gone at commit): the payouts a stage judges, and their reconstruction
SCRATCH = (recon_payouts.SCOPE_TABLE, recon_payouts.PAYOUTS_TABLE)
