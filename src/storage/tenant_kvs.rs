//! The `tenant_kvs` table: per-tenant key-values (Kill Bill's TenantKV), such as the push
//! notification callbacks under `PUSH_NOTIFICATION_CB`. Deleting a key marks its rows
//! inactive; reads see active rows only.
//!
//! This file owns that SQL. It must never decide whether a key holds one value or many (the
//! service does) nor open a transaction.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{query_as, query_column, query_one_as, StorageError};

/// Serializes writers of one tenant's key-values until the caller's transaction ends, so that
/// replacing a single-valued key (deactivate, then insert) never leaves two active values.
pub async fn lock_tenant_kvs(
    client: &impl GenericClient,
    tenant_record_id: i64,
) -> Result<(), StorageError> {
    // `for no key update` on the tenant's row: concurrent writers of this tenant's key-values
    // queue here; readers and other tenants are not blocked, and it does not conflict with
    // foreign-key checks the way `for update` would.
    crate::storage::query_cached(
        client,
        "select 1 from tenants where record_id = $1 for no key update",
        &[&tenant_record_id],
    )
    .await?;
    Ok(())
}

/// The channel every node listens on to forget the key-values it remembers.
pub const CHANGED_CHANNEL: &str = "tenant_kvs_changed";

/// Queues a NOTIFY on [`CHANGED_CHANNEL`], delivered to every node when the caller's
/// transaction commits (and only then).
pub async fn announce_change(client: &impl GenericClient) -> Result<(), StorageError> {
    crate::storage::query_cached(client, "select pg_notify($1, '')", &[&CHANGED_CHANNEL]).await?;
    Ok(())
}

/// Inserts one active value; returns its record id and id.
pub async fn insert_tenant_kv(
    client: &impl GenericClient,
    tenant_record_id: i64,
    key: &str,
    value: &str,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<(i64, Uuid), StorageError> {
    // A plain insert, no lock beyond the caller's lock_tenant_kvs.
    query_one_as(
        client,
        "insert into tenant_kvs (id, tenant_record_id, tenant_key, tenant_value, is_active,
                                     created_date, created_by, updated_date, updated_by)
             values ($1, $2, $3, $4, true, $5, $6, $5, $6)
             returning record_id, id",
        &[
            &Uuid::new_v4(),
            &tenant_record_id,
            &key,
            &value,
            &created_date,
            &created_by,
        ],
    )
    .await
}

/// Marks every active value of `key` inactive; returns the record ids it deactivated.
pub async fn deactivate_tenant_key(
    client: &impl GenericClient,
    tenant_record_id: i64,
    key: &str,
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<Vec<i64>, StorageError> {
    // The update takes the row locks it needs; the caller holds lock_tenant_kvs.
    query_column(
        client,
        "update tenant_kvs
             set is_active = false, updated_date = $4, updated_by = $3
             where tenant_record_id = $1 and tenant_key = $2 and is_active
             returning record_id",
        &[&tenant_record_id, &key, &updated_by, &updated_date],
    )
    .await
}

/// The active values of `key`, oldest first.
pub async fn active_values(
    client: &impl GenericClient,
    tenant_record_id: i64,
    key: &str,
) -> Result<Vec<String>, StorageError> {
    // No lock: a snapshot read; a value registered a moment later applies to later events.
    query_column(
        client,
        "select tenant_value from tenant_kvs
             where tenant_record_id = $1 and tenant_key = $2 and is_active
             order by record_id",
        &[&tenant_record_id, &key],
    )
    .await
}

/// The active values of every key starting with `prefix` (a SQL `like` pattern prefix: `%`
/// and `_` in it match any text, as in Kill Bill), as (key, value), oldest first.
pub async fn search_active_values(
    client: &impl GenericClient,
    tenant_record_id: i64,
    prefix: &str,
) -> Result<Vec<(String, String)>, StorageError> {
    // No lock: a snapshot read, as for active_values.
    query_as(
        client,
        "select tenant_key, tenant_value from tenant_kvs
             where tenant_record_id = $1 and tenant_key like $2 || '%' and is_active
             order by record_id",
        &[&tenant_record_id, &prefix],
    )
    .await
}

/// [`active_values`] for the tenant of id `tenant_id` (what plugins know a tenant by).
pub async fn active_values_for_tenant_id(
    client: &impl GenericClient,
    tenant_id: Uuid,
    key: &str,
) -> Result<Vec<String>, StorageError> {
    query_column(
        client,
        "select kv.tenant_value from tenant_kvs kv
             join tenants t on t.record_id = kv.tenant_record_id
             where t.id = $1 and kv.tenant_key = $2 and kv.is_active
             order by kv.record_id",
        &[&tenant_id, &key],
    )
    .await
}
