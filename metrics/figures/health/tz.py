"""Which PostgreSQL and which tz database decide the figures: the server's version and settings, and
the tz rules each engine (PostgreSQL, Python's zoneinfo) has, probed by one visible change per release.
"""
from __future__ import annotations

import importlib.metadata
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TzProbe:
    """A rule change of one tz database release, seen as one zone's UTC offset at one instant."""

    release: str
    zone: str
    at: datetime
    offset: timedelta  # with the change; without it the offset differs (or the zone is unknown)
    change: str


def _utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


# One visible change per release, oldest first, from the releases' NEWS; each checked against a
# tz database with and without it.
TZ_PROBES: tuple[TzProbe, ...] = (
    TzProbe("2022b", "Asia/Tehran", _utc("2023-07-01T12:00"), timedelta(hours=3, minutes=30),
            "Iran no longer observes DST after 2022"),
    TzProbe("2022f", "America/Mexico_City", _utc("2023-07-01T12:00"), timedelta(hours=-6),
            "Mexico no longer observes DST"),
    TzProbe("2022g", "America/Ciudad_Juarez", _utc("2023-07-01T12:00"), timedelta(hours=-6),
            "new zone America/Ciudad_Juarez"),
    TzProbe("2023a", "Africa/Cairo", _utc("2023-07-01T12:00"), timedelta(hours=3), "Egypt observes DST again"),
    TzProbe("2023d", "America/Scoresbysund", _utc("2024-07-01T12:00"), timedelta(hours=-1),
            "Ittoqqortoormiit moves to -02/-01"),
    TzProbe("2024a", "Asia/Almaty", _utc("2024-07-01T12:00"), timedelta(hours=5), "Kazakhstan unifies on UTC+5"),
    TzProbe("2024b", "Asia/Choibalsan", _utc("2000-01-01T00:00"), timedelta(hours=8),
            "Asia/Choibalsan becomes an alias of Asia/Ulaanbaatar"),
    TzProbe("2025a", "America/Asuncion", _utc("2025-07-01T12:00"), timedelta(hours=-3),
            "Paraguay adopts permanent -03"),
    TzProbe("2025b", "America/Coyhaique", _utc("2025-07-01T12:00"), timedelta(hours=-3),
            "new zone America/Coyhaique (Aysén, permanent -03)"),
    TzProbe("2026a", "Europe/Chisinau", _utc("2025-03-30T00:30"), timedelta(hours=2),
            "Moldova uses EU transition times since 2022"),
    TzProbe("2026b", "America/Vancouver", _utc("2026-11-15T12:00"), timedelta(hours=-7),
            "British Columbia stays on -07 (no fall back in 2026)"),
    TzProbe("2026c", "America/Edmonton", _utc("2026-11-15T12:00"), timedelta(hours=-6),
            "Alberta moves to permanent -06"),
)


def reflected_release(offsets: tuple[timedelta | None, ...], probes: tuple[TzProbe, ...] = TZ_PROBES) -> str | None:
    """The newest release whose change, and every older probed change, the offsets show: a lower
    bound of the tz database's version. None: not even the oldest probed change."""
    newest = None
    for probe, got in zip(probes, offsets, strict=True):
        if got != probe.offset:
            break
        newest = probe.release
    return newest


@dataclass(frozen=True)
class TzSide:
    """One engine's tz database: its exact version where a tzdata.zi says it, else only the probes."""

    engine: str                        # "PostgreSQL" or "Python (zoneinfo)"
    version: str | None                # exact, e.g. "2025b"
    source: str                        # where the rules come from, and how the version was found
    offsets: tuple[timedelta | None, ...]  # per probe; None: zone unknown

    @property
    def at_least(self) -> str | None:
        return reflected_release(self.offsets)


@dataclass(frozen=True)
class DatabaseInfo:
    version: str          # SELECT version()
    server_version: str   # e.g. "15.20 (Debian 15.20-0+deb12u1)"
    timezone: str         # the session's TimeZone setting
    zone_count: int       # rows of pg_timezone_names
    postgres_tz: TzSide
    python_tz: TzSide

    @property
    def disagreements(self) -> tuple[TzProbe, ...]:
        """Probes where PostgreSQL and Python put a zone at different offsets."""
        return tuple(p for p, a, b in zip(TZ_PROBES, self.postgres_tz.offsets, self.python_tz.offsets, strict=True) if a != b)


_VERSION_LINE = re.compile(r"^#\s*version\s+(\S+)", re.MULTILINE)


def _zi_version(head: str | None) -> str | None:
    m = _VERSION_LINE.search(head or "")
    return m.group(1) if m else None


def _try_scalar(conn: Connection, sql: str, params: dict | None = None) -> Any:
    """A statement that may be refused (privileges): its value, or None, the transaction intact."""
    try:
        with conn.begin_nested():
            return conn.execute(text(sql), params or {}).scalar()
    except DBAPIError:
        return None


def _postgres_tz(conn: Connection, server_version: str) -> TzSide:
    zones = [p.zone for p in TZ_PROBES]
    rows = conn.execute(text("""
        SELECT CASE WHEN n.name IS NULL THEN NULL ELSE (p.at AT TIME ZONE p.zone) - (p.at AT TIME ZONE 'UTC') END
        FROM unnest(CAST(:zones AS text[]), CAST(:ats AS timestamptz[])) WITH ORDINALITY AS p(zone, at, i)
        LEFT JOIN pg_timezone_names n ON n.name = p.zone
        ORDER BY p.i"""), {"zones": zones, "ats": [p.at for p in TZ_PROBES]}).all()
    offsets = tuple(r[0] for r in rows)
    # Built with --with-system-tzdata, PostgreSQL reads that directory, whose tzdata.zi names its
    # version; both look-ups need superuser (or pg_read_server_files) and are skipped otherwise.
    configure = _try_scalar(conn, "SELECT setting FROM pg_config WHERE name = 'CONFIGURE'")
    if configure is None:
        return TzSide("PostgreSQL", None, "build options not readable with this role (pg_config needs superuser): "
                                          "version inferred from the probes only", offsets)
    m = re.search(r"--with-system-tzdata=([^'\s]+)", configure)
    if not m:
        return TzSide("PostgreSQL", None, f"PostgreSQL's own copy, bundled with {server_version} (its release notes "
                                          "name the tzdata release): version inferred from the probes", offsets)
    folder = m.group(1)
    head = _try_scalar(conn, "SELECT pg_read_file(:p, 0, 200)", {"p": f"{folder}/tzdata.zi"})
    version = _zi_version(head)
    how = f"{folder}/tzdata.zi on the server" if version else f"{folder} (its tzdata.zi not readable with this role)"
    return TzSide("PostgreSQL", version, f"system tz database {how}", offsets)


def _python_offsets() -> tuple[timedelta | None, ...]:
    out = []
    for p in TZ_PROBES:
        try:
            out.append(p.at.astimezone(zoneinfo.ZoneInfo(p.zone)).utcoffset())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            out.append(None)
    return tuple(out)


def _package_tzdata() -> tuple[str | None, str | None]:
    """The `tzdata` package's version and the IANA release in it, if installed."""
    try:
        version = importlib.metadata.version("tzdata")
    except importlib.metadata.PackageNotFoundError:
        return None, None
    try:
        import importlib.resources as resources

        head = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text()[:200]
    except (OSError, ModuleNotFoundError):
        head = None
    return version, _zi_version(head)


def python_tz() -> TzSide:
    """Python's zoneinfo reads the first TZPATH folder holding a zone, else the tzdata package."""
    offsets = _python_offsets()
    package, release = _package_tzdata()
    package_note = f"; the tzdata package {package} ({release or 'release unknown'}) is installed" if package else ""
    for folder in zoneinfo.TZPATH:
        if (Path(folder) / "UTC").is_file():
            zi = Path(folder) / "tzdata.zi"
            head = zi.read_text(errors="replace")[:200] if zi.is_file() else None
            version = _zi_version(head)
            where = f"{zi}" if version else f"{folder} (no readable tzdata.zi)"
            used = " but only used for zones missing there" if package else ""
            return TzSide("Python (zoneinfo)", version, f"system tz database {where}{package_note}{used}", offsets)
    if package:
        return TzSide("Python (zoneinfo)", release, f"the tzdata package {package} (no system tz database)", offsets)
    return TzSide("Python (zoneinfo)", None, "no tz database found", offsets)


def database_info(conn: Connection) -> DatabaseInfo:
    version, server_version, tz, zones = conn.execute(text(
        "SELECT version(), current_setting('server_version'), current_setting('TimeZone'),"
        " (SELECT count(*) FROM pg_timezone_names)")).one()
    return DatabaseInfo(version, server_version, tz, int(zones), _postgres_tz(conn, server_version), python_tz())


def probe_table(info: DatabaseInfo) -> pd.DataFrame:
    """release, change, zone, at, expected and each engine's offset, for the page."""
    def show(d: timedelta | None) -> str:
        if d is None:
            return "unknown zone"
        minutes = int(d.total_seconds() // 60)
        return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    import pandas as pd

    return pd.DataFrame([{"release": p.release, "change": p.change, "zone": p.zone, "at (UTC)": f"{p.at:%Y-%m-%d %H:%M}",
                          "with the change": show(p.offset), "PostgreSQL": show(a), "Python": show(b)}
                         for p, a, b in zip(TZ_PROBES, info.postgres_tz.offsets, info.python_tz.offsets, strict=True)])
