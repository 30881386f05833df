"""Issue 19 (part): the work queue's service levels (revwatch/work_items.py) and time to resolution
(metrics/figures/resolution_times.py), pure: due dates in calendar and business days, WORK_SLAS, and median and
p90 of a simulated history worked out by hand."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.figures.resolution_times import item_times, nearest_rank, resolution_stats
from revwatch.settings import Settings
from revwatch.work_items import BY_NAME, ServiceLevel, add_business_days, due_at, parse_service_level, service_levels

H = timedelta(hours=1)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_business_days_skip_the_weekend():
    assert add_business_days(at("2026-12-04"), 1) == at("2026-12-07")  # Fri -> Mon, same time
    assert add_business_days(at("2026-12-02"), 5) == at("2026-12-09")  # Wed -> next Wed
    assert add_business_days(at("2026-12-05"), 1) == at("2026-12-08", 0)  # found Sat: from Mon 00:00, due Tue 00:00
    assert add_business_days(at("2026-12-06"), 0) == at("2026-12-07", 0)  # Sun, 0 days: Monday 00:00
    assert add_business_days(at("2026-12-31"), 2) == at("2027-01-04")  # Thu 31 Dec -> Fri 1 Jan -> Mon 4 Jan


def test_due_dates_per_service_level():
    found = at("2026-12-04")  # a Friday
    assert due_at(ServiceLevel(10), found) == at("2026-12-14")
    assert due_at(ServiceLevel(5, business=True), found) == at("2026-12-11")
    gateway = at("2026-12-20", 23)
    assert due_at(ServiceLevel(deadline=True), found, gateway) == gateway
    assert due_at(ServiceLevel(deadline=True), found, None) is None  # not known, never "not due"


def test_service_levels_from_configuration():
    assert parse_service_level("7d") == ServiceLevel(7) and parse_service_level(" 3bd ") == ServiceLevel(3, True)
    assert parse_service_level("due") == ServiceLevel(deadline=True)
    levels = service_levels('{"break": "7d", "over_billed": "3bd"}')
    assert levels["break"] == ServiceLevel(7) and levels["over_billed"] == ServiceLevel(3, business=True)
    assert levels["dispute_evidence"] == BY_NAME["dispute_evidence"].service_level  # the default where not set
    assert str(levels["over_billed"]) == "3 business days" and str(levels["dispute_evidence"]).startswith("before")
    with pytest.raises(ValueError, match="'brek' is not a work type"):
        service_levels({"brek": "7d"})
    with pytest.raises(ValueError, match="'ten days' is not a service level"):
        service_levels({"break": "ten days"})
    with pytest.raises(ValueError, match="'nope' is not a work type"):
        Settings(work_slas='{"nope": "1d"}')
    assert Settings(work_slas='{"break": "7d"}').work_slas == '{"break": "7d"}'
    with pytest.raises(ValueError, match="must be JSON"):
        Settings(work_slas="{break: 7d}")


def test_nearest_rank():
    hours = [timedelta(hours=h) for h in (1, 2, 3, 4)]
    assert nearest_rank(hours, 0.5) == 2 * H and nearest_rank(hours, 0.9) == 4 * H and nearest_rank([], 0.5) is None
    ten = [timedelta(hours=h) for h in range(1, 11)]
    assert nearest_rank(ten, 0.9) == 9 * H and nearest_rank(ten, 1) == 10 * H


def test_a_simulated_history_gives_exactly_the_expected_median_and_p90():
    """Five breaks opened at 00:00: assigned after 1, 2, 4, 8 h (one never); resolved after 10, 20, 30, 40 h (one
    still open), the 20 h one reopened and resolved again at 50 h (its first resolution counts)."""
    t0 = at("2026-11-02", 0)
    histories = [
        [(t0, "opened"), (t0 + 1 * H, "assigned"), (t0 + 10 * H, "resolved")],
        [(t0, "opened"), (t0 + 2 * H, "assigned"), (t0 + 20 * H, "resolved"), (t0 + 30 * H, "reopened"),
         (t0 + 50 * H, "resolved")],
        [(t0, "opened"), (t0 + 4 * H, "assigned"), (t0 + 30 * H, "approved")],  # four eyes: resolved when approved
        [(t0 + 40 * H, "cleared"), (t0, "opened"), (t0 + 8 * H, "assigned")],  # out of order: sorted; cleared by itself
        [(t0, "opened"), (t0 + 3 * H, "commented")],  # nobody owns it yet, still open
    ]
    times = [item_times(h) for h in histories]
    assert times[1].to_resolve == 20 * H and times[1].reopened
    stats = resolution_stats(times)
    assert (stats.items, stats.assigned, stats.resolved, stats.reopened) == (5, 4, 4, 1)
    assert (stats.assign_p50, stats.assign_p90) == (2 * H, 8 * H)  # of 1, 2, 4, 8 h
    assert (stats.resolve_p50, stats.resolve_p90) == (20 * H, 40 * H)  # of 10, 20, 30, 40 h
    assert stats.reopened_share == 0.25
    assert item_times([(t0, "assigned")]) is None  # never opened: not an item
