-- Kill Bill's RBAC tables (util/ddl.sql, read by its Shiro JDBC realm): the users of
-- `/1.0/kb/security/users`, the roles each holds and the permissions of each role. A deleted
-- user, a removed role or a dropped permission is kept with is_active = false, as in Kill Bill.
--
-- Differences from Kill Bill: `password` holds an argon2id hash in PHC form (its salt inside,
-- so there is no `password_salt`); only an active user's name is unique, so a deleted user's
-- name can be given again; record ids bigserial, dates timestamptz. Lengths are Kill Bill's.

create table users (
    record_id    bigserial primary key,
    username     varchar(128) not null,
    password     text not null,
    is_active    boolean not null default true,
    created_date timestamptz not null,
    created_by   varchar(50) not null,
    updated_date timestamptz,
    updated_by   varchar(50)
);
create unique index users_username on users (username) where is_active;

create table user_roles (
    record_id    bigserial primary key,
    username     varchar(128) not null,
    role_name    varchar(128) not null,
    is_active    boolean not null default true,
    created_date timestamptz not null,
    created_by   varchar(50) not null,
    updated_date timestamptz,
    updated_by   varchar(50)
);
create index user_roles_idx on user_roles (username, role_name);

create table roles_permissions (
    record_id    bigserial primary key,
    role_name    varchar(128) not null,
    permission   varchar(128) not null,
    is_active    boolean not null default true,
    created_date timestamptz not null,
    created_by   varchar(50) not null,
    updated_date timestamptz,
    updated_by   varchar(50)
);
create index roles_permissions_idx on roles_permissions (role_name, permission);

-- Kill Bill's `node_infos`: one row per running node, written at its start and removed at its
-- graceful stop, with what `/1.0/kb/nodesInfo` shows of it (NodeInfoJson: versions and the
-- plugins it runs). Which nodes are alive is `bus_nodes`' heartbeat.
create table node_infos (
    node_name    text primary key,
    boot_date    timestamptz not null,
    updated_date timestamptz not null,
    node_info    jsonb not null
);
