-- User tag definitions, tags, and their history, after Kill Bill's util DDL
-- (util/src/main/resources/org/killbill/billing/util/ddl.sql, tables tag_definitions, tags and
-- their history tables).
--
-- Only a tenant's own definitions are stored: the control tags and the system tag are fixed
-- in the code, with Kill Bill's ids. Deleting a definition is soft, as is removing a tag.
-- A tag links a tag definition to one object (an account so far). Removing a tag is soft:
-- is_active turns false and the row stays, so `includedDeleted=true` can still show it.
-- Differences invisible on the wire: ids are uuids, record ids bigserial, dates timestamptz,
-- and the audit columns are text. The audit log points at the history row (table_name
-- TAG_HISTORY, TAG_DEFINITION_HISTORY).

create table tag_definitions (
    record_id               bigserial primary key,
    id                      uuid not null,
    name                    varchar(20) not null,
    applicable_object_types varchar(500),
    description             varchar(200) not null,
    is_active               boolean not null default true,
    created_by              text not null,
    created_date            timestamptz not null,
    updated_by              text not null,
    updated_date            timestamptz not null,
    tenant_record_id        bigint not null default 0
);
create unique index tag_definitions_id on tag_definitions (id);
-- One live definition per name in a tenant; a deleted name can be defined again.
create unique index tag_definitions_active_name
    on tag_definitions (tenant_record_id, name) where is_active;

create table tag_definition_history (
    record_id               bigserial primary key,
    id                      uuid not null,
    target_record_id        bigint not null,
    name                    varchar(20) not null,
    applicable_object_types varchar(500),
    description             varchar(200) not null,
    is_active               boolean not null,
    change_type             varchar(6) not null,
    created_by              text not null,
    created_date            timestamptz not null,
    updated_by              text not null,
    updated_date            timestamptz not null,
    tenant_record_id        bigint not null default 0
);
create index tag_definition_history_target_record_id on tag_definition_history (target_record_id);

create table tags (
    record_id         bigserial primary key,
    id                uuid not null,
    tag_definition_id uuid not null,
    object_id         uuid not null,
    object_type       varchar(30) not null,
    is_active         boolean not null default true,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null,
    tenant_record_id  bigint not null default 0
);
create unique index tags_id on tags (id);
create index tags_by_object on tags (object_id);
create index tags_tenant_account_record_id on tags (tenant_record_id, account_record_id);
-- The rule "an object carries a definition at most once": Kill Bill checks it with a select
-- before its insert; here the index decides, so two concurrent additions cannot both win.
-- Removed tags are outside the index, so a definition can be added again after a removal.
create unique index tags_active_object_definition
    on tags (tenant_record_id, object_id, tag_definition_id) where is_active;

create table tag_history (
    record_id         bigserial primary key,
    id                uuid not null,
    target_record_id  bigint not null,
    tag_definition_id uuid not null,
    object_id         uuid not null,
    object_type       varchar(30) not null,
    is_active         boolean not null,
    change_type       varchar(6) not null,
    created_by        text not null,
    created_date      timestamptz not null,
    updated_by        text not null,
    updated_date      timestamptz not null,
    account_record_id bigint not null,
    tenant_record_id  bigint not null default 0
);
create index tag_history_target_record_id on tag_history (target_record_id);
create index tag_history_by_object on tag_history (object_id);
create index tag_history_tenant_account_record_id on tag_history (tenant_record_id, account_record_id);
