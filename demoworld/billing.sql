-- The billing database of SOURCES.md §1, exactly: the schema the demo world writes.
-- Tables first; keys and indexes after the bulk load (one index build beats a
-- per-row insert), below the "-- after load" line, which demoworld/writer.py splits on.

CREATE SCHEMA billing;

CREATE TABLE billing.sites (
    site_id          text NOT NULL,
    name             text NOT NULL,
    region           text NOT NULL,
    timezone         text NOT NULL,
    currency         text NOT NULL,
    tax_jurisdiction text NOT NULL
);

CREATE TABLE billing.rate_plans (
    rate_plan_id          text        NOT NULL,
    site_id               text        NOT NULL,
    effective_from        timestamptz NOT NULL,
    effective_to          timestamptz,
    grace_minutes         int         NOT NULL CHECK (grace_minutes >= 0),
    increment_minutes     int         NOT NULL CHECK (increment_minutes > 0),
    increment_price_minor bigint      NOT NULL CHECK (increment_price_minor >= 0),
    daily_max_minor       bigint      CHECK (daily_max_minor >= 0)
);

CREATE TABLE billing.tax_rates (
    jurisdiction   text         NOT NULL,
    rate           numeric(9,6) NOT NULL,
    effective_from date         NOT NULL,
    effective_to   date
);

CREATE TABLE billing.parking_sessions (
    session_id  text        NOT NULL,
    site_id     text        NOT NULL,
    entered_at  timestamptz NOT NULL,
    exited_at   timestamptz,
    customer_id text,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE billing.invoices (
    invoice_id     text        NOT NULL,
    session_id     text        NOT NULL,
    currency       text        NOT NULL,
    subtotal_minor bigint      NOT NULL,
    tax_minor      bigint      NOT NULL,
    total_minor    bigint      NOT NULL,
    issued_at      timestamptz NOT NULL,
    status         text        NOT NULL CHECK (status IN ('open', 'paid', 'void', 'uncollectible')),
    updated_at     timestamptz NOT NULL
);

CREATE TABLE billing.payment_attempts (
    attempt_id          text        NOT NULL,
    invoice_id          text        NOT NULL,
    attempt_number      int         NOT NULL CHECK (attempt_number >= 1),
    gateway             text        NOT NULL CHECK (gateway IN ('stripe', 'adyen')),
    gateway_reference   text,
    idempotency_key     text        NOT NULL,
    amount_minor        bigint      NOT NULL,
    currency            text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'pending', 'unknown')),
    failure_code        text,
    payment_method_type text        NOT NULL CHECK (payment_method_type IN ('card', 'wallet', 'ach')),
    card_brand          text,
    attempted_at        timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE billing.refunds (
    refund_id         text        NOT NULL,
    invoice_id        text        NOT NULL,
    attempt_id        text        NOT NULL,
    gateway           text        NOT NULL CHECK (gateway IN ('stripe', 'adyen')),
    gateway_reference text,
    amount_minor      bigint      NOT NULL,
    currency          text        NOT NULL,
    reason            text,
    status            text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'pending')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- after load

ALTER TABLE billing.sites ADD PRIMARY KEY (site_id);
ALTER TABLE billing.rate_plans ADD PRIMARY KEY (rate_plan_id);
ALTER TABLE billing.tax_rates ADD PRIMARY KEY (jurisdiction, effective_from);
ALTER TABLE billing.parking_sessions ADD PRIMARY KEY (session_id);
ALTER TABLE billing.invoices ADD PRIMARY KEY (invoice_id);
ALTER TABLE billing.payment_attempts ADD PRIMARY KEY (attempt_id);
ALTER TABLE billing.refunds ADD PRIMARY KEY (refund_id);
-- readers sync incrementally on updated_at (SOURCES.md §1)
CREATE INDEX ON billing.parking_sessions (updated_at);
CREATE INDEX ON billing.invoices (updated_at);
CREATE INDEX ON billing.payment_attempts (updated_at);
CREATE INDEX ON billing.refunds (updated_at);
