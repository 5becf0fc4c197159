//! Reading queue entries for operators (`GET /1.0/kb/admin/queues`): the main bus's events
//! and the notification queue's entries of one tenant, history first, then live entries, as
//! Kill Bill's AdminResource lists them.
//!
//! Entries are read in pages of [`PAGE_SIZE`], in record id order, and streamed through a
//! bounded channel, so a large history never sits in memory. The connection is given back
//! after each page: a slow HTTP client waits on the channel, never while holding it. Nothing
//! here changes a queue.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::BusError;
use crate::db::work::Db;

/// Which entries to list.
#[derive(Debug, Clone)]
pub struct QueueFilter {
    pub tenant_record_id: i64,
    /// With an account, dates are ignored (Kill Bill's *ForSearchKeys variants).
    pub account_record_id: Option<i64>,
    /// History entries created (bus) or due (notifications) at or after this.
    pub min_date: DateTime<Utc>,
    /// Live entries created (bus) or due (notifications) at or before this.
    pub max_date: DateTime<Utc>,
    pub with_history: bool,
    /// Include entries a node is processing now, not only AVAILABLE ones.
    pub with_in_processing: bool,
    /// Notifications only: `svc:queue` must end with `:queueName` / start with `serviceName:`.
    pub queue_name: Option<String>,
    pub service_name: Option<String>,
}

/// One entry, with Kill Bill's BusEventWithMetadata / NotificationEventWithMetadata fields.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub record_id: i64,
    pub user_token: Option<uuid::Uuid>,
    pub created_date: DateTime<Utc>,
    pub search_key1: Option<i64>,
    pub search_key2: i64,
    pub class_name: String,
    pub event_json: String,
    /// Notifications only.
    pub notification: Option<NotificationFields>,
}

#[derive(Debug, Clone)]
pub struct NotificationFields {
    pub future_user_token: Option<uuid::Uuid>,
    pub effective_date: DateTime<Utc>,
    pub queue_name: String,
}

/// How many entries may wait between the database and a slow HTTP client.
const STREAM_BUFFER: usize = 64;
/// Entries read per unit of work.
const PAGE_SIZE: i64 = 500;

/// Streams the main bus's entries (`bus_events` and its history) matching `filter`.
pub fn bus_entries(db: Db, filter: QueueFilter) -> mpsc::Receiver<Result<QueueEntry, BusError>> {
    stream(db, filter, Kind::Bus)
}

/// Streams the notification queue's entries matching `filter`.
pub fn notification_entries(
    db: Db,
    filter: QueueFilter,
) -> mpsc::Receiver<Result<QueueEntry, BusError>> {
    stream(db, filter, Kind::Notifications)
}

#[derive(Clone, Copy)]
enum Kind {
    Bus,
    Notifications,
}

fn stream(db: Db, filter: QueueFilter, kind: Kind) -> mpsc::Receiver<Result<QueueEntry, BusError>> {
    let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        if let Err(error) = send_entries(&db, &filter, kind, &sender).await {
            let _ = sender.send(Err(error)).await;
        }
    });
    receiver
}

async fn send_entries(
    db: &Db,
    filter: &QueueFilter,
    kind: Kind,
    sender: &mpsc::Sender<Result<QueueEntry, BusError>>,
) -> Result<(), BusError> {
    let mut tables = Vec::with_capacity(2);
    if filter.with_history {
        tables.push(entries_query(kind, true, filter));
    }
    tables.push(entries_query(kind, false, filter));
    for (sql, params) in tables {
        let mut after = 0_i64;
        loop {
            let page = {
                let work = db.read().await?;
                let mut page_params: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                page_params.push(&after);
                page_params.push(&PAGE_SIZE);
                // A plain read: no lock, entries may move to history while they are listed.
                work.client().query(&sql, &page_params).await?
            };
            let Some(last) = page.last() else { break };
            after = last.try_get("record_id")?;
            let full = page.len() as i64 == PAGE_SIZE;
            for row in &page {
                if sender.send(Ok(entry_from_row(row, kind)?)).await.is_err() {
                    // The client went away: stop reading.
                    return Ok(());
                }
            }
            if !full {
                break;
            }
        }
    }
    Ok(())
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn entries_query(kind: Kind, history: bool, filter: &QueueFilter) -> (String, Params) {
    let (table, date_column, extra_columns) = match (kind, history) {
        (Kind::Bus, false) => ("bus_events", "created_date", "class_name"),
        (Kind::Bus, true) => ("bus_events_history", "created_date", "class_name"),
        (Kind::Notifications, false) => (
            "notifications",
            "effective_date",
            "class_name, future_user_token, effective_date, queue_name",
        ),
        (Kind::Notifications, true) => (
            "notifications_history",
            "effective_date",
            "class_name, future_user_token, effective_date, queue_name",
        ),
    };
    let mut params: Params = vec![Box::new(filter.tenant_record_id)];
    let mut conditions = vec!["search_key2 = $1".to_string()];
    match filter.account_record_id {
        Some(account) => {
            params.push(Box::new(account));
            conditions.push(format!("search_key1 = ${}", params.len()));
        }
        None => {
            let (bound, operator) = if history {
                (filter.min_date, ">=")
            } else {
                (filter.max_date, "<=")
            };
            params.push(Box::new(bound));
            conditions.push(format!("{date_column} {operator} ${}", params.len()));
        }
    }
    if !history {
        conditions.push(if filter.with_in_processing {
            "processing_state in ('AVAILABLE', 'IN_PROCESSING')".to_string()
        } else {
            "processing_state = 'AVAILABLE'".to_string()
        });
    }
    if let Kind::Notifications = kind {
        if let Some(queue) = &filter.queue_name {
            params.push(Box::new(format!("%:{queue}")));
            conditions.push(format!("queue_name like ${}", params.len()));
        }
        if let Some(service) = &filter.service_name {
            params.push(Box::new(format!("{service}:%")));
            conditions.push(format!("queue_name like ${}", params.len()));
        }
    }
    // The last two parameters page through the table by record id.
    conditions.push(format!("record_id > ${}", params.len() + 1));
    let sql = format!(
        "select record_id, user_token, created_date, search_key1, search_key2, event_json, {extra_columns}
         from {table} where {} order by record_id limit ${}",
        conditions.join(" and "),
        params.len() + 2
    );
    (sql, params)
}

fn entry_from_row(row: &Row, kind: Kind) -> Result<QueueEntry, BusError> {
    let notification = match kind {
        Kind::Bus => None,
        Kind::Notifications => Some(NotificationFields {
            future_user_token: row.try_get("future_user_token")?,
            effective_date: row.try_get("effective_date")?,
            queue_name: row.try_get("queue_name")?,
        }),
    };
    Ok(QueueEntry {
        record_id: row.try_get("record_id")?,
        user_token: row.try_get("user_token")?,
        created_date: row.try_get("created_date")?,
        search_key1: row.try_get("search_key1")?,
        search_key2: row.try_get("search_key2")?,
        class_name: row.try_get("class_name")?,
        event_json: row.try_get("event_json")?,
        notification,
    })
}
