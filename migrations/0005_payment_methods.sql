-- Payment methods and their history, after Kill Bill's payment DDL
-- (payment/src/main/resources/org/killbill/billing/payment/ddl.sql).
--
-- A deletion is soft: is_active turns false and the row stays, so `includedDeleted=true`
-- can still show it and payments keep a method to point at. Differences invisible on the
-- wire: ids are uuids, record ids bigserial, dates timestamptz. The audit log points at the
-- history row (table_name PAYMENT_METHOD_HISTORY).

create table payment_methods (
    record_id         bigserial primary key,
    id                uuid not null,
    external_key      varchar(255) not null,
    account_id        uuid not null,
    plugin_name       varchar(50) not null,
    is_active         boolean not null default true,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null default 0,
    tenant_record_id  bigint not null default 0
);
create unique index payment_methods_id on payment_methods (id);
-- One method per external key in a tenant, deleted ones included (as Kill Bill's index).
create unique index payment_methods_external_key on payment_methods (tenant_record_id, external_key);
create index payment_methods_account_id on payment_methods (account_id);
create index payment_methods_tenant_account_record_id on payment_methods (tenant_record_id, account_record_id);

create table payment_method_history (
    record_id         bigserial primary key,
    id                uuid not null,
    target_record_id  bigint not null,
    external_key      varchar(255) not null,
    account_id        uuid not null,
    plugin_name       varchar(50) not null,
    is_active         boolean not null,
    change_type       varchar(6) not null,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null default 0,
    tenant_record_id  bigint not null default 0
);
create index payment_method_history_target_record_id on payment_method_history (target_record_id);
create index payment_method_history_tenant_record_id on payment_method_history (tenant_record_id);
