"""A site's time zone as PostgreSQL decides its local days with (site_zones.sql): the one definition
of which `sites.timezone` values are zones. The rollups, the shadow rating and the classify job read a
site's day through it, so a site whose zone is not one (issue 15: "Mars/Olympus") is judged per row
(its sessions `unrated`, its rollup rows dated by the UTC day) and never stops the other sites.
"""
from __future__ import annotations

from revwatch.rules import load

SQL = load("site_zones")  # site_id, name, region, timezone, currency, tax_jurisdiction, zone, zone_problem


def local_date(ts: str, site: str = "st") -> str:
    """SQL: the local date of timestamptz expression `ts` at the site row `site` of SQL (or of no site,
    a NULL row): by its zone, by the UTC day when the site is unknown or its zone is not a zone."""
    return f"({ts} AT TIME ZONE coalesce({site}.zone, 'UTC'))::date"
