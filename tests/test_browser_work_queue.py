"""The Work queue page's actions as its user does them, in Chromium (AppTest cannot choose a dataframe's rows):
choose rows of the list, assign them to a person in one go (a break through its own workflow), then choose one row
and resolve it with what was done. The hand-built world of tests/worlds/work_queue.py, as of its Friday."""
from __future__ import annotations

import pytest

from metrics.figures.work_queue import QueueFilters, configured_queue
from revwatch.work_items import BY_NAME
from tests.processes import STREAMLIT_IDLE, chromium_page, served_dashboard
from tests.worlds.work_queue import NOW, gathered, ran

pytestmark = pytest.mark.browser

HEADER, ROW = 35, 35  # the list's header and row heights (px) in Streamlit's data grid


@pytest.fixture
def world(make_world, pin_clock):
    w = gathered(make_world, pin_clock)
    ran(w)
    return w


def _idle(page) -> None:
    page.wait_for_function("() => " + STREAMLIT_IDLE, timeout=60_000)


def _choose(page, rows: list[int]) -> None:
    """Tick the rows' boxes in the list (the grid is drawn on a canvas: its row-marker column, by position)."""
    grid = page.locator('[data-testid="stDataFrame"]').filter(has_text="Time left").first  # the list, not the counts
    for ticked, row in enumerate(rows, start=1):
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + HEADER + ROW * row + ROW / 2)
        # the rerun that tick starts has drawn the choice: not merely a page found idle before that rerun began
        page.get_by_role("button", name=f"Assign {ticked} item(s)").wait_for(timeout=60_000)
        _idle(page)


def _order(world) -> list[tuple[str, int]]:
    with world.engine.connect() as conn:
        q = configured_queue(conn, QueueFilters(), world.cfg, NOW)
    return [(t, int(r)) for t, r in zip(q.items["work_type"], q.items["item_ref"], strict=True)]


def _owner(world, work_type: str, ref: int) -> str | None:
    if work_type == "break":
        return world.sql("SELECT assignee FROM recon_breaks WHERE break_id = %s", (ref,))[0][0]
    return world.sql("SELECT owner FROM work_items WHERE item_id = %s", (ref,))[0][0]


def test_rows_chosen_in_the_list_are_assigned_together_and_one_is_resolved(world, artifacts):
    first_two = _order(world)[:2]
    assert "break" in [t for t, _ in first_two]  # the overdue break leads: both workflows in one assignment
    with served_dashboard(world.url, artifacts / "streamlit-work-queue-test.log",
                          REVWATCH_NOW=NOW.isoformat()) as url, chromium_page(f"{url}work_queue") as (page, errors):
        page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=90_000)
        _idle(page)
        _choose(page, [0, 1])
        page.get_by_label("Assign the chosen items to").fill("dana@example.com")
        page.get_by_label("Assign the chosen items to").press("Enter")
        _idle(page)
        page.get_by_role("button", name="Assign 2 item(s)").click()
        page.get_by_text("Assigned 2 item(s) to dana@example.com.").wait_for(timeout=60_000)
        assert [_owner(world, t, r) for t, r in first_two] == ["dana@example.com"] * 2

        page.reload()  # a fresh list: no row chosen
        page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=90_000)
        _idle(page)
        row = next(i for i, (t, _) in enumerate(_order(world)) if t != "break")
        work_type, ref = _order(world)[row]
        _choose(page, [row])
        page.get_by_label("What was done").fill("refunded as re_browser")
        page.get_by_label("What was done").press("Enter")
        _idle(page)
        page.get_by_role("button", name="Resolve", exact=True).click()
        page.get_by_text("Resolved: ").first.wait_for(timeout=60_000)
        _idle(page)
        page.screenshot(path=str(artifacts / "work-queue-actions.png"), full_page=True)
        resolution = page.locator('[data-testid="stDataFrame"]').filter(has_text="Median resolve").first
        resolution.scroll_into_view_if_needed()
        resolution.screenshot(path=str(artifacts / "work-queue-resolution.png"))
        # the list was read again at once, with nothing chosen: no stale row, no other item under the same row number
        assert page.get_by_text("All 9 items.").count() == 1
        assert page.get_by_label("What was done").count() == 0
        # and time to resolution counts it at once, not a minute later
        assert page.get_by_text(f"{BY_NAME[work_type].label}: median time to resolve").count() == 1
        assert page.get_by_text("No item was resolved in the last 14 days.").count() == 0
        assert not errors, errors
    assert work_type != "break" and world.sql("SELECT state FROM work_items WHERE item_id = %s", (ref,)) == [("resolved",)]
    assert world.sql("SELECT action, note FROM work_item_events WHERE item_id = %s ORDER BY event_id DESC LIMIT 1",
                     (ref,)) == [("resolved", "refunded as re_browser")]
