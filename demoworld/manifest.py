"""The manifest: what the world holds and, for each injected incident, its exact ground truth.

Every figure is counted from the generated arrays (the rows written), never estimated.
Times are ISO-8601 UTC strings; windows are half-open [start, end); money is integer minor
units and is never summed across currencies.

Top level: `params` (days, sites, scale, seed, end), `period` {start, end}, `totals`
{sessions, invoices, payment_attempts, refunds} (row counts), `conventions` (how to read
the data), `incidents` (list), `gateways` and `recon` (object counts of those sources).
Each incident: `id`, `description`, `site_ids` (sites involved; [] for gateway-wide
incidents), `start`, `end`, `expected`. This module assembles the manifest; each incident
family states its keys where it is counted: manifest_billing.py (pricing, invoicing and
payment attempts), manifest_gateways.py (Stripe and Adyen, and `gateways`) and
manifest_recon.py (Stripe payouts, bank, GL and FX, and `recon`).

Incidents never share a session: each takes only sessions no earlier incident claimed
(void/reissued invoices and refunds avoid them too), so each figure stands alone. The
gateway incidents (unrecorded_success, gateway_double_charge, dispute_surge) take attempts
outside every other incident's window and sessions, on invoices without refunds, and never
the same invoice twice; the malformed lines copy lines no other incident involves.
"""
from __future__ import annotations

from demoworld.adyen import Report
from demoworld.gateways import Gateways
from demoworld.manifest_billing import decline_spike, duplicates, missed_tax, old_price, outage, spike, unknown
from demoworld.manifest_gateways import (
    dispute_surge,
    double_charge,
    gateway_totals,
    malformed_lines,
    unrecorded_success,
)
from demoworld.manifest_recon import recon_incidents, recon_totals
from demoworld.params import iso
from demoworld.simulated import Recon, World

CONVENTIONS = {
    "money": "integer minor units per ISO 4217 currency; never summed across currencies",
    "windows": "half-open [start, end), UTC",
    "tax_rates.effective_to": "exclusive: the day the next rate takes effect (NULL = open)",
    "rate_plans.effective_to": "exclusive: the instant the next plan takes effect (NULL = open)",
    "expected_amounts": "shadow rating of SOURCES.md section 1",
    "bank": "one file per bank business day (Mon-Fri, UTC dates); Stripe payouts arrive on arrival_date "
            "(type 165, 'STRIPE PAYOUT <po_id>'), Adyen batches the next business day after their close "
            "(type 169, 'ADYEN BATCH <n>')",
    "gl": "one export per UTC day; revenue per site-local day posted the next day, payouts on their bank day, "
          "refunds the day after created_at; debit/credit decimal strings in major units",
    "fx": "rate_to_reporting: reporting-currency units per one unit of the currency, 6 decimals, every day",
}


def build(w: World, params_json: dict, g: Gateways, reports: list[Report], recon: Recon) -> dict:
    return {
        "params": params_json,
        "period": {"start": iso(w.period.start), "end": iso(w.period.end)},
        "totals": {"sessions": int(w.sessions.site.size), "invoices": int(w.invoices.kind.size),
                   "payment_attempts": int(w.attempts.invoice.size), "refunds": int(w.refunds.invoice.size)},
        "gateways": gateway_totals(g, reports),
        "recon": recon_totals(w, recon),
        "conventions": CONVENTIONS,
        "incidents": [old_price(w), missed_tax(w), duplicates(w), outage(w), spike(w), unknown(w),
                      decline_spike(w), dispute_surge(w, g), unrecorded_success(w, g), double_charge(w, g),
                      malformed_lines(w, g, reports), *recon_incidents(w, recon, g)],
    }
