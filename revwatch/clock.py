"""The one clock: every "what time is it" in Revwatch is asked here, and SQL gets the answer
as a parameter (`:as_of`, `:now`), never from the server's `now()`.

Default ranges, "today", ages, the latest ended month, settle delays and what is due all follow
this clock, so a test sets it and a whole run can be made as of another date:

- `REVWATCH_NOW=2026-11-01T00:30:00Z` (an ISO 8601 instant, UTC when no offset is given; a bare
  date means its midnight UTC): the clock reads that instant when the process first asks and
  moves on in real time from there. The real moment it started is passed on to child
  processes (`REVWATCH_NOW_SINCE`), so the worker and the dashboard a command starts continue
  the same clock instead of each starting over.
- `pinned(at)`: a test stops the clock at `at` (advance it with `pinned` again).

`wall()` is the real wall clock for timers that wake a process up (the scheduler), never for
deciding what day it is.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ENV = "REVWATCH_NOW"
ENV_SINCE = "REVWATCH_NOW_SINCE"

_pinned: datetime | None = None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant or date as an aware UTC datetime (naive means UTC)."""
    value = text.strip()
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{ENV}={text!r} is not an ISO 8601 instant such as 2026-11-01T00:30:00Z") from exc
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def _shift_from_environment() -> timedelta:
    """How far the environment's clock runs from the wall clock (zero when REVWATCH_NOW is unset)."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return timedelta(0)
    since = os.environ.setdefault(ENV_SINCE, repr(time.time()))
    return parse_instant(value) - datetime.fromtimestamp(float(since), UTC)


_shift = _shift_from_environment()


def wall() -> datetime:
    """The real wall clock (UTC): for timers only, never for what day it is."""
    return datetime.now(UTC)


def now() -> datetime:
    """Now, as an aware UTC datetime: pinned by a test, set by REVWATCH_NOW, else the wall clock."""
    if _pinned is not None:
        return _pinned
    return wall() + _shift


def today(zone: str | ZoneInfo = "UTC") -> date:
    """Today's date in `zone` (default UTC) by this clock."""
    return now().astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).date()


def is_set() -> bool:
    """Whether the clock is anything but the wall clock (a test pin or REVWATCH_NOW)."""
    return _pinned is not None or _shift != timedelta(0)


@contextmanager
def pinned(at: datetime) -> Iterator[datetime]:
    """Stop the clock at `at` (aware) for the block; the previous setting comes back after it."""
    global _pinned
    if at.tzinfo is None:
        raise ValueError("pin the clock to an aware datetime")
    before, _pinned = _pinned, at.astimezone(UTC)
    try:
        yield _pinned
    finally:
        _pinned = before
