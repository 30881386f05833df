"""The embedded PostgreSQL: started through `pgserver` under REVWATCH_DATA_DIR/pg when no
DATABASE_URL is set, and reused (data intact) by every later start."""
from __future__ import annotations

import warnings
from pathlib import Path

DATABASE = "revwatch"


def start(data_dir: Path) -> str:
    """Start (or join) the embedded server; return a URL to the `revwatch` database.

    pgserver counts the processes holding the server and stops it when the last one exits,
    so the CLI, the dashboard and the worker can share it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs complains about XDG_RUNTIME_DIR on servers; harmless here
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only the embedded path needs it

        server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return server.get_uri(DATABASE)
