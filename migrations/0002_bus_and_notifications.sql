-- The persistent bus (internal and external) and the notification queue, after Kill Bill's
-- killbill-commons queue DDL (queue/src/main/resources/org/killbill/queue/ddl.sql) and the
-- shipped PostgreSQL schema.
--
-- Differences from Kill Bill, all invisible on the wire: ids are bigserial; free text is
-- `text` (event_json is text as in Kill Bill's own schema, so a large event never fails a
-- write); user tokens are uuids, as in audit_log. A row moved to history gets a new record_id,
-- as in Kill Bill (its insert leaves the column out).
--
-- processing_state: AVAILABLE and IN_PROCESSING in the live tables; PROCESSED, FAILED, REMOVED
-- and REAPED only in history.

create table bus_events (
    record_id                 bigserial primary key,
    class_name                text not null,
    event_json                text not null,
    user_token                uuid,
    created_date              timestamptz not null,
    creating_owner            text not null,
    processing_owner          text,
    processing_available_date timestamptz,
    processing_state          text not null default 'AVAILABLE',
    error_count               integer not null default 0,
    search_key1               bigint,
    search_key2               bigint not null default 0
);
create index idx_bus_where on bus_events (processing_state, processing_owner, processing_available_date);
create index bus_events_tenant_account_record_id on bus_events (search_key2, search_key1);

create table bus_events_history (
    record_id                 bigserial primary key,
    class_name                text not null,
    event_json                text not null,
    user_token                uuid,
    created_date              timestamptz not null,
    creating_owner            text not null,
    processing_owner          text,
    processing_available_date timestamptz,
    processing_state          text not null default 'AVAILABLE',
    error_count               integer not null default 0,
    search_key1               bigint,
    search_key2               bigint not null default 0
);
create index bus_events_history_tenant_account_record_id on bus_events_history (search_key2, search_key1);
create index bus_events_history_created_date on bus_events_history (created_date);

create table bus_ext_events (
    record_id                 bigserial primary key,
    class_name                text not null,
    event_json                text not null,
    user_token                uuid,
    created_date              timestamptz not null,
    creating_owner            text not null,
    processing_owner          text,
    processing_available_date timestamptz,
    processing_state          text not null default 'AVAILABLE',
    error_count               integer not null default 0,
    search_key1               bigint,
    search_key2               bigint not null default 0
);
create index idx_bus_ext_where on bus_ext_events (processing_state, processing_owner, processing_available_date);
create index bus_ext_events_tenant_account_record_id on bus_ext_events (search_key2, search_key1);

create table bus_ext_events_history (
    record_id                 bigserial primary key,
    class_name                text not null,
    event_json                text not null,
    user_token                uuid,
    created_date              timestamptz not null,
    creating_owner            text not null,
    processing_owner          text,
    processing_available_date timestamptz,
    processing_state          text not null default 'AVAILABLE',
    error_count               integer not null default 0,
    search_key1               bigint,
    search_key2               bigint not null default 0
);
create index bus_ext_events_history_tenant_account_record_id on bus_ext_events_history (search_key2, search_key1);
create index bus_ext_events_history_created_date on bus_ext_events_history (created_date);

create table notifications (
    record_id                 bigserial primary key,
    class_name                text not null,
    event_json                text not null,
    user_token                uuid,
    created_date              timestamptz not null,
    creating_owner            text not null,
    processing_owner          text,
    processing_available_date timestamptz,
    processing_state          text not null default 'AVAILABLE',
    error_count               integer not null default 0,
    search_key1               bigint,
    search_key2               bigint not null default 0,
    -- "service:queue", e.g. payment-service:janitor.
    queue_name                text not null,
    -- When the entry is due.
    effective_date            timestamptz not null,
    future_user_token         uuid
);
create index idx_comp_where on notifications (effective_date, processing_state, processing_owner, processing_available_date);
create index idx_update on notifications (processing_state, processing_owner, processing_available_date);
create index idx_get_ready on notifications (effective_date, created_date);
create index notifications_tenant_account_record_id on notifications (search_key2, search_key1);

create table notifications_history (
    record_id                 bigserial primary key,
    class_name                text not null,
    event_json                text not null,
    user_token                uuid,
    created_date              timestamptz not null,
    creating_owner            text not null,
    processing_owner          text,
    processing_available_date timestamptz,
    processing_state          text not null default 'AVAILABLE',
    error_count               integer not null default 0,
    search_key1               bigint,
    search_key2               bigint not null default 0,
    queue_name                text not null,
    effective_date            timestamptz not null,
    future_user_token         uuid
);
create index notifications_history_tenant_account_record_id on notifications_history (search_key2, search_key1);
create index notifications_history_effective_date on notifications_history (effective_date);

-- ferrobill only: every node running a queue heartbeats here, so the reaper can tell a dead
-- node's claims from a slow handler's without waiting for the whole lease (claim.time).
create table bus_nodes (
    node_name    text primary key,
    started_at   timestamptz not null,
    heartbeat_at timestamptz not null
);
