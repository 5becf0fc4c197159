//! SQL, one file per aggregate. Every function takes a client from its caller (a pooled
//! connection or an open transaction) so the service layer decides the transaction boundaries;
//! nothing here opens a transaction, knows about HTTP, or decides a business rule.

#[macro_use]
mod rows;

pub mod account_emails;
pub mod accounts;
pub mod audit;
pub mod caches;
pub mod custom_fields;
pub mod export;
mod names;
pub mod node_infos;
pub mod objects;
pub mod page;
pub mod payment_methods;
pub mod payments;
pub mod security;
pub mod table;
pub mod tag_definitions;
pub mod tags;
pub mod tenant_kvs;
pub mod tenants;

use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

use crate::db::pool::PoolError;
use crate::db::sql;

use page::{Search, SearchValue};
pub use rows::FromRow;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A unique index refused the write; `constraint` is the index name from the migration.
    #[error("duplicate value for unique index {constraint}")]
    UniqueViolation { constraint: String },
    /// The connection broke or the server went away: retryable, answered as 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] tokio_postgres::Error),
    /// PostgreSQL refused a value the request carried (SQLSTATE class 22: a string longer
    /// than its column, a number out of range): the caller's input, answered as 400.
    #[error("{message}")]
    InvalidValue { message: String },
    /// A column holds a name ferrobill does not know (nothing it writes, nor Kill Bill): the
    /// stored data is at fault, not the request, so it is answered as a server error.
    #[error("column {column} holds an unknown name {name:?}")]
    UnknownName { column: String, name: String },
    #[error("database error: {0}")]
    Database(#[source] tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        if let Some(db) = error.as_db_error() {
            if db.code() == &SqlState::UNIQUE_VIOLATION {
                return StorageError::UniqueViolation {
                    constraint: db.constraint().unwrap_or_default().to_string(),
                };
            }
            let class = &db.code().code()[..2];
            // 08: connection exception, 57: operator intervention (admin shutdown, crash
            // recovery), 53: insufficient resources (too many connections).
            if matches!(class, "08" | "57" | "53") {
                return StorageError::Unavailable(error);
            }
            if class == "22" {
                let column = db.column().map(|c| format!(" ({c})")).unwrap_or_default();
                return StorageError::InvalidValue {
                    message: format!("Invalid value{column}: {}", db.message()),
                };
            }
            return StorageError::Database(error);
        }
        if error.is_closed() || error.to_string().contains("connection") {
            return StorageError::Unavailable(error);
        }
        StorageError::Database(error)
    }
}

/// Rows of `sql`, prepared once per connection and sent in its turn inside a pipeline
/// (`db::sql`).
pub async fn query_cached(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StorageError> {
    Ok(sql::query(client, sql, params).await?)
}

/// [`query_cached`] for at most one row.
pub async fn query_opt_cached(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StorageError> {
    Ok(sql::query_opt(client, sql, params).await?)
}

/// [`query_cached`] for exactly one row.
pub async fn query_one_cached(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StorageError> {
    Ok(sql::query_one(client, sql, params).await?)
}

/// [`query_cached`] for a statement returning no rows; the number of rows it changed.
pub async fn execute_cached(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StorageError> {
    Ok(sql::execute(client, sql, params).await?)
}

/// [`query_cached`], each row read as a `T`.
pub async fn query_as<T: FromRow>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<T>, StorageError> {
    query_cached(client, sql, params)
        .await?
        .iter()
        .map(T::from_row)
        .collect()
}

/// [`query_opt_cached`], the row read as a `T`.
pub async fn query_opt_as<T: FromRow>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<T>, StorageError> {
    let row = query_opt_cached(client, sql, params).await?;
    row.as_ref().map(T::from_row).transpose()
}

/// [`query_one_cached`], the row read as a `T`.
pub async fn query_one_as<T: FromRow>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<T, StorageError> {
    T::from_row(&query_one_cached(client, sql, params).await?)
}

/// The tenant's row of `table` whose `column` equals `value`, read as a `T`, with `lock`.
/// `table` and `column` are constants of the calling file, never input.
pub async fn find_by<T: FromRow>(
    client: &impl GenericClient,
    table: &'static str,
    column: &'static str,
    value: &(dyn ToSql + Sync),
    tenant_record_id: i64,
    lock: Lock,
) -> Result<Option<T>, StorageError> {
    let lock = lock.clause();
    let sql = format!("select * from {table} where {column} = $1 and tenant_record_id = $2 {lock}");
    query_opt_as(client, &sql, &[value, &tenant_record_id]).await
}

/// How a read locks the rows it returns, until the caller's transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// No lock: a snapshot read.
    None,
    /// `for share`: writers of the row wait, other sharers do not.
    Share,
    /// `for no key update`: writers wait, foreign-key checks on the row do not.
    NoKeyUpdate,
    /// `for update`: every other locker of the row waits.
    Update,
}

impl Lock {
    fn clause(self) -> &'static str {
        match self {
            Lock::None => "",
            Lock::Share => "for share",
            Lock::NoKeyUpdate => "for no key update",
            Lock::Update => "for update",
        }
    }
}

/// The first column of every row of `sql`.
pub async fn query_column<T: for<'a> FromSql<'a>>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<T>, StorageError> {
    let rows: Vec<(T,)> = query_as(client, sql, params).await?;
    Ok(rows.into_iter().map(|(value,)| value).collect())
}

/// The first column of the one row of `sql` (a count, a flag, a returned record id).
pub async fn query_value<T: for<'a> FromSql<'a>>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<T, StorageError> {
    let (value,) = query_one_as(client, sql, params).await?;
    Ok(value)
}

/// Kill Bill's search pattern for `key`: anything containing it (`%` and `_` in it stay
/// wildcards, as there).
pub fn like_pattern(key: &str) -> String {
    format!("%{key}%")
}

/// Who made a change, for the audit log: Kill Bill's CallContext as far as storage needs it.
#[derive(Debug, Clone)]
pub struct AuditContext<'a> {
    pub created_by: &'a str,
    pub reason: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub user_token: Option<uuid::Uuid>,
    pub tenant_record_id: i64,
    pub account_record_id: Option<i64>,
}
