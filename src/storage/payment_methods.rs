//! The `payment_methods` and `payment_method_history` tables (Kill Bill's PaymentMethodSqlDao).
//!
//! This file owns that SQL: inserting a method, the reads of an account's methods and the
//! search of a tenant's (always scoped to one tenant), and pointing an account at its default
//! method; its [`TABLE`] names the tables for the reads by id and external key, the soft
//! deletes and the copies into `payment_method_history` (`table.rs`). It must never decide a
//! business rule (which key, what may be deleted), open a transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::audit::AuditedTable;
use super::table::Table;
use super::{like_pattern, query_as, query_one_as, Search, SearchValue, StorageError};

/// The unique index that makes a second method with one external key in a tenant a conflict.
pub const EXTERNAL_KEY_INDEX: &str = "payment_methods_external_key";
/// The unique index allowing one active `__EXTERNAL_PAYMENT__` method per account.
pub const ONE_EXTERNAL_PER_ACCOUNT_INDEX: &str = "payment_methods_one_external_per_account";

/// Every column a method and its history rows share, in one order for inserts and copies.
const DATA_COLUMNS: &str = "id, external_key, account_id, plugin_name, is_active,
    created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id";

row_struct! {
    /// One `payment_methods` row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PaymentMethodRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub external_key: String,
        pub account_id: Uuid,
        pub plugin_name: String,
        pub is_active: bool,
        pub account_record_id: i64,
        pub tenant_record_id: i64,
    }
}

/// The table, its history, and the statements they share with the other audited tables.
pub const TABLE: Table<PaymentMethodRecord> =
    Table::new("payment_methods", AuditedTable::PaymentMethod, DATA_COLUMNS);

/// What a new method holds.
#[derive(Debug, Clone)]
pub struct NewPaymentMethod<'a> {
    pub id: Uuid,
    pub external_key: &'a str,
    pub account_id: Uuid,
    pub plugin_name: &'a str,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

/// Inserts an active method; a duplicate external key in the tenant comes back as a unique
/// violation on [`EXTERNAL_KEY_INDEX`].
pub async fn insert_payment_method(
    client: &impl GenericClient,
    method: &NewPaymentMethod<'_>,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<PaymentMethodRecord, StorageError> {
    let sql = format!(
        "insert into payment_methods ({DATA_COLUMNS})
         values ($1, $2, $3, $4, true, $5, $6, $5, $6, $7, $8)
         returning *"
    );
    query_one_as(
        client,
        &sql,
        &[
            &method.id,
            &method.external_key,
            &method.account_id,
            &method.plugin_name,
            &created_by,
            &created_date,
            &method.account_record_id,
            &method.tenant_record_id,
        ],
    )
    .await
}

/// The account's methods in creation order; deleted ones only when `include_deleted`.
pub async fn find_payment_methods_by_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_id: Uuid,
    include_deleted: bool,
) -> Result<Vec<PaymentMethodRecord>, StorageError> {
    query_as(
        client,
        "select * from payment_methods
             where account_id = $1 and tenant_record_id = $2 and (is_active or $3)
             order by record_id",
        &[&account_id, &tenant_record_id, &include_deleted],
    )
    .await
}

/// Points the account `record_id` at `payment_method_id` (or at none); the caller holds the
/// account's lock and writes its history.
pub async fn set_account_payment_method(
    client: &impl GenericClient,
    account_record_id: i64,
    payment_method_id: Option<Uuid>,
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<(), StorageError> {
    crate::storage::execute_cached(
        client,
        "update accounts set payment_method_id = $2, updated_by = $3, updated_date = $4
             where record_id = $1",
        &[
            &account_record_id,
            &payment_method_id,
            &updated_by,
            &updated_date,
        ],
    )
    .await?;
    Ok(())
}

/// Which of the tenant's active methods a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodFilter<'a> {
    /// Every active method, or those of one plugin.
    Plugin(Option<&'a str>),
    /// Kill Bill's PaymentMethodSqlDao search: the id or the account id equal to the key, or
    /// the external key or the plugin name containing it (`like`, `%` and `_` are wildcards).
    Key(&'a str),
}

/// The active methods of tenant `$1` a [`MethodFilter`] keeps, with its values in `$2` to `$4`.
const METHOD_FILTER_CLAUSE: &str = "tenant_record_id = $1 and is_active
    and ($2::text is null or plugin_name = $2)
    and ($3::text is null or id::text = $3 or account_id::text = $3
         or external_key like $4 or plugin_name like $4)";

/// The tenant's active methods that `filter` keeps ([`METHOD_FILTER_CLAUSE`]), for a page
/// ([`Search::page`]) and its count ([`Search::count`]).
pub fn search(filter: MethodFilter<'_>) -> Search<'_, PaymentMethodRecord> {
    let (plugin_name, key, like) = match filter {
        MethodFilter::Plugin(plugin_name) => (plugin_name, None, None),
        MethodFilter::Key(key) => (None, Some(key), Some(like_pattern(key))),
    };
    let values: Vec<SearchValue> = vec![Box::new(plugin_name), Box::new(key), Box::new(like)];
    Search::new("payment_methods", "*", METHOD_FILTER_CLAUSE, values)
}
