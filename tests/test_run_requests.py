"""A "run now" request no worker takes in time (RUN_REQUEST_EXPIRES) is dropped, never silently lost: Health says it
was dropped and the job may be asked for again; a worker that finds it late takes it as expired and does not run
it (someone asked for yesterday's figures, not for a run whenever a worker comes back)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collectors.run_requests import take_requests
from metrics.actions import job_requests as jr
from metrics.figures import health as h
from revwatch.schedule import EXPIRED_REQUEST, RUN_REQUEST_EXPIRES
from tests.people import ED

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def world(make_world, pin_clock):
    pin_clock(NOW)
    return make_world()


def _ask(world, job: str, at: datetime) -> int:
    with world.engine.begin() as conn:
        return jr.request_run(conn, job, ED, now=at)


def test_a_request_no_worker_took_in_time_is_said_dropped_and_may_be_asked_again(world):
    old = _ask(world, "reconcile", NOW - RUN_REQUEST_EXPIRES - timedelta(minutes=1))
    _ask(world, "ingest-fx", NOW - timedelta(minutes=2))
    got = h.waiting_requests(world.engine, NOW)
    assert {job: r.expired for job, r in got.items()} == {"reconcile": True, "ingest-fx": False}
    with pytest.raises(jr.RunRefused, match="waits for a worker"):
        _ask(world, "ingest-fx", NOW)
    again = _ask(world, "reconcile", NOW)  # the dropped one no longer waits
    assert again > old and not h.waiting_requests(world.engine, NOW)["reconcile"].expired


def test_a_worker_takes_a_late_request_as_expired_and_runs_only_the_fresh_one(world):
    old = _ask(world, "reconcile", NOW - timedelta(hours=3))
    fresh = _ask(world, "ingest-fx", NOW - timedelta(minutes=1))
    assert take_requests(world.engine) == ["ingest-fx"]
    taken = dict(world.sql("SELECT request_id, taken_by FROM job_run_requests"))
    assert taken[old] == EXPIRED_REQUEST and taken[fresh] not in (None, EXPIRED_REQUEST)
    assert take_requests(world.engine) == []  # each once
    got = h.waiting_requests(world.engine, NOW)  # the fresh one ran: only the dropped one is said
    assert list(got) == ["reconcile"] and got["reconcile"].expired
    _ask(world, "reconcile", NOW)
    world.sql("UPDATE job_run_requests SET taken_at = %s, taken_by = 'w1:1' WHERE taken_at IS NULL", (NOW,))
    assert h.waiting_requests(world.engine, NOW) == {}  # asked again and run: the older drop is no longer news


def test_the_health_page_says_a_dropped_request_was_not_run(world, page_for):
    _ask(world, "reconcile", NOW - timedelta(minutes=40))
    at = page_for(world, "pages/health.py")
    (said,) = [w.value for w in at.warning if w.value.startswith("**reconcile**:")]
    assert "asked for a run 40 min ago and no worker took it within 15 min: it was dropped, not run" in said
