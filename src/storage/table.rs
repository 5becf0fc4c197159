//! A table of Kill Bill entities kept with a history table: its name, the entity as the audit
//! log knows it (its history table), the columns they share, and the row type it reads, with
//! the statements every such table runs the same way: a tenant's row by id or external key, its
//! rows by ids, a copy of a row into history, a soft delete with or without its history and
//! audit rows.
//!
//! Each table's file declares its [`Table`] as a constant, so the names spliced into this SQL
//! are never input. This file must never hold a statement only one table runs, nor a rule.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::audit::{change_with_history, AuditedTable, ChangeType};
use super::{
    execute_cached, find_by, query_as, query_value, AuditContext, FromRow, Lock, StorageError,
};

/// An entity table whose rows read as `T`, and its history table.
pub struct Table<T> {
    pub name: &'static str,
    /// The entity as the audit log knows it: its history table and Kill Bill's TableName of
    /// the history rows, which audit rows point at.
    pub audited: AuditedTable,
    /// Every column the table and its history share, in one order for inserts and copies.
    pub columns: &'static str,
    row: PhantomData<fn() -> T>,
}

// Not derived: a derive would ask the row type to be `Clone` and `Copy` too.
impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Table<T> {}

impl<T: FromRow> Table<T> {
    pub const fn new(name: &'static str, audited: AuditedTable, columns: &'static str) -> Table<T> {
        Table {
            name,
            audited,
            columns,
            row: PhantomData,
        }
    }

    /// The tenant's row with this id, deleted or not; no lock (a snapshot read).
    pub async fn find_by_id(
        self,
        client: &impl GenericClient,
        tenant_record_id: i64,
        id: Uuid,
    ) -> Result<Option<T>, StorageError> {
        find_by(client, self.name, "id", &id, tenant_record_id, Lock::None).await
    }

    /// The tenant's row with this external key, deleted or not; no lock (a snapshot read).
    pub async fn find_by_external_key(
        self,
        client: &impl GenericClient,
        tenant_record_id: i64,
        external_key: &str,
    ) -> Result<Option<T>, StorageError> {
        find_by(
            client,
            self.name,
            "external_key",
            &external_key,
            tenant_record_id,
            Lock::None,
        )
        .await
    }

    /// The tenant's rows with these ids, deleted or not, in no particular order.
    pub async fn find_by_ids(
        self,
        client: &impl GenericClient,
        tenant_record_id: i64,
        ids: &[Uuid],
    ) -> Result<Vec<T>, StorageError> {
        let sql = format!(
            "select * from {} where id = any($1) and tenant_record_id = $2",
            self.name
        );
        query_as(client, &sql, &[&ids, &tenant_record_id]).await
    }

    /// Copies the current state of the row `record_id` into the history table as one change;
    /// returns the history row's record id (what the audit log points at).
    pub async fn copy_to_history(
        self,
        client: &impl GenericClient,
        record_id: i64,
        change_type: ChangeType,
    ) -> Result<i64, StorageError> {
        // Copied inside the caller's transaction, right after its write: the history row is
        // exactly the state that write left.
        let sql = format!(
            "insert into {history} (target_record_id, change_type, {columns})
             select record_id, $2, {columns} from {table} where record_id = $1
             returning record_id",
            history = self.audited.history_table(),
            columns = self.columns,
            table = self.name,
        );
        query_value(client, &sql, &[&record_id, &change_type.as_str()]).await
    }

    /// Marks the row `record_id` active or not (Kill Bill's soft delete); the row stays, and
    /// its history is the caller's.
    pub async fn set_active(
        self,
        client: &impl GenericClient,
        record_id: i64,
        active: bool,
        updated_by: &str,
        updated_date: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let sql = format!(
            "update {} set is_active = {active}, updated_by = $2, updated_date = $3
             where record_id = $1",
            self.name
        );
        execute_cached(client, &sql, &[&record_id, &updated_by, &updated_date]).await?;
        Ok(())
    }

    /// Marks the active row `record_id` removed (`is_active` false), with its history copy and
    /// audit row; `None` when it was removed already (a concurrent removal).
    pub async fn deactivate_with_history(
        self,
        client: &impl GenericClient,
        record_id: i64,
        now: DateTime<Utc>,
        audit: &AuditContext<'_>,
    ) -> Result<Option<T>, StorageError> {
        let change = format!(
            "update {} set is_active = false, updated_by = $2, updated_date = $3
             where record_id = $1 and is_active
             returning *",
            self.name
        );
        change_with_history(
            client,
            self,
            &change,
            ChangeType::Delete,
            &[&record_id, &audit.created_by, &now],
            now,
            audit,
        )
        .await
    }
}
