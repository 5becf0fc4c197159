//! The `tenants` table. The secret column holds a password hash and is selected only by
//! [`find_credentials_by_api_key`], which the authenticator uses; reads for the API never
//! select it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{query_one_as, query_opt_as, FromRow, StorageError};

/// The unique index that makes a second tenant with the same API key a conflict.
pub const API_KEY_INDEX: &str = "tenants_api_key";

row_struct! {
    /// One `tenants` row, without its secret (read only by [`find_credentials_by_api_key`]).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TenantRow {
        pub record_id: i64,
        pub id: Uuid,
        pub external_key: Option<String>,
        pub api_key: String,
    }
}

pub struct NewTenantRow<'a> {
    pub id: Uuid,
    pub external_key: Option<&'a str>,
    pub api_key: &'a str,
    pub api_secret_hash: &'a str,
    pub created_by: &'a str,
    pub created_date: DateTime<Utc>,
}

/// Inserts a tenant; a duplicate API key comes back as a unique violation on [`API_KEY_INDEX`].
pub async fn insert_tenant(
    client: &impl GenericClient,
    tenant: &NewTenantRow<'_>,
) -> Result<TenantRow, StorageError> {
    query_one_as(
        client,
        "insert into tenants (id, external_key, api_key, api_secret,
                                  created_date, created_by, updated_date, updated_by)
             values ($1, $2, $3, $4, $5, $6, $5, $6)
             returning record_id, id, external_key, api_key",
        &[
            &tenant.id,
            &tenant.external_key,
            &tenant.api_key,
            &tenant.api_secret_hash,
            &tenant.created_date,
            &tenant.created_by,
        ],
    )
    .await
}

pub async fn find_tenant_by_id(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<TenantRow>, StorageError> {
    find_tenant_by(client, "id", &id).await
}

/// The tenant with this record id, as internal events and queue entries name tenants.
pub async fn find_tenant_by_record_id(
    client: &impl GenericClient,
    record_id: i64,
) -> Result<Option<TenantRow>, StorageError> {
    find_tenant_by(client, "record_id", &record_id).await
}

pub async fn find_tenant_by_api_key(
    client: &impl GenericClient,
    api_key: &str,
) -> Result<Option<TenantRow>, StorageError> {
    find_tenant_by(client, "api_key", &api_key).await
}

/// The tenant whose `column` (one of its unique columns, never input) equals `value`.
async fn find_tenant_by(
    client: &impl GenericClient,
    column: &'static str,
    value: &(dyn ToSql + Sync),
) -> Result<Option<TenantRow>, StorageError> {
    // No lock: a tenant row never changes once created.
    let sql =
        format!("select record_id, id, external_key, api_key from tenants where {column} = $1");
    query_opt_as(client, &sql, &[value]).await
}

/// The tenant and its secret hash, for verifying a caller's `X-Killbill-ApiSecret`.
pub async fn find_credentials_by_api_key(
    client: &impl GenericClient,
    api_key: &str,
) -> Result<Option<(TenantRow, String)>, StorageError> {
    let row = crate::storage::query_opt_cached(
        client,
        "select record_id, id, external_key, api_key, api_secret
             from tenants where api_key = $1",
        &[&api_key],
    )
    .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let hash: String = row.try_get("api_secret")?;
            Ok(Some((TenantRow::from_row(&row)?, hash)))
        }
    }
}
