-- Tenant key-values, after Kill Bill's tenant DDL (tenant/src/main/resources/.../ddl.sql):
-- per-tenant settings such as the push notification callback (PUSH_NOTIFICATION_CB). A
-- deleted value is kept with is_active = false, as in Kill Bill.
--
-- Differences from Kill Bill, invisible on the wire: ids are uuids, record ids bigserial,
-- values text, dates timestamptz.

create table tenant_kvs (
    record_id        bigserial primary key,
    id               uuid not null,
    tenant_record_id bigint not null default 0,
    tenant_key       text not null,
    tenant_value     text not null,
    is_active        boolean not null default true,
    created_date     timestamptz not null,
    created_by       text not null,
    updated_date     timestamptz,
    updated_by       text
);
create unique index tenant_kvs_id on tenant_kvs (id);
create index tenant_kvs_trid_key on tenant_kvs (tenant_record_id, tenant_key);
