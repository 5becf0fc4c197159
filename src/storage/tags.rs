//! The `tags` and `tag_history` tables (Kill Bill's TagSqlDao).
//!
//! This file owns that SQL: adding a tag unless the object already carries its definition, the
//! reads of an object's and an account's tags and the search of a tenant's, always scoped to
//! one tenant; its [`TABLE`] names the tables for the read by id, marking tags removed and the
//! copies into `tag_history` (`table.rs`). It must never decide a business rule (which
//! definitions exist, what may be tagged or removed), open a transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::audit::AuditedTable;
use super::table::Table;
use super::{like_pattern, query_as, query_opt_as, query_value, Search, SearchValue, StorageError};

/// Every column a tag and its history rows share, in one order for inserts and copies.
const DATA_COLUMNS: &str = "id, tag_definition_id, object_id, object_type, is_active,
    created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id";

row_struct! {
    /// One `tags` row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TagRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub tag_definition_id: Uuid,
        pub object_id: Uuid,
        pub object_type: String,
        pub is_active: bool,
        pub account_record_id: i64,
        pub tenant_record_id: i64,
    }
}

/// The table, its history, and the statements they share with the other audited tables.
pub const TABLE: Table<TagRecord> = Table::new("tags", AuditedTable::Tag, DATA_COLUMNS);

/// What a new tag holds.
#[derive(Debug, Clone)]
pub struct NewTag<'a> {
    pub id: Uuid,
    pub tag_definition_id: Uuid,
    pub object_id: Uuid,
    pub object_type: &'a str,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

/// Inserts an active tag, unless the object already carries an active tag of that definition:
/// then nothing is written and `None` comes back.
pub async fn insert_tag_unless_present(
    client: &impl GenericClient,
    tag: &NewTag<'_>,
    created_by: &str,
    created_date: DateTime<Utc>,
) -> Result<Option<TagRecord>, StorageError> {
    // `on conflict do nothing` against the partial unique index rather than a select first:
    // a concurrent addition of the same definition waits for the other transaction and then
    // finds it, and the caller's transaction is never aborted by a unique violation.
    let sql = format!(
        "insert into tags ({DATA_COLUMNS})
         values ($1, $2, $3, $4, true, $5, $6, $5, $6, $7, $8)
         on conflict (tenant_record_id, object_id, tag_definition_id) where is_active
         do nothing
         returning *"
    );
    query_opt_as(
        client,
        &sql,
        &[
            &tag.id,
            &tag.tag_definition_id,
            &tag.object_id,
            &tag.object_type,
            &created_by,
            &created_date,
            &tag.account_record_id,
            &tag.tenant_record_id,
        ],
    )
    .await
}

/// The object's tags in the order they were added; removed ones only when `include_deleted`.
pub async fn find_tags_for_object(
    client: &impl GenericClient,
    tenant_record_id: i64,
    object_id: Uuid,
    object_type: &str,
    include_deleted: bool,
) -> Result<Vec<TagRecord>, StorageError> {
    query_as(
        client,
        "select * from tags
             where object_id = $1 and object_type = $2 and tenant_record_id = $3
               and (is_active or $4)
             order by record_id",
        &[
            &object_id,
            &object_type,
            &tenant_record_id,
            &include_deleted,
        ],
    )
    .await
}

/// How many active tags of the tenant use the definition `tag_definition_id`.
pub async fn count_active_tags_for_definition(
    client: &impl GenericClient,
    tenant_record_id: i64,
    tag_definition_id: Uuid,
) -> Result<i64, StorageError> {
    query_value(
        client,
        "select count(*) from tags
             where tag_definition_id = $1 and tenant_record_id = $2 and is_active",
        &[&tag_definition_id, &tenant_record_id],
    )
    .await
}

/// The tags of every object of the account (of one object type when given) in the order they
/// were added; removed ones only when `include_deleted`.
pub async fn find_tags_for_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_record_id: i64,
    object_type: Option<&str>,
    include_deleted: bool,
) -> Result<Vec<TagRecord>, StorageError> {
    query_as(
        client,
        "select * from tags
             where account_record_id = $1 and tenant_record_id = $2
               and ($3::text is null or object_type = $3) and (is_active or $4)
             order by record_id",
        &[
            &account_record_id,
            &tenant_record_id,
            &object_type,
            &include_deleted,
        ],
    )
    .await
}

/// A definition a tag search matches names and descriptions against, besides the tenant's own
/// live definitions (which are read from `tag_definitions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchedDefinition<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
}

/// Which of the tenant's active tags a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagFilter<'a> {
    All,
    /// Kill Bill's tag search: the tag id equal to the key, or its object type, its
    /// definition's name or description containing it (`like`, so `%` and `_` are wildcards).
    /// `fixed` are the definitions that live in the code rather than in `tag_definitions`.
    Key {
        key: &'a str,
        fixed: &'a [SearchedDefinition<'a>],
    },
}

/// The active tags of tenant `$1` a [`TagFilter`] keeps, with its values in `$2` to `$6`.
const TAG_FILTER_CLAUSE: &str = "t.tenant_record_id = $1 and t.is_active
    and ($2::text is null or t.id::text = $2 or t.object_type like $3
         or exists (
             select 1 from (
                 select d.id, d.name::text, d.description::text from tag_definitions d
                 where d.is_active and d.tenant_record_id = $1
                 union all
                 select * from unnest($4::uuid[], $5::text[], $6::text[])
             ) definition (id, name, description)
             where definition.id = t.tag_definition_id
               and (definition.name like $3 or definition.description like $3)))";

/// The parameters `$2` to `$6` of [`TAG_FILTER_CLAUSE`].
type TagFilterParams<'a> = (
    Option<&'a str>,
    Option<String>,
    Vec<Uuid>,
    Vec<&'a str>,
    Vec<&'a str>,
);

fn tag_filter_params<'a>(filter: TagFilter<'a>) -> TagFilterParams<'a> {
    match filter {
        TagFilter::All => (None, None, Vec::new(), Vec::new(), Vec::new()),
        TagFilter::Key { key, fixed } => (
            Some(key),
            Some(like_pattern(key)),
            fixed.iter().map(|definition| definition.id).collect(),
            fixed.iter().map(|definition| definition.name).collect(),
            fixed
                .iter()
                .map(|definition| definition.description)
                .collect(),
        ),
    }
}

/// The tenant's active tags that `filter` keeps ([`TAG_FILTER_CLAUSE`]), for a page
/// ([`Search::page`]) and its count ([`Search::count`]).
pub fn search(filter: TagFilter<'_>) -> Search<'_, TagRecord> {
    let (key, like, ids, names, descriptions) = tag_filter_params(filter);
    let values: Vec<SearchValue<'_>> = vec![
        Box::new(key),
        Box::new(like),
        Box::new(ids),
        Box::new(names),
        Box::new(descriptions),
    ];
    Search::new("tags t", "t.*", TAG_FILTER_CLAUSE, values)
}
