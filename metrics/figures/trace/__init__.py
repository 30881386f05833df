"""The Trace page's figure: any identifier, followed from the parking session to the general ledger.

`trace(db, identifier)` finds what the identifier is (session, invoice, attempt, Stripe charge,
billing or Stripe refund, Stripe dispute or Adyen chargeback PSP reference, payout id /
`ADYEN-<batch>` / batch number, bank line key `bank:<sha>:<line>` or bank reference, GL journal
id or GL reference, Stripe balance transaction; chain.py), then builds the chain as ordered hops:

- from a payment-side identifier (session scope; session_chain.py): session → billing finding →
  invoice(s) → attempt(s) → gateway object → balance entry → payout → bank credit → payout
  journal, plus the revenue-day journal, refunds and disputes / chargebacks;
- from a payout, a bank line or a payout journal (payout scope, many sessions; payout_chain.py):
  payout → its entries (count and sum) → bank credit → journal, with a sample of its charges.

Each hop carries the reconciliation status of the link *into* it from `recon_items` (S1 on the
gateway object, S2 on the balance entry and the payout, S3 on the bank credit, S4 on the
journals), so a broken link (`link == 'break'`, with its break type and amount) shows where the
chain breaks; a link whose far side is absent becomes a placeholder hop (`present=False`).
Every read is one set-based statement by indexed keys; item keys and references are built and
parsed by revwatch/recon_keys.py. Money: integer minor units with their currency, never added
across currencies.
"""
from __future__ import annotations

from metrics.figures.trace.chain import trace
from metrics.figures.trace.hops import KIND_LABELS, SAMPLE, Hop, Trace

__all__ = ["KIND_LABELS", "SAMPLE", "Hop", "Trace", "trace"]
