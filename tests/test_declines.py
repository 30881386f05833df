"""The decline taxonomy: every code the demo and the gateways' docs use has a class; unknown
codes stay visible; the SQL view of the table is the Python table."""
from __future__ import annotations

import pytest

from metrics.figures import declines
from metrics.figures.declines import classify


@pytest.mark.parametrize(("gateway", "code", "cls"), [
    ("stripe", "insufficient_funds", "soft"), ("stripe", "do_not_honor", "soft"), ("stripe", "generic_decline", "soft"),
    ("stripe", "card_declined", "soft"), ("stripe", "try_again_later", "soft"), ("stripe", "card_velocity_exceeded", "soft"),
    ("stripe", "withdrawal_count_limit_exceeded", "soft"), ("stripe", "issuer_not_available", "soft"),
    ("stripe", "expired_card", "hard"), ("stripe", "incorrect_cvc", "hard"), ("stripe", "incorrect_number", "hard"),
    ("stripe", "restricted_card", "hard"), ("stripe", "account_closed", "hard"), ("stripe", "debit_not_authorized", "hard"),
    ("stripe", "lost_card", "fraud"), ("stripe", "stolen_card", "fraud"), ("stripe", "fraudulent", "fraud"),
    ("stripe", "pickup_card", "fraud"), ("stripe", "authentication_required", "authentication"),
    ("stripe", "processing_error", "gateway_error"),
    ("adyen", "Refused", "soft"), ("adyen", "Not enough balance", "soft"), ("adyen", "Issuer Unavailable", "soft"),
    ("adyen", "Withdrawal amount exceeded", "soft"), ("adyen", "Expired Card", "hard"), ("adyen", "CVC Declined", "hard"),
    ("adyen", "Invalid Card Number", "hard"), ("adyen", "Restricted Card", "hard"), ("adyen", "Pin tries exceeded", "hard"),
    ("adyen", "Transaction Not Permitted", "hard"), ("adyen", "Cancelled", "hard"), ("adyen", "FRAUD", "fraud"),
    ("adyen", "FRAUD-CANCELLED", "fraud"), ("adyen", "Blocked Card", "fraud"),
    ("adyen", "3D Not Authenticated", "authentication"), ("adyen", "Acquirer Error", "gateway_error"),
])
def test_known_codes_have_their_class(gateway, code, cls):
    d = classify(gateway, code)
    assert (d.gateway, d.code, d.decline_class) == (gateway, code, cls)
    assert d.label  # a readable label
    assert d.retryable == (cls in ("soft", "gateway_error"))


def test_lookup_ignores_case_and_is_per_gateway():
    assert classify("Stripe", "INSUFFICIENT_FUNDS").decline_class == "soft"
    assert classify("adyen", "refused").label == "Refused"
    assert classify("adyen", "insufficient_funds").decline_class == "unclassified"  # a Stripe word on Adyen


@pytest.mark.parametrize("code", ["late_reversal", "Some New Reason", ""])
def test_unknown_codes_are_kept_not_dropped(code):
    d = classify("stripe", code)
    assert d.decline_class == "unclassified" and d.label == (code or "(no code)") and d.code == code
    assert classify("stripe", None).decline_class == "unclassified"


def test_every_demo_code_is_classified():
    from demoworld.payments import ACH_FAILURES, CARD_FAILURES, GATEWAYS

    for table in (CARD_FAILURES, ACH_FAILURES):
        for g, codes in enumerate(table):
            for code, _, soft in codes:
                d = classify(GATEWAYS[g], code)
                assert d.decline_class != "unclassified", (GATEWAYS[g], code)
                assert d.retryable == soft, (GATEWAYS[g], code, d)


def test_records_are_frozen_and_the_sql_table_mirrors_python(demo_world):
    d = classify("stripe", "fraudulent")
    with pytest.raises(AttributeError):
        d.decline_class = "soft"  # type: ignore[misc]
    params = declines.sql_table()
    placeholders = {k: "%(" + k + ")s" for k in params}
    sql = declines.SQL_TAXONOMY
    for k, v in placeholders.items():
        sql = sql.replace(":" + k, v)
    rows = demo_world.sql(f"SELECT dc.gateway, dc.code, dc.decline_class, dc.label FROM {sql}", params)
    assert {(g, c): (cls, lab) for g, c, cls, lab in rows} == {
        k: (v.decline_class, v.label) for k, v in declines.TAXONOMY.items()}
    assert set(declines.codes_of("gateway_error")) >= {"processing_error", "Acquirer Error"}
