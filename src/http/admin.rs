//! `/1.0/kb/admin`: Kill Bill's AdminResource: putting the node in and out of rotation,
//! listing a tenant's queue entries, and clearing the in-memory caches. Each needs Basic auth,
//! the tenant headers and the admin permissions (`permissions.rs`).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::error::{ApiError, Result};
use super::extract::{parse_id, CurrentTenant, KbPath, QueryPairs};
use super::lenient::parse_date_time;
use super::AppState;
use crate::bus::inspect::QueueEntry;
use crate::service::accounts::BalanceRequest;
use crate::service::admin::{EntryStream, QueueQuery};

/// `DELETE /1.0/kb/admin/cache?cacheName=` → 204: the named cache (Kill Bill's names), or
/// every cache, cleared on every node.
pub(super) async fn clear_caches(
    State(state): State<AppState>,
    params: QueryPairs,
) -> Result<StatusCode> {
    state.caches.clear(params.value("cacheName")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /1.0/kb/admin/cache/accounts/{accountId}` → 204. ferrobill caches nothing per
/// account, so this only checks that the account is the tenant's.
pub(super) async fn clear_account_caches(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
) -> Result<StatusCode> {
    let id = parse_id(&raw_id)?;
    state
        .accounts
        .find_by_id(&tenant, id, BalanceRequest::default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /1.0/kb/admin/cache/tenants` → 204: what is cached of the tenant, on every node.
pub(super) async fn clear_tenant_caches(
    State(state): State<AppState>,
    CurrentTenant(_): CurrentTenant,
) -> Result<StatusCode> {
    state.caches.clear(None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn put_in_rotation(State(state): State<AppState>) -> StatusCode {
    state.health.put_in_rotation();
    StatusCode::NO_CONTENT
}

pub(super) async fn put_out_of_rotation(State(state): State<AppState>) -> StatusCode {
    state.health.put_out_of_rotation();
    StatusCode::NO_CONTENT
}

/// `GET /1.0/kb/admin/queues`: `{"busEvents":[…],"notifications":[…]}`, history first, streamed
/// as `application/octet-stream` like Kill Bill's StreamingOutput. Booleans default to true;
/// anything but `true` is false, as JAX-RS reads them.
pub(super) async fn get_queue_entries(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response> {
    let flag = |name: &str| params.get(name).is_none_or(|value| value == "true");
    let (default_min, default_max) = QueueQuery::default_window(Utc::now());
    // Joda's parser refuses a date: IllegalArgumentException with its message.
    let date = |name: &str, default| match params.get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(raw) => parse_date_time(raw)
            .ok_or_else(|| ApiError::InvalidParameter(format!("Invalid format: \"{raw}\""))),
    };
    // A UUID query parameter JAX-RS cannot convert: 404.
    let account_id = match params.get("accountId").filter(|v| !v.is_empty()) {
        None => None,
        Some(raw) => Some(
            uuid::Uuid::parse_str(raw)
                .map_err(|_| ApiError::NotFound(format!("Invalid accountId {raw}")))?,
        ),
    };
    let query = QueueQuery {
        account_id,
        queue_name: params.get("queueName").cloned(),
        service_name: params.get("serviceName").cloned(),
        with_history: flag("withHistory"),
        min_date: date("minDate", default_min)?,
        max_date: date("maxDate", default_max)?,
        with_in_processing: flag("withInProcessing"),
        with_bus_events: flag("withBusEvents"),
        with_notifications: flag("withNotifications"),
    };
    let (bus, notifications) = state.admin.queue_entries(&tenant, query);
    let body = Body::from_stream(json_sections(bus, notifications));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response())
}

/// The response body as a stream of JSON fragments: `{`, then per section its opening, its
/// entries separated by commas and its closing, then `}`.
fn json_sections(
    bus: Option<EntryStream>,
    notifications: Option<EntryStream>,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, std::io::Error>> {
    let mut pending = Vec::new();
    if let Some(stream) = notifications {
        pending.push(("notifications", stream));
    }
    if let Some(stream) = bus {
        pending.push(("busEvents", stream));
    }
    let cursor = SectionCursor {
        pending,
        current: None,
        opened: false,
        sections_written: 0,
        entries_written: 0,
        done: false,
    };
    futures_util::stream::unfold(cursor, |mut cursor| async move {
        let chunk = cursor.next_chunk().await?;
        Some((chunk, cursor))
    })
}

struct SectionCursor {
    /// Sections still to write, the next one last.
    pending: Vec<(&'static str, EntryStream)>,
    current: Option<EntryStream>,
    opened: bool,
    sections_written: usize,
    entries_written: usize,
    done: bool,
}

impl SectionCursor {
    async fn next_chunk(&mut self) -> Option<std::result::Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        if !self.opened {
            self.opened = true;
            return Some(Ok(Bytes::from_static(b"{")));
        }
        let Some(current) = self.current.as_mut() else {
            let Some((name, stream)) = self.pending.pop() else {
                self.done = true;
                return Some(Ok(Bytes::from_static(b"}")));
            };
            let separator = if self.sections_written == 0 { "" } else { "," };
            self.sections_written += 1;
            self.entries_written = 0;
            self.current = Some(stream);
            return Some(Ok(Bytes::from(format!("{separator}\"{name}\":["))));
        };
        match current.recv().await {
            Some(Ok(entry)) => {
                let separator = if self.entries_written == 0 { "" } else { "," };
                self.entries_written += 1;
                Some(Ok(Bytes::from(format!(
                    "{separator}{}",
                    entry_json(&entry)
                ))))
            }
            Some(Err(error)) => {
                // The status line is gone already: end the body abruptly so the client sees
                // a truncated response rather than valid-looking JSON.
                tracing::warn!(%error, "listing queue entries failed mid-stream");
                self.done = true;
                Some(Err(std::io::Error::other(error.to_string())))
            }
            None => {
                self.current = None;
                Some(Ok(Bytes::from_static(b"]")))
            }
        }
    }
}

/// Kill Bill's BusEventWithRichMetadata / NotificationEventWithMetadata fields.
fn entry_json(entry: &QueueEntry) -> Value {
    let event: Value = serde_json::from_str(&entry.event_json)
        .unwrap_or_else(|_| Value::String(entry.event_json.clone()));
    let date = |d: &DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut object = json!({
        "recordId": entry.record_id,
        "userToken": entry.user_token,
        "createdDate": date(&entry.created_date),
        "searchKey1": entry.search_key1,
        "searchKey2": entry.search_key2,
        "event": event,
    });
    if let Some(map) = object.as_object_mut() {
        match &entry.notification {
            None => {
                map.insert("className".into(), Value::String(entry.class_name.clone()));
            }
            Some(fields) => {
                map.insert("futureUserToken".into(), json!(fields.future_user_token));
                map.insert(
                    "effectiveDate".into(),
                    Value::String(date(&fields.effective_date)),
                );
                map.insert("queueName".into(), Value::String(fields.queue_name.clone()));
            }
        }
    }
    object
}
