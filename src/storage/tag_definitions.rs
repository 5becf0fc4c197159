//! The `tag_definitions` and `tag_definition_history` tables (Kill Bill's TagDefinitionSqlDao):
//! a tenant's own tag definitions. The fixed control and system definitions are not stored.
//!
//! This file owns that SQL: inserting a definition and the reads of live ones (always scoped to
//! one tenant); its [`TABLE`] names the tables for the reads by ids, marking one deleted and
//! the copies into `tag_definition_history` (`table.rs`). It must never decide a business rule
//! (valid names, what may be deleted), open a transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::audit::AuditedTable;
use super::table::Table;
use super::{query_as, query_one_as, query_opt_as, Lock, StorageError};

/// The unique index that makes a second live definition with one name in a tenant a conflict.
pub const ACTIVE_NAME_INDEX: &str = "tag_definitions_active_name";

/// Every column a definition and its history rows share, in one order for inserts and copies.
const DATA_COLUMNS: &str = "id, name, applicable_object_types, description, is_active,
    created_by, created_date, updated_by, updated_date, tenant_record_id";

row_struct! {
    /// One `tag_definitions` row. `applicable_object_types` is Kill Bill's comma-joined list.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TagDefinitionRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub name: String,
        pub applicable_object_types: Option<String>,
        pub description: String,
        pub is_active: bool,
        pub tenant_record_id: i64,
    }
}

/// The table, its history, and the statements they share with the other audited tables.
pub const TABLE: Table<TagDefinitionRecord> =
    Table::new("tag_definitions", AuditedTable::TagDefinition, DATA_COLUMNS);

/// What a new definition holds.
#[derive(Debug, Clone)]
pub struct NewTagDefinition<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub applicable_object_types: &'a str,
    pub description: &'a str,
    pub tenant_record_id: i64,
}

/// Inserts a live definition; a live definition with the same name in the tenant comes back as
/// a unique violation on [`ACTIVE_NAME_INDEX`].
pub async fn insert_tag_definition(
    client: &impl GenericClient,
    definition: &NewTagDefinition<'_>,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<TagDefinitionRecord, StorageError> {
    let sql = format!(
        "insert into tag_definitions ({DATA_COLUMNS})
         values ($1, $2, $3, $4, true, $5, $6, $5, $6, $7)
         returning *"
    );
    query_one_as(
        client,
        &sql,
        &[
            &definition.id,
            &definition.name,
            &definition.applicable_object_types,
            &definition.description,
            &created_by,
            &created_date,
            &definition.tenant_record_id,
        ],
    )
    .await
}

/// The tenant's live definitions in creation order.
pub async fn find_active_tag_definitions(
    client: &impl GenericClient,
    tenant_record_id: i64,
) -> Result<Vec<TagDefinitionRecord>, StorageError> {
    query_as(
        client,
        "select * from tag_definitions where tenant_record_id = $1 and is_active
             order by record_id",
        &[&tenant_record_id],
    )
    .await
}

/// The tenant's live definition with this id, read with `lock`. A tag is added under
/// [`Lock::Share`] on its definition, and a definition is deleted under [`Lock::Update`]: the
/// deletion then waits for the tags being added with it, and counts them.
pub async fn find_active_tag_definition(
    client: &impl GenericClient,
    tenant_record_id: i64,
    id: Uuid,
    lock: Lock,
) -> Result<Option<TagDefinitionRecord>, StorageError> {
    let lock = lock.clause();
    let sql = format!(
        "select * from tag_definitions where id = $1 and tenant_record_id = $2 and is_active
         {lock}"
    );
    query_opt_as(client, &sql, &[&id, &tenant_record_id]).await
}
