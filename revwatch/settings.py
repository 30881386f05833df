"""Settings from the environment, validated once at start.

A bad value stops the program with a message naming the variable and what is wrong,
instead of failing later somewhere far from the cause.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
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


MAX_INTERVAL_SECONDS = 7 * 24 * 3600


def parse_schedule(value: str) -> dict[str, int]:
    """`job=seconds,...` (`*=seconds` for every job) -> {name: seconds}; a bad entry is a ValueError saying which."""
    schedule: dict[str, int] = {}
    for entry in (e.strip() for e in (value or "").split(",")):
        if not entry:
            continue
        name, sep, seconds = (part.strip() for part in entry.partition("="))
        if not sep or not name or not seconds.isdigit():
            raise ValueError(f"{entry!r} is not job=seconds (e.g. ingest-billing=60, or *=300 for every job)")
        if not 1 <= int(seconds) <= MAX_INTERVAL_SECONDS:
            raise ValueError(f"{entry!r}: seconds must be between 1 and {MAX_INTERVAL_SECONDS}")
        if name in schedule:
            raise ValueError(f"{name!r} is given twice")
        schedule[name] = int(seconds)
    return schedule


class SettingsError(SystemExit):
    """Raised with a readable message when the environment is invalid."""


class Settings(BaseSettings):
    """Every variable Revwatch reads; the README lists them with defaults and examples."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    database_url: str | None = Field(None, description="Product database; unset = embedded PostgreSQL")
    billing_database_url: str | None = Field(None, description="Billing source; unset = the product database")
    dashboard_database_url: str | None = Field(
        None, description="The dashboard's own connection (a role granted by `revwatch db grant-dashboard`); "
                          "unset = DATABASE_URL")
    revwatch_data_dir: Path = Field(default_factory=_default_data_dir)
    ingest_lookback_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    ingest_chunk_rows: int = Field(2_000_000, ge=100)
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
    # alerting (pages/alerts.py reads both APIs; unset = the page says what to set)
    prometheus_url: str | None = Field(None, description="Prometheus base URL, e.g. http://127.0.0.1:9090")
    alertmanager_url: str | None = Field(None, description="Alertmanager base URL, e.g. http://127.0.0.1:9093")
    # general ledger accounts (SOURCES.md §5): which account numbers play which role
    gl_account_cash: str = "1010"
    gl_account_clearing: str = "1150"
    gl_account_revenue: str = "4000"
    gl_account_tax: str = "2300"
    gl_account_fees: str = "6150"
    gl_account_refunds: str = "4050"
    bank_payout_type_codes: str = Field("165,169,195", description="BAI2 credit type codes a gateway payout arrives as")
    # reconciliation tolerances and timing windows (collectors/compute/reconciliation.py)
    recon_amount_tolerance_minor: int = Field(0, ge=0, description="differences up to this many minor units still match")
    recon_gateway_days: int = Field(2, ge=0, le=60, description="S1: days a gateway may take to show a payment or refund")
    recon_payout_days: int = Field(3, ge=0, le=60, description="S2: days from available_on to the payout")
    recon_bank_business_days: int = Field(2, ge=0, le=30, description="S3: business days after arrival_date for the bank")
    recon_bank_match_days: int = Field(3, ge=0, le=30, description="S3: days either side of the arrival date an unreferenced credit may match")
    recon_ledger_days: int = Field(5, ge=0, le=60, description="S4: days the ledger may take to post")
    # month-close readiness thresholds
    close_min_matched_share: float = Field(0.999, ge=0, le=1, description="share of items matched per stage")
    close_min_amount_share: float = Field(0.9999, ge=0, le=1, description="share of amount matched per stage")
    close_max_unreconciled_minor: int = Field(100_000, ge=0, description="open breaks, in reporting-currency minor units")
    close_max_break_age_days: int = Field(30, ge=0, description="no open break older than this")
    # the work queue's service levels (revwatch/work_items.py): work type -> 10d, 5bd or due
    work_slas: str = Field("", description='service levels over the defaults, JSON, e.g. {"break": "7d", '
                                           '"over_billed": "3bd", "dispute_evidence": "due"}')
    work_page_customer_overdue: bool = Field(False, description="page on-call (not only a ticket) when a customer "
                                             "overcharge, unrecorded charge or stuck refund is past its service level")
    auto_explain_rules: str = Field("", description='the auto-explain rules enabled, JSON: rule -> parameters, e.g. '
                                    '{"bank_fee": {"CAD": [1500]}, "duplicate_voided": {}}; none by default: dry-run '
                                    'them on the Work queue page first')
    refund_pending_hours: int = Field(48, ge=1, le=90 * 24, description="a refund pending longer than this is stuck: "
                                      "a work item")
    # four eyes (metrics/actions/break_workflow.py)
    approval_threshold_minor: int = Field(1_000_000, ge=0, description="resolving or writing off a break with at "
                                          "least this much at stake (reporting-currency minor units) needs a "
                                          "second person's approval, a controller's")
    # the worker (collectors/scheduler.py): how often each job runs, where /metrics is served
    worker_schedule: str = Field("", description="job=seconds overrides, comma-separated; *=seconds for every job")
    worker_threads: int = Field(1, ge=1, le=64, description="jobs each lane of a worker runs at the same time (each job at most once)")
    worker_shutdown_seconds: int = Field(25, ge=0, le=3600, description="on SIGTERM, how long the current runs may take to finish before they are abandoned")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535, description="port /metrics is served on; 0 = not served")
    metrics_cache_seconds: float = Field(15, ge=0, le=600, description="a scrape within this long of the last reuses its figures")
    # the weekly leadership report (metrics/faces/weekly_report.py): e-mail by SMTP, built Mondays 07:00
    smtp_host: str | None = Field(None, description="SMTP server; unset = the report is not e-mailed")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "revwatch@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    report_recipients: str = Field("", description="comma-separated e-mail addresses of the weekly report")
    report_timezone: str = Field("UTC", description="time zone of the Monday 07:00 weekly report build")
    # the audit log (revwatch/audit.py, revwatch/audit_anchors.py); the key is read from the environment
    # by revwatch.audit.hmac_key() and never stored: here it is only validated at start
    audit_hmac_key: SecretStr | None = Field(None, description="key of the audit log's keyed hashes and anchors "
                                                               "(HMAC-SHA256); unset = plain sha256")
    audit_anchor_file: Path | None = Field(None, description="append-only file of the audit log's anchors; "
                                                             "unset = $REVWATCH_DATA_DIR/audit-anchors.jsonl")

    # sign-in and roles (revwatch/identity.py); the identity provider itself is configured for Streamlit
    # (`[auth]` of .streamlit/secrets.toml); without it the dashboard runs in local mode on loopback
    auth_roles: str = Field("", description='role -> groups or e-mails, JSON, e.g. {"analyst": ["finance"], '
                                            '"controller": ["cfo@example.com"]}; roles: viewer, analyst, '
                                            'controller, engineer, admin')
    auth_groups_claim: str = Field("groups", description="the ID token claim that lists a person's groups")

    @field_validator("auth_roles", "work_slas", "auto_explain_rules")
    @classmethod
    def _json_maps(cls, value: str, info) -> str:
        """AUTH_ROLES, WORK_SLAS and AUTO_EXPLAIN_RULES: JSON objects, each entry checked by the function that reads it."""
        from revwatch.identity import parse_role_map
        from revwatch.work_items import parse_auto_explain, service_levels

        readers: dict[str, Callable[[str], object]] = {"auth_roles": parse_role_map, "work_slas": service_levels,
                                                       "auto_explain_rules": parse_auto_explain}
        try:
            check = readers[info.field_name]
            check(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"must be JSON ({exc.msg} at character {exc.pos})") from None
        return value.strip()

    @property
    def role_map(self) -> dict[str, frozenset[str]]:
        from revwatch.identity import parse_role_map

        return parse_role_map(self.auth_roles)

    @field_validator("database_url", "billing_database_url", "dashboard_database_url")
    @classmethod
    def _postgres(cls, value, info):
        return _is_postgres_url(value, info.field_name)

    @field_validator("prometheus_url", "alertmanager_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
            raise ValueError("must be an http(s) base URL, e.g. http://127.0.0.1:9090")
        return value

    @field_validator("report_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, e.g. Europe/Amsterdam") from None
        return value.strip()

    @field_validator("audit_hmac_key")
    @classmethod
    def _audit_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown ISO 4217 currency {value!r}; known: {', '.join(sorted(CURRENCY_EXPONENTS))}")
        return code

    @field_validator("bank_payout_type_codes")
    @classmethod
    def _codes(cls, value: str) -> str:
        codes = [c.strip() for c in value.split(",") if c.strip()]
        if not codes or not all(c.isdigit() and len(c) == 3 for c in codes):
            raise ValueError("must be comma-separated three-digit BAI2 type codes, e.g. 165,169,195")
        return ",".join(codes)

    @field_validator("worker_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return ",".join(f"{name}={seconds}" for name, seconds in parse_schedule(value).items())

    @property
    def schedule_overrides(self) -> dict[str, int]:
        """WORKER_SCHEDULE as {job name or '*': seconds}; the scheduler checks the names against its jobs."""
        return parse_schedule(self.worker_schedule)

    @property
    def payout_type_codes(self) -> tuple[str, ...]:
        return tuple(self.bank_payout_type_codes.split(","))

    @property
    def pg_data_dir(self) -> Path:
        return self.revwatch_data_dir / "pg"

    @property
    def demo_dir(self) -> Path:
        return self.revwatch_data_dir / "demo"

    @property
    def audit_anchor_path(self) -> Path:
        return self.audit_anchor_file or self.revwatch_data_dir / "audit-anchors.jsonl"


def load_settings(**overrides) -> Settings:
    """Read and validate the environment; a bad value ends in a SettingsError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            lines.append(f"  {name}: {err['msg']} (got {err.get('input')!r})" if name not in {"DATABASE_URL", "BILLING_DATABASE_URL", "STRIPE_API_KEY", "AUDIT_HMAC_KEY"} else f"  {name}: {err['msg']}")
        raise SettingsError("Invalid configuration:\n" + "\n".join(lines)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()
