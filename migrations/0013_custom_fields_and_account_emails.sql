-- Custom fields and account emails, with their history tables, after Kill Bill's util and
-- account DDL (util/ddl.sql custom_fields, custom_field_history; account/ddl.sql
-- account_emails, account_email_history). Column sizes are Kill Bill's, so a value Kill Bill's
-- database refuses is refused here too.
--
-- A custom field is a name and a value on one object (an account, a payment method, a payment,
-- a transaction); an account email is one more address of an account. Removing either is soft:
-- is_active turns false and the row stays for its history. The audit log points at the
-- history rows (table_name CUSTOM_FIELD_HISTORY, ACCOUNT_EMAIL_HISTORY).
-- Differences invisible on the wire: ids are uuids, record ids bigserial, dates timestamptz,
-- and the audit columns are text.

create table custom_fields (
    record_id         bigserial primary key,
    id                uuid not null,
    object_id         uuid not null,
    object_type       varchar(30) not null,
    is_active         boolean not null default true,
    field_name        varchar(64) not null,
    field_value       varchar(255),
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null,
    tenant_record_id  bigint not null default 0
);
create unique index custom_fields_id on custom_fields (id);
create index custom_fields_object_id_object_type on custom_fields (object_id, object_type);
create index custom_fields_tenant_account_record_id on custom_fields (tenant_record_id, account_record_id);
-- Kill Bill refuses a field an object already carries with the same name and value
-- (CUSTOM_FIELD_ALREADY_EXISTS) with a select before its insert; here the index decides, so two
-- concurrent additions cannot both win. A removed field can be added again.
create unique index custom_fields_active_object_name_value
    on custom_fields (tenant_record_id, object_id, object_type, field_name, field_value)
    where is_active;

create table custom_field_history (
    record_id         bigserial primary key,
    id                uuid not null,
    target_record_id  bigint not null,
    object_id         uuid not null,
    object_type       varchar(30) not null,
    is_active         boolean not null,
    field_name        varchar(64) not null,
    field_value       varchar(255),
    change_type       varchar(6) not null,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null,
    tenant_record_id  bigint not null default 0
);
create index custom_field_history_target_record_id on custom_field_history (target_record_id);
create index custom_field_history_tenant_account_record_id
    on custom_field_history (tenant_record_id, account_record_id);

create table account_emails (
    record_id         bigserial primary key,
    id                uuid not null,
    account_id        uuid not null,
    email             varchar(128) not null,
    is_active         boolean not null default true,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null,
    tenant_record_id  bigint not null default 0
);
create unique index account_email_id on account_emails (id);
create index account_email_account_id_email on account_emails (account_id, email);
create index account_emails_tenant_account_record_id on account_emails (tenant_record_id, account_record_id);
-- Kill Bill adds an address the account already has as a no-op, after a select; here the index
-- decides, so two concurrent additions of one address store it once.
create unique index account_emails_active_account_email
    on account_emails (tenant_record_id, account_id, email)
    where is_active;

create table account_email_history (
    record_id         bigserial primary key,
    id                uuid not null,
    target_record_id  bigint not null,
    account_id        uuid not null,
    email             varchar(128) not null,
    is_active         boolean not null,
    change_type       varchar(6) not null,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null,
    tenant_record_id  bigint not null default 0
);
create index account_email_history_target_record_id on account_email_history (target_record_id);
create index account_email_history_tenant_account_record_id
    on account_email_history (tenant_record_id, account_record_id);
