"""Demo worlds (demoworld.generate): the small world most tests share, and helpers for reading a
generated world's database and manifest."""
from __future__ import annotations

import psycopg

# A fixed small world: two weeks, eight sites, ~400 sessions a day.
SMALL_WORLD = dict(days=14, sites=8, scale=0.1, seed=11)


def q(url: str, sql: str, *args):
    """The rows of `sql` (with `args`) on the database at `url`, timestamps in UTC."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute(sql, args or None).fetchall()


def incident(manifest: dict, name: str) -> dict:
    """The manifest's incident `name`."""
    return next(i for i in manifest["incidents"] if i["id"] == name)
