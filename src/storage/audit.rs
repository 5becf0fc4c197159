//! The `audit_log` table: one row per insert, update or delete of an audited row, written in
//! the same transaction as the change it describes, and the reads of an entity's audit rows
//! through its history table. It must never decide what is audited, open a transaction, or
//! know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::table::Table;
use super::{AuditContext, FromRow, StorageError};

/// Kill Bill's `ChangeType`.
#[derive(Debug, Clone, Copy)]
pub enum ChangeType {
    Insert,
    Update,
    Delete,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Insert => "INSERT",
            ChangeType::Update => "UPDATE",
            ChangeType::Delete => "DELETE",
        }
    }
}

/// The columns of an `audit_log` row, in the order every insert here binds them.
pub(super) const AUDIT_LOG_COLUMNS: &str = "id, target_record_id, table_name, change_type,
    created_date, created_by, reason_code, comments, user_token, account_record_id,
    tenant_record_id";

/// Records one change of the row `target_record_id` of `table_name` (Kill Bill's TableName,
/// e.g. `TENANT`, `ACCOUNT_HISTORY`).
pub async fn insert_audit_log(
    client: &impl GenericClient,
    table_name: &str,
    target_record_id: i64,
    change_type: ChangeType,
    changed_at: DateTime<Utc>,
    context: &AuditContext<'_>,
) -> Result<(), StorageError> {
    crate::storage::execute_cached(
        client,
        &format!(
            "insert into audit_log ({AUDIT_LOG_COLUMNS})
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            &uuid::Uuid::new_v4(),
            &target_record_id,
            &table_name,
            &change_type.as_str(),
            &changed_at,
            &context.created_by,
            &context.reason,
            &context.comment,
            &context.user_token,
            &context.account_record_id,
            &context.tenant_record_id,
        ],
    )
    .await?;
    Ok(())
}

row_struct! {
    /// One `audit_log` row as the audit read API serves it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AuditLogRecord {
        pub change_type: String,
        pub created_date: DateTime<Utc>,
        pub created_by: String,
        pub reason_code: Option<String>,
        pub comments: Option<String>,
        pub user_token: Option<uuid::Uuid>,
    }
}

/// An audited entity: its history table (what audit rows point at) and Kill Bill's TableName
/// for it. The names are fixed here, never taken from input, so they can be spliced into SQL.
#[derive(Debug, Clone, Copy)]
pub enum AuditedTable {
    Account,
    AccountEmail,
    CustomField,
    PaymentMethod,
    Tag,
    TagDefinition,
    Payment,
    PaymentTransaction,
}

impl AuditedTable {
    pub(super) fn history_table(self) -> &'static str {
        match self {
            AuditedTable::Account => "account_history",
            AuditedTable::AccountEmail => "account_email_history",
            AuditedTable::CustomField => "custom_field_history",
            AuditedTable::PaymentMethod => "payment_method_history",
            AuditedTable::Tag => "tag_history",
            AuditedTable::TagDefinition => "tag_definition_history",
            AuditedTable::Payment => "payment_history",
            AuditedTable::PaymentTransaction => "payment_transaction_history",
        }
    }

    /// Kill Bill's ObjectType of the audited entity (TableName.getObjectType).
    pub fn object_type(self) -> &'static str {
        match self {
            AuditedTable::Account => "ACCOUNT",
            AuditedTable::AccountEmail => "ACCOUNT_EMAIL",
            AuditedTable::CustomField => "CUSTOM_FIELD",
            AuditedTable::PaymentMethod => "PAYMENT_METHOD",
            AuditedTable::Tag => "TAG",
            AuditedTable::TagDefinition => "TAG_DEFINITION",
            AuditedTable::Payment => "PAYMENT",
            AuditedTable::PaymentTransaction => "TRANSACTION",
        }
    }

    /// Kill Bill's TableName of the history rows, as `audit_log.table_name` holds it.
    pub fn history_table_name(self) -> &'static str {
        match self {
            AuditedTable::Account => "ACCOUNT_HISTORY",
            AuditedTable::AccountEmail => "ACCOUNT_EMAIL_HISTORY",
            AuditedTable::CustomField => "CUSTOM_FIELD_HISTORY",
            AuditedTable::PaymentMethod => "PAYMENT_METHOD_HISTORY",
            AuditedTable::Tag => "TAG_HISTORY",
            AuditedTable::TagDefinition => "TAG_DEFINITION_HISTORY",
            AuditedTable::Payment => "PAYMENT_HISTORY",
            AuditedTable::PaymentTransaction => "PAYMENT_TRANSACTION_HISTORY",
        }
    }
}

/// Every audit row of the account `account_record_id` (its own, its emails', its custom
/// fields', its payment methods', its payments' and their transactions', its tags'), in Kill
/// Bill's order: by table name, then oldest first. Each comes with the table
/// and the id of the entity it describes, read from the history row it points at.
pub async fn find_account_audit_trail(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_record_id: i64,
) -> Result<Vec<(AuditedTable, uuid::Uuid, AuditLogRecord)>, StorageError> {
    const TABLES: [AuditedTable; 7] = [
        AuditedTable::Account,
        AuditedTable::AccountEmail,
        AuditedTable::CustomField,
        AuditedTable::PaymentMethod,
        AuditedTable::Payment,
        AuditedTable::PaymentTransaction,
        AuditedTable::Tag,
    ];
    // One left join per history table, each only for its own table name; rows of other
    // tables (none carry an account today) are left out by the final filter.
    let joins: String = TABLES
        .iter()
        .enumerate()
        .map(|(n, table)| {
            format!(
                " left join {history} h{n} on a.table_name = '{name}'
                      and h{n}.record_id = a.target_record_id",
                history = table.history_table(),
                name = table.history_table_name()
            )
        })
        .collect();
    let ids: Vec<String> = (0..TABLES.len()).map(|n| format!("h{n}.id")).collect();
    let sql = format!(
        "select a.table_name, coalesce({ids}) as object_id, a.change_type, a.created_date,
                a.created_by, a.reason_code, a.comments, a.user_token
         from audit_log a{joins}
         where a.account_record_id = $1 and a.tenant_record_id = $2
           and coalesce({ids}) is not null
         order by a.table_name, a.record_id",
        ids = ids.join(", ")
    );
    let rows = crate::storage::query_cached(client, &sql, &[&account_record_id, &tenant_record_id])
        .await?;
    let mut trail = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: String = row.try_get("table_name")?;
        // Only the joined tables yield an id, so every row names one of them.
        let Some(table) = TABLES
            .into_iter()
            .find(|table| table.history_table_name() == name)
        else {
            continue;
        };
        trail.push((
            table,
            row.try_get("object_id")?,
            AuditLogRecord::from_row(row)?,
        ));
    }
    Ok(trail)
}

/// The audit rows of `table`'s entities that `target` keeps (a condition on the history row
/// `h`, its entities in `$2`), of Kill Bill's TableName `$1` and tenant `$3`, oldest first:
/// their columns and `extra`. They point at the entities' history rows (Kill Bill audits
/// history rows, not the entity row), so the join goes through the history table.
fn audit_logs_statement(table: AuditedTable, extra: &str, target: &str) -> String {
    format!(
        "select {extra}, a.change_type, a.created_date, a.created_by, a.reason_code,
                a.comments, a.user_token
         from audit_log a
         join {history} h on h.record_id = a.target_record_id
         where a.table_name = $1 and {target} and a.tenant_record_id = $3
         order by a.record_id",
        history = table.history_table()
    )
}

/// The audit rows of the entities `target_record_ids` of `table`, oldest first, each with the
/// record id of the entity it describes. They point at the entities' history rows (Kill Bill
/// audits history rows, not the entity row), so the join goes through the history table.
pub async fn find_audit_logs(
    client: &impl GenericClient,
    table: AuditedTable,
    tenant_record_id: i64,
    target_record_ids: &[i64],
) -> Result<Vec<(i64, AuditLogRecord)>, StorageError> {
    let sql = audit_logs_statement(
        table,
        "h.target_record_id as entity_record_id",
        "h.target_record_id = any($2)",
    );
    let rows = crate::storage::query_cached(
        client,
        &sql,
        &[
            &table.history_table_name(),
            &target_record_ids,
            &tenant_record_id,
        ],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("entity_record_id")?,
                AuditLogRecord::from_row(row)?,
            ))
        })
        .collect()
}

/// The audit rows of the entity `target_record_id` of `table`, oldest first, each with the
/// history row it points at as a JSON object of its columns (Kill Bill's `history`): the
/// entity's state right after that change.
pub async fn find_audit_logs_with_history(
    client: &impl GenericClient,
    table: AuditedTable,
    tenant_record_id: i64,
    target_record_id: i64,
) -> Result<Vec<(AuditLogRecord, serde_json::Value)>, StorageError> {
    let sql = audit_logs_statement(table, "to_jsonb(h) as history", "h.target_record_id = $2");
    let rows = crate::storage::query_cached(
        client,
        &sql,
        &[
            &table.history_table_name(),
            &target_record_id,
            &tenant_record_id,
        ],
    )
    .await?;
    rows.iter()
        .map(|row| Ok((AuditLogRecord::from_row(row)?, row.try_get("history")?)))
        .collect()
}

/// Wraps `change` (an `insert … returning *` or `update … returning *` of one entity row) so
/// the same statement also copies the changed row into `history_table` and writes the audit
/// row pointing at that copy: one round trip for Kill Bill's three writes. `columns` are the
/// columns the entity and its history share; the audit row's id is `$first_param`, its
/// context follows in [`AuditRow::settled_params`] order. The statement returns the changed
/// entity row.
fn with_history_and_audit(
    change: &str,
    history_table: &str,
    columns: &str,
    audit_table_name: &str,
    change_type: ChangeType,
    first_param: usize,
) -> String {
    let change_type = change_type.as_str();
    let audit = audit_rows_of_history(
        audit_table_name,
        &format!("${first_param}"),
        &format!("'{change_type}'"),
        first_param + 1,
    );
    format!(
        "with changed as ({change}),
         history as (
             insert into {history_table} (target_record_id, change_type, {columns})
             select record_id, '{change_type}', {columns} from changed
             returning record_id
         ),
         audit as ({audit})
         select * from changed"
    )
}

/// Writes one audit row per row of the statement's `history` CTE (its `record_id`s, the
/// history rows just written), in their order. `id` and `change_type` are SQL expressions (a
/// parameter, `gen_random_uuid()`, a literal, `history.change_type`); the change's context is
/// bound from `$first_param` on, in [`AuditRow::settled_params`] order.
pub(super) fn audit_rows_of_history(
    audit_table_name: &str,
    id: &str,
    change_type: &str,
    first_param: usize,
) -> String {
    let p = |offset: usize| format!("${}", first_param + offset);
    format!(
        "insert into audit_log ({AUDIT_LOG_COLUMNS})
         select {id}, history.record_id, '{audit_table_name}', {change_type},
                {date}, {by}, {reason}, {comment}, {token}, {account}, {tenant}
         from history
         order by history.record_id",
        date = p(0),
        by = p(1),
        reason = p(2),
        comment = p(3),
        token = p(4),
        account = p(5),
        tenant = p(6),
    )
}

/// Runs `change` (an insert or update of at most one entity row, `returning *`, whose own
/// values are `params`) with its history copy and audit row in one statement (see
/// [`with_history_and_audit`]); the changed row, or `None` when `change` touched none.
pub async fn change_with_history<T: FromRow>(
    client: &impl GenericClient,
    target: Table<T>,
    change: &str,
    change_type: ChangeType,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<Option<T>, StorageError> {
    let sql = history_statement(target, change, change_type, params.len());
    let audit_row = AuditRow::new(now, audit);
    crate::storage::query_opt_as(client, &sql, &audit_row.after(params)).await
}

/// [`change_with_history`] for a change that always writes its row (an insert, an update of a
/// row the caller holds).
pub async fn record_with_history<T: FromRow>(
    client: &impl GenericClient,
    target: Table<T>,
    change: &str,
    change_type: ChangeType,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<T, StorageError> {
    let sql = history_statement(target, change, change_type, params.len());
    let audit_row = AuditRow::new(now, audit);
    crate::storage::query_one_as(client, &sql, &audit_row.after(params)).await
}

fn history_statement<T>(
    target: Table<T>,
    change: &str,
    change_type: ChangeType,
    own_params: usize,
) -> String {
    with_history_and_audit(
        change,
        target.audited.history_table(),
        target.columns,
        target.audited.history_table_name(),
        change_type,
        own_params + 1,
    )
}

/// The audit values of one change, bound by [`with_history_and_audit`]'s statement.
pub struct AuditRow<'a> {
    id: uuid::Uuid,
    changed_at: DateTime<Utc>,
    context: &'a AuditContext<'a>,
}

impl<'a> AuditRow<'a> {
    pub fn new(changed_at: DateTime<Utc>, context: &'a AuditContext<'a>) -> AuditRow<'a> {
        AuditRow {
            id: uuid::Uuid::new_v4(),
            changed_at,
            context,
        }
    }

    /// The change's context as [`audit_rows_of_history`] binds it: when it happened, who
    /// made it, why, and the account and tenant (each audit row draws its own id).
    pub fn settled_params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 7] {
        [
            &self.changed_at,
            &self.context.created_by,
            &self.context.reason,
            &self.context.comment,
            &self.context.user_token,
            &self.context.account_record_id,
            &self.context.tenant_record_id,
        ]
    }

    /// `own` (a change's values), then the audit row's id and [`AuditRow::settled_params`]:
    /// all [`with_history_and_audit`]'s statement binds.
    fn after<'p>(
        &'p self,
        own: &[&'p (dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Vec<&'p (dyn tokio_postgres::types::ToSql + Sync)> {
        let mut all = own.to_vec();
        all.push(&self.id);
        all.extend(self.settled_params());
        all
    }
}
