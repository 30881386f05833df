"""Stripe objects as a careless or hostile server could send them: every object type carrying
cardholder data (full card number, CVC, fingerprint, expiry, last4), a person's e-mail, name,
phone and address, free text quoting them, and expanded references that nest more of the same.
Revwatch must keep none of it (collectors/ingest/stripe_fields.py).

`FORBIDDEN_VALUES` are strings that must not appear anywhere (database, logs, exports);
`FORBIDDEN_KEYS` are JSON keys that must not appear in a stored object."""
from __future__ import annotations

PAN = "4000056655665556"
CVC = "737"
FINGERPRINT = "fpXq7Rz2Lm9Kc4Vt"
EMAIL = "jenny.rosen@example.com"
NAME = "Jenny Rosen"
PHONE = "+1 604 555 0199"
STREET = "510 Townsend Street"
POSTCODE = "V6B 3K9"
ROUTING = "110000000"
ACCOUNT = "000123456789"
LAST4 = "5556"
DYNAMIC_LAST4 = "8431"

FORBIDDEN_VALUES = (PAN, FINGERPRINT, EMAIL, NAME, PHONE, STREET, POSTCODE, ROUTING, ACCOUNT, "Jenny", "jenny")
FORBIDDEN_KEYS = ("number", "cvc", "fingerprint", "exp_month", "exp_year", "last4", "dynamic_last4", "email",
                  "receipt_email", "billing_details", "address", "name", "phone", "shipping", "evidence",
                  "customer_email_address", "routing_number", "account_holder_name", "description",
                  "statement_descriptor", "receipt_url", "failure_message", "seller_message", "destination_details")


def _card() -> dict:
    return {"brand": "visa", "last4": LAST4, "fingerprint": FINGERPRINT, "exp_month": 12, "exp_year": 2031,
            "number": PAN, "cvc": CVC, "country": "CA", "funding": "credit", "network": "visa",
            "checks": {"cvc_check": "pass", "address_line1_check": "pass", "address_postal_code_check": "pass"},
            "three_d_secure": None,
            "wallet": {"type": "apple_pay", "dynamic_last4": DYNAMIC_LAST4, "apple_pay": {}}}


def _person() -> dict:
    return {"email": EMAIL, "name": NAME, "phone": PHONE,
            "address": {"line1": STREET, "line2": None, "city": "Vancouver", "postal_code": POSTCODE,
                        "state": "BC", "country": "CA"}}


def charge(i: int, created: int, currency: str = "usd") -> dict:
    """A succeeded card charge of attempt att_<i> with everything a charge can carry about a person."""
    return {
        "id": f"ch_{i:05d}", "object": "charge", "created": created, "livemode": False, "currency": currency,
        "amount": 1000 + i, "amount_captured": 1000 + i, "amount_refunded": 0, "captured": True, "paid": True,
        "refunded": False, "disputed": False, "status": "succeeded", "failure_code": None,
        "failure_message": f"card {PAN} of {EMAIL}",
        "outcome": {"type": "authorized", "reason": None, "network_status": "approved_by_network",
                    "risk_level": "normal", "seller_message": f"Payment complete for {NAME}."},
        "payment_method": f"pm_{i:05d}", "customer": f"cus_{i:05d}",
        "payment_method_details": {"type": "card", "card": _card()},
        "source": {"id": f"card_{i:05d}", "object": "card", **_card(), **{f"address_{k}": v for k, v in _person()["address"].items()}},
        "billing_details": _person(), "receipt_email": EMAIL, "receipt_url": f"https://pay.example/receipts/{EMAIL}",
        "shipping": {**_person(), "carrier": None},
        "description": f"Parking for {NAME} <{EMAIL}>", "statement_descriptor": "PARKCO", "calculated_statement_descriptor": NAME,
        "metadata": {"attempt_id": f"att_{i}", "invoice_id": f"inv_{i}", "email": EMAIL, "card": PAN},
        "balance_transaction": balance_transaction(f"txn_ch_{i:05d}", created, 1000 + i, source=f"ch_{i:05d}", currency=currency),
    }


def refund(i: int, created: int, charge_id: str, amount: int, currency: str = "usd") -> dict:
    return {
        "id": f"re_{i:05d}", "object": "refund", "created": created, "currency": currency, "amount": amount,
        "status": "succeeded", "reason": "requested_by_customer", "failure_reason": None,
        "charge": {"id": charge_id, "object": "charge", "payment_method_details": {"card": _card()},
                   "billing_details": _person()},
        "balance_transaction": {"id": f"txn_re_{i:05d}", "object": "balance_transaction", "description": EMAIL},
        "destination_details": {"type": "card", "card": {"reference": "ARN" + PAN, "reference_type": "acquirer_reference_number"}},
        "receipt_number": "1234-5678", "description": f"refund for {EMAIL}",
        "metadata": {"refund_id": f"rf_{i}", "customer_email": EMAIL},
    }


def dispute(i: int, created: int, charge_id: str, amount: int, currency: str = "usd", status: str = "needs_response") -> dict:
    return {
        "id": f"dp_{i:05d}", "object": "dispute", "created": created, "currency": currency, "amount": amount,
        "status": status, "reason": "fraudulent", "is_charge_refundable": False, "charge": charge_id,
        "evidence": {"customer_email_address": EMAIL, "customer_name": NAME, "billing_address": STREET,
                     "receipt": None, "customer_purchase_ip": "203.0.113.7"},
        "evidence_details": {"due_by": created + 7 * 86400, "has_evidence": False, "past_due": False, "submission_count": 0},
        "payment_method_details": {"type": "card", "card": _card()},
        "balance_transactions": [balance_transaction(f"txn_dp_{i:05d}", created, -amount, source=f"dp_{i:05d}", currency=currency)],
        "metadata": {"note": f"cardholder {NAME}"},
    }


def balance_transaction(txn_id: str, created: int, amount: int, source: str | None, fee: int = 0,
                        currency: str = "usd", expanded_source: bool = False) -> dict:
    src: str | dict | None = source
    if expanded_source and source:
        src = {"id": source, "object": "charge", "payment_method_details": {"card": _card()}, "billing_details": _person()}
    return {
        "id": txn_id, "object": "balance_transaction", "created": created, "currency": currency, "amount": amount,
        "fee": fee, "net": amount - fee, "type": "charge" if amount >= 0 else "refund",
        "reporting_category": "charge" if amount >= 0 else "refund", "status": "pending",
        "available_on": created + 2 * 86400, "exchange_rate": None, "source": src,
        "description": f"Parking for {NAME} <{EMAIL}>",
        "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee", "description": f"fee {EMAIL}"}],
    }


def payout(po_id: str, created: int, amount: int, status: str = "paid", currency: str = "usd") -> dict:
    return {
        "id": po_id, "object": "payout", "created": created, "currency": currency, "amount": amount, "status": status,
        "arrival_date": created + 2 * 86400, "automatic": True, "method": "standard", "type": "bank_account",
        "source_type": "card", "failure_code": None, "failure_message": None,
        "balance_transaction": f"txn_{po_id}", "failure_balance_transaction": None,
        "destination": {"id": "ba_1ParkCo", "object": "bank_account", "account_holder_name": NAME,
                        "routing_number": ROUTING, "account_number": ACCOUNT, "last4": ACCOUNT[-4:],
                        "fingerprint": FINGERPRINT},
        "description": f"to {NAME}", "statement_descriptor": NAME, "metadata": {"owner_email": EMAIL},
    }
