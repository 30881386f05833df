"""Settings from the environment, validated once at start.

A bad value stops the program with a message naming the variable and what is wrong,
instead of failing later somewhere far from the cause.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from revwatch.money import CURRENCY_EXPONENTS


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "revwatch"


def _is_postgres_url(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise ValueError(f"must be a PostgreSQL URL (postgresql://user@host:port/db), got {value.split('@')[-1]!r}")
    return value


class SettingsError(SystemExit):
    """Raised with a readable message when the environment is invalid."""


class Settings(BaseSettings):
    """Every variable Revwatch reads; the README lists them with defaults and examples."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    database_url: str | None = Field(None, description="Product database; unset = embedded PostgreSQL")
    billing_database_url: str | None = Field(None, description="Billing source; unset = the product database")
    revwatch_data_dir: Path = Field(default_factory=_default_data_dir)
    ingest_lookback_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    gateway_settle_minutes: int = Field(120, ge=0, le=7 * 24 * 60)
    billing_settle_minutes: int = Field(120, ge=0, le=10080)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8501, ge=1, le=65535)
    reporting_currency: str = "USD"
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    adyen_reports_dir: Path | None = None
    bank_statements_dir: Path | None = None
    gl_exports_dir: Path | None = None
    fx_rates_path: Path | None = None

    @field_validator("database_url", "billing_database_url")
    @classmethod
    def _postgres(cls, value, info):
        return _is_postgres_url(value, info.field_name)

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown ISO 4217 currency {value!r}; known: {', '.join(sorted(CURRENCY_EXPONENTS))}")
        return code

    @property
    def pg_data_dir(self) -> Path:
        return self.revwatch_data_dir / "pg"

    @property
    def demo_dir(self) -> Path:
        return self.revwatch_data_dir / "demo"


def load_settings(**overrides) -> Settings:
    """Read and validate the environment; a bad value ends in a SettingsError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            lines.append(f"  {name}: {err['msg']} (got {err.get('input')!r})" if name not in {"DATABASE_URL", "BILLING_DATABASE_URL", "STRIPE_API_KEY"} else f"  {name}: {err['msg']}")
        raise SettingsError("Invalid configuration:\n" + "\n".join(lines)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
