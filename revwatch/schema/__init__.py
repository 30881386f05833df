"""The product's own tables: typed SQLAlchemy 2.0 models under one naming convention, one module per domain.

Importing this package registers every table on `Base.metadata` (Alembic's env and the tests compare
it with the database), so `from revwatch.schema import Base` sees the whole schema. The families:
source copies (billing.py, gateways.py, finance.py), plumbing (plumbing.py: watermarks, pending
recompute windows, the run log, files and quarantine), additive hourly rollups (rollups.py),
compute findings (findings.py, reconciliation.py), the work queue (work.py) and records (records.py: audit log, weekly reports).
"""
from __future__ import annotations

from revwatch.schema.base import NAMING_CONVENTION, TS, Base
from revwatch.schema.billing import Invoice, ParkingSession, PaymentAttempt, RatePlan, Refund, Site, TaxRate
from revwatch.schema.finance import BankLine, FxRate, GlLine
from revwatch.schema.findings import BillingCorrect, BillingFinding, GatewayMismatch
from revwatch.schema.gateways import (
    AdyenSettlementLine,
    GatewayAccess,
    StripeBalanceTransaction,
    StripeCharge,
    StripeDispute,
    StripePayout,
    StripeRefund,
)
from revwatch.schema.plumbing import (
    FigureSnapshot,
    JobRun,
    JobRunRequest,
    LoadProgress,
    PendingSiteHour,
    PendingWindow,
    QuarantinedRecord,
    SourceFile,
    SyncState,
)
from revwatch.schema.reconciliation import ReconBreak, ReconBreakEvent, ReconBreakRequest, ReconItem, ReconMonthCount
from revwatch.schema.records import AuditEntry, MonthSignoff, WeeklyReport
from revwatch.schema.rollups import (
    DisputeRollup,
    InvoiceOutcomeRollup,
    InvoiceRollup,
    PaymentRollup,
    RefundRollup,
    SessionRollup,
)
from revwatch.schema.work import AutoExplanation, WorkItem, WorkItemEvent

__all__ = [
    "NAMING_CONVENTION",
    "TS",
    "AdyenSettlementLine",
    "AuditEntry",
    "AutoExplanation",
    "BankLine",
    "Base",
    "BillingCorrect",
    "BillingFinding",
    "DisputeRollup",
    "FigureSnapshot",
    "FxRate",
    "GatewayAccess",
    "GatewayMismatch",
    "GlLine",
    "Invoice",
    "InvoiceOutcomeRollup",
    "InvoiceRollup",
    "JobRun",
    "JobRunRequest",
    "LoadProgress",
    "MonthSignoff",
    "ParkingSession",
    "PaymentAttempt",
    "PaymentRollup",
    "PendingSiteHour",
    "PendingWindow",
    "QuarantinedRecord",
    "RatePlan",
    "ReconBreak",
    "ReconBreakEvent",
    "ReconBreakRequest",
    "ReconItem",
    "ReconMonthCount",
    "Refund",
    "RefundRollup",
    "SessionRollup",
    "Site",
    "SourceFile",
    "StripeBalanceTransaction",
    "StripeCharge",
    "StripeDispute",
    "StripePayout",
    "StripeRefund",
    "SyncState",
    "TaxRate",
    "WeeklyReport",
    "WorkItem",
    "WorkItemEvent",
]
