-- Tenants and the audit log, after Kill Bill's tenant and util DDL.
--
-- Ids are PostgreSQL uuids rather than Kill Bill's varchar(36): the wire format is the same
-- string, the index is half the size. Free-text audit columns are text so that a long header
-- can never fail a write.

create table tenants (
    record_id    bigserial primary key,
    id           uuid not null,
    external_key text,
    api_key      text not null,
    -- An argon2id PHC string (algorithm, parameters, salt and hash); never selected for reads.
    api_secret   text not null,
    created_date timestamptz not null,
    created_by   text not null,
    updated_date timestamptz not null,
    updated_by   text not null
);
create unique index tenants_id on tenants (id);
create unique index tenants_api_key on tenants (api_key);

create table audit_log (
    record_id         bigserial primary key,
    id                uuid not null,
    target_record_id  bigint not null,
    table_name        text not null,
    change_type       text not null,
    created_date      timestamptz not null,
    created_by        text not null,
    reason_code       text,
    comments          text,
    user_token        uuid,
    account_record_id bigint,
    tenant_record_id  bigint not null default 0
);
create index audit_log_fetch_target_record_id on audit_log (table_name, target_record_id);
create index audit_log_via_history on audit_log (target_record_id, table_name, tenant_record_id);
