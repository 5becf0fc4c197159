//! Kill Bill's export of an account's data (DefaultExportUserApi with its CSV output): every row
//! of every table that belongs to the account, table by table in name order, each table
//! introduced by `-- <table> <column>|<column>|…` and each row its values separated by `|`.
//!
//! Values are written as Kill Bill's CSV writer writes them: nothing for null, `true` and
//! `false`, numbers as stored, date-times as `2024-05-01T12:00:00.000+00:00`, and in text a line
//! feed as `\N{LINE FEED}` and a `|` as `\N{VERTICAL LINE}`. This file owns that format; the
//! rows come from `storage::export`, and nothing here knows about HTTP.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::ServiceError;
use crate::db::work::Db;
use crate::service::find_account;
use crate::service::tenants::Tenant;
use crate::storage::export::{self, ExportedColumn, ExportedTable};

#[derive(Clone)]
pub struct ExportService {
    db: Db,
}

impl ExportService {
    pub fn new(db: Db) -> ExportService {
        ExportService { db }
    }

    /// The CSV export of the tenant's account with this id; unknown → ObjectDoesNotExist.
    pub async fn export_account(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
    ) -> Result<String, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let account = find_account(connection, tenant.record_id, account_id).await?;
        let tables =
            export::export_account(connection, tenant.record_id, account.record_id).await?;
        drop(read);
        Ok(tables.iter().map(csv_table).collect())
    }
}

/// One table's header line and rows.
fn csv_table(table: &ExportedTable) -> String {
    let names: Vec<&str> = table
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    let mut text = format!("-- {} {}\n", table.name, names.join("|"));
    for row in &table.rows {
        let values: Vec<String> = table
            .columns
            .iter()
            .map(|column| csv_value(column, row.get(&column.name)))
            .collect();
        text.push_str(&values.join("|"));
        text.push('\n');
    }
    text
}

fn csv_value(column: &ExportedColumn, value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::String(text)) if column.data_type.starts_with("timestamp") => {
            DateTime::parse_from_rfc3339(text)
                .map(|date| {
                    date.with_timezone(&Utc)
                        .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
                        .to_string()
                })
                .unwrap_or_else(|_| sanitized(text))
        }
        Some(Value::String(text)) => sanitized(text),
        Some(other) => sanitized(&other.to_string()),
    }
}

/// Kill Bill escapes what would break a line or a column, Python 3's way.
fn sanitized(text: &str) -> String {
    text.replace('\n', "\\N{LINE FEED}")
        .replace('|', "\\N{VERTICAL LINE}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_are_written_as_kill_bills_csv() {
        let column = |name: &str, data_type: &str| ExportedColumn {
            name: name.to_string(),
            data_type: data_type.to_string(),
        };
        let table = ExportedTable {
            name: "account_emails".to_string(),
            columns: vec![
                column("record_id", "bigint"),
                column("email", "character varying"),
                column("is_active", "boolean"),
                column("created_date", "timestamp with time zone"),
                column("updated_by", "text"),
            ],
            rows: vec![json!({
                "record_id": 2,
                "email": "a|b\nc",
                "is_active": true,
                "created_date": "2024-05-01T12:00:00.1+00:00",
                "updated_by": null,
            })
            .as_object()
            .cloned()
            .unwrap_or_default()],
        };
        assert_eq!(
            csv_table(&table),
            "-- account_emails record_id|email|is_active|created_date|updated_by\n\
             2|a\\N{VERTICAL LINE}b\\N{LINE FEED}c|true|2024-05-01T12:00:00.100+00:00|\n"
        );
    }
}
