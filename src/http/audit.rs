//! Kill Bill's audit wire shapes, shared by every resource that serves `auditLogs`: the `audit`
//! query parameter (AuditMode), AuditLogJson, the `history` object of the `auditLogsWithHistory`
//! endpoints, and the date format Kill Bill's ObjectMapper writes.
//!
//! This file only shapes JSON; which entries a level shows and where they come from is
//! `service`'s business.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{ApiError, Result};
use crate::service::{AuditLevel, AuditLog, AuditLogWithHistory};

/// Joda's DateTime as Kill Bill's ObjectMapper writes it: UTC with milliseconds.
pub fn kill_bill_date_time<S: Serializer>(
    value: &DateTime<Utc>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(&format_date_time(value))
}

fn format_date_time(value: &DateTime<Utc>) -> String {
    value.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Kill Bill's AuditMode upper-cases the `audit` value before `AuditLevel.valueOf`; anything
/// else fails the JAX-RS conversion, which answers 404.
pub fn parse_audit_level(raw: Option<&str>) -> Result<AuditLevel> {
    match raw.map(str::to_ascii_uppercase).as_deref() {
        None | Some("NONE") => Ok(AuditLevel::None),
        Some("MINIMAL") => Ok(AuditLevel::Minimal),
        Some("FULL") => Ok(AuditLevel::Full),
        Some(_) => Err(ApiError::NotFound(format!(
            "Invalid audit level {}",
            raw.unwrap_or_default()
        ))),
    }
}

pub fn audit_level_name(level: AuditLevel) -> &'static str {
    match level {
        AuditLevel::None => "NONE",
        AuditLevel::Minimal => "MINIMAL",
        AuditLevel::Full => "FULL",
    }
}

/// Kill Bill's AuditLogJson. `history` is only filled by the `auditLogsWithHistory`
/// endpoints; elsewhere it is `null`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogJson {
    change_type: String,
    #[serde(serialize_with = "kill_bill_date_time")]
    change_date: DateTime<Utc>,
    object_type: &'static str,
    object_id: Uuid,
    changed_by: String,
    reason_code: Option<String>,
    comments: Option<String>,
    user_token: Option<Uuid>,
    history: Option<Value>,
}

/// The AuditLogJson of one entry of the trail of the `object_type` (Kill Bill's ObjectType)
/// with id `object_id`.
pub fn audit_log_json(object_type: &'static str, object_id: Uuid, log: AuditLog) -> AuditLogJson {
    AuditLogJson {
        change_type: log.change_type,
        change_date: log.created_date,
        object_type,
        object_id,
        changed_by: log.created_by,
        reason_code: log.reason_code,
        comments: log.comments,
        user_token: log.user_token,
        history: None,
    }
}

pub fn audit_logs_json(
    object_type: &'static str,
    object_id: Uuid,
    logs: Vec<AuditLog>,
) -> Vec<AuditLogJson> {
    logs.into_iter()
        .map(|log| audit_log_json(object_type, object_id, log))
        .collect()
}

/// The AuditLogJson of a trail with history: each entry's `history` is the object's state
/// after that change, its fields named in camelCase as Kill Bill's model objects serialize.
pub fn audit_logs_with_history_json(
    object_type: &'static str,
    object_id: Uuid,
    logs: Vec<AuditLogWithHistory>,
) -> Vec<AuditLogJson> {
    logs.into_iter()
        .map(|(log, history)| {
            let mut json = audit_log_json(object_type, object_id, log);
            json.history = Some(history_json(object_type, history));
            json
        })
        .collect()
}

/// Kill Bill's TableName and history TableName of an object type, as its history model
/// objects carry them (`tableName`, `historyTableName`).
fn table_names(object_type: &str) -> Option<(&'static str, &'static str)> {
    match object_type {
        "ACCOUNT" => Some(("ACCOUNT", "ACCOUNT_HISTORY")),
        "ACCOUNT_EMAIL" => Some(("ACCOUNT_EMAIL", "ACCOUNT_EMAIL_HISTORY")),
        "CUSTOM_FIELD" => Some(("CUSTOM_FIELD", "CUSTOM_FIELD_HISTORY")),
        "TAG" => Some(("TAG", "TAG_HISTORY")),
        "PAYMENT_METHOD" => Some(("PAYMENT_METHODS", "PAYMENT_METHOD_HISTORY")),
        "TAG_DEFINITION" => Some(("TAG_DEFINITIONS", "TAG_DEFINITION_HISTORY")),
        "PAYMENT" => Some(("PAYMENTS", "PAYMENT_HISTORY")),
        "TRANSACTION" => Some(("PAYMENT_TRANSACTIONS", "PAYMENT_TRANSACTION_HISTORY")),
        _ => None,
    }
}

/// A history row's columns (snake_case, as stored) as Kill Bill's history model object: the
/// entity's fields in camelCase, dates in Kill Bill's format, `recordId` the entity's record
/// id, `id` null (Kill Bill leaves it unset on history objects), `accountRecordId` (the record
/// id itself for objects without an account column), the table names, and `active` beside
/// `isActive` (both getters are serialized). The history row's own record id and change type
/// and the creator and updater (not part of the model) are left out.
fn history_json(object_type: &str, history: Value) -> Value {
    let Value::Object(columns) = history else {
        return history;
    };
    let mut entity = Map::with_capacity(columns.len() + 4);
    for (column, value) in columns {
        if matches!(
            column.as_str(),
            "record_id" | "change_type" | "created_by" | "updated_by"
        ) {
            continue;
        }
        // Kill Bill's history objects carry the entity's record id.
        if column == "target_record_id" {
            entity.insert("recordId".to_string(), value);
            continue;
        }
        if column == "id" {
            entity.insert("id".to_string(), Value::Null);
            continue;
        }
        if column == "is_active" && object_type == "PAYMENT_METHOD" {
            entity.insert("active".to_string(), value.clone());
        }
        let value = match &value {
            // PostgreSQL's jsonb writes timestamptz as `2024-05-01T12:00:00.123+00:00`.
            Value::String(text) if column.ends_with("_date") || column.ends_with("_time") => {
                DateTime::parse_from_rfc3339(text)
                    .map(|date| Value::String(format_date_time(&date.with_timezone(&Utc))))
                    .unwrap_or(value)
            }
            _ => value,
        };
        entity.insert(camel_case(&column), value);
    }
    if !entity.contains_key("accountRecordId") {
        if let Some(record_id) = entity.get("recordId").cloned() {
            entity.insert("accountRecordId".to_string(), record_id);
        }
    }
    // Kill Bill's PaymentModelDao carries a payment number its history rows never fill.
    if object_type == "PAYMENT" {
        entity.insert("paymentNumber".to_string(), Value::Null);
    }
    if let Some((table, history_table)) = table_names(object_type) {
        entity.insert("tableName".to_string(), Value::String(table.to_string()));
        entity.insert(
            "historyTableName".to_string(),
            Value::String(history_table.to_string()),
        );
    }
    Value::Object(entity)
}

fn camel_case(snake: &str) -> String {
    let mut camel = String::with_capacity(snake.len());
    let mut upper = false;
    for character in snake.chars() {
        if character == '_' {
            upper = true;
        } else if upper {
            camel.extend(character.to_uppercase());
            upper = false;
        } else {
            camel.push(character);
        }
    }
    camel
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn history_rows_become_kill_bill_entities() {
        let row = json!({
            "record_id": 9,
            "target_record_id": 7,
            "change_type": "INSERT",
            "account_id": "a",
            "is_active": true,
            "created_date": "2024-05-01T12:00:00.1+00:00",
        });
        assert_eq!(
            history_json("PAYMENT_METHOD", row),
            json!({
                "recordId": 7,
                "accountRecordId": 7,
                "accountId": "a",
                "isActive": true,
                "active": true,
                "createdDate": "2024-05-01T12:00:00.100Z",
                "tableName": "PAYMENT_METHODS",
                "historyTableName": "PAYMENT_METHOD_HISTORY",
            })
        );
    }

    #[test]
    fn audit_levels_parse_as_kill_bill_does() {
        assert!(matches!(
            parse_audit_level(Some("minimal")),
            Ok(AuditLevel::Minimal)
        ));
        assert!(matches!(parse_audit_level(None), Ok(AuditLevel::None)));
        assert!(parse_audit_level(Some("all")).is_err());
    }
}
