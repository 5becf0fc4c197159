-- Accounts and their history, after Kill Bill's account DDL
-- (account/src/main/resources/org/killbill/billing/account/ddl.sql).
--
-- Column names and lengths are Kill Bill's, so an over-long value fails as it does there.
-- Differences invisible on the wire: ids are uuids, record ids bigserial, dates timestamptz.
-- account_history repeats every account column plus target_record_id (the accounts row) and
-- change_type; the audit log points at the history row (table_name ACCOUNT_HISTORY).

create table accounts (
    record_id                      bigserial primary key,
    id                             uuid not null,
    external_key                   varchar(255) not null,
    email                          varchar(128),
    name                           varchar(100),
    first_name_length              integer,
    currency                       varchar(3),
    billing_cycle_day_local        integer,
    parent_account_id              uuid,
    is_payment_delegated_to_parent boolean default false,
    payment_method_id              uuid,
    reference_time                 timestamptz not null,
    time_zone                      varchar(50) not null,
    locale                         varchar(5),
    address1                       varchar(100),
    address2                       varchar(100),
    company_name                   varchar(50),
    city                           varchar(50),
    state_or_province              varchar(50),
    country                        varchar(50),
    postal_code                    varchar(16),
    phone                          varchar(25),
    notes                          varchar(4096),
    migrated                       boolean,
    created_date                   timestamptz not null,
    created_by                     text not null,
    updated_date                   timestamptz not null,
    updated_by                     text not null,
    tenant_record_id               bigint not null default 0
);
create unique index accounts_id on accounts (id);
-- The rule "one account per external key in a tenant": a duplicate insert fails here, which
-- is what makes concurrent creations with one key race-free.
create unique index accounts_external_key on accounts (tenant_record_id, external_key);
create index accounts_parent_account_id on accounts (parent_account_id);

create table account_history (
    record_id                      bigserial primary key,
    id                             uuid not null,
    target_record_id               bigint not null,
    external_key                   varchar(255) not null,
    email                          varchar(128),
    name                           varchar(100),
    first_name_length              integer,
    currency                       varchar(3),
    billing_cycle_day_local        integer,
    parent_account_id              uuid,
    is_payment_delegated_to_parent boolean,
    payment_method_id              uuid,
    reference_time                 timestamptz not null,
    time_zone                      varchar(50) not null,
    locale                         varchar(5),
    address1                       varchar(100),
    address2                       varchar(100),
    company_name                   varchar(50),
    city                           varchar(50),
    state_or_province              varchar(50),
    country                        varchar(50),
    postal_code                    varchar(16),
    phone                          varchar(25),
    notes                          varchar(4096),
    migrated                       boolean,
    change_type                    varchar(6) not null,
    created_date                   timestamptz not null,
    created_by                     text not null,
    updated_date                   timestamptz not null,
    updated_by                     text not null,
    tenant_record_id               bigint not null default 0
);
create index account_history_target_record_id on account_history (target_record_id);
create index account_history_tenant_record_id on account_history (tenant_record_id);
