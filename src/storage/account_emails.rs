//! The `account_emails` and `account_email_history` tables (Kill Bill's AccountEmailSqlDao).
//!
//! This file owns that SQL: adding an address unless the account has it (with its history copy
//! and audit row in the same statement) and the reads of an account's addresses, always scoped
//! to one tenant; its [`TABLE`] names the tables for the read by id and marking one removed
//! (`table.rs`). It must never decide a business rule, open a transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::audit::{change_with_history, AuditedTable, ChangeType};
use super::table::Table;
use super::{query_as, AuditContext, StorageError};

/// Every column an address and its history rows share, in one order for inserts and copies.
const DATA_COLUMNS: &str = "id, account_id, email, is_active, created_by, created_date,
    updated_by, updated_date, account_record_id, tenant_record_id";

row_struct! {
    /// One `account_emails` row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AccountEmailRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub account_id: Uuid,
        pub email: String,
        pub is_active: bool,
    }
}

/// The table, its history, and the statements they share with the other audited tables.
pub const TABLE: Table<AccountEmailRecord> =
    Table::new("account_emails", AuditedTable::AccountEmail, DATA_COLUMNS);

/// Adds an active address to the account (its record id is the audit context's), with its
/// history and audit rows, unless the account already has it active: then nothing is written
/// and `None` comes back.
pub async fn insert_email_unless_present(
    client: &impl GenericClient,
    id: Uuid,
    account_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<Option<AccountEmailRecord>, StorageError> {
    let account_record_id = audit.account_record_id.unwrap_or_default();
    // `on conflict do nothing` against the partial unique index: a concurrent addition of the
    // same address waits for the other transaction, then finds it and writes nothing.
    change_with_history(
        client,
        TABLE,
        &format!(
            "insert into account_emails ({DATA_COLUMNS})
             values ($1, $2, $3, true, $4, $5, $4, $5, $6, $7)
             on conflict (tenant_record_id, account_id, email) where is_active do nothing
             returning *"
        ),
        ChangeType::Insert,
        &[
            &id,
            &account_id,
            &email,
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

/// The account's active addresses in the order they were added.
pub async fn find_emails_for_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_id: Uuid,
) -> Result<Vec<AccountEmailRecord>, StorageError> {
    query_as(
        client,
        "select * from account_emails
             where account_id = $1 and tenant_record_id = $2 and is_active
             order by record_id",
        &[&account_id, &tenant_record_id],
    )
    .await
}
