-- Payments, their transactions and their history, after Kill Bill's payment DDL
-- (payment/src/main/resources/org/killbill/billing/payment/ddl.sql), plus the account locks
-- that serialize payment operations on one account across nodes.
--
-- As elsewhere: ids are uuids, record ids bigserial, dates timestamptz, amounts numeric(15,9).
-- The audit log points at the history rows (PAYMENT_HISTORY, PAYMENT_TRANSACTION_HISTORY).

create table payments (
    record_id               bigserial primary key,
    id                      uuid not null,
    account_id              uuid not null,
    payment_method_id       uuid not null,
    external_key            varchar(255) not null,
    state_name              varchar(64),
    last_success_state_name varchar(64),
    created_by              text not null,
    created_date            timestamptz not null,
    updated_by              text not null,
    updated_date            timestamptz not null,
    account_record_id       bigint not null default 0,
    tenant_record_id        bigint not null default 0
);
create unique index payments_id on payments (id);
create unique index payments_external_key on payments (tenant_record_id, external_key);
create index payments_account_id on payments (account_id);
create index payments_tenant_account_record_id on payments (tenant_record_id, account_record_id);

create table payment_history (
    record_id               bigserial primary key,
    id                      uuid not null,
    target_record_id        bigint not null,
    account_id              uuid not null,
    payment_method_id       uuid not null,
    external_key            varchar(255) not null,
    state_name              varchar(64),
    last_success_state_name varchar(64),
    change_type             varchar(6) not null,
    created_by              text not null,
    created_date            timestamptz not null,
    updated_by              text not null,
    updated_date            timestamptz not null,
    account_record_id       bigint not null default 0,
    tenant_record_id        bigint not null default 0
);
create index payment_history_target_record_id on payment_history (target_record_id);

create table payment_transactions (
    record_id                bigserial primary key,
    id                       uuid not null,
    attempt_id               uuid,
    transaction_external_key varchar(255) not null,
    transaction_type         varchar(32) not null,
    effective_date           timestamptz not null,
    transaction_status       varchar(50) not null,
    amount                   numeric(15,9),
    currency                 varchar(3),
    processed_amount         numeric(15,9),
    processed_currency       varchar(3),
    payment_id               uuid not null,
    gateway_error_code       varchar(32),
    gateway_error_msg        text,
    created_by               text not null,
    created_date             timestamptz not null,
    updated_by               text not null,
    updated_date             timestamptz not null,
    account_record_id        bigint not null default 0,
    tenant_record_id         bigint not null default 0
);
create unique index payment_transactions_id on payment_transactions (id);
create index payment_transactions_payment_id on payment_transactions (payment_id);
create index payment_transactions_external_key
    on payment_transactions (tenant_record_id, transaction_external_key);
-- The janitor's sweep looks for transactions whose outcome is still open.
create index payment_transactions_open on payment_transactions (transaction_status)
    where transaction_status in ('UNKNOWN', 'PENDING');

create table payment_transaction_history (
    record_id                bigserial primary key,
    id                       uuid not null,
    target_record_id         bigint not null,
    attempt_id               uuid,
    transaction_external_key varchar(255) not null,
    transaction_type         varchar(32) not null,
    effective_date           timestamptz not null,
    transaction_status       varchar(50) not null,
    amount                   numeric(15,9),
    currency                 varchar(3),
    processed_amount         numeric(15,9),
    processed_currency       varchar(3),
    payment_id               uuid not null,
    gateway_error_code       varchar(32),
    gateway_error_msg        text,
    change_type              varchar(6) not null,
    created_by               text not null,
    created_date             timestamptz not null,
    updated_by               text not null,
    updated_date             timestamptz not null,
    account_record_id        bigint not null default 0,
    tenant_record_id         bigint not null default 0
);
create index payment_transaction_history_target_record_id
    on payment_transaction_history (target_record_id);

-- Kill Bill's global lock ACCNT_INV_PAY-<accountId>, as a lease: a node holds an account while
-- the row is its own and unexpired. A lease, not a session lock, so no pooled connection sits
-- idle while a plugin runs, and a crashed node's lease simply runs out.
create table account_locks (
    lock_name  varchar(128) primary key,
    owner      text not null,
    expires_at timestamptz not null
);
