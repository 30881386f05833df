"""generate(): simulate the world (pure, numpy), describe it (manifest), write it (COPY)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import numpy as np

from demoworld import (
    adyen,
    adyen_lines,
    bank,
    billing,
    fx,
    gateway_incidents,
    gateways,
    incidents,
    ledger,
    manifest,
    payments,
    pricing,
    recon,
    stripe_codes,
    stripe_objects,
    traffic,
    transfers,
    world,
)
from demoworld.localtime import local_day, make_clock
from demoworld.params import DAY, DemoParams, Period, resolve_period, stream
from demoworld.simulated import Recon, World
from demoworld.writer import Col, Table, write


def simulate(params: DemoParams, period: Period, say: Callable[[str], None] = lambda _m: None) -> World:
    """The whole world from its parameters; no I/O, no clock."""
    seed = params.seed
    sites = world.make_sites(params.sites, stream(seed, "sites"))
    clock = make_clock(sites.zones, period.start - 3 * DAY, period.end + 10 * DAY)
    plan = incidents.plan_incidents(sites, period, stream(seed, "incidents"))
    plans = world.make_plans(sites, period, incidents.plan_changes(sites, period, plan, stream(seed, "changes")),
                             stream(seed, "plans"))
    taxes = world.make_tax_rates(sites, period, incidents.tax_changes(plan))
    sessions, customers = traffic.make_sessions(sites, clock, period, params.scale, stream(seed, "traffic"))
    say(f"simulated {sessions.site.size:,} parking sessions at {len(sites.site_id)} sites")
    rated = pricing.shadow_rate(sessions, sites, plans, taxes, clock)
    plan = incidents.widen_outage(plan, sessions.site, sessions.exited, rated.billable, sites, period)
    billed = billing.bill(sessions, sites, plans, taxes, rated, plan)
    currencies = tuple(sorted(set(sites.currency)))
    invoices, duplicate_window = billing.issue(sessions, sites, plans, taxes, rated, billed, plan, period, currencies,
                             stream(seed, "invoices"))
    methods = payments.payment_methods(sessions, customers, sites, stream(seed, "methods"))
    attempts, collection, spike, unknown, decline = payments.attempt_payments(invoices, methods, plan, period,
                                                                     stream(seed, "attempts"))
    refunds = payments.make_refunds(invoices, attempts, collection, billed.claimed, period, stream(seed, "refunds"))
    say(f"billed {invoices.kind.size:,} invoices, {attempts.invoice.size:,} payment attempts, "
        f"{refunds.invoice.size:,} refunds")
    return World(period, currencies, clock, sites, plans, taxes, plan, sessions, customers, rated, billed,
                 invoices, methods, attempts, collection, refunds, duplicate_window, spike, unknown, decline)


def simulate_gateways(w: World, seed: int) -> gateways.Gateways:
    """Stripe's objects and Adyen's lines for the world's attempts, gateway incidents in."""
    rng = stream(seed, "gateways")
    inc, settle = gateway_incidents.plan_gateway_incidents(w, rng)
    charges, refunds, disputes, txns, payouts, failed = stripe_objects.stripe_side(w, inc, stream(seed, "stripe"))
    lines, batches = adyen_lines.adyen_side(w, inc, settle, stream(seed, "adyen"))
    malformed = adyen_lines.pick_malformed(lines, batches, inc, w, stream(seed, "malformed"))
    return gateways.Gateways(charges, refunds, disputes, txns, payouts, lines, batches, malformed, inc, failed,
                             gateways.ShortPayout(-1, b"", 0))  # recon.plan picks it (simulate_recon)


def to_tables(w: World) -> list[Table]:
    """The world as the seven tables of SOURCES.md §1, columns in contract order."""
    s, inv, a, r = w.sessions, w.invoices, w.attempts, w.refunds
    site_ids = w.sites.site_id
    customer = np.where(s.customer >= 0, w.customers.customer_id[np.maximum(s.customer, 0)], b"")
    return [
        Table("sites", (
            Col("site_id", "text", list(site_ids)),
            Col("name", "text", list(w.sites.name)),
            Col("region", "text", list(w.sites.attr("region"))),
            Col("timezone", "text", list(w.sites.timezone)),
            Col("currency", "text", list(w.sites.currency)),
            Col("tax_jurisdiction", "text", list(w.sites.jurisdiction)),
        )),
        Table("rate_plans", (
            Col("rate_plan_id", "text", list(w.plans.plan_id)),
            Col("site_id", "enum", w.plans.site, site_ids),
            Col("effective_from", "ts", w.plans.effective_from),
            Col("effective_to", "ts", w.plans.effective_to),
            Col("grace_minutes", "int", w.plans.grace),
            Col("increment_minutes", "int", w.plans.increment),
            Col("increment_price_minor", "int", w.plans.price),
            Col("daily_max_minor", "int", w.plans.daily_max, nullable=True),
        )),
        Table("tax_rates", (
            Col("jurisdiction", "text", list(w.taxes.jurisdiction)),
            Col("rate", "text", [world.rate_text(int(m)) for m in w.taxes.rate_micro]),
            Col("effective_from", "date", w.taxes.effective_from),
            Col("effective_to", "date", w.taxes.effective_to),
        )),
        Table("parking_sessions", (
            Col("session_id", "bytes", s.session_id),
            Col("site_id", "enum", s.site, site_ids),
            Col("entered_at", "ts", s.entered),
            Col("exited_at", "ts", s.exited),
            Col("customer_id", "bytes", customer, nullable=True),
            Col("updated_at", "ts", np.where(s.closed, s.exited, s.entered)),
        )),
        Table("invoices", (
            Col("invoice_id", "bytes", inv.invoice_id),
            Col("session_id", "bytes", s.session_id[inv.session]),
            Col("currency", "enum", inv.currency, w.currencies),
            Col("subtotal_minor", "int", inv.subtotal),
            Col("tax_minor", "int", inv.tax),
            Col("total_minor", "int", inv.total),
            Col("issued_at", "ts", inv.issued),
            Col("status", "enum", w.collection.status, payments.INVOICE_STATUSES),
            Col("updated_at", "ts", w.collection.updated),
        )),
        Table("payment_attempts", (
            Col("attempt_id", "bytes", a.attempt_id),
            Col("invoice_id", "bytes", inv.invoice_id[a.invoice]),
            Col("attempt_number", "int", a.number),
            Col("gateway", "enum", a.gateway, payments.GATEWAYS),
            Col("gateway_reference", "bytes", a.reference, nullable=True),
            Col("idempotency_key", "bytes", a.idempotency_key),
            Col("amount_minor", "int", a.amount),
            Col("currency", "enum", a.currency, w.currencies),
            Col("status", "enum", a.status, payments.STATUSES),
            Col("failure_code", "enum", a.code, payments.CODES),
            Col("payment_method_type", "enum", a.method, payments.METHODS),
            Col("card_brand", "enum", a.brand, payments.BRANDS),
            Col("attempted_at", "ts", a.attempted),
            Col("updated_at", "ts", a.updated),
        )),
        Table("refunds", (
            Col("refund_id", "bytes", r.refund_id),
            Col("invoice_id", "bytes", inv.invoice_id[r.invoice]),
            Col("attempt_id", "bytes", a.attempt_id[r.attempt]),
            Col("gateway", "enum", a.gateway[r.attempt], payments.GATEWAYS),
            Col("gateway_reference", "bytes", r.reference, nullable=True),
            Col("amount_minor", "int", r.amount),
            Col("currency", "enum", inv.currency[r.invoice], w.currencies),
            Col("reason", "enum", r.reason, payments.REFUND_REASONS),
            Col("status", "enum", r.status, payments.REFUND_STATUSES),
            Col("created_at", "ts", r.created),
            Col("updated_at", "ts", r.updated),
        )),
    ]


def to_gateway_tables(w: World, g: gateways.Gateways) -> list[Table]:
    """The Stripe objects as the columns of demoworld/gateways.sql."""
    cur = tuple(c.lower() for c in w.currencies)
    c, r, d, t, p = g.charges, g.refunds, g.disputes, g.txns, g.payouts
    return [
        Table("demo.stripe_charges", (
            Col("id", "bytes", c.charge_id), Col("created", "int", c.created), Col("amount", "int", c.amount),
            Col("amount_refunded", "int", c.amount_refunded), Col("currency", "enum", c.currency, cur),
            Col("status", "enum", c.status, gateways.CHARGE_STATUSES),
            Col("code", "enum", c.code, payments.CODES),
            Col("payment_method", "enum", c.method, payments.METHODS),
            Col("brand", "enum", c.brand, payments.BRANDS),
            Col("balance_transaction", "bytes", c.txn, nullable=True),
            Col("attempt_id", "bytes", c.attempt_id), Col("invoice_id", "bytes", c.invoice_id),
            Col("disputed", "bool", c.disputed.astype(bool)),
        )),
        Table("demo.stripe_refunds", (
            Col("id", "bytes", r.refund_id), Col("created", "int", r.created), Col("charge", "bytes", r.charge_id),
            Col("amount", "int", r.amount), Col("currency", "enum", r.currency, cur),
            Col("status", "enum", r.status, payments.REFUND_STATUSES),
            Col("reason", "enum", r.reason, gateways.REFUND_REASON_MAP),
            Col("balance_transaction", "bytes", r.txn, nullable=True),
            Col("failure_balance_transaction", "bytes", r.failure_txn, nullable=True),
            Col("refund_id", "bytes", r.billing_refund_id),
        )),
        Table("demo.stripe_disputes", (
            Col("id", "bytes", d.dispute_id), Col("created", "int", d.created), Col("charge", "bytes", d.charge_id),
            Col("amount", "int", d.amount), Col("currency", "enum", d.currency, cur),
            Col("reason", "enum", d.reason, gateways.DISPUTE_REASONS),
            Col("status", "enum", d.status, gateways.DISPUTE_STATUSES),
            Col("txn1", "bytes", d.txn1, nullable=True), Col("txn2", "bytes", d.txn2, nullable=True),
        )),
        Table("demo.stripe_balance_transactions", (
            Col("id", "bytes", t.txn_id), Col("created", "int", t.created), Col("available_on", "int", t.available_on),
            Col("amount", "int", t.amount), Col("fee", "int", t.fee), Col("currency", "enum", t.currency, cur),
            Col("type", "enum", t.type, gateways.TXN_TYPES),
            Col("reporting_category", "enum", t.category, gateways.TXN_CATEGORIES),
            Col("source", "bytes", t.source, nullable=True), Col("payout", "bytes", t.payout, nullable=True),
            Col("status", "enum", t.status, ("available", "pending")),
        )),
        Table("demo.stripe_payouts", (
            Col("id", "bytes", p.payout_id), Col("created", "int", p.created), Col("arrival_date", "int", p.arrival),
            Col("amount", "int", p.amount), Col("currency", "enum", p.currency, cur),
            Col("status", "enum", p.status, gateways.PAYOUT_STATUSES),
            Col("balance_transaction", "bytes", p.txn),
            Col("failure_balance_transaction", "bytes", p.failure_txn, nullable=True),
        )),
    ]


def simulate_recon(w: World, g: gateways.Gateways, seed: int) -> tuple[Recon, gateways.Gateways]:
    """Bank statements, GL exports and FX rates of the world (SOURCES.md §4-6), incidents in; and the
    gateways with the Stripe payout short of its entries (the S2 incident, picked with the others)."""
    starts = np.full(len(w.sites.site_id), w.period.start, dtype=np.int64)
    cal = transfers.calendar(w.period, int(local_day(w.clock, w.sites.zone, starts).min()))
    t = transfers.make_transfers(g)
    rev = ledger.revenue_days(w, cal)
    plan = recon.plan(w, g, t, rev, cal, seed)
    if plan.short_of_entries >= 0:
        row = int(np.flatnonzero(g.payouts.payout_id == t.payout_id[plan.short_of_entries])[0])
        payouts, txns, short = stripe_objects.short_payout(g.payouts, g.txns, row, plan.short_entry)
        g = g._replace(payouts=payouts, txns=txns, short_payout=short)
        t = transfers.make_transfers(g)
    statements = bank.simulate(w.currencies, t, cal, plan, seed)
    led = ledger.simulate(w, t, rev, cal, plan, seed)
    rates = fx.simulate(w.currencies, cal, plan, seed)
    return Recon(cal, t, plan, rev, statements, bank.render(statements, w.currencies), led,
                 ledger.render(led, cal, w.currencies), rates, fx.render(rates, w.currencies)), g


def recon_rows(r: Recon) -> dict[str, list[tuple]]:
    """The demo tables holding the bank, GL and FX files."""
    return {"demo.bank_files": bank.rows(r.bank_files), "demo.gl_exports": ledger.rows(r.exports),
            "demo.fx_file": [(fx.FILE_NAME, int(r.rates.day.size), r.fx_content)]}


def write_recon_files(r: Recon, out_dir: Path) -> None:
    bank.write_files(r.bank_files, bank.bank_statements_dir(out_dir))
    ledger.write_files(r.exports, ledger.gl_exports_dir(out_dir))
    fx.write_file(r.fx_content, fx.fx_rates_path(out_dir))


def adyen_rows(reports: list[adyen.Report]) -> list[tuple]:
    from datetime import datetime
    return [(r.batch_number, r.file_name, r.merchant_account, r.currency,
             datetime.fromtimestamp(r.batch_day, UTC).date(),
             datetime.fromtimestamp(r.closed_at, UTC), r.lines, r.content) for r in reports]


def generate(libpq_url: str, params: DemoParams, out_dir: Path | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
    """(Re)generate the demo world into `libpq_url`: drops and recreates schema `billing` and
    the sources' tables in schema `demo` (Stripe objects, Adyen reports, bank, GL and FX
    files), stores the manifest in `demo.manifest` (and `out_dir/manifest.json`, with the
    Adyen files under `out_dir/adyen/`, the bank files under `out_dir/bank/`, the GL exports
    under `out_dir/gl/` and `out_dir/fx_rates.csv`), returns it."""
    say = progress or (lambda _m: None)
    params.validate()
    t0 = time.perf_counter()
    period = resolve_period(params)
    w = simulate(params, period, say)
    g = simulate_gateways(w, params.seed)
    reports = adyen.render(g.lines, g.batches, g.malformed, w.currencies)
    say(f"gateways: {g.charges.charge_id.size:,} Stripe charges, {g.txns.txn_id.size:,} balance transactions, "
        f"{g.payouts.payout_id.size:,} payouts; {len(reports):,} Adyen files, {g.lines.batch.size:,} lines")
    r, g = simulate_recon(w, g, params.seed)
    say(f"bank: {len(r.bank_files):,} statement files; ledger: {r.ledger.journal_id.size:,} journals in "
        f"{len(r.exports):,} daily exports; {r.rates.day.size:,} FX rates")
    result = manifest.build(w, params.as_json(period.end), g, reports, r)
    say(f"simulation took {time.perf_counter() - t0:.1f} s")
    write(libpq_url, to_tables(w), result, say, to_gateway_tables(w, g),
          {"demo.stripe_codes": stripe_codes.stripe_code_rows(), "demo.adyen_reports": adyen_rows(reports),
           **recon_rows(r)})
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "manifest.json").write_text(json.dumps(result, indent=2) + "\n")
        adyen.write_files(reports, adyen.adyen_reports_dir(out_dir))
        write_recon_files(r, out_dir)
    say(f"demo world written in {time.perf_counter() - t0:.1f} s")
    return result
