"""Stripe's wording for each billing failure code (the demo.stripe_codes table that gateways.sql
joins so the local Stripe server renders a failed charge's failure_code, failure_message and
outcome as Stripe would)."""
from __future__ import annotations

STRIPE_DECLINE_AS = {  # billing code -> Stripe failure_code where it differs (issuer declines)
    "insufficient_funds": "card_declined", "do_not_honor": "card_declined", "generic_decline": "card_declined",
    "try_again_later": "card_declined", "lost_card": "card_declined", "stolen_card": "card_declined",
    "fraudulent": "card_declined",
}

# Stripe's wording per billing code: (failure_code, failure_message, outcome type, network status, risk level)
_DECLINED = "Your card was declined."
STRIPE_CODES = {
    "insufficient_funds": ("card_declined", "Your card has insufficient funds.", "issuer_declined", "normal"),
    "do_not_honor": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "generic_decline": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "card_declined": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "try_again_later": ("card_declined", _DECLINED, "issuer_declined", "normal"),
    "processing_error": ("processing_error", "An error occurred while processing your card. Try again in a little bit.",
                         "invalid", "normal"),
    "expired_card": ("expired_card", "Your card has expired.", "issuer_declined", "normal"),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect.", "issuer_declined", "normal"),
    "authentication_required": ("authentication_required", "Your card was declined. This transaction requires "
                                "authentication.", "issuer_declined", "normal"),
    "lost_card": ("card_declined", _DECLINED, "issuer_declined", "elevated"),
    "stolen_card": ("card_declined", _DECLINED, "issuer_declined", "elevated"),
    "fraudulent": ("card_declined", _DECLINED, "blocked", "highest"),
    "account_closed": ("account_closed", "The customer's bank account has been closed.", "issuer_declined", "normal"),
    "debit_not_authorized": ("debit_not_authorized", "The customer has notified their bank that this payment was "
                             "unauthorized.", "issuer_declined", "normal"),
}
ACH_MESSAGES = {"insufficient_funds": "The customer's account has insufficient funds to cover this payment."}


def stripe_code_rows() -> list[tuple]:
    """demo.stripe_codes: code, failure_code, failure_message, ach_failure_message, outcome
    type, network_status, reason, risk_level, seller_message."""
    rows = []
    for code, (fc, msg, kind, risk) in STRIPE_CODES.items():
        if kind == "blocked":
            net, reason, seller = "not_sent_to_network", "highest_risk_level", "Stripe blocked this payment as too risky."
        elif kind == "invalid":
            net, reason, seller = "not_sent_to_network", code, "There was an error processing this payment."
        else:
            net, reason, seller = "declined_by_network", code, f"The bank returned the decline code `{code}`."
        rows.append((code, fc, msg, ACH_MESSAGES.get(code, msg), kind, net, reason, risk, seller))
    return rows
