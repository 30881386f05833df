"""One decline taxonomy for both gateways: what a failure code means, in a few classes.

Stripe's `decline_code` / `failure_code` values and Adyen's refusal reasons say the same
things in different words; the pages, the funnel and the alerts need one vocabulary. Each
(gateway, code) maps to a class and a readable label. A code we do not know is never dropped:
it becomes class `unclassified`, labelled with the code itself, so a new gateway code shows
up on the page instead of vanishing.

This Python table is the single source of truth. SQL reads it through `sql_table()`, bound
as array parameters (`unnest`), so rollups store raw codes and a re-classification needs no
recompute.
"""
from __future__ import annotations

from dataclasses import dataclass

SOFT, HARD, FRAUD, AUTHENTICATION, GATEWAY_ERROR, UNCLASSIFIED = (
    "soft", "hard", "fraud", "authentication", "gateway_error", "unclassified")
CLASSES: tuple[str, ...] = (SOFT, HARD, FRAUD, AUTHENTICATION, GATEWAY_ERROR, UNCLASSIFIED)
CLASS_LABELS: dict[str, str] = {
    SOFT: "Soft decline (retryable)",
    HARD: "Hard decline",
    FRAUD: "Fraud or blocked card",
    AUTHENTICATION: "Authentication required",
    GATEWAY_ERROR: "Gateway or processing error",
    UNCLASSIFIED: "Unclassified code",
}
RETRYABLE: frozenset[str] = frozenset({SOFT, GATEWAY_ERROR})


@dataclass(frozen=True)
class Decline:
    gateway: str
    code: str
    decline_class: str
    label: str

    @property
    def retryable(self) -> bool:
        return self.decline_class in RETRYABLE


# (code, class, label) per gateway. Stripe: decline codes and charge failure codes
# (https://docs.stripe.com/declines/codes, /error-codes, ACH return codes).
_STRIPE: tuple[tuple[str, str, str], ...] = (
    ("insufficient_funds", SOFT, "Insufficient funds"),
    ("do_not_honor", SOFT, "Do not honor"),
    ("generic_decline", SOFT, "Generic decline"),
    ("card_declined", SOFT, "Card declined"),
    ("try_again_later", SOFT, "Try again later"),
    ("issuer_not_available", SOFT, "Issuer not available"),
    ("card_velocity_exceeded", SOFT, "Card velocity exceeded"),
    ("withdrawal_count_limit_exceeded", SOFT, "Withdrawal count limit exceeded"),
    ("approve_with_id", SOFT, "Approve with ID"),
    ("call_issuer", SOFT, "Call issuer"),
    ("no_action_taken", SOFT, "No action taken"),
    ("reenter_transaction", SOFT, "Re-enter transaction"),
    ("expired_card", HARD, "Expired card"),
    ("incorrect_cvc", HARD, "Incorrect CVC"),
    ("invalid_cvc", HARD, "Invalid CVC"),
    ("incorrect_number", HARD, "Incorrect card number"),
    ("invalid_number", HARD, "Invalid card number"),
    ("invalid_expiry_month", HARD, "Invalid expiry month"),
    ("invalid_expiry_year", HARD, "Invalid expiry year"),
    ("incorrect_zip", HARD, "Incorrect postal code"),
    ("incorrect_pin", HARD, "Incorrect PIN"),
    ("invalid_pin", HARD, "Invalid PIN"),
    ("pin_try_exceeded", HARD, "PIN tries exceeded"),
    ("restricted_card", HARD, "Restricted card"),
    ("card_not_supported", HARD, "Card not supported"),
    ("currency_not_supported", HARD, "Currency not supported"),
    ("duplicate_transaction", HARD, "Duplicate transaction"),
    ("invalid_account", HARD, "Invalid account"),
    ("invalid_amount", HARD, "Invalid amount"),
    ("not_permitted", HARD, "Not permitted"),
    ("service_not_allowed", HARD, "Service not allowed"),
    ("transaction_not_allowed", HARD, "Transaction not allowed"),
    ("new_account_information_available", HARD, "New account information available"),
    ("revocation_of_authorization", HARD, "Revocation of authorization"),
    ("revocation_of_all_authorizations", HARD, "Revocation of all authorizations"),
    ("stop_payment_order", HARD, "Stop payment order"),
    ("do_not_try_again", HARD, "Do not try again"),
    ("testmode_decline", HARD, "Test-mode card"),
    ("account_closed", HARD, "Bank account closed"),
    ("no_account", HARD, "No bank account"),
    ("account_frozen", HARD, "Bank account frozen"),
    ("bank_account_restricted", HARD, "Bank account restricted"),
    ("debit_not_authorized", HARD, "Debit not authorized"),
    ("fraudulent", FRAUD, "Fraudulent"),
    ("lost_card", FRAUD, "Lost card"),
    ("stolen_card", FRAUD, "Stolen card"),
    ("pickup_card", FRAUD, "Pick up card"),
    ("merchant_blacklist", FRAUD, "Merchant block list"),
    ("security_violation", FRAUD, "Security violation"),
    ("authentication_required", AUTHENTICATION, "Authentication required"),
    ("offline_pin_required", AUTHENTICATION, "Offline PIN required"),
    ("online_or_offline_pin_required", AUTHENTICATION, "PIN required"),
    ("processing_error", GATEWAY_ERROR, "Processing error"),
    ("api_connection_error", GATEWAY_ERROR, "API connection error"),
    ("rate_limit", GATEWAY_ERROR, "Rate limited"),
)
# Adyen refusal reasons (https://docs.adyen.com/development-resources/refusal-reasons).
_ADYEN: tuple[tuple[str, str, str], ...] = (
    ("Refused", SOFT, "Refused"),
    ("Not enough balance", SOFT, "Not enough balance"),
    ("Issuer Unavailable", SOFT, "Issuer unavailable"),
    ("Withdrawal amount exceeded", SOFT, "Withdrawal amount exceeded"),
    ("Withdrawal count exceeded", SOFT, "Withdrawal count exceeded"),
    ("Referral", SOFT, "Referral"),
    ("Declined Non Generic", SOFT, "Declined (non-generic)"),
    ("Expired Card", HARD, "Expired card"),
    ("CVC Declined", HARD, "CVC declined"),
    ("Invalid Card Number", HARD, "Invalid card number"),
    ("Restricted Card", HARD, "Restricted card"),
    ("Transaction Not Permitted", HARD, "Transaction not permitted"),
    ("Not supported", HARD, "Not supported"),
    ("Invalid Amount", HARD, "Invalid amount"),
    ("Invalid Pin", HARD, "Invalid PIN"),
    ("Pin tries exceeded", HARD, "PIN tries exceeded"),
    ("Pin validation not possible", HARD, "PIN validation not possible"),
    ("Revocation Of Auth", HARD, "Revocation of authorization"),
    ("AVS Declined", HARD, "AVS declined"),
    ("Cancelled", HARD, "Cancelled"),
    ("Shopper Cancelled", HARD, "Shopper cancelled"),
    ("FRAUD", FRAUD, "Fraud (risk check)"),
    ("FRAUD-CANCELLED", FRAUD, "Fraud, cancelled"),
    ("Blocked Card", FRAUD, "Blocked card"),
    ("Acquirer Fraud", FRAUD, "Acquirer fraud"),
    ("Issuer Suspected Fraud", FRAUD, "Issuer suspected fraud"),
    ("3D Not Authenticated", AUTHENTICATION, "3-D Secure not authenticated"),
    ("Authentication required", AUTHENTICATION, "Authentication required"),
    ("3DS Authentication Error", AUTHENTICATION, "3-D Secure authentication error"),
    ("Card requires online pin", AUTHENTICATION, "Online PIN required"),
    ("Mobile pin required", AUTHENTICATION, "Mobile PIN required"),
    ("Acquirer Error", GATEWAY_ERROR, "Acquirer error"),
    ("Not Submitted", GATEWAY_ERROR, "Not submitted"),
)

TAXONOMY: dict[tuple[str, str], Decline] = {
    (gw, code.lower()): Decline(gw, code, cls, label)
    for gw, table in (("stripe", _STRIPE), ("adyen", _ADYEN))
    for code, cls, label in table
}


def classify(gateway: str, code: str | None) -> Decline:
    """The class and label of a gateway's failure code (case-insensitive); never raises."""
    code = code or ""
    known = TAXONOMY.get((gateway.lower(), code.lower()))
    return known or Decline(gateway, code, UNCLASSIFIED, code or "(no code)")


def codes_of(decline_class: str) -> tuple[str, ...]:
    """Every known code (any gateway) of one class, e.g. the gateway-error codes."""
    return tuple(d.code for d in TAXONOMY.values() if d.decline_class == decline_class)


def sql_table() -> dict[str, list[str]]:
    """The taxonomy as bound array parameters for SQL: join on
    `unnest(CAST(:dc_gateway AS text[]), CAST(:dc_code AS text[]), CAST(:dc_class AS text[]),
    CAST(:dc_label AS text[])) AS dc(gateway, code, decline_class, label)` with lower(code)."""
    rows = list(TAXONOMY.items())
    return {
        "dc_gateway": [gw for (gw, _), _ in rows],
        "dc_code": [code for (_, code), _ in rows],
        "dc_class": [d.decline_class for _, d in rows],
        "dc_label": [d.label for _, d in rows],
    }


SQL_TAXONOMY = ("unnest(CAST(:dc_gateway AS text[]), CAST(:dc_code AS text[]), CAST(:dc_class AS text[]),"
                " CAST(:dc_label AS text[])) AS dc(gateway, code, decline_class, label)")
