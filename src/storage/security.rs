//! The RBAC tables: `users` (argon2id password hashes), `user_roles` and `roles_permissions`,
//! as Kill Bill's JDBC realm keeps them. Removing a user, a role of a user or a permission of a
//! role marks its row inactive; reads see active rows only, roles and permissions sorted by
//! byte order, as Kill Bill's indexes return them.
//!
//! This file owns that SQL. It must never decide what a role may hold or who may change what
//! (the service does), never see a clear-text password, and never open a transaction.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{query_column, StorageError};

/// The channel every node listens on to forget the users and permissions it remembers.
pub const CHANGED_CHANNEL: &str = "security_changed";

/// The unique index on an active user's name.
pub const USERNAME_INDEX: &str = "users_username";

/// Serializes every change to users, their roles and role definitions until the caller's
/// transaction ends: they are rare, and one lock keeps check-then-write sequences (a role
/// that must not exist yet, a user's role list) exact.
pub async fn lock_security(client: &impl GenericClient) -> Result<(), StorageError> {
    // A transaction-level advisory lock on a key of its own; released at COMMIT or ROLLBACK.
    super::query_cached(
        client,
        "select pg_advisory_xact_lock(hashtextextended('ferrobill.security', 0))",
        &[],
    )
    .await?;
    Ok(())
}

/// Queues a NOTIFY on [`CHANGED_CHANNEL`], delivered to every node when the caller's
/// transaction commits (and only then).
pub async fn announce_change(client: &impl GenericClient) -> Result<(), StorageError> {
    super::query_cached(client, "select pg_notify($1, '')", &[&CHANGED_CHANNEL]).await?;
    Ok(())
}

/// The active permissions of `role`, sorted.
pub async fn role_permissions(
    client: &impl GenericClient,
    role: &str,
) -> Result<Vec<String>, StorageError> {
    query_column(
        client,
        "select permission from roles_permissions
             where role_name = $1 and is_active
             order by permission collate \"C\", record_id",
        &[&role],
    )
    .await
}

pub async fn insert_role_permission(
    client: &impl GenericClient,
    role: &str,
    permission: &str,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<(), StorageError> {
    super::execute_cached(
        client,
        "insert into roles_permissions (role_name, permission, created_date, created_by)
             values ($1, $2, $3, $4)",
        &[&role, &permission, &created_date, &created_by],
    )
    .await?;
    Ok(())
}

/// Marks the active rows of `role` holding one of `permissions` inactive.
pub async fn deactivate_role_permissions(
    client: &impl GenericClient,
    role: &str,
    permissions: &[String],
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<(), StorageError> {
    super::execute_cached(
        client,
        "update roles_permissions set is_active = false, updated_date = $4, updated_by = $3
             where role_name = $1 and is_active and permission = any($2)",
        &[&role, &permissions, &updated_by, &updated_date],
    )
    .await?;
    Ok(())
}

/// The password hash of the active user `username`.
pub async fn password_hash(
    client: &impl GenericClient,
    username: &str,
) -> Result<Option<String>, StorageError> {
    let row = super::query_opt_cached(
        client,
        "select password from users where username = $1 and is_active",
        &[&username],
    )
    .await?;
    row.map(|row| row.try_get(0).map_err(StorageError::from))
        .transpose()
}

/// Inserts an active user; a name already active fails on [`USERNAME_INDEX`].
pub async fn insert_user(
    client: &impl GenericClient,
    username: &str,
    password_hash: &str,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<(), StorageError> {
    super::execute_cached(
        client,
        "insert into users (username, password, created_date, created_by)
             values ($1, $2, $3, $4)",
        &[&username, &password_hash, &created_date, &created_by],
    )
    .await?;
    Ok(())
}

/// Replaces the active user's password hash; the number of users changed (0 or 1).
pub async fn update_password(
    client: &impl GenericClient,
    username: &str,
    password_hash: &str,
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<u64, StorageError> {
    super::execute_cached(
        client,
        "update users set password = $2, updated_date = $4, updated_by = $3
             where username = $1 and is_active",
        &[&username, &password_hash, &updated_by, &updated_date],
    )
    .await
}

/// Marks the active user and its roles inactive; the number of users changed (0 or 1).
pub async fn deactivate_user(
    client: &impl GenericClient,
    username: &str,
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<u64, StorageError> {
    let changed = super::execute_cached(
        client,
        "update users set is_active = false, updated_date = $3, updated_by = $2
             where username = $1 and is_active",
        &[&username, &updated_by, &updated_date],
    )
    .await?;
    super::execute_cached(
        client,
        "update user_roles set is_active = false, updated_date = $3, updated_by = $2
             where username = $1 and is_active",
        &[&username, &updated_by, &updated_date],
    )
    .await?;
    Ok(changed)
}

/// The active roles of `username`, sorted.
pub async fn user_roles(
    client: &impl GenericClient,
    username: &str,
) -> Result<Vec<String>, StorageError> {
    query_column(
        client,
        "select role_name from user_roles
             where username = $1 and is_active
             order by role_name collate \"C\", record_id",
        &[&username],
    )
    .await
}

pub async fn insert_user_role(
    client: &impl GenericClient,
    username: &str,
    role: &str,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<(), StorageError> {
    super::execute_cached(
        client,
        "insert into user_roles (username, role_name, created_date, created_by)
             values ($1, $2, $3, $4)",
        &[&username, &role, &created_date, &created_by],
    )
    .await?;
    Ok(())
}

/// Marks the active roles of `username` named in `roles` inactive.
pub async fn deactivate_user_roles(
    client: &impl GenericClient,
    username: &str,
    roles: &[String],
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<(), StorageError> {
    super::execute_cached(
        client,
        "update user_roles set is_active = false, updated_date = $4, updated_by = $3
             where username = $1 and is_active and role_name = any($2)",
        &[&username, &roles, &updated_by, &updated_date],
    )
    .await?;
    Ok(())
}

/// The permissions `username` holds through its active roles, role by role (roles sorted,
/// each role's permissions sorted), as Kill Bill's realm reads them.
pub async fn user_permissions(
    client: &impl GenericClient,
    username: &str,
) -> Result<Vec<String>, StorageError> {
    query_column(
        client,
        "select p.permission
             from user_roles r
             join roles_permissions p on p.role_name = r.role_name and p.is_active
             where r.username = $1 and r.is_active
             order by r.role_name collate \"C\", p.permission collate \"C\", p.record_id",
        &[&username],
    )
    .await
}
