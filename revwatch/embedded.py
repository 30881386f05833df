"""The embedded PostgreSQL: started through `pgserver` under REVWATCH_DATA_DIR/pg when no
DATABASE_URL is set, and reused (data intact) by every later start."""
from __future__ import annotations

import fcntl
import tempfile
import warnings
from pathlib import Path
from typing import Any

DATABASE = "revwatch"


def start(data_dir: Path) -> str:
    """Start (or join) the embedded server; return a URL to the `revwatch` database.

    pgserver counts the processes holding the server and stops it when the last one exits,
    so the CLI, the dashboard and the worker can share it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return server.get_uri(DATABASE)


def get_server(data_dir: Path, cleanup_mode: str | None) -> Any:
    """pgserver's server on `data_dir`, one start at a time on this machine: as root, pgserver's first start
    adds its own system user, and two processes starting at once (test workers) both try and one fails."""
    with warnings.catch_warnings():  # platformdirs complains about XDG_RUNTIME_DIR on servers; harmless here
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only the embedded path needs it

        with open(Path(tempfile.gettempdir()) / "revwatch-pgserver.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            return pgserver.get_server(str(data_dir), cleanup_mode=cleanup_mode)
