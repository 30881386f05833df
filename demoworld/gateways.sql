-- The gateways' side of the demo world, in schema demo (billing stays SOURCES.md §1 only).
-- Stripe objects are stored as columns; demo.stripe_*_json() renders one row as the object
-- Stripe's API returns, so a page of the local API builds JSON for at most 100 rows.
-- Tables first; keys and indexes below the "-- after load" line (writer.py splits on it).

CREATE SCHEMA IF NOT EXISTS demo;
DROP TABLE IF EXISTS demo.stripe_charges, demo.stripe_refunds, demo.stripe_disputes,
    demo.stripe_balance_transactions, demo.stripe_payouts, demo.stripe_codes, demo.adyen_reports CASCADE;

CREATE TABLE demo.stripe_codes (
    code                text COLLATE "C" NOT NULL,  -- the code billing records (outcome.reason)
    failure_code        text NOT NULL,
    failure_message     text NOT NULL,
    ach_failure_message text NOT NULL,
    outcome_type        text NOT NULL,
    network_status      text NOT NULL,
    reason              text NOT NULL,
    risk_level          text NOT NULL,
    seller_message      text NOT NULL
);

CREATE TABLE demo.stripe_charges (
    id                  text COLLATE "C" NOT NULL,
    created             bigint NOT NULL,
    amount              bigint NOT NULL,
    amount_refunded     bigint NOT NULL,
    currency            text NOT NULL,
    status              text NOT NULL,
    code                text COLLATE "C",
    payment_method      text NOT NULL,  -- card, wallet, ach
    brand               text,
    balance_transaction text COLLATE "C",
    attempt_id          text COLLATE "C" NOT NULL,
    invoice_id          text COLLATE "C" NOT NULL,
    disputed            boolean NOT NULL
);

CREATE TABLE demo.stripe_refunds (
    id                          text COLLATE "C" NOT NULL,
    created                     bigint NOT NULL,
    charge                      text COLLATE "C" NOT NULL,
    amount                      bigint NOT NULL,
    currency                    text NOT NULL,
    status                      text NOT NULL,
    reason                      text NOT NULL,
    balance_transaction         text COLLATE "C",
    failure_balance_transaction text COLLATE "C",
    refund_id                   text COLLATE "C" NOT NULL
);

CREATE TABLE demo.stripe_disputes (
    id       text COLLATE "C" NOT NULL,
    created  bigint NOT NULL,
    charge   text COLLATE "C" NOT NULL,
    amount   bigint NOT NULL,
    currency text NOT NULL,
    reason   text NOT NULL,
    status   text NOT NULL,
    txn1     text COLLATE "C",  -- funds withdrawn
    txn2     text COLLATE "C"   -- funds reinstated (won)
);

CREATE TABLE demo.stripe_balance_transactions (
    id                 text COLLATE "C" NOT NULL,
    created            bigint NOT NULL,
    available_on       bigint NOT NULL,
    amount             bigint NOT NULL,
    fee                bigint NOT NULL,
    currency           text NOT NULL,
    type               text NOT NULL,
    reporting_category text NOT NULL,
    source             text COLLATE "C",
    payout             text COLLATE "C",
    status             text NOT NULL
);

CREATE TABLE demo.stripe_payouts (
    id                          text COLLATE "C" NOT NULL,
    created                     bigint NOT NULL,
    arrival_date                bigint NOT NULL,
    amount                      bigint NOT NULL,
    currency                    text NOT NULL,
    status                      text NOT NULL,
    balance_transaction         text COLLATE "C" NOT NULL,
    failure_balance_transaction text COLLATE "C"
);

CREATE TABLE demo.adyen_reports (
    batch_number     int NOT NULL,
    file_name        text NOT NULL,
    merchant_account text NOT NULL,
    currency         text NOT NULL,
    batch_day        date NOT NULL,
    closed_at        timestamptz NOT NULL,
    lines            int NOT NULL,  -- data lines (header excluded)
    content          text NOT NULL
);

CREATE OR REPLACE FUNCTION demo.stripe_balance_transaction_json(t demo.stripe_balance_transactions)
RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', t.id, 'object', 'balance_transaction', 'amount', t.amount, 'available_on', t.available_on,
    'created', t.created, 'currency', t.currency,
    'description', CASE t.type WHEN 'payout' THEN 'STRIPE PAYOUT' WHEN 'stripe_fee' THEN 'Stripe monthly fee'
                               WHEN 'payout_failure' THEN 'Payout failure' END,
    'exchange_rate', NULL, 'fee', t.fee,
    'fee_details', CASE WHEN t.fee = 0 THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
        'amount', t.fee, 'application', NULL, 'currency', t.currency,
        'description', CASE t.reporting_category WHEN 'dispute' THEN 'Dispute fee' ELSE 'Stripe processing fees' END,
        'type', 'stripe_fee')) END,
    'net', t.amount - t.fee, 'reporting_category', t.reporting_category, 'source', t.source,
    'status', t.status, 'type', t.type)
$$;

CREATE OR REPLACE FUNCTION demo.stripe_charge_json(c demo.stripe_charges) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', c.id, 'object', 'charge', 'amount', c.amount,
    'amount_captured', CASE WHEN c.status = 'succeeded' THEN c.amount ELSE 0 END,
    'amount_refunded', c.amount_refunded, 'balance_transaction', c.balance_transaction,
    'captured', c.status = 'succeeded', 'created', c.created, 'currency', c.currency,
    'description', NULL, 'disputed', c.disputed,
    'failure_code', CASE WHEN c.payment_method = 'ach' THEN c.code ELSE k.failure_code END,
    'failure_message', CASE WHEN c.payment_method = 'ach' THEN k.ach_failure_message ELSE k.failure_message END,
    'livemode', false,
    'metadata', jsonb_build_object('attempt_id', c.attempt_id, 'invoice_id', c.invoice_id),
    'outcome', CASE WHEN c.status = 'failed' THEN jsonb_build_object(
                        'network_status', k.network_status, 'reason', k.reason, 'risk_level', k.risk_level,
                        'seller_message', k.seller_message, 'type', k.outcome_type)
                    ELSE jsonb_build_object('network_status', 'approved_by_network', 'reason', NULL,
                        'risk_level', 'normal', 'seller_message', 'Payment complete.', 'type', 'authorized') END,
    'paid', c.status = 'succeeded',
    'payment_method_details', CASE c.payment_method
        WHEN 'ach' THEN jsonb_build_object('type', 'us_bank_account',
                                           'us_bank_account', jsonb_build_object('account_type', 'checking'))
        WHEN 'wallet' THEN jsonb_build_object('type', 'card', 'card',
                                              jsonb_build_object('brand', NULL, 'wallet', jsonb_build_object('type', 'apple_pay')))
        ELSE jsonb_build_object('type', 'card', 'card', jsonb_build_object('brand', c.brand, 'wallet', NULL)) END,
    'refunded', c.amount_refunded = c.amount,
    'status', c.status)
FROM (SELECT 1) AS one LEFT JOIN demo.stripe_codes k ON k.code = c.code
$$;

CREATE OR REPLACE FUNCTION demo.stripe_refund_json(r demo.stripe_refunds) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', r.id, 'object', 'refund', 'amount', r.amount, 'balance_transaction', r.balance_transaction,
    'charge', r.charge, 'created', r.created, 'currency', r.currency,
    'failure_balance_transaction', r.failure_balance_transaction,
    'failure_reason', CASE WHEN r.status = 'failed' THEN 'expired_or_canceled_card' END,
    'metadata', jsonb_build_object('refund_id', r.refund_id), 'reason', r.reason, 'status', r.status)
$$;

CREATE OR REPLACE FUNCTION demo.stripe_dispute_json(d demo.stripe_disputes) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', d.id, 'object', 'dispute', 'amount', d.amount,
    'balance_transactions', coalesce((SELECT jsonb_agg(demo.stripe_balance_transaction_json(t) ORDER BY t.created, t.id)
                                      FROM demo.stripe_balance_transactions t WHERE t.id IN (d.txn1, d.txn2)),
                                     '[]'::jsonb),
    'charge', d.charge, 'created', d.created, 'currency', d.currency,
    'evidence_details', jsonb_build_object('due_by', d.created + 7 * 86400, 'has_evidence', false,
                                           'past_due', false, 'submission_count', 0),
    'is_charge_refundable', false, 'livemode', false, 'metadata', '{}'::jsonb,
    'reason', d.reason, 'status', d.status)
$$;

CREATE OR REPLACE FUNCTION demo.stripe_payout_json(p demo.stripe_payouts) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object(
    'id', p.id, 'object', 'payout', 'amount', p.amount, 'arrival_date', p.arrival_date, 'automatic', true,
    'balance_transaction', p.balance_transaction, 'created', p.created, 'currency', p.currency,
    'description', 'STRIPE PAYOUT', 'destination', 'ba_1ParkCo' || upper(p.currency) || 'Bank',
    'failure_balance_transaction', p.failure_balance_transaction,
    'failure_code', CASE WHEN p.status = 'failed' THEN 'could_not_process' END,
    'failure_message', CASE WHEN p.status = 'failed' THEN 'The bank could not process this payout.' END,
    'livemode', false, 'metadata', '{}'::jsonb, 'method', 'standard', 'source_type', 'card',
    'statement_descriptor', NULL, 'status', p.status, 'type', 'bank_account')
$$;

-- after load

ALTER TABLE demo.stripe_codes ADD PRIMARY KEY (code);
ALTER TABLE demo.stripe_charges ADD PRIMARY KEY (id);
ALTER TABLE demo.stripe_refunds ADD PRIMARY KEY (id);
ALTER TABLE demo.stripe_disputes ADD PRIMARY KEY (id);
ALTER TABLE demo.stripe_balance_transactions ADD PRIMARY KEY (id);
ALTER TABLE demo.stripe_payouts ADD PRIMARY KEY (id);
ALTER TABLE demo.adyen_reports ADD PRIMARY KEY (batch_number);
-- list pages: newest first, by (created, id)
CREATE INDEX ON demo.stripe_charges (created, id);
CREATE INDEX ON demo.stripe_refunds (created, id);
CREATE INDEX ON demo.stripe_disputes (created, id);
CREATE INDEX ON demo.stripe_balance_transactions (created, id);
CREATE INDEX ON demo.stripe_balance_transactions (payout, created, id);
CREATE INDEX ON demo.stripe_payouts (created, id);
