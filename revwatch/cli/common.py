"""What every command needs: the settings (a bad one is a one-line error), the product engine, UTC."""
from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import Engine

from revwatch.settings import Settings, SettingsError, load_settings

# Exit codes of the `revwatch` commands: 0 done; 1 a failure (one line, `Error: …`); 2 a usage error; 3 the
# worker's watchdog gave up (supervise.EXIT_STUCK, for its supervisor); 4 `show` printed figures that are not
# computed yet (their jobs have not run over the data: the rows may be partial, stderr says why).
EXIT_NOT_COMPUTED = 4


def settings() -> Settings:
    """The environment's settings; an invalid one ends the command with click's one-line error."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def engine(cfg: Settings) -> Engine:
    from revwatch.db import product_engine

    return product_engine(cfg)


def as_utc(value: datetime | None) -> datetime | None:
    """A naive --from/--to is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
