"""Reconciliation: every payment from billing to gateway, payout, bank and ledger (job `reconcile`).

The rules are named SQL (collectors/compute/recon_stages.py lists them per stage); this module
runs them. One run, in one transaction under the job's advisory lock, for each stage:

1. scope: the hours ingest queued for this job (any source table it reads changed there), as
   disjoint ranges, widened by the stage's own reach (a bank credit lands days after its
   payout; the later stages take one span from the first range to the last), plus the
   items the stage's `rejudge` names (recon_stages.py): in S1, those whose other side changed
   in the span or whose window has passed; in the later stages, every unmatched one. The
   first run has no previous answer and takes all of history. So a run's cost follows new
   data, not history nor the breaks that wait for ever, and a re-run with nothing new does
   nothing.
2. judge the items in scope into a temporary table (status, break type, amounts, refs);
3. merge into `recon_items`, writing only what changed, and drop in-scope items whose
   source is gone;
4. keep the break workflow in step (`recon_breaks`, append-only `recon_break_events`, actor
   `reconcile`): a new break opens; a break whose data now matches is cleared; a cleared
   break that breaks again reopens, and so does a resolved or written-off break whose data
   changed since it was resolved (its fingerprint differs); a four-eyes request whose break cleared
   under it is void.

Tolerances and windows come from settings (`RECON_*`), GL account roles from `GL_ACCOUNT_*`.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from collectors.compute.recon_stages import SCRATCH, STAGES
from collectors.compute.windows import consume_pending, merge_ranges, pending_ranges, refresh_statistics
from revwatch import clock
from revwatch.bulk import indexes_set_aside
from revwatch.db import psycopg_connection
from revwatch.runlog import RunStats, recorded_run, try_job_lock
from revwatch.settings import Settings

JOB = "reconcile"
READS = ("payment_attempts", "refunds", "invoices", "stripe_charges", "stripe_refunds",
         "stripe_balance_transactions", "stripe_payouts", "adyen_settlement_lines", "bank_lines", "gl_lines")
ACTOR = "reconcile"
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Policy:
    """Tolerances, timing windows and GL account roles: configuration, not code."""

    tolerance_minor: int = 0
    gateway_days: int = 2
    payout_days: int = 3
    bank_business_days: int = 2
    bank_match_days: int = 3
    ledger_days: int = 5
    settle: timedelta = timedelta(hours=2)
    cash: str = "1010"
    clearing: str = "1150"
    revenue: str = "4000"
    tax: str = "2300"
    fees: str = "6150"
    refunds: str = "4050"

    @classmethod
    def from_settings(cls, cfg: Settings) -> Policy:
        return cls(cfg.recon_amount_tolerance_minor, cfg.recon_gateway_days, cfg.recon_payout_days,
                   cfg.recon_bank_business_days, cfg.recon_bank_match_days, cfg.recon_ledger_days,
                   timedelta(minutes=cfg.gateway_settle_minutes), cfg.gl_account_cash, cfg.gl_account_clearing,
                   cfg.gl_account_revenue, cfg.gl_account_tax, cfg.gl_account_fees, cfg.gl_account_refunds)

    def reach(self, stage: str) -> tuple[timedelta, timedelta]:
        """How far before and after a changed span a stage must look for the items it touches."""
        # S1: an item is reached through its other side's changes (recon_s1.REJUDGE); S2: a payout
        # through its changed entries; so the span needs only a margin. Payouts, deposits and
        # postings are days apart: look well around
        far = timedelta(days=45)
        return {"S1": (HOUR, HOUR), "S2": (HOUR, HOUR), "S3": (far, far), "S4": (far, far)}[stage]

    def params(self) -> dict:
        return {"tol": self.tolerance_minor, "gateway_days": timedelta(days=self.gateway_days),
                "payout_days": timedelta(days=self.payout_days), "bank_days": self.bank_business_days,
                "match_days": self.bank_match_days, "ledger_days": self.ledger_days, "settle": self.settle,
                "cash": self.cash, "clearing": self.clearing, "revenue": self.revenue, "tax": self.tax,
                "fees": self.fees, "refunds": self.refunds}


_COVERAGE = """
SELECT (SELECT max(created) FROM stripe_charges) AS stripe_cov,
       (SELECT max(created_at) FROM adyen_settlement_lines) AS adyen_cov,
       coalesce((SELECT watermark FROM sync_state WHERE source = 'billing' AND table_name = 'payment_attempts'),
                (SELECT max(updated_at) FROM payment_attempts)) AS billing_cov,  -- the same figure, by its key
       (SELECT max(created) FROM stripe_payouts) AS payout_cov,
       (SELECT max(posted_date) FROM gl_lines) AS gl_cov
"""

_CANDIDATE_COLUMNS = ("stage", "item_key", "item_type", "status", "break_type", "missing_side", "gateway", "site_id",
                      "currency", "amount_minor", "counter_amount_minor", "break_amount_minor", "left_ref",
                      "right_ref", "match_rule", "occurred_at", "accounting_month", "due_at", "detail", "fingerprint")


def coverage(conn: Connection) -> dict:
    """The newest record each source has delivered: timing windows end against these."""
    return dict(conn.execute(text(_COVERAGE)).mappings().one())


def judge_statement(rule: str) -> str:
    """The INSERT filing one rule's rows (recon_stages.JUDGED, read by name) as candidates of `:stage`:
    status, break type and stake from outcome and waiting; the accounting month from the accounting day. An item
    already filed (judged in an earlier span of the run, on the same data) is not filed twice."""
    return f"""
        INSERT INTO recon_candidates ({", ".join(_CANDIDATE_COLUMNS)})
        SELECT :stage AS stage, j.item_key, j.item_type,
               CASE WHEN j.outcome = 'matched' THEN 'matched' WHEN j.waiting THEN 'expected' ELSE 'break' END AS status,
               CASE WHEN j.outcome <> 'matched' AND NOT j.waiting THEN j.outcome END AS break_type,
               CASE WHEN j.outcome = 'missing' AND NOT j.waiting THEN j.missing_side END AS missing_side,
               j.gateway, j.site_id, j.currency, j.amount_minor, CAST(j.counter_amount_minor AS bigint) AS counter_amount_minor,
               CASE WHEN j.outcome <> 'matched' AND NOT j.waiting THEN CAST(j.stake_minor AS bigint) END AS break_amount_minor,
               j.left_ref, j.right_ref, j.match_rule, j.occurred_at,
               CAST(date_trunc('month', CAST(j.accounting_day AS timestamp)) AS date) AS accounting_month,
               CASE WHEN j.outcome <> 'matched' THEN CAST(j.due_at AS timestamptz) END AS due_at,
               CAST(j.detail AS jsonb) AS detail, md5(j.fp) AS fingerprint
        FROM ({rule}) AS j
        ON CONFLICT (stage, item_key) DO NOTHING"""


# every stage's rules, each wrapped in its INSERT once
_JUDGE = {stage: tuple(judge_statement(rule) for rule in spec.rules) for stage, spec in STAGES.items()}


_UPSERT = f"""
WITH up AS (
    INSERT INTO recon_items AS r ({", ".join(_CANDIDATE_COLUMNS)}, examined_at)
    SELECT {", ".join(_CANDIDATE_COLUMNS)}, CAST(:now AS timestamptz) FROM recon_candidates WHERE stage = :stage
    ON CONFLICT (stage, item_key) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _CANDIDATE_COLUMNS[2:])}, examined_at = EXCLUDED.examined_at
    WHERE ({", ".join(f"r.{c}" for c in _CANDIDATE_COLUMNS[2:])})
          IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _CANDIDATE_COLUMNS[2:])})
    RETURNING 1
) SELECT count(*) FROM up
"""

# In-scope items no rule filed (their source is gone): asked for their keys first, then deleted by key, so
# that a run whose scope is a few hours never weighs a join against every item a stage has
_GONE_KEYS = """
SELECT item_key FROM recon_items WHERE stage = :stage AND occurred_at >= :lo AND occurred_at < :hi
UNION SELECT item_key FROM recon_rejudge WHERE stage = :stage
EXCEPT SELECT item_key FROM recon_candidates WHERE stage = :stage
"""

# A first run into an empty recon_items (its indexes set aside): every candidate is new
_INSERT_ALL = f"""
INSERT INTO recon_items ({", ".join(_CANDIDATE_COLUMNS)}, examined_at)
SELECT {", ".join(_CANDIDATE_COLUMNS)}, CAST(:now AS timestamptz) FROM recon_candidates WHERE stage = :stage
"""

_DELETE_GONE = """
WITH gone AS (
    DELETE FROM recon_items WHERE stage = :stage AND item_key = ANY(CAST(:keys AS text[])) RETURNING item_key
) INSERT INTO recon_gone SELECT :stage, item_key FROM gone
"""


# The break workflow kept in step with the data (each statement logs its own events).
_LIFECYCLE = (
    # a new break opens
    """WITH b AS (
        INSERT INTO recon_breaks (stage, item_key, state, opened_at)
        SELECT c.stage, c.item_key, 'open', CAST(:now AS timestamptz) FROM recon_candidates c
        WHERE c.stage = :stage AND c.status = 'break'
          AND NOT EXISTS (SELECT 1 FROM recon_breaks x WHERE x.stage = c.stage AND x.item_key = c.item_key)
        RETURNING break_id, stage, item_key)
       INSERT INTO recon_break_events (break_id, at, actor, action, note, detail)
       SELECT b.break_id, CAST(:now AS timestamptz), :actor, 'opened', c.break_type || ' ' || coalesce(c.missing_side, ''),
              jsonb_build_object('break_type', c.break_type, 'amount_minor', c.break_amount_minor,
                                 'currency', c.currency, 'fingerprint', c.fingerprint)
       FROM b JOIN recon_candidates c USING (stage, item_key)""",
    # a cleared break breaks again, or a resolved / written-off one whose data changed; the
    # resolution it had goes into the event, as when a person reopens it (metrics/actions/break_workflow.py)
    """WITH old AS (
        SELECT x.break_id, x.state, x.resolution_reason, x.resolved_by, x.resolved_at,
               c.break_type, c.break_amount_minor, c.currency, c.fingerprint
        FROM recon_breaks x JOIN recon_candidates c ON x.stage = c.stage AND x.item_key = c.item_key
        WHERE c.stage = :stage AND c.status = 'break'
          AND (x.state = 'cleared'
               OR x.state IN ('resolved', 'written_off') AND x.resolved_fingerprint IS DISTINCT FROM c.fingerprint)
    ), b AS (
        UPDATE recon_breaks x SET state = 'open', resolution_reason = NULL, resolved_by = NULL, resolved_at = NULL,
                                  resolved_fingerprint = NULL, approved_by = NULL, approved_at = NULL
        FROM old WHERE x.break_id = old.break_id RETURNING x.break_id)
       INSERT INTO recon_break_events (break_id, at, actor, action, note, detail)
       SELECT old.break_id, CAST(:now AS timestamptz), :actor, 'reopened', 'the data changed: ' || old.break_type,
              jsonb_build_object('break_type', old.break_type, 'amount_minor', old.break_amount_minor,
                                 'currency', old.currency, 'fingerprint', old.fingerprint, 'was', old.state,
                                 'resolution_reason', old.resolution_reason, 'resolved_by', old.resolved_by,
                                 'resolved_at', old.resolved_at)
       FROM old JOIN b USING (break_id)""",
    # an open break whose data now matches (or is back inside its window, or gone) is cleared
    """WITH c AS (
        SELECT x.break_id, c.status
        FROM (SELECT stage, item_key, status FROM recon_candidates WHERE stage = :stage AND status <> 'break'
              UNION ALL SELECT stage, item_key, 'gone' FROM recon_gone WHERE stage = :stage) c
        JOIN recon_breaks x ON x.stage = c.stage AND x.item_key = c.item_key
        WHERE x.state = 'open'
    ), b AS (
        UPDATE recon_breaks x SET state = 'cleared' FROM c WHERE x.break_id = c.break_id
        RETURNING x.break_id, c.status)
       INSERT INTO recon_break_events (break_id, at, actor, action, note)
       SELECT break_id, CAST(:now AS timestamptz), :actor, 'cleared', 'now ' || status FROM b""",
    # a four-eyes request whose break cleared under it is void: there is nothing left to approve
    """WITH v AS (
        UPDATE recon_break_requests r SET decision = 'void', decided_by = :actor, decided_at = CAST(:now AS timestamptz),
                                          decision_note = 'the break is ' || x.state
        FROM recon_breaks x
        WHERE r.decision IS NULL AND x.break_id = r.break_id AND x.stage = :stage AND x.state <> 'open'
        RETURNING r.break_id, r.request_id, r.action, x.state)
       INSERT INTO recon_break_events (break_id, at, actor, action, note, detail)
       SELECT break_id, CAST(:now AS timestamptz), :actor, 'request_void', 'the break is ' || state,
              jsonb_build_object('request_id', request_id, 'requested', action) FROM v""",
)


Range = tuple[datetime, datetime]


def spans(stage: str, policy: Policy, ranges: list[Range]) -> list[Range]:
    """The spans a stage judges: each changed range widened by the stage's reach, as the fewest disjoint ones; one
    span from the first to the last for a stage that is not judged by range. All of history stays all of history."""
    before, after = policy.reach(stage)
    widened = merge_ranges((max(lo - before, BEGINNING) if lo > BEGINNING else lo,
                            min(hi + after, END_OF_TIME) if hi < END_OF_TIME else hi) for lo, hi in ranges)
    return widened if STAGES[stage].by_range else [(widened[0][0], widened[-1][1])]


def run_stage(conn: Connection, stage: str, policy: Policy, cover: dict, ranges: list[Range],
              empty: bool = False) -> tuple[int, int]:
    """Judge and merge one stage over the changed ranges plus the items its `rejudge` names; return (items judged,
    rows changed). An item judged in two spans is judged the same: the second is dropped (ON CONFLICT). `empty`:
    recon_items holds nothing yet (a first run, its indexes set aside): every candidate is inserted."""
    base = {**policy.params(), **cover, "stage": stage, "actor": ACTOR, "now": clock.now()}
    judged_in = spans(stage, policy, ranges)
    for lo, hi in judged_in:
        params = {**base, "lo": lo, "hi": hi}
        if (lo, hi) != (BEGINNING, END_OF_TIME):  # all of history is in scope by its span
            conn.execute(text(STAGES[stage].rejudge), params)
            conn.execute(text("ANALYZE recon_rejudge"))
        for step in STAGES[stage].steps:
            conn.execute(text(step), params)
        for judge in _JUDGE[stage]:
            conn.execute(text(judge), params)
    judged = conn.execute(text("SELECT count(*) FROM recon_candidates WHERE stage = :stage"), base).scalar_one()
    conn.execute(text("ANALYZE recon_candidates"))  # a temporary table has no statistics until told
    if empty:
        changed = conn.execute(text(_INSERT_ALL), base).rowcount
    else:
        gone = {key for lo, hi in judged_in
                for key in conn.execute(text(_GONE_KEYS), {**base, "lo": lo, "hi": hi}).scalars()}
        if gone:
            conn.execute(text(_DELETE_GONE), {**base, "keys": sorted(gone)})
        changed = conn.execute(text(_UPSERT), base).scalar_one()
    for statement in _LIFECYCLE:
        conn.execute(text(statement), base)
    return judged, changed


def reconcile(conn: Connection, policy: Policy, ranges: list[Range]) -> tuple[int, int]:
    """All four stages over the changed ranges (plus the items judged again), in the caller's transaction. Into
    an empty recon_items (a first run: millions of items at once), with its indexes set aside (revwatch/bulk.py)."""
    scratch_tables(conn)
    cover = coverage(conn)
    judged = changed = 0
    empty = not _has_run(conn)
    with indexes_set_aside(psycopg_connection(conn), "recon_items") if empty else nullcontext():
        for stage in STAGES:
            j, c = run_stage(conn, stage, policy, cover, ranges, empty)
            judged, changed = judged + j, changed + c
    refresh_statistics(conn, "recon_items", changed)  # after a first run, the next one's plans need them
    return judged, changed


def scratch_tables(conn: Connection) -> None:
    """The run's working tables, gone at commit: judged candidates, in-scope items whose source is gone, the items
    judged again beyond the span, and the payouts a stage judges (recon_stages.SCRATCH)."""
    conn.execute(text("CREATE TEMP TABLE recon_candidates (LIKE recon_items INCLUDING DEFAULTS INCLUDING INDEXES)"
                      " ON COMMIT DROP"))
    conn.execute(text("CREATE TEMP TABLE recon_gone (stage text, item_key text) ON COMMIT DROP"))
    conn.execute(text("CREATE TEMP TABLE recon_rejudge (stage text, item_type text, item_key text, left_ref text,"
                      " right_ref text) ON COMMIT DROP"))
    for statement in SCRATCH:
        conn.execute(text(statement))


def _has_run(conn: Connection) -> bool:
    return conn.execute(text("SELECT EXISTS (SELECT 1 FROM recon_items)")).scalar_one()


def run_job(engine: Engine, policy: Policy, start: datetime | None = None, end: datetime | None = None) -> RunStats:
    """Reconcile what changed since the last run (or [start, end) when given; all of history on the first run)."""
    with recorded_run(engine, JOB) as stats, engine.begin() as conn:
        try_job_lock(conn, JOB)
        consumed: list[int] = []
        if start is None or end is None:
            ranges, consumed = pending_ranges(conn, JOB)
            if not _has_run(conn):
                ranges = [(BEGINNING, END_OF_TIME)]
            elif not ranges:
                return stats  # nothing changed since the last run
        else:
            ranges = [(start, end)]
        stats.window_start = ranges[0][0] if ranges[0][0] > BEGINNING else None
        stats.window_end = ranges[-1][1] if ranges[-1][1] < END_OF_TIME else None
        stats.rows_read, stats.rows_written = reconcile(conn, policy, ranges)
        consume_pending(conn, consumed)
    return stats
