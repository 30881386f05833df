"""The one way tests insert `sites` rows: `add_sites(target, *rows)`."""
from __future__ import annotations

from dataclasses import astuple, dataclass

import psycopg


@dataclass(frozen=True)
class Site:
    """A `sites` row; a tuple given to add_sites is read as Site(*tuple), so the tail may be left out."""

    site_id: str
    name: str
    region: str = "west"
    timezone: str = "UTC"
    currency: str = "USD"
    jurisdiction: str = "J1"


def add_sites(target, *rows: Site | tuple) -> None:
    """Insert `rows` (Site records or tuples) into `sites`. `target`: an open psycopg connection (its
    transaction, if any, commits with it) or a world (a connection of its own, committed)."""
    values = [astuple(r if isinstance(r, Site) else Site(*r)) for r in rows]
    sql = "INSERT INTO sites (site_id, name, region, timezone, currency, tax_jurisdiction) VALUES (%s, %s, %s, %s, %s, %s)"
    if isinstance(target, psycopg.Connection):
        target.cursor().executemany(sql, values)
        return
    with psycopg.connect(target.libpq) as conn:
        conn.cursor().executemany(sql, values)
