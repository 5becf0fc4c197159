//! The `accounts` and `account_history` tables (Kill Bill's AccountSqlDao).
//!
//! This file owns that SQL: inserting and updating an account, locking one, its children, and
//! the search of a tenant's accounts, always scoped to one tenant; its [`TABLE`] names the
//! tables for the reads by id and external key and the copies into `account_history`
//! (`table.rs`). It must never decide a business rule (defaults, what may change), open a
//! transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::audit::{AuditedTable, AUDIT_LOG_COLUMNS};
use super::table::Table;
use super::{find_by, query_as, query_one_as, AuditContext, FromRow, Lock, Search, StorageError};

/// Kill Bill's TableName of the account history rows, which the audit log points at.
pub const ACCOUNT_HISTORY_TABLE: &str = "ACCOUNT_HISTORY";

/// The unique index that makes a second account with one external key in a tenant a conflict.
pub const EXTERNAL_KEY_INDEX: &str = "accounts_external_key";

/// Every column an account and its history rows share, in one order for inserts and copies.
const DATA_COLUMNS: &str = "id, external_key, email, name, first_name_length, currency,
    billing_cycle_day_local, parent_account_id, is_payment_delegated_to_parent,
    payment_method_id, reference_time, time_zone, locale, address1, address2, company_name,
    city, state_or_province, country, postal_code, phone, notes, migrated,
    created_date, created_by, updated_date, updated_by, tenant_record_id";

/// What an account holds besides its identity and bookkeeping columns: what creation sets and
/// an update replaces as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountData {
    pub external_key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub first_name_length: Option<i32>,
    pub currency: Option<String>,
    pub bill_cycle_day_local: i32,
    pub parent_account_id: Option<Uuid>,
    pub is_payment_delegated_to_parent: bool,
    pub payment_method_id: Option<Uuid>,
    pub reference_time: DateTime<Utc>,
    pub time_zone: String,
    pub locale: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub company_name: Option<String>,
    pub city: Option<String>,
    pub state_or_province: Option<String>,
    pub country: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub migrated: Option<bool>,
}

/// One `accounts` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub record_id: i64,
    pub id: Uuid,
    pub tenant_record_id: i64,
    pub data: AccountData,
    pub created_date: DateTime<Utc>,
    pub updated_date: DateTime<Utc>,
}

impl FromRow for AccountRecord {
    fn from_row(row: &Row) -> Result<AccountRecord, StorageError> {
        Ok(AccountRecord {
            record_id: row.try_get("record_id")?,
            id: row.try_get("id")?,
            tenant_record_id: row.try_get("tenant_record_id")?,
            data: AccountData {
                external_key: row.try_get("external_key")?,
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                first_name_length: row.try_get("first_name_length")?,
                currency: row.try_get("currency")?,
                bill_cycle_day_local: row
                    .try_get::<_, Option<i32>>("billing_cycle_day_local")?
                    .unwrap_or(0),
                parent_account_id: row.try_get("parent_account_id")?,
                is_payment_delegated_to_parent: row
                    .try_get::<_, Option<bool>>("is_payment_delegated_to_parent")?
                    .unwrap_or(false),
                payment_method_id: row.try_get("payment_method_id")?,
                reference_time: row.try_get("reference_time")?,
                time_zone: row.try_get("time_zone")?,
                locale: row.try_get("locale")?,
                address1: row.try_get("address1")?,
                address2: row.try_get("address2")?,
                company_name: row.try_get("company_name")?,
                city: row.try_get("city")?,
                state_or_province: row.try_get("state_or_province")?,
                country: row.try_get("country")?,
                postal_code: row.try_get("postal_code")?,
                phone: row.try_get("phone")?,
                notes: row.try_get("notes")?,
                migrated: row.try_get("migrated")?,
            },
            created_date: row.try_get("created_date")?,
            updated_date: row.try_get("updated_date")?,
        })
    }
}

/// The table, its history, and the statements they share with the other audited tables.
pub const TABLE: Table<AccountRecord> = Table::new("accounts", AuditedTable::Account, DATA_COLUMNS);

/// `before`, then the [`AccountData`] fields in [`DATA_COLUMNS`] order, then `after`: the
/// parameters of the insert and the update, which bind the same 22 fields.
fn with_data_params<'a>(
    before: &[&'a (dyn ToSql + Sync)],
    data: &'a AccountData,
    after: &[&'a (dyn ToSql + Sync)],
) -> Vec<&'a (dyn ToSql + Sync)> {
    let fields: [&'a (dyn ToSql + Sync); 22] = [
        &data.external_key,
        &data.email,
        &data.name,
        &data.first_name_length,
        &data.currency,
        &data.bill_cycle_day_local,
        &data.parent_account_id,
        &data.is_payment_delegated_to_parent,
        &data.payment_method_id,
        &data.reference_time,
        &data.time_zone,
        &data.locale,
        &data.address1,
        &data.address2,
        &data.company_name,
        &data.city,
        &data.state_or_province,
        &data.country,
        &data.postal_code,
        &data.phone,
        &data.notes,
        &data.migrated,
    ];
    before
        .iter()
        .chain(fields.iter())
        .chain(after)
        .copied()
        .collect()
}

/// Inserts an account together with its first `account_history` row and the `audit_log` row
/// pointing at it, in one statement (one round trip with the connection's cached statement).
/// A duplicate external key in the tenant comes back as a unique violation on
/// [`EXTERNAL_KEY_INDEX`] and writes nothing.
pub async fn insert_account(
    client: &impl GenericClient,
    id: Uuid,
    data: &AccountData,
    created_date: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<AccountRecord, StorageError> {
    // A plain insert: the unique index, not a prior select, decides a duplicate key, so
    // concurrent creations cannot both win. The history row copies the inserted row through the
    // CTE (data-modifying CTEs do not see each other's rows in the table itself).
    let sql = format!(
        "with account as (
             insert into accounts ({DATA_COLUMNS})
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19, $20, $21, $22, $23, $24, $25, $24, $25, $26)
             returning *
         ), history as (
             insert into account_history (target_record_id, change_type, {DATA_COLUMNS})
             select record_id, 'INSERT', {DATA_COLUMNS} from account
             returning record_id, target_record_id
         ), audit as (
             insert into audit_log ({AUDIT_LOG_COLUMNS})
             select $27, history.record_id, '{ACCOUNT_HISTORY_TABLE}', 'INSERT', $24, $25,
                    $28, $29, $30, history.target_record_id, $26
             from history
         )
         select * from account"
    );
    let audit_id = Uuid::new_v4();
    query_one_as(
        client,
        &sql,
        &with_data_params(
            &[&id],
            data,
            &[
                &created_date,
                &audit.created_by,
                &audit.tenant_record_id,
                &audit_id,
                &audit.reason,
                &audit.comment,
                &audit.user_token,
            ],
        ),
    )
    .await
}

/// Replaces the data of the account `record_id`; the caller holds its lock
/// ([`lock_account_by_id`]).
pub async fn update_account(
    client: &impl GenericClient,
    record_id: i64,
    data: &AccountData,
    updated_by: &str,
    updated_date: DateTime<Utc>,
) -> Result<AccountRecord, StorageError> {
    query_one_as(
        client,
        "update accounts set
                 external_key = $2, email = $3, name = $4, first_name_length = $5,
                 currency = $6, billing_cycle_day_local = $7, parent_account_id = $8,
                 is_payment_delegated_to_parent = $9, payment_method_id = $10,
                 reference_time = $11, time_zone = $12, locale = $13, address1 = $14,
                 address2 = $15, company_name = $16, city = $17, state_or_province = $18,
                 country = $19, postal_code = $20, phone = $21, notes = $22, migrated = $23,
                 updated_date = $24, updated_by = $25
             where record_id = $1
             returning *",
        &with_data_params(&[&record_id], data, &[&updated_date, &updated_by]),
    )
    .await
}

/// The tenant's account with this id, locked until the caller's transaction ends so that two
/// updates of one account apply one after the other.
pub async fn lock_account_by_id(
    client: &impl GenericClient,
    tenant_record_id: i64,
    id: Uuid,
) -> Result<Option<AccountRecord>, StorageError> {
    find_by(
        client,
        "accounts",
        "id",
        &id,
        tenant_record_id,
        Lock::NoKeyUpdate,
    )
    .await
}

/// The tenant's accounts whose parent is `parent_id`, oldest first.
pub async fn find_children(
    client: &impl GenericClient,
    tenant_record_id: i64,
    parent_id: Uuid,
) -> Result<Vec<AccountRecord>, StorageError> {
    query_as(
        client,
        "select * from accounts where parent_account_id = $1 and tenant_record_id = $2
             order by record_id",
        &[&parent_id, &tenant_record_id],
    )
    .await
}

/// Kill Bill's AccountSqlDao `searchQuery` on the accounts of tenant `$1`: every one when `$2`
/// is null, else those whose id equals `$2` or whose name, email, external key or company name
/// is like `$3`. `like` keeps PostgreSQL's case-sensitive matching, as Kill Bill's own SQL does
/// on PostgreSQL; the key is not escaped, so `%` and `_` in it are wildcards there too.
const SEARCH_CLAUSE: &str = "tenant_record_id = $1
    and ($2::text is null
         or id::text = $2 or name like $3 or email like $3
         or external_key like $3 or company_name like $3)";

/// The tenant's accounts, or those matching `key` ([`SEARCH_CLAUSE`]), for a page
/// ([`Search::page`]) and its count ([`Search::count`]).
pub fn search(key: Option<&str>) -> Search<'_, AccountRecord> {
    Search::by_key("accounts", SEARCH_CLAUSE, key)
}
