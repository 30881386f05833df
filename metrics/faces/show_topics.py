"""The `revwatch show` topics that reshape the figures' frames (pandas): every topic but `overview`, imported by
metrics/faces/show.py at their first call. Each calls only the query functions the pages call."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pandas as pd

from metrics.faces.show import Options, filters
from metrics.figures import billing_accuracy as ba
from metrics.figures import disputes as dp
from metrics.figures import health as hl
from metrics.figures import overview as ov
from metrics.figures import payments as pm
from metrics.figures import reconciliation as rc
from metrics.figures import refunds as rf
from metrics.figures import suggested_actions as sa
from metrics.figures import work_history as wh
from metrics.figures import work_queue as wq
from metrics.figures.query import Db, Filters, ratio_column
from revwatch import clock
from revwatch.schedule import judged_intervals


def _in_currency(df: pd.DataFrame, o: Options) -> pd.DataFrame:
    if o.currency and "currency" in df.columns:
        df = df[df["currency"] == o.currency]
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- topics


def payments(db: Db, o: Options) -> pd.DataFrame:
    """Per local day, gateway and currency: attempts and their success (by attempt day), and
    the invoices first charged there (by issue day): paid first try, eventually, recovered by a
    retry and the amount recovered."""
    if o.by:
        return _payments_by(db, o, o.by)
    f = filters(db, o)
    keys = ["local_date", "gateway", "currency"]
    series = pm.success_series(db, f, "day", by=("currency",)).rename(columns={"period": "local_date"})
    series = series[[*keys, "attempts", "succeeded", "failed", "gateway_errors"]]
    out = pm.outcomes_by_gateway(db, f, by=("local_date", "currency"))
    out = out[[*keys, "attempted", "first_succeeded", "succeeded", "recovered", "recovered_minor"]].rename(
        columns={"attempted": "invoices_charged", "succeeded": "eventually_succeeded"})
    df = series.merge(out, on=keys, how="outer").sort_values(keys)
    counts = ["attempts", "succeeded", "failed", "gateway_errors", "invoices_charged", "first_succeeded",
              "eventually_succeeded", "recovered", "recovered_minor"]
    df[counts] = df[counts].fillna(0).astype(int)
    ratio_column(df, "success_rate", "succeeded", "attempts")
    ratio_column(df, "first_attempt_rate", "first_succeeded", "invoices_charged")
    ratio_column(df, "eventual_rate", "eventually_succeeded", "invoices_charged")
    cols = [*keys, "attempts", "succeeded", "success_rate", "failed", "gateway_errors", "invoices_charged", "first_succeeded", "first_attempt_rate", "eventually_succeeded", "eventual_rate", "recovered", "recovered_minor"]
    return _in_currency(df[cols], o)


def _payments_by(db: Db, o: Options, by: str) -> pd.DataFrame:
    f = filters(db, o)
    if by == "decline_class":
        df = pm.decline_classes(db, f)
        total = int(df["failed"].sum())
        df["all_failed"] = total
        return ratio_column(df, "share", "failed", "all_failed").reset_index(drop=True)
    if by == "site":
        cols = ["site_id", "gateway", "attempts", "succeeded", "failed", "gateway_errors"]
        s = pm.success_series(db, f, "day", by=("site_id",))
        df = s.groupby(["site_id", "gateway"], as_index=False)[cols[2:]].sum()[cols]
        df = ratio_column(df, "success_rate", "succeeded", "attempts")[[*cols[:4], "success_rate", *cols[4:]]]
        return df.sort_values(["site_id", "gateway"]).reset_index(drop=True)
    dim = {"method": "method", "brand": "card_brand", "region": "region"}[by]
    b = pm.breakdown(db, f)
    df = b.groupby(["gateway", dim, "currency"], as_index=False)[
        ["attempts", "succeeded", "failed", "amount_minor", "succeeded_minor"]].sum()
    df = ratio_column(df, "success_rate", "succeeded", "attempts")
    df = df[["gateway", dim, "currency", "attempts", "succeeded", "success_rate", "failed", "amount_minor",
             "succeeded_minor"]]
    return _in_currency(df.sort_values(["gateway", dim, "currency"]), o)


def declines(db: Db, o: Options) -> pd.DataFrame:
    """Failures by gateway, code and class, with each code's share of all failures."""
    df = pm.failure_codes(db, filters(db, o), limit=o.limit)
    total = int(df["failed"].sum())
    df["all_failed"] = total
    return ratio_column(df, "share", "failed", "all_failed").reset_index(drop=True)


def billing(db: Db, o: Options) -> pd.DataFrame:
    """Per currency (class `all`) and per error class and currency: billable, correct, accuracy,
    leakage and overcharge, each row that currency's own figures, all from the one definition of
    metrics/figures/billing_accuracy.py (`accuracy_totals`, and `accuracy_frame` by class; never added
    across currencies). `sessions` repeats `findings`: both count the judged sessions."""
    f = filters(db, o)
    cols = ["class", "currency", "billable", "correct", "accuracy", "findings", "sessions", "leakage_minor",
            "overcharge_minor"]
    total = pd.DataFrame([{"class": "all", "currency": t.currency, "billable": t.billable, "correct": t.correct,
                           "accuracy": t.accuracy, "findings": t.findings, "leakage_minor": t.leakage_minor,
                           "overcharge_minor": t.overcharge_minor} for t in ba.accuracy_totals(db, f)],
                         columns=[c for c in cols if c != "sessions"])
    df = pd.concat([total, ba.accuracy_frame(db, f, by=("class",))], ignore_index=True)
    df["sessions"] = df["findings"]
    df = df[cols]
    for c in ("billable", "correct", "findings", "sessions", "leakage_minor", "overcharge_minor"):
        df[c] = df[c].astype("Int64")
    df["accuracy"] = df["accuracy"].astype(float)  # NaN where nothing was billable: shown as none
    df["currency"] = df["currency"].astype(object).where(df["currency"].notna(), None)
    return _in_currency(df, o)


def misbilled(db: Db, o: Options) -> pd.DataFrame:
    """One row per mis-billed session, biggest difference first (the page's list): expected and
    billed subtotal, tax and total (billed ones in `billed_currency`), and the difference."""
    df = ba.mis_billed(db, filters(db, o), limit=o.limit)
    cols = ["session_id", "site_id", "local_date", "class", "currency", "expected_subtotal_minor", "expected_tax_minor",
            "expected_total_minor", "billed_currency", "billed_subtotal_minor", "billed_tax_minor", "billed_total_minor",
            "difference_minor", "invoices", "void_invoices", "problem"]
    df = df[cols].copy()
    for c in cols:
        if c.endswith("_minor") or c in ("invoices", "void_invoices"):
            df[c] = df[c].astype("Int64")  # whole minor units even where a row has none (unrated, other currency)
    return _in_currency(df, o)


def breaks(db: Db, o: Options) -> pd.DataFrame:
    """One row per open break (the Reconciliation page's list), biggest money at stake first; every
    accounting month unless --from/--to bound them (as the alerts count)."""
    bf = rc.BreakFilters(currencies=(o.currency,) if o.currency else (), site_ids=tuple(o.site_ids), limit=o.limit,
                         stages=o.stages, break_types=o.break_types, item_types=o.item_types,
                         first_month=rc.month_start(o.start) if o.start else None,
                         last_month=rc.month_start(o.end) if o.end else None)
    df = rc.breaks(db, bf, o.reporting_currency, o.as_of)
    df = df.assign(reporting_currency=o.reporting_currency)
    cols = ["break_id", "stage", "item_type", "break_type", "currency", "break_amount_minor", "at_stake_minor",
            "at_stake_reporting_minor", "reporting_currency", "age_days", "left_ref", "right_ref", "state",
            "item_status", "gateway", "site_id", "accounting_month"]
    return df[cols].reset_index(drop=True)


def close(db: Db, o: Options) -> pd.DataFrame:
    """Month-close readiness (`--month`; default the month of --to, else the page's: the latest
    month that has ended): per stage and
    currency the items and amounts reconciled and the verdict; `--by currency` the unreconciled
    money with its reporting-currency figure and rate, `--by age` open breaks by age,
    `--by reasons` one row per threshold missed, `--by fx_gaps` the days without a rate."""
    today = (o.as_of or clock.now()).date()
    month = o.month or o.end or rc.default_close_month(rc.months(db), today) or today
    cr = rc.close_readiness(db, month, o.cfg, o.as_of)
    label = rc.month_start(month).strftime("%Y-%m")
    if o.by == "currency":
        df = cr.unreconciled.assign(reporting_currency=cr.reporting_currency)
        df["rate"] = [None if r is None else format(r.normalize(), "f") for r in df["rate"]]  # exact, as text
        return _in_currency(df.assign(month=label)[["month", "currency", "open_breaks", "unreconciled_minor", "rate",
                                                    "rate_date", "exact_rate", "reporting_currency",
                                                    "reporting_minor"]], o)
    if o.by == "age":
        return _in_currency(cr.age_buckets.assign(month=label)[["month", "currency", "bucket", "breaks",
                                                                "at_stake_minor"]], o)
    if o.by == "reasons":
        rows = [dict(month=label, check=r.check, scope=r.scope, measured=_plain_number(r.measured),
                     limit=_plain_number(r.limit), text=r.text) for r in cr.reasons]
        return pd.DataFrame(rows, columns=["month", "check", "scope", "measured", "limit", "text"], dtype=object)
    if o.by == "fx_gaps":
        return _in_currency(cr.fx_gaps.assign(month=label)[["month", *cr.fx_gaps.columns]], o)
    ac = rc.after_close(db, month, rc.CloseThresholds.of(o.cfg), o.as_of) if o.cfg is not None else None
    if o.by == "adjustments":
        rows = [dict(month=label, area=a.area, scope=a.scope, figure=a.figure, currency=a.currency,
                     at_sign_off=a.at_sign_off, now=a.now, change=a.change, text=a.text)
                for a in (ac.adjustments if ac else ())]
        return _in_currency(pd.DataFrame(rows, columns=["month", "area", "scope", "figure", "currency", "at_sign_off",
                                                        "now", "change", "text"], dtype=object), o)
    cols = ["stage", "currency", "items", "matched_items", "matched_share", "reconciled_items", "item_share",
            "amount_minor", "reconciled_minor", "amount_share"]
    df = cr.shares[cols].assign(month=label, ready=cr.ready, reasons=len(cr.reasons))
    return _in_currency(_beside_sign_off(df[["month", *cols, "ready", "reasons"]], ac), o)


SIGNED_FIGURES = ("items", "reconciled_items", "amount_minor", "reconciled_minor")


def _beside_sign_off(df: pd.DataFrame, ac: rc.AfterClose | None) -> pd.DataFrame:
    """The close rows with who signed the month off and when, and each figure as the sign-off froze it beside it
    (`<figure>_at_sign_off`; a stage and currency the snapshot did not have counts 0, one it had and now lacks is
    a row of its own); None throughout for a month never signed off."""
    later = [f"{f}_at_sign_off" for f in SIGNED_FIGURES]
    if ac is None:
        return df.assign(signed_off_at=None, signed_off_by=None, **dict.fromkeys(later))
    then = pd.DataFrame([{"stage": r["stage"], "currency": r["currency"],
                          **{f"{f}_at_sign_off": int(r.get(f) or 0) for f in SIGNED_FIGURES}}
                         for r in ac.signoff.snapshot.get("stages", [])],
                        columns=["stage", "currency", *later])
    out = df.merge(then, on=["stage", "currency"], how="outer").sort_values(["stage", "currency"], ignore_index=True)
    out["month"] = out["month"].fillna(df["month"].iloc[0] if not df.empty else f"{ac.signoff.month:%Y-%m}")
    for c in (*later, "items", "matched_items", "reconciled_items", "amount_minor", "reconciled_minor"):
        out[c] = out[c].fillna(0).astype("int64")
    out["ready"] = out["ready"].fillna(df["ready"].iloc[0] if not df.empty else False).astype(bool)
    out["reasons"] = out["reasons"].fillna(df["reasons"].iloc[0] if not df.empty else 0).astype("int64")
    return out.assign(signed_off_at=ac.signoff.signed_at, signed_off_by=ac.signoff.signed_by)


def _plain_number(v: Any) -> Any:
    """A measured value or limit as the machine reads it: fractions and decimals to float."""
    return float(v) if isinstance(v, (Fraction, Decimal)) else v


def health(db: Db, o: Options) -> pd.DataFrame:
    """Each job's last run, outcome, duration and freshness (the Health page's table);
    `--by source`: each source's newest data, its age and whether it is stale; `--by load`: each first load
    in chunks, how far along (the Health page's progress bars)."""
    as_of = o.as_of or clock.now()
    if o.by == "source":
        return _source_freshness(db, as_of)
    if o.by == "load":
        return _first_loads(db, as_of)
    rows = []
    schedule = judged_intervals(o.cfg) if o.cfg is not None else None  # the worker's intervals, as the page passes them
    for j in hl.job_health(db, as_of, schedule):
        last = j.last
        dur = last.duration if last else None
        age = j.success_age
        rows.append(dict(job=j.job, kind=j.kind, status=j.status,
                         last_started_at=last.started_at if last else None,
                         last_outcome=last.outcome if last else None,
                         last_duration_seconds=dur.total_seconds() if dur is not None else None,
                         last_success_at=j.last_success_at,
                         success_age_seconds=age.total_seconds() if age is not None else None,
                         runs_24h=j.runs_24h, failures_24h=j.failures_24h))
    cols = ["job", "kind", "status", "last_started_at", "last_outcome", "last_duration_seconds", "last_success_at",
            "success_age_seconds", "runs_24h", "failures_24h"]
    return pd.DataFrame(rows, columns=cols)


def _source_freshness(db: Db, as_of: datetime) -> pd.DataFrame:
    rows = [dict(source=s.source, what=s.what, newest=s.newest, detail=s.detail,
                 age_seconds=s.age.total_seconds() if s.age is not None else None,
                 threshold_seconds=s.threshold.total_seconds(), status=s.badge)
            for s in hl.source_freshness(db, as_of)]
    return pd.DataFrame(rows, columns=["source", "what", "newest", "detail", "age_seconds", "threshold_seconds",
                                       "status"])


def _first_loads(db: Db, as_of: datetime) -> pd.DataFrame:
    rows = [dict(job=f.job, state=f.state, rows_loaded=f.rows_loaded, rows_expected=f.rows_expected,
                 share=round(f.share, 4), chunks_done=f.chunks_done, loaded_to=f.loaded_to, started_at=f.started_at,
                 elapsed_seconds=round(f.elapsed.total_seconds(), 1),
                 rows_per_second=round(f.rows_per_second) if f.rows_per_second else None,
                 remaining_seconds=round(f.remaining.total_seconds()) if f.remaining is not None else None,
                 finished_at=f.finished_at)
            for f in hl.first_loads(db, as_of)]
    return pd.DataFrame(rows, columns=["job", "state", "rows_loaded", "rows_expected", "share", "chunks_done",
                                       "loaded_to", "started_at", "elapsed_seconds", "rows_per_second",
                                       "remaining_seconds", "finished_at"])


def _with_previous(now: pd.DataFrame, before: pd.DataFrame, cols: list[str], compare: bool) -> pd.DataFrame:
    """`previous_<col>` per currency from the same days a week earlier, as the page's deltas
    (empty where the page shows none: the earlier week starts before the data)."""
    prev = before[["currency", *cols]].rename(columns={c: f"previous_{c}" for c in cols})
    df = now.merge(prev, on="currency", how="left")
    for c in cols:
        df[f"previous_{c}"] = df[f"previous_{c}"].fillna(0).astype(int).astype(object) if compare else None
    return df


def _compare_weeks(db: Db, f: Filters) -> bool:
    rng = ov.data_range(db)
    return rng is not None and rng.holds(pm.week_earlier(f))


def refunds(db: Db, o: Options) -> pd.DataFrame:
    """The Refunds section: per currency its cards (refunds, amount, succeeded, failed, pending,
    failed amount, mean time to refund with its numerator and denominator, and the week-earlier
    figures); `--by reason` or `--by day` its tables."""
    f = filters(db, o)
    if o.by == "reason":
        return _in_currency(rf.refunds_by_reason(db, f), o)
    if o.by == "day":
        return _in_currency(rf.refunds_daily(db, f), o)
    now = rf.refund_kpis(db, f)
    df = _with_previous(now, rf.refund_kpis(db, pm.week_earlier(f)), ["refunds", "amount_minor"], _compare_weeks(db, f))
    return _in_currency(df, o)


def disputes(db: Db, o: Options) -> pd.DataFrame:
    """Dispute ratio per card network and month (disputes / successful card payments, with the
    network's monitoring level); `--by currency` the Disputes cards, `--by reason` their table."""
    f = filters(db, o)
    if o.by == "currency":
        now = dp.dispute_kpis(db, f)
        df = _with_previous(now, dp.dispute_kpis(db, pm.week_earlier(f)), ["disputes"], _compare_weeks(db, f))
        return _in_currency(df, o)
    if o.by == "reason":
        return _in_currency(dp.disputes_by_reason(db, f), o)
    df = dp.dispute_ratios(db, f)
    df["month"] = [pd.Timestamp(m).strftime("%Y-%m") for m in df["month"]]
    return df[["month", "card_brand", "disputes", "card_payments", "ratio", "threshold", "over_threshold"]]


def _queue_filters(o: Options) -> wq.QueueFilters:
    return wq.QueueFilters(types=o.work_types, teams=o.teams, owners=o.owners, site_ids=o.site_ids,
                           currencies=(o.currency,) if o.currency else ())


def _queue(db: Db, o: Options) -> wq.Queue:
    """The work queue as the command line narrowed it (the page's figure)."""
    return wq.configured_queue(db, _queue_filters(o), o.cfg, o.as_of)


def queue(db: Db, o: Options) -> pd.DataFrame:
    """The Work queue page's list: every open item that needs a person, by due time then money at stake; `--by type`
    per work type the open, assigned and overdue items and the oldest one's age."""
    q = _queue(db, o)
    if o.by in ("resolution", "team", "trend"):
        return _resolution(db, o)
    if o.by == "type":
        return pd.DataFrame([dict(work_type=c.work_type, team=wq.BY_NAME[c.work_type].team, open=c.open,
                                  assigned=c.assigned, overdue=c.overdue,
                                  oldest_age_days=None if c.oldest_age is None else c.oldest_age.days)
                             for c in wq.counts_by_type(q, _queue_filters(o).work_types())])
    df = q.items.assign(reporting_currency=q.reporting_currency,
                        time_left_hours=[None if t is None else int(t.total_seconds() // 3600) for t in q.items["time_left"]])
    return df[list(wq.SHOW_COLUMNS)].reset_index(drop=True)


def _hours(t) -> float | None:
    return None if t is None else round(t.total_seconds() / 3600, 2)


def _resolution(db: Db, o: Options) -> pd.DataFrame:
    """Time to resolution (the Work queue page's figures): `--by resolution` per work type and month opened, `--by
    team` per team and month, `--by trend` per type and week of resolution; hours, medians and p90 by nearest rank."""
    if o.site_ids or o.currency:
        raise ValueError("time to resolution is per work type and team, not per site or currency")
    r = wh.resolution_report(db, o.as_of)
    if o.by == "trend":
        return pd.DataFrame([dict(work_type=p.work_type, week=p.week, resolved=p.resolved,
                                  resolve_p50_hours=_hours(p.resolve_p50), resolve_p90_hours=_hours(p.resolve_p90))
                             for p in r.trend if not o.work_types or p.work_type in o.work_types],
                            columns=["work_type", "week", "resolved", "resolve_p50_hours", "resolve_p90_hours"])
    groups = r.by_team if o.by == "team" else r.by_type
    rows = [dict(work_type=g.work_type, team=g.team, month=g.period.strftime("%Y-%m"), items=g.stats.items,
                 assigned=g.stats.assigned, assign_p50_hours=_hours(g.stats.assign_p50),
                 assign_p90_hours=_hours(g.stats.assign_p90), resolved=g.stats.resolved,
                 resolve_p50_hours=_hours(g.stats.resolve_p50), resolve_p90_hours=_hours(g.stats.resolve_p90),
                 reopened=g.stats.reopened, resolved_without_a_person=g.stats.automatic)
            for g in groups if (not o.work_types or g.work_type in o.work_types) and (not o.teams or g.team in o.teams)]
    df = pd.DataFrame(rows, columns=["work_type", "team", "month", "items", "assigned", "assign_p50_hours",
                                     "assign_p90_hours", "resolved", "resolve_p50_hours", "resolve_p90_hours",
                                     "reopened", "resolved_without_a_person"])
    return df.drop(columns=["work_type"]) if o.by == "team" else df


def actions(db: Db, o: Options) -> pd.DataFrame:
    """The suggested actions (metrics/figures/suggested_actions.py) for the queue's items, as the page exports them:
    `--by <action type>` that type's rows with its own columns (one CSV for the system that acts); without --by one
    row per action type: how many items and the money, per currency."""
    q = _queue(db, o)
    found = sa.suggestions(db, q, o.cfg)
    if o.by:
        return found[o.by].reset_index(drop=True)
    none: list[tuple[str | None, tuple[int, int | None]]] = [(None, (0, None))]  # a type with no item: one row of 0
    rows = [dict(action=t.action, what=sa.ACTIONS[t.action], items=items, currency=cur, amount_minor=minor)
            for t in sa.totals(found) for cur, (items, minor) in (sorted(t.per_currency.items()) or none)]
    return pd.DataFrame(rows, columns=["action", "what", "items", "currency", "amount_minor"])
