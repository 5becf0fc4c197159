//! The `custom_fields` and `custom_field_history` tables (Kill Bill's CustomFieldSqlDao).
//!
//! This file owns that SQL: adding a field and changing its value (each with its history copy
//! and audit row in the same statement), and the reads of an object's, an account's and a
//! tenant's fields, paged and searched, always scoped to one tenant; its [`TABLE`] names the
//! tables for the read by id and marking a field removed (`table.rs`). It must never decide a
//! business rule (what may be added or changed), open a transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::audit::{change_with_history, record_with_history, AuditedTable, ChangeType};
use super::table::Table;
use super::{like_pattern, query_as, AuditContext, Search, SearchValue, StorageError};

/// The unique index refusing a second active field with one name and value on one object.
pub const ACTIVE_NAME_VALUE_INDEX: &str = "custom_fields_active_object_name_value";

/// Every column a field and its history rows share, in one order for inserts and copies.
const DATA_COLUMNS: &str = "id, object_id, object_type, is_active, field_name, field_value,
    created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id";

row_struct! {
    /// One `custom_fields` row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CustomFieldRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub object_id: Uuid,
        pub object_type: String,
        pub is_active: bool,
        pub name: String => "field_name",
        pub value: Option<String> => "field_value",
        pub account_record_id: i64,
        pub tenant_record_id: i64,
    }
}

/// What a new field holds; its account and tenant come from the audit context.
#[derive(Debug, Clone)]
pub struct NewCustomField<'a> {
    pub id: Uuid,
    pub object_id: Uuid,
    pub object_type: &'a str,
    pub name: &'a str,
    pub value: &'a str,
}

/// Which of the tenant's active fields a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldFilter<'a> {
    All,
    /// Kill Bill's search by key: the id equal to it, or the object type, object id, name or
    /// value containing it (`like`, so `%` and `_` in the key are wildcards, as there).
    Key(&'a str),
    /// Kill Bill's search by object type and name, and value when given: all equal.
    Named {
        object_type: &'a str,
        name: &'a str,
        value: Option<&'a str>,
    },
}

impl<'a> FieldFilter<'a> {
    /// The values of [`FILTER_CLAUSE`]'s `$2` to `$6`.
    fn params(&self) -> [Option<String>; 5] {
        match *self {
            FieldFilter::All => [None, None, None, None, None],
            FieldFilter::Key(key) => [
                Some(key.to_string()),
                Some(like_pattern(key)),
                None,
                None,
                None,
            ],
            FieldFilter::Named {
                object_type,
                name,
                value,
            } => [
                None,
                None,
                Some(object_type.to_string()),
                Some(name.to_string()),
                value.map(str::to_string),
            ],
        }
    }
}

/// The active fields of tenant `$1` a [`FieldFilter`] keeps, with its values in `$2` to `$6`.
const FILTER_CLAUSE: &str = "tenant_record_id = $1 and is_active
    and ($2::text is null or id::text = $2 or object_type like $3 or object_id::text like $3
         or field_name like $3 or field_value like $3)
    and ($4::text is null
         or (object_type = $4 and field_name = $5 and ($6::text is null or field_value = $6)))";

/// The table, its history, and the statements they share with the other audited tables.
pub const TABLE: Table<CustomFieldRecord> =
    Table::new("custom_fields", AuditedTable::CustomField, DATA_COLUMNS);

/// Adds an active field with its history and audit rows. A field the object already carries
/// with this name and value comes back as a unique violation on [`ACTIVE_NAME_VALUE_INDEX`].
pub async fn insert_custom_field(
    client: &impl GenericClient,
    field: &NewCustomField<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<CustomFieldRecord, StorageError> {
    let account_record_id = audit.account_record_id.unwrap_or_default();
    record_with_history(
        client,
        TABLE,
        &format!(
            "insert into custom_fields ({DATA_COLUMNS})
             values ($1, $2, $3, true, $4, $5, $6, $7, $6, $7, $8, $9)
             returning *"
        ),
        ChangeType::Insert,
        &[
            &field.id,
            &field.object_id,
            &field.object_type,
            &field.name,
            &field.value,
            &audit.created_by,
            &now,
            &account_record_id,
            &audit.tenant_record_id,
        ],
        now,
        audit,
    )
    .await
}

/// Sets the value of the active field `record_id`, with its history and audit rows; `None`
/// when the field is no longer active.
pub async fn update_custom_field_value(
    client: &impl GenericClient,
    record_id: i64,
    value: &str,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<Option<CustomFieldRecord>, StorageError> {
    change_with_history(
        client,
        TABLE,
        "update custom_fields set field_value = $2, updated_by = $3, updated_date = $4
         where record_id = $1 and is_active
         returning *",
        ChangeType::Update,
        &[&record_id, &value, &audit.created_by, &now],
        now,
        audit,
    )
    .await
}

/// The object's active fields in the order they were added.
pub async fn find_custom_fields_for_object(
    client: &impl GenericClient,
    tenant_record_id: i64,
    object_id: Uuid,
    object_type: &str,
) -> Result<Vec<CustomFieldRecord>, StorageError> {
    query_as(
        client,
        "select * from custom_fields
             where object_id = $1 and object_type = $2 and tenant_record_id = $3 and is_active
             order by record_id",
        &[&object_id, &object_type, &tenant_record_id],
    )
    .await
}

/// The active fields of every object of the account (of one object type when given), in the
/// order they were added.
pub async fn find_custom_fields_for_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_record_id: i64,
    object_type: Option<&str>,
) -> Result<Vec<CustomFieldRecord>, StorageError> {
    query_as(
        client,
        "select * from custom_fields
             where account_record_id = $1 and tenant_record_id = $2 and is_active
               and ($3::text is null or object_type = $3)
             order by record_id",
        &[&account_record_id, &tenant_record_id, &object_type],
    )
    .await
}

/// The tenant's active fields that `filter` keeps ([`FILTER_CLAUSE`]), for a page
/// ([`Search::page`]) and its count ([`Search::count`]).
pub fn search(filter: FieldFilter<'_>) -> Search<'_, CustomFieldRecord> {
    let values = filter.params().into_iter();
    let values = values.map(|value| Box::new(value) as SearchValue<'_>);
    Search::new("custom_fields", "*", FILTER_CLAUSE, values.collect())
}
