-- The simulated card gateway's own tables (src/plugin/gateway_sim), reached through the plugin
-- pool like a Kill Bill plugin's tables. ferrobill's services never read them: the plugin
-- answers for them through PaymentPluginApi.
--
-- No full card number and no verification value is ever stored: a card is kept as its last
-- four digits, a SHA-256 fingerprint and the test class its number falls in.

create table gateway_payment_methods (
    record_id            bigserial primary key,
    kb_payment_method_id uuid not null,
    kb_account_id        uuid not null,
    kb_tenant_id         uuid not null,
    -- The gateway's id of the card (pm_…), reported as the method's external key.
    external_id          text not null,
    -- approve, decline, error or hang; null when the method was added without a card.
    card_class           text check (card_class in ('approve', 'decline', 'error', 'hang')),
    card_last4           char(4),
    card_fingerprint     char(64),
    -- Non-sensitive card and address properties (expiration, holder, brand, address).
    details              jsonb not null default '{}',
    is_default           boolean not null default false,
    is_deleted           boolean not null default false,
    created_date         timestamptz not null default now(),
    updated_date         timestamptz not null default now()
);
create unique index gateway_payment_methods_kb_payment_method_id
    on gateway_payment_methods (kb_payment_method_id);

-- One row per Kill Bill payment: the charge and its running totals. Every payment call locks
-- this row (select … for update) so that the capture, refund and void rules hold across
-- concurrent calls on one payment.
create table gateway_payments (
    kb_payment_id     uuid primary key,
    kb_account_id     uuid not null,
    kb_tenant_id      uuid not null,
    -- The gateway's charge id (ch_…), every transaction's first reference id.
    charge_id         text not null,
    authorized_amount numeric(15,9) not null default 0,
    -- Captures and purchases.
    captured_amount   numeric(15,9) not null default 0,
    refunded_amount   numeric(15,9) not null default 0,
    voided            boolean not null default false,
    created_date      timestamptz not null default now(),
    updated_date      timestamptz not null default now()
);

-- One row per Kill Bill transaction: the request and the gateway's response. A hanging call
-- is recorded as UNDEFINED before it hangs and updated when it ends, so the janitor can learn
-- the outcome from get_payment_info.
create table gateway_transactions (
    record_id          bigserial primary key,
    kb_transaction_id  uuid not null,
    kb_payment_id      uuid not null references gateway_payments (kb_payment_id),
    kb_tenant_id       uuid not null,
    transaction_type   text not null,
    requested_amount   numeric(15,9),
    -- What the gateway moved: 0 unless PROCESSED.
    processed_amount   numeric(15,9),
    currency           varchar(3),
    status             text not null
        check (status in ('PROCESSED', 'PENDING', 'ERROR', 'CANCELED', 'UNDEFINED')),
    gateway_error_code text,
    gateway_error      text,
    -- The transaction's own gateway id (ch_…, re_…, vo_…), second reference id.
    reference_id       text not null,
    card_last4         char(4),
    created_date       timestamptz not null default now(),
    updated_date       timestamptz not null default now()
);
-- One answer per transaction: a repeated call returns the recorded answer instead of
-- charging twice, as a gateway idempotency key does.
create unique index gateway_transactions_kb_transaction_id
    on gateway_transactions (kb_transaction_id);
create index gateway_transactions_kb_payment_id on gateway_transactions (kb_payment_id, record_id);
