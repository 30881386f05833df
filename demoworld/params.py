"""What a demo world is made from: the user's parameters and the period they resolve to."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np

from revwatch import clock

DAY = 86_400
MIN_DAYS = 7  # every incident needs its own day, in a fixed order (see incidents.py)


@dataclass(frozen=True)
class DemoParams:
    """The whole input of the simulator: the same params (with an explicit `end`) give the
    same world, byte for byte.

    `end` is the last instant of the world (tz-aware; stored in UTC, whole seconds);
    None means now by revwatch.clock, floored to the minute: the only place the demo asks the time.
    """

    days: int = 60
    sites: int = 40
    scale: float = 1.0
    seed: int = 7
    end: datetime | None = None

    def validate(self) -> None:
        if self.days < MIN_DAYS:
            raise ValueError(f"days must be >= {MIN_DAYS} (each incident gets its own day)")
        if self.sites < 1:
            raise ValueError("sites must be >= 1")
        if not self.scale > 0:
            raise ValueError("scale must be > 0")
        if self.end is not None and self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware (UTC)")

    def as_json(self, end: int) -> dict:
        return {"days": self.days, "sites": self.sites, "scale": self.scale, "seed": self.seed,
                "end": iso(end)}


class Period(NamedTuple):
    """[start, end) in epoch seconds (UTC). Days of the period count from `start`."""

    start: int
    end: int
    days: int

    def day(self, index: int) -> int:
        """Epoch second where day `index` of the period begins (UTC, not a local midnight)."""
        return self.start + index * DAY


def resolve_period(params: DemoParams, now: datetime | None = None) -> Period:
    if params.end is None:
        now = now or clock.now()
        end = now.astimezone(UTC).replace(second=0, microsecond=0)
    else:
        end = params.end.astimezone(UTC).replace(microsecond=0)
    end_s = int(end.timestamp())
    return Period(end_s - params.days * DAY, end_s, params.days)


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per purpose, so changing one part of the simulator does
    not shift the draws of every other part."""
    s = seed % (1 << 64)
    return np.random.default_rng(np.random.SeedSequence([s & 0xFFFFFFFF, s >> 32, zlib.crc32(name.encode())]))


def iso(epoch_s: int) -> str:
    """Epoch seconds -> ISO-8601 UTC string, the manifest's time format."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(epoch_s))).isoformat()
