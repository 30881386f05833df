"""Database engines for the product store and the billing source.

The caller owns transactions (`with engine.begin() as conn:`); functions take the
connection as an argument.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import Row
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from revwatch.settings import Settings, settings


def sqlalchemy_url(url: str) -> str:
    """Any postgres URL -> one SQLAlchemy drives with psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """Any postgres URL -> the plain libpq form psycopg.connect takes."""
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def product_url(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    if cfg.database_url:
        return sqlalchemy_url(cfg.database_url)
    from revwatch import embedded

    return sqlalchemy_url(embedded.start(cfg.pg_data_dir))


def billing_url(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    return sqlalchemy_url(cfg.billing_database_url) if cfg.billing_database_url else product_url(cfg)


@lru_cache(maxsize=8)
def engine_for(url: str, pooled: bool = True) -> Engine:
    """An engine in UTC; `pooled=False` opens a connection per use (short-lived callers: tests, one-off commands)."""
    extra = {} if pooled else {"poolclass": NullPool}
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"}, **extra)


def product_engine(cfg: Settings | None = None) -> Engine:
    return engine_for(product_url(cfg))


def billing_engine(cfg: Settings | None = None) -> Engine:
    return engine_for(billing_url(cfg))


def psycopg_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (for COPY), on the same transaction."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"expected a psycopg connection under SQLAlchemy, got {type(driver).__name__}")
    return driver


def fetch_one(cursor: psycopg.Cursor[Row]) -> Row:
    """The one row a statement returns (an aggregate, `SELECT to_regclass(...)`); an error when there is none."""
    row = cursor.fetchone()
    if row is None:
        raise LookupError("the statement returned no row")
    return row
