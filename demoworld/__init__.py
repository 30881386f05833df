"""The demo world: a deterministic simulator of a parking operator that writes the billing
database of SOURCES.md §1, the gateways' side (Stripe objects served by a local
Stripe-compatible API, Adyen settlement-detail files) of §2 and §3, and the bank statements
(BAI2, camt.053), general-ledger exports and FX rates of §4-6, with incidents injected and
their exact ground truth recorded in a manifest. Only the CLI's `demo` command and tests
import it.

    from demoworld import generate, DemoParams, StripeDemoServer, adyen_reports_dir
    manifest = generate("postgresql://postgres@127.0.0.1:5432/db", DemoParams(days=60, sites=40), out_dir=out)
    files = sorted(adyen_reports_dir(out).glob("*.csv"))
    statements = sorted(bank_statements_dir(out).iterdir())  # gl_exports_dir(out), fx_rates_path(out)
    with StripeDemoServer("postgresql://postgres@127.0.0.1:5432/db") as server:
        ...  # stripe.StripeClient(key, base_addresses={"api": server.base_url})
"""
from demoworld.adyen import adyen_reports_dir, write_adyen_reports
from demoworld.bank import bank_statements_dir, write_bank_files
from demoworld.fx import fx_rates_path, write_fx_rates
from demoworld.ledger import gl_exports_dir, write_gl_exports
from demoworld.params import DemoParams
from demoworld.pipeline import generate
from demoworld.sources import demo_sources
from demoworld.stripe_server import StripeDemoServer
from demoworld.writer import content_hash, load_manifest

__all__ = [
           "DemoParams",
           "StripeDemoServer",
           "adyen_reports_dir",
           "bank_statements_dir",
           "content_hash",
           "demo_sources",
           "fx_rates_path",
           "generate",
           "gl_exports_dir",
           "load_manifest",
           "write_adyen_reports",
           "write_bank_files",
           "write_fx_rates",
           "write_gl_exports",
]
