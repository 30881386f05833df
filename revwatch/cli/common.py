"""What every command needs: the settings (a bad one is a one-line error), the product engine, UTC."""
from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy import Engine

from revwatch.settings import Settings, SettingsError, load_settings


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
