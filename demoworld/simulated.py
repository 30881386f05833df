"""What the simulator hands on: the simulated world (billing's side, with the incident windows)
and its reconciliation sources, as plain records. Their own module so that the manifest can
read them without importing the pipeline that builds and writes them."""
from __future__ import annotations

from typing import NamedTuple

from demoworld import bank, billing, fx, incidents, ledger, payments, pricing, recon, traffic, transfers, world
from demoworld.localtime import Clock
from demoworld.params import Period


class World(NamedTuple):
    period: Period
    currencies: tuple[str, ...]
    clock: Clock
    sites: world.Sites
    plans: world.Plans
    taxes: world.TaxRates
    plan: incidents.IncidentPlan
    sessions: traffic.Sessions
    customers: traffic.Customers
    rated: pricing.Rated
    billed: billing.Billed
    invoices: billing.Invoices
    methods: payments.Methods
    attempts: payments.Attempts
    collection: payments.Collection
    refunds: payments.Refunds
    duplicate_window: tuple[int, int]
    spike: payments.Window
    unknown: payments.Window
    decline: payments.DeclineWindow


class Recon(NamedTuple):
    """The reconciliation sources: gateway payouts as the bank and the GL see them, the
    incidents' picks, the bank statements, the GL journals and the FX rates, with their files."""

    cal: transfers.Calendar
    transfers: transfers.Transfers
    plan: recon.ReconPlan
    revenue: ledger.Revenue
    statements: list[bank.Statement]
    bank_files: list[bank.BankFile]
    ledger: ledger.Ledger
    exports: list[ledger.Export]
    rates: fx.Rates
    fx_content: str
