"""Time to resolution of the work queue's items, from their history (issue 19): per work type and month, per team,
week by week over the last 12 weeks, and the share resolved without a person.

The history is the audit trail the actions write: recon_break_events for breaks, work_item_events for the rest
(opened, assigned, resolved, reopened, cleared; who and when). It reads the items active since `since` (any
event then) with all their events, so its cost follows recent work, not all history. The arithmetic is
metrics/figures/resolution_times.py's (nearest-rank median and p90). Months and weeks are UTC: an item belongs
to the month it was opened in, and to the week it was first resolved in for the trend.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from metrics.figures.query import Db, read_rows
from metrics.figures.resolution_times import ItemTimes, ResolutionStats, item_times, nearest_rank, resolution_stats
from revwatch import clock
from revwatch.work_items import BY_NAME

TREND_WEEKS = 12
# /metrics: the distribution of time to resolve over a recent window, in seconds (+Inf beyond the last)
RESOLVE_WINDOW = timedelta(days=28)
RESOLVE_BUCKETS = (3600, 4 * 3600, 86400, 2 * 86400, 5 * 86400, 10 * 86400, 30 * 86400)

_EVENTS = """
    WITH active AS (
        SELECT DISTINCT 'break' AS work_type, break_id AS item FROM recon_break_events
        WHERE at >= :since AND at <= :as_of
        UNION ALL
        SELECT DISTINCT w.work_type, w.item_id FROM work_item_events e JOIN work_items w USING (item_id)
        WHERE e.at >= :since AND e.at <= :as_of)
    SELECT a.work_type, a.item, e.at, e.action, e.actor
    FROM active a JOIN recon_break_events e ON a.work_type = 'break' AND e.break_id = a.item AND e.at <= :as_of
    UNION ALL
    SELECT a.work_type, a.item, e.at, e.action, e.actor
    FROM active a JOIN work_item_events e ON a.work_type <> 'break' AND e.item_id = a.item AND e.at <= :as_of"""

Key = tuple[str, int]  # (work_type, break or work item id)


def histories(db: Db, since: datetime, as_of: datetime | None = None) -> dict[Key, list[tuple[datetime, str, str]]]:
    """Every event, up to `as_of`, of each item with an event since `since`."""
    _, rows = read_rows(db, _EVENTS, {"since": since, "as_of": as_of or clock.now()})
    out: dict[Key, list[tuple[datetime, str, str]]] = defaultdict(list)
    for work_type, item, at, action, actor in rows:
        out[(work_type, int(item))].append((at, action, actor))
    return dict(out)


def times(history: Mapping[Key, Iterable[tuple[datetime, str, str]]]) -> dict[Key, ItemTimes]:
    """Each opened item's durations (an item whose opening is older than the history read is left out)."""
    out = {}
    for key, events in history.items():
        t = item_times(events)
        if t is not None:
            out[key] = t
    return out


def month_of(at: datetime) -> date:
    return date(at.year, at.month, 1)


def week_of(at: datetime) -> date:
    """The Monday (UTC) of the ISO week `at` falls in."""
    d = at.date()
    return d - timedelta(days=d.weekday())


@dataclass(frozen=True)
class Group:
    """Time to assign and resolve of one group: a work type or a team, in a month or a week."""

    work_type: str | None  # None: every type of `team`
    team: str
    period: date  # the month's first day, or the week's Monday
    stats: ResolutionStats


def by_type_and_month(items: Mapping[Key, ItemTimes]) -> list[Group]:
    """Per work type and month opened, in type (WORK_TYPES) then month order."""
    groups: dict[tuple[str, date], list[ItemTimes]] = defaultdict(list)
    for (work_type, _), t in items.items():
        groups[(work_type, month_of(t.opened_at))].append(t)
    order = list(BY_NAME)
    return [Group(w, BY_NAME[w].team, m, resolution_stats(ts))
            for (w, m), ts in sorted(groups.items(), key=lambda g: (order.index(g[0][0]), g[0][1]))]


def by_team_and_month(items: Mapping[Key, ItemTimes]) -> list[Group]:
    groups: dict[tuple[str, date], list[ItemTimes]] = defaultdict(list)
    for (work_type, _), t in items.items():
        groups[(BY_NAME[work_type].team, month_of(t.opened_at))].append(t)
    return [Group(None, team, m, resolution_stats(ts)) for (team, m), ts in sorted(groups.items())]


@dataclass(frozen=True)
class WeekPoint:
    """One week of the trend: the items of `work_type` first resolved in it, and their median time to resolve."""

    work_type: str
    week: date
    resolved: int
    resolve_p50: timedelta | None
    resolve_p90: timedelta | None


def weekly_trend(items: Mapping[Key, ItemTimes], as_of: datetime, weeks: int = TREND_WEEKS) -> list[WeekPoint]:
    """The last `weeks` ISO weeks up to `as_of`'s, every type every week (an empty week: 0 resolved, no median)."""
    last = week_of(as_of)
    mondays = [last - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    per: dict[tuple[str, date], list[timedelta]] = defaultdict(list)
    for (work_type, _), t in items.items():
        if t.resolved_at is not None and t.to_resolve is not None:
            per[(work_type, week_of(t.resolved_at))].append(t.to_resolve)
    out = []
    for work_type in BY_NAME:
        for monday in mondays:
            values = sorted(per.get((work_type, monday), []))
            out.append(WeekPoint(work_type, monday, len(values), nearest_rank(values, 0.5), nearest_rank(values, 0.9)))
    return out


@dataclass(frozen=True)
class Change:
    """Median time to resolve of a type's items resolved in the last 7 days, and in the 7 days before."""

    work_type: str
    resolved: int
    median: timedelta | None
    previous_resolved: int
    previous_median: timedelta | None
    automatic: int = 0  # of the last 7 days' resolutions, those without a person


def recent_change(items: Mapping[Key, ItemTimes], as_of: datetime, days: int = 7) -> list[Change]:
    span = timedelta(days=days)

    def resolved_in(work_type: str, lo: datetime, hi: datetime) -> list[ItemTimes]:
        return [t for (w, _), t in items.items() if w == work_type and t.resolved_at is not None and lo < t.resolved_at <= hi]

    out = []
    for work_type in BY_NAME:
        now, before = resolved_in(work_type, as_of - span, as_of), resolved_in(work_type, as_of - 2 * span, as_of - span)
        spans, spans_before = (sorted(t.to_resolve for t in ts if t.to_resolve is not None) for ts in (now, before))
        out.append(Change(work_type, len(spans), nearest_rank(spans, 0.5), len(spans_before),
                          nearest_rank(spans_before, 0.5), sum(t.automatic for t in now)))
    return out


@dataclass(frozen=True)
class ResolutionReport:
    """Everything the faces show of time to resolution, read once."""

    as_of: datetime
    since: datetime
    by_type: list[Group]
    by_team: list[Group]
    trend: list[WeekPoint]
    change: list[Change]


def resolution_report(db: Db, as_of: datetime | None = None, weeks: int = TREND_WEEKS) -> ResolutionReport:
    """The items active in the last `weeks` weeks (from the Monday `weeks` - 1 weeks before as_of's): by type and
    month, by team and month, the weekly trend, and the last 7 days against the 7 before."""
    now = (as_of or clock.now()).astimezone(UTC)
    since = datetime.combine(week_of(now) - timedelta(weeks=weeks - 1), datetime.min.time(), tzinfo=UTC)
    items = times(histories(db, since, now))
    return ResolutionReport(now, since, by_type_and_month(items), by_team_and_month(items), weekly_trend(items, now, weeks),
                            recent_change(items, now))


@dataclass(frozen=True)
class ResolveDistribution:
    """Per work type, the items first resolved in the window: cumulative counts per RESOLVE_BUCKETS bound (and +Inf
    last), and the sum of their times to resolve in seconds."""

    work_type: str
    cumulative: tuple[int, ...]
    seconds: float


def resolve_distribution(db: Db, as_of: datetime | None = None, window: timedelta = RESOLVE_WINDOW
                         ) -> list[ResolveDistribution]:
    """Every work type (an empty one: zeros), from the same histories as the page's figures."""
    now = as_of or clock.now()
    items = times(histories(db, now - window, now))
    out = []
    for work_type in BY_NAME:
        spans = [t.to_resolve.total_seconds() for (w, _), t in items.items() if w == work_type
                 and t.resolved_at is not None and t.to_resolve is not None and now - window < t.resolved_at <= now]
        cumulative = (*(sum(s <= bound for s in spans) for bound in RESOLVE_BUCKETS), len(spans))
        out.append(ResolveDistribution(work_type, cumulative, float(sum(spans))))
    return out


def duration_words(t: timedelta | None) -> str:
    """'3.2 days', '5.5 h', '40 min'; '–' for none."""
    if t is None:
        return "–"
    hours = t.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 24 else f"{hours:.1f} h" if hours >= 1 else f"{round(hours * 60)} min"


def change_sentence(c: Change) -> str | None:
    """'Reconciliation break: median time to resolve 3.2 days (12 resolved in the last 7 days), down from 4.1.'; None
    when none was resolved in either week (nothing to say, not "0")."""
    if not c.resolved and not c.previous_resolved:
        return None
    label = BY_NAME[c.work_type].label
    if not c.resolved:
        return f"{label}: none resolved in the last 7 days ({c.previous_resolved} the 7 days before)."
    alone = f", {c.automatic} without a person" if c.automatic else ""
    now = f"{label}: median time to resolve {duration_words(c.median)} ({c.resolved} resolved in the last 7 days{alone})"
    if c.previous_median is None or c.median is None:
        return now + ", none the 7 days before."
    way = "down" if c.median < c.previous_median else "up" if c.median > c.previous_median else "the same as"
    return f"{now}, {way}{' from' if way != 'the same as' else ''} {duration_words(c.previous_median)}."
