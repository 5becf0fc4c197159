//! The `audit_log` table: one row per insert, update or delete of an audited row, written in
//! the same transaction as the change it describes.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{AuditContext, StorageError};

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
    client
        .execute(
            "insert into audit_log (id, target_record_id, table_name, change_type, created_date,
                                    created_by, reason_code, comments, user_token,
                                    account_record_id, tenant_record_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
