//! Kill Bill's notification queue: future-dated work (`effective_date`) stored in the
//! `notifications` table, recorded inside the caller's transaction and handled once due by one
//! dispatcher that serves every queue name (`"service:queue"`) on this node.
//!
//! This file owns recording a notification (its insert and the NOTIFY delivered on commit),
//! the `notifications` table's description for the queue engine, what a notification adds to
//! a queue entry ([`Schedule`]), and the handlers by queue name. Everything else (claiming due entries, lease renewal, workers, completion, reaping,
//! take-over) is the engine's, shared with the buses. It must never open, commit or roll back
//! the caller's transaction, and never decide what a handler does.
//!
//! Delivery is at least once, as on the bus: handlers must be idempotent.
//!
//! The queue holds the node's [`Clock`]: a due date is "now" on it plus a delay, so the
//! services that schedule here (the payment janitor, push-notification retries) count from
//! [`NotificationQueueService::clock`] rather than reading the wall clock themselves. Whether
//! an entry is due is still decided in SQL, on PostgreSQL's clock, shared by every node.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::metrics;
use super::nodes::NodeMonitor;
use super::queue::{Dispatch, Queue, Table};
use super::{ready, EventEntry, HandlerError, ReadyCount, SearchKeys, TableColumns};
use crate::clock::Clock;
use crate::config::QueueConfig;
use crate::db::pool::PoolError;
use crate::db::work::{Db, Work};
use crate::metrics::window::Latencies;

/// Kill Bill's id of the notification queue in metric names.
pub const QUEUE_METRICS_ID: &str = "notif-notifications";

/// How long [`NotificationQueueService::shutdown`] waits for running handlers by default.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The notification queue's table: entries are ready once due, handled (and reaped) in
/// effective-date order.
static NOTIFICATIONS: Table = Table {
    live: "notifications",
    history: "notifications_history",
    payload: "class_name, event_json, user_token, future_user_token, search_key1, \
              search_key2, queue_name, effective_date",
    due: Some("effective_date <= now()"),
    order: "effective_date, record_id",
    age: "effective_date",
};

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("notification queue database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Bus(#[from] super::BusError),
    #[error("cannot serialize a {class_name} notification: {source}")]
    Serialize {
        class_name: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("notification {record_id} is not a valid {class_name}: {source}")]
    Decode {
        record_id: i64,
        class_name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A typed notification payload. `CLASS_NAME` is the `class_name` column; keep Kill Bill's
/// Java class names for payloads Kill Bill also has.
pub trait NotificationEvent: Serialize {
    const CLASS_NAME: &'static str;
}

/// What a notification adds to a queue entry: which queue handles it, and from when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub queue_name: String,
    pub effective_date: DateTime<Utc>,
    pub future_user_token: Option<Uuid>,
}

/// One due notification as read back from the live table and handed to its queue's handler.
pub type NotificationEntry = EventEntry<Schedule>;

impl NotificationEntry {
    /// The payload, decoded from its JSON.
    pub fn decode<E: NotificationEvent + DeserializeOwned>(&self) -> Result<E, NotificationError> {
        serde_json::from_str(&self.event_json).map_err(|source| NotificationError::Decode {
            record_id: self.record_id,
            class_name: self.class_name.clone(),
            source,
        })
    }
}

type Handler = super::Handler<NotificationEntry>;

/// A notification is due at its effective date and named by its queue in logs.
impl TableColumns for Schedule {
    fn from_row(row: &Row) -> Schedule {
        Schedule {
            queue_name: row.get("queue_name"),
            effective_date: row.get("effective_date"),
            future_user_token: row.get("future_user_token"),
        }
    }

    fn due(&self) -> Option<DateTime<Utc>> {
        Some(self.effective_date)
    }

    fn label(&self) -> Option<&str> {
        Some(&self.queue_name)
    }
}

/// The notification queue of one node. Cheap to clone; every clone is the same queue.
#[derive(Clone)]
pub struct NotificationQueueService {
    inner: Arc<Inner>,
}

struct Inner {
    config: QueueConfig,
    /// The engine on `notifications`: fetching, workers, completion, reaper.
    queue: Queue<NotificationEntry>,
    handlers: RwLock<HashMap<String, Handler>>,
    clock: Clock,
}

impl NotificationQueueService {
    /// A queue for `node`, not yet dispatching: register handlers, then
    /// [`NotificationQueueService::start`]. Notifications may be recorded before it starts.
    pub fn new(db: Db, config: QueueConfig, node: &NodeMonitor, clock: Clock) -> Self {
        NotificationQueueService {
            inner: Arc::new(Inner {
                queue: Queue::new(db, &NOTIFICATIONS, config.clone(), node),
                config,
                handlers: RwLock::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// The clock due dates are counted from: a delay scheduled here starts at its "now".
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Registers the handler of `queue_name` (`"service:queue"`), replacing an earlier one,
    /// normally before [`NotificationQueueService::start`]. An entry of a queue with no
    /// handler on this node fails (and is retried), as in Kill Bill.
    pub fn register<F, Fut>(&self, queue_name: &str, handler: F)
    where
        F: Fn(Arc<NotificationEntry>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |entry| Box::pin(handler(entry)));
        self.inner
            .handlers
            .write()
            .insert(queue_name.to_string(), handler);
    }

    /// The queue names with a handler on this node (`"service:queue"`), sorted.
    pub fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.handlers.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Starts dispatching (a second call does nothing); `off=true` dispatches nothing.
    pub async fn start(&self) -> Result<(), NotificationError> {
        let config = &self.inner.config;
        let service = self.clone();
        let dispatch: Dispatch<NotificationEntry> = Arc::new(move |entry| {
            let service = service.clone();
            Box::pin(async move { service.call_handler(entry).await })
        });
        self.inner.queue.start(dispatch).await?;
        tracing::info!(
            queue = config.name,
            node = self.node(),
            mode = %config.mode,
            off = config.off,
            "notification queue started"
        );
        Ok(())
    }

    /// This node's name in `creating_owner` and `processing_owner`.
    pub fn node(&self) -> &str {
        self.inner.queue.node()
    }

    /// What this node's dispatcher is doing, for `/1.0/threads`.
    pub fn dispatch_state(&self) -> super::DispatchState {
        let config = &self.inner.config;
        let queue = &self.inner.queue;
        super::DispatchState {
            name: format!("notifications [{}]", self.queue_names().join(", ")),
            table: queue.table().live,
            mode: config.mode,
            activity: super::queue_activity(config.off, queue.is_running()),
            handlers_running: queue.handlers_running(),
            handler_slots: queue.handler_slots(),
        }
    }

    /// Records `event` for `queue_name`, due at `effective_date`, inside `work`'s transaction: it
    /// exists if and only if that transaction commits (the NOTIFY that wakes the dispatchers
    /// is delivered on commit too). Returns the record id.
    pub async fn record_future_notification<E: NotificationEvent>(
        &self,
        work: &Work,
        queue_name: &str,
        effective_date: DateTime<Utc>,
        event: &E,
        search_keys: SearchKeys,
        user_token: Option<Uuid>,
    ) -> Result<i64, NotificationError> {
        let event_json =
            serde_json::to_string(event).map_err(|source| NotificationError::Serialize {
                class_name: E::CLASS_NAME,
                source,
            })?;
        // Kill Bill gives every recorded notification a fresh future user token.
        let future_user_token = Uuid::new_v4();
        insert_notification(
            work.client(),
            &NewNotification {
                queue_name,
                effective_date,
                class_name: E::CLASS_NAME,
                event_json: &event_json,
                user_token,
                future_user_token,
                creating_owner: self.node(),
                search_keys,
            },
        )
        .await
        .inspect(|_| metrics::inserted(QUEUE_METRICS_ID, 1))
    }

    /// How to count the ready entries (Kill Bill's `getNbReadyEntries`): AVAILABLE entries
    /// already due, across every queue name (Kill Bill counts table-wide); only this node's in
    /// STICKY_POLLING.
    pub fn ready_count(&self) -> ReadyCount {
        self.inner.queue.ready_count()
    }

    /// The ready entries now, counted on a main-pool connection.
    pub async fn ready_entries(&self) -> Result<i64, NotificationError> {
        let work = self.inner.queue.db().read().await?;
        let counts = ready::count(work.client(), &[self.ready_count()]).await?;
        Ok(counts.first().copied().unwrap_or_default())
    }

    /// Dispatch latencies (effective date to handler starting) since the last call; the
    /// dashboard's sampler is the only caller.
    pub fn take_dispatch_latencies(&self) -> Latencies {
        self.inner.queue.take_dispatch_latencies()
    }

    /// Stops fetching, waits up to `timeout` for running handlers and records their outcome.
    /// Entries claimed but not finished stay leased until `claim.time` runs out.
    pub async fn shutdown(&self, timeout: Duration) {
        self.inner.queue.shutdown(timeout).await;
        tracing::info!(queue = self.inner.config.name, "notification queue stopped");
    }

    /// Takes over at once what `node`, found dead, had claimed (and in STICKY_POLLING, the
    /// entries only it would have dispatched): each goes to history as REAPED and comes back
    /// AVAILABLE, created by this node. Returns how many entries.
    pub async fn take_over(&self, node: &str) -> Result<usize, NotificationError> {
        Ok(self.inner.queue.take_over(node).await?)
    }

    fn handler_of(&self, queue_name: &str) -> Option<Handler> {
        self.inner.handlers.read().get(queue_name).cloned()
    }

    /// Calls the entry's queue handler (the engine runs it in a task of its own, so a panic
    /// counts as a failure).
    async fn call_handler(&self, entry: Arc<NotificationEntry>) -> Result<(), String> {
        let Some(handler) = self.handler_of(&entry.extra.queue_name) else {
            return Err(format!(
                "no handler registered for notification queue {}",
                entry.extra.queue_name
            ));
        };
        handler(entry).await.map_err(|e| e.to_string())
    }
}

struct NewNotification<'a> {
    queue_name: &'a str,
    effective_date: DateTime<Utc>,
    class_name: &'a str,
    event_json: &'a str,
    user_token: Option<Uuid>,
    future_user_token: Uuid,
    creating_owner: &'a str,
    search_keys: SearchKeys,
}

/// Inserts one notification and queues a NOTIFY, delivered only if the transaction commits.
async fn insert_notification(
    client: &impl deadpool_postgres::GenericClient,
    new: &NewNotification<'_>,
) -> Result<i64, NotificationError> {
    // A plain insert, no lock: the row is invisible to every dispatcher until the caller's
    // transaction commits, and gone if it rolls back.
    let row = crate::db::sql::query_one(
        client,
        "with inserted as (
             insert into notifications
                 (class_name, event_json, user_token, future_user_token, created_date,
                  creating_owner, processing_state, error_count, search_key1, search_key2,
                  queue_name, effective_date)
             values ($1, $2, $3, $4, now(), $5, 'AVAILABLE', 0, $6, $7, $8, $9)
             returning record_id
         )
         select inserted.record_id from inserted, (select pg_notify($10, '')) as notified",
        &[
            &new.class_name,
            &new.event_json,
            &new.user_token,
            &new.future_user_token,
            &new.creating_owner,
            &new.search_keys.account_record_id,
            &new.search_keys.tenant_record_id,
            &new.queue_name,
            &new.effective_date,
            &NOTIFICATIONS.channel(),
        ],
    )
    .await?;
    Ok(row.get(0))
}
