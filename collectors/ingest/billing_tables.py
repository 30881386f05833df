"""The billing source's tables as the input contract names them (SOURCES.md §1), and the SQL pieces that name
their columns and keys: shared by the ingest (billing.py) and what it sets aside (billing_quarantine.py)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

SOURCE = "billing"


@dataclass(frozen=True)
class SourceTable:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    event_column: str | None = None  # event time that places a row in rollup windows
    incremental: bool = True  # has updated_at; reference tables are small and copied whole


TABLES: tuple[SourceTable, ...] = (
    SourceTable("sites", ("site_id",), ("site_id", "name", "region", "timezone", "currency", "tax_jurisdiction"), incremental=False),
    SourceTable(
        "rate_plans", ("rate_plan_id",),
        ("rate_plan_id", "site_id", "effective_from", "effective_to", "grace_minutes", "increment_minutes",
         "increment_price_minor", "daily_max_minor"),
        incremental=False,
    ),
    SourceTable("tax_rates", ("jurisdiction", "effective_from"), ("jurisdiction", "rate", "effective_from", "effective_to"), incremental=False),
    SourceTable(
        "parking_sessions", ("session_id",),
        ("session_id", "site_id", "entered_at", "exited_at", "customer_id", "updated_at"), "entered_at",
    ),
    SourceTable(
        "invoices", ("invoice_id",),
        ("invoice_id", "session_id", "currency", "subtotal_minor", "tax_minor", "total_minor", "issued_at", "status", "updated_at"),
        "issued_at",
    ),
    SourceTable(
        "payment_attempts", ("attempt_id",),
        ("attempt_id", "invoice_id", "attempt_number", "gateway", "gateway_reference", "idempotency_key", "amount_minor",
         "currency", "status", "failure_code", "payment_method_type", "card_brand", "attempted_at", "updated_at"),
        "attempted_at",
    ),
    SourceTable(
        "refunds", ("refund_id",),
        ("refund_id", "invoice_id", "attempt_id", "gateway", "gateway_reference", "amount_minor", "currency", "reason",
         "status", "created_at", "updated_at"),
        "created_at",
    ),
)


def cols(names: Sequence[str], prefix: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(prefix, n) if prefix else sql.Identifier(n) for n in names)


# The incremental tables whose updated_at leads an index at the source (SOURCES.md §1 asks for one each)


def key_match(table: SourceTable, a: str, b: str) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{a}.{k} = {b}.{k}").format(a=sql.Identifier(a), b=sql.Identifier(b),
                                                                    k=sql.Identifier(k)) for k in table.key)
