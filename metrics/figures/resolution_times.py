"""Time to resolution, measured (issue 19): from each work item's history, how long until someone owned it and
until it was resolved, and how often a resolved item came back.

A history is the item's events (at, action, actor) in time order: `opened`, `assigned`, `resolved` (or `written_off`, or
`approved`: a resolution that took four eyes), `reopened`, `cleared` (the data matched again by itself, which
resolves it without a person). Time to assign runs from the first `opened` to the first `assigned`; time to
resolve from the first `opened` to the first resolution after it; a reopened item's later resolution does not
shorten its first one. Items not yet assigned or resolved are left out of that figure and counted apart. A first
resolution by a job or an auto-explain rule (revwatch.work_items.automatic) is one without a person.

Percentiles are by nearest rank on the sorted durations (p50 of 1, 2, 3, 4 h is 2 h; p90 of ten values the 9th):
a value that occurred, never an interpolation, so a test can state it exactly.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from revwatch.work_items import automatic

RESOLVING = frozenset({"resolved", "written_off", "approved", "cleared"})


def nearest_rank(sorted_values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-quantile (0 < q <= 1) by nearest rank of values sorted ascending; None for none."""
    if not sorted_values:
        return None
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


@dataclass(frozen=True)
class ItemTimes:
    """One item's history reduced to the durations the figures need."""

    opened_at: datetime
    to_assign: timedelta | None
    to_resolve: timedelta | None
    reopened: bool
    automatic: bool = False  # its first resolution was by a job or a rule, not a person

    @property
    def resolved_at(self) -> datetime | None:
        return None if self.to_resolve is None else self.opened_at + self.to_resolve


def item_times(events: Iterable[tuple[datetime, str] | tuple[datetime, str, str]]) -> ItemTimes | None:
    """An item's (at, action[, actor]) events reduced (None when it was never opened)."""
    history = sorted(((e[0], e[1], e[2] if len(e) > 2 else "") for e in events), key=lambda e: e[0])
    opened = next((at for at, action, _ in history if action == "opened"), None)
    if opened is None:
        return None
    assigned = next((at for at, action, _ in history if action == "assigned" and at >= opened), None)
    resolution = next(((at, actor) for at, action, actor in history if action in RESOLVING and at >= opened), None)
    resolved = None if resolution is None else resolution[0]
    reopened = resolved is not None and any(action == "reopened" and at > resolved for at, action, _ in history)
    return ItemTimes(opened, None if assigned is None else assigned - opened,
                     None if resolved is None else resolved - opened, reopened,
                     resolution is not None and automatic(resolution[1]))


@dataclass(frozen=True)
class ResolutionStats:
    """Time to assign and to resolve over a group of items: how many, median and p90, and the share reopened."""

    items: int
    assigned: int
    resolved: int
    reopened: int
    automatic: int  # resolved without a person
    assign_p50: timedelta | None
    assign_p90: timedelta | None
    resolve_p50: timedelta | None
    resolve_p90: timedelta | None

    @property
    def reopened_share(self) -> float | None:
        return self.reopened / self.resolved if self.resolved else None

    @property
    def automatic_share(self) -> float | None:
        """Of the resolved items, the share resolved without a person (None: none resolved)."""
        return self.automatic / self.resolved if self.resolved else None


def resolution_stats(times: Iterable[ItemTimes]) -> ResolutionStats:
    """The figures of a group of items (one type, team and month, say)."""
    items = list(times)
    to_assign = sorted(t.to_assign for t in items if t.to_assign is not None)
    to_resolve = sorted(t.to_resolve for t in items if t.to_resolve is not None)
    return ResolutionStats(len(items), len(to_assign), len(to_resolve), sum(t.reopened for t in items),
                           sum(t.automatic for t in items if t.to_resolve is not None),
                           nearest_rank(to_assign, 0.5), nearest_rank(to_assign, 0.9),
                           nearest_rank(to_resolve, 0.5), nearest_rank(to_resolve, 0.9))
