//! Reading every row of one account for Kill Bill's export (DatabaseExportDao): the tables of the
//! schema that carry an account, found in the catalog, and their rows for that account.
//!
//! A table belongs to the export as in Kill Bill: `accounts` by its `record_id`,
//! `account_history` by its `target_record_id`, any table with `account_record_id` and
//! `tenant_record_id` by those, and the queue tables by `search_key1` and `search_key2`; every
//! other table is left out. This file owns that SQL; it never formats the export, opens a
//! transaction or knows about HTTP.

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};

use super::StorageError;

/// One column of an exported table: its name and PostgreSQL's `data_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedColumn {
    pub name: String,
    pub data_type: String,
}

/// The rows of one table that belong to the account, each as its columns' JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedTable {
    pub name: String,
    pub columns: Vec<ExportedColumn>,
    pub rows: Vec<Map<String, Value>>,
}

/// The columns naming a row's account and tenant in `columns`, by Kill Bill's rules; `None` for
/// a table the export leaves out.
fn owner_columns(table: &str, columns: &[ExportedColumn]) -> Option<(&'static str, &'static str)> {
    let has = |name: &str| columns.iter().any(|column| column.name == name);
    let pair = match table {
        "accounts" => ("record_id", "tenant_record_id"),
        "account_history" => ("target_record_id", "tenant_record_id"),
        _ if has("account_record_id") => ("account_record_id", "tenant_record_id"),
        _ if has("search_key1") => ("search_key1", "search_key2"),
        _ => return None,
    };
    (has(pair.0) && has(pair.1)).then_some(pair)
}

/// An identifier as PostgreSQL quotes it, for names read from the catalog.
fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Every table of the current schema that carries an account, by name, with the account's
/// rows (oldest first); tables without rows for it are left out.
pub async fn export_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_record_id: i64,
) -> Result<Vec<ExportedTable>, StorageError> {
    let catalog = crate::storage::query_cached(
        client,
        "select table_name::text, column_name::text, data_type::text
             from information_schema.columns
             where table_schema = current_schema()
             order by table_name collate \"C\", ordinal_position",
        &[],
    )
    .await?;
    let mut tables: Vec<(String, Vec<ExportedColumn>)> = Vec::new();
    for row in &catalog {
        let table: String = row.try_get(0)?;
        let column = ExportedColumn {
            name: row.try_get(1)?,
            data_type: row.try_get(2)?,
        };
        match tables.last_mut() {
            Some((name, columns)) if *name == table => columns.push(column),
            _ => tables.push((table, vec![column])),
        }
    }
    let mut exported = Vec::new();
    for (name, columns) in tables {
        let Some((account_column, tenant_column)) = owner_columns(&name, &columns) else {
            continue;
        };
        let first = columns
            .first()
            .map(|column| quoted(&column.name))
            .unwrap_or_default();
        let sql = format!(
            "select to_jsonb(t) from {table} t
             where t.{account} = $1 and t.{tenant} = $2
             order by t.{first}",
            table = quoted(&name),
            account = quoted(account_column),
            tenant = quoted(tenant_column),
        );
        let rows =
            crate::storage::query_cached(client, &sql, &[&account_record_id, &tenant_record_id])
                .await?;
        if rows.is_empty() {
            continue;
        }
        let rows = rows
            .iter()
            .map(|row| match row.try_get::<_, Value>(0)? {
                Value::Object(columns) => Ok(columns),
                _ => Ok(Map::new()),
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        exported.push(ExportedTable {
            name,
            columns,
            rows,
        });
    }
    Ok(exported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<ExportedColumn> {
        names
            .iter()
            .map(|name| ExportedColumn {
                name: name.to_string(),
                data_type: "bigint".to_string(),
            })
            .collect()
    }

    #[test]
    fn tables_are_chosen_by_kill_bills_rules() {
        let per_account = columns(&["record_id", "account_record_id", "tenant_record_id"]);
        assert_eq!(
            owner_columns("custom_fields", &per_account),
            Some(("account_record_id", "tenant_record_id"))
        );
        let account = columns(&["record_id", "tenant_record_id"]);
        assert_eq!(
            owner_columns("accounts", &account),
            Some(("record_id", "tenant_record_id"))
        );
        let queue = columns(&["record_id", "search_key1", "search_key2"]);
        assert_eq!(
            owner_columns("bus_events", &queue),
            Some(("search_key1", "search_key2"))
        );
        assert_eq!(owner_columns("tenant_kvs", &account), None);
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
