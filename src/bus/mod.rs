//! Kill Bill's persistent bus: events written in the same transaction as the change that
//! causes them, then dispatched to subscribers by every node sharing the database.
//!
//! | file            | owns                                                                        |
//! |-----------------|-----------------------------------------------------------------------------|
//! | [`events`]      | the typed-event trait and the envelope handlers receive                     |
//! | [`post`]        | inserting events inside the caller's transaction ([`PostedEvents`])         |
//! | `queue`         | the engine every queue table runs on: fetch, claim SQL, workers, leases,    |
//! |                 | completion, history, reaper and take-over, written once                     |
//! | [`nodes`]       | this node's heartbeat (its only writer) and which other nodes are dead       |
//! | [`internal_events`] | the account/payment internal events and Kill Bill's external event      |
//! | [`notifications`] | the notification queue: future-dated entries per queue name (engine's) |
//! | [`ready`]       | counting ready entries, of one queue or several in one statement            |
//!
//! A [`Bus`] is one instance (`main` → `bus_events`, `external` → `bus_ext_events`) configured
//! by [`QueueConfig`]: the queue engine on its table, plus subscribers by event class, posting
//! and the in-memory mode. This file also reads a queue row into an [`EventEntry`], the
//! columns every queue table has once and a table's own through [`TableColumns`]. It never decides business rules and never opens a transaction
//! around the caller's writes: posting joins the caller's transaction.
//!
//! Delivery is at least once. A handler may see an event again (a retry after an error, a
//! lease that expired while it ran, a reaped entry), so **handlers must be idempotent**.

pub mod events;
pub mod inspect;
pub mod internal_events;
pub mod metrics;
pub mod nodes;
pub mod notifications;
pub mod post;
pub mod ready;

mod queue;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use tokio::sync::{oneshot, watch, Notify};
use tokio_postgres::Row;

use crate::config::{QueueConfig, QueueMode};
use crate::db::pool::PoolError;
use crate::db::work::Db;
use crate::metrics::window::Latencies;
use nodes::NodeMonitor;
use queue::{Dispatch, Entry, Queue, Table};

pub use events::{BusEntry, BusEvent, EventEntry, SearchKeys};
pub use notifications::{NotificationEntry, NotificationEvent, NotificationQueueService};
pub use post::PostedEvents;
pub use ready::ReadyCount;

/// LISTENs on `channel` on a dedicated connection to `db`'s server and calls `wake` on every
/// notification, and once after each (re)connect, since whatever was announced meanwhile
/// reached nobody; reconnects after an error. Runs until `stop` turns true. `listening` is
/// told once the first LISTEN is in place and `wake` has run after it: from then on no
/// announcement is missed.
pub async fn listen(
    db: Db,
    channel: &'static str,
    what: &'static str,
    stop: watch::Receiver<bool>,
    listening: oneshot::Sender<()>,
    wake: impl Fn() + Send + Sync + 'static,
) {
    let listening = parking_lot::Mutex::new(Some(listening));
    let wake = move || {
        wake();
        let first = listening.lock().take();
        if let Some(listening) = first {
            let _ = listening.send(());
        }
    };
    queue::listen_for_wakeups(db, channel, what, stop, wake).await
}

/// How long [`Bus::shutdown`] waits for running handlers (Kill Bill's bus shutdownTimeout).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// What a handler returns when it could not handle an event; the event is retried.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
/// A bus subscriber or a notification queue's handler, as kept by class or queue name.
type Handler<E> = Arc<dyn Fn(Arc<E>) -> HandlerFuture + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("bus database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("cannot serialize a {class_name} event: {source}")]
    Serialize {
        class_name: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("bus entry {record_id} is not a valid {class_name}: {source}")]
    Decode {
        record_id: i64,
        class_name: String,
        #[source]
        source: serde_json::Error,
    },
    /// Kill Bill's in-memory bus has no table to count (`getNbReadyEntries` is unsupported).
    #[error("the {bus} bus is in memory (inMemory=true) and has no ready entries to count")]
    InMemory { bus: &'static str },
}

/// The columns a bus entry carries besides the processing ones.
const BUS_PAYLOAD: &str = "class_name, event_json, user_token, search_key1, search_key2";

/// The main bus's table.
static BUS_EVENTS: Table = Table {
    live: "bus_events",
    history: "bus_events_history",
    payload: BUS_PAYLOAD,
    due: None,
    order: "record_id",
    age: "created_date",
};

/// The external bus's table.
static BUS_EXT_EVENTS: Table = Table {
    live: "bus_ext_events",
    history: "bus_ext_events_history",
    payload: BUS_PAYLOAD,
    due: None,
    order: "record_id",
    age: "created_date",
};

/// What a queue table adds to the columns every queue table has, read from the same row.
trait TableColumns: Send + Sync + 'static {
    fn from_row(row: &Row) -> Self;
    /// When the entry became due, if not when it was created.
    fn due(&self) -> Option<DateTime<Utc>>;
    /// What logs name the entry by, if not its class.
    fn label(&self) -> Option<&str>;
}

/// A bus table adds nothing: its entries are due when created and named by their class.
impl TableColumns for () {
    fn from_row(_row: &Row) {}

    fn due(&self) -> Option<DateTime<Utc>> {
        None
    }

    fn label(&self) -> Option<&str> {
        None
    }
}

impl<T: TableColumns> Entry for EventEntry<T> {
    fn from_row(row: &Row) -> EventEntry<T> {
        EventEntry {
            record_id: row.get("record_id"),
            class_name: row.get("class_name"),
            event_json: row.get("event_json"),
            user_token: row.get("user_token"),
            created_date: row.get("created_date"),
            creating_owner: row.get("creating_owner"),
            search_keys: SearchKeys::from_row(row),
            error_count: row.get("error_count"),
            extra: T::from_row(row),
        }
    }

    fn record_id(&self) -> i64 {
        self.record_id
    }

    fn error_count(&self) -> i32 {
        self.error_count
    }

    fn due(&self) -> DateTime<Utc> {
        self.extra.due().unwrap_or(self.created_date)
    }

    fn label(&self) -> &str {
        self.extra.label().unwrap_or(&self.class_name)
    }
}

/// A queue's dispatcher as an operator sees it: what it runs and how busy its handlers are.
#[derive(Debug, Clone)]
pub struct DispatchState {
    pub name: String,
    pub table: &'static str,
    pub mode: QueueMode,
    pub activity: &'static str,
    pub handlers_running: usize,
    pub handler_slots: usize,
}

impl std::fmt::Display for DispatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (table {}) mode={} {}, worker slots in use {}/{}",
            self.name,
            self.table,
            self.mode,
            self.activity,
            self.handlers_running,
            self.handler_slots
        )
    }
}

/// One running bus instance. Cheap to clone; every clone is the same bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct BusInner {
    config: QueueConfig,
    /// The engine on this instance's table: fetching, workers, completion, reaper.
    queue: Queue<BusEntry>,
    subscribers: RwLock<HashMap<String, Vec<Handler<BusEntry>>>>,
    /// Asks the announcer to tell the other nodes that entries were committed (`post`).
    announce: Notify,
    /// Hands out record ids for the in-memory bus, which has no table.
    next_in_memory_id: std::sync::atomic::AtomicI64,
}

impl Bus {
    /// A bus for `config`'s instance on `node` (whose name is Kill Bill's creator name), not
    /// yet dispatching: subscribe, then [`Bus::start`]. Events may be posted before it starts.
    ///
    /// `inMemory=true`: no tables; events are handed to subscribers when the posting
    /// transaction commits. `off=true`: events are stored but this node dispatches nothing.
    pub fn new(db: Db, config: QueueConfig, node: &NodeMonitor) -> Bus {
        let table = match config.name {
            "external" => &BUS_EXT_EVENTS,
            _ => &BUS_EVENTS,
        };
        Bus {
            inner: Arc::new(BusInner {
                queue: Queue::new(db, table, config.clone(), node),
                config,
                subscribers: RwLock::new(HashMap::new()),
                announce: Notify::new(),
                next_in_memory_id: std::sync::atomic::AtomicI64::new(1),
            }),
        }
    }

    /// Starts dispatching (a second call does nothing). Register subscribers first: an event
    /// dispatched while its class has no subscriber is complete.
    pub async fn start(&self) -> Result<(), BusError> {
        let config = &self.inner.config;
        let queue = &self.inner.queue;
        if queue.is_running() {
            return Ok(());
        }
        if !config.in_memory && config.mode != QueueMode::StickyEvents {
            // Also with `off`: this node's posts are for the other nodes' dispatchers. Ends
            // when the bus stops.
            tokio::spawn(post::announce(self.clone()));
        }
        if !config.in_memory {
            let bus = self.clone();
            let dispatch: Dispatch<BusEntry> = Arc::new(move |entry| {
                let bus = bus.clone();
                Box::pin(async move { bus.run_subscribers(entry).await })
            });
            queue.start(dispatch).await?;
        }
        tracing::info!(
            bus = config.name,
            node = queue.node(),
            mode = %config.mode,
            in_memory = config.in_memory,
            off = config.off,
            "bus started"
        );
        Ok(())
    }

    /// The instance name, `main` or `external`.
    pub fn name(&self) -> &'static str {
        self.inner.config.name
    }

    /// This node's name in `creating_owner` and `processing_owner`.
    pub fn node(&self) -> &str {
        self.inner.queue.node()
    }

    /// The live table, for diagnostics and tests.
    pub fn table(&self) -> &'static str {
        self.inner.queue.table().live
    }

    /// What this node's dispatcher is doing, for `/1.0/threads`.
    pub fn dispatch_state(&self) -> DispatchState {
        let config = &self.inner.config;
        let queue = &self.inner.queue;
        DispatchState {
            name: config.name.to_string(),
            table: queue.table().live,
            mode: config.mode,
            activity: if config.in_memory {
                "in memory (dispatched on commit)"
            } else {
                queue_activity(config.off, queue.is_running())
            },
            handlers_running: queue.handlers_running(),
            handler_slots: queue.handler_slots(),
        }
    }

    /// Kill Bill's id of this queue in metric names, e.g. `bus-bus_events`.
    pub fn metrics_id(&self) -> &str {
        self.inner.queue.metrics_id()
    }

    /// The history table, for diagnostics and tests.
    pub fn history_table(&self) -> &'static str {
        self.inner.queue.table().history
    }

    /// Registers `handler` for every event whose class name is `class_name`, normally before
    /// [`Bus::start`]. Every subscriber of a class gets every event of it, one after the
    /// other; if any fails, the event is retried for all of them, so handlers must be
    /// idempotent.
    pub fn subscribe<F, Fut>(&self, class_name: &str, handler: F)
    where
        F: Fn(Arc<BusEntry>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler: Handler<BusEntry> = Arc::new(move |entry| Box::pin(handler(entry)));
        self.inner
            .subscribers
            .write()
            .entry(class_name.to_string())
            .or_default()
            .push(handler);
    }

    /// Starts collecting the events of one transaction; see [`PostedEvents`].
    pub fn posted(&self) -> PostedEvents {
        PostedEvents::new(self.clone())
    }

    /// How to count this bus's ready entries (Kill Bill's `getNbReadyEntries`): AVAILABLE
    /// entries, only this node's in the sticky modes (where no other node would take them).
    /// `None` for the in-memory bus, which has no table.
    pub fn ready_count(&self) -> Option<ReadyCount> {
        (!self.inner.config.in_memory).then(|| self.inner.queue.ready_count())
    }

    /// The ready entries now, counted on a main-pool connection.
    pub async fn ready_entries(&self) -> Result<i64, BusError> {
        let count = self.ready_count().ok_or(BusError::InMemory {
            bus: self.inner.config.name,
        })?;
        let work = self.inner.queue.db().read().await?;
        let counts = ready::count(work.client(), &[count]).await?;
        Ok(counts.first().copied().unwrap_or_default())
    }

    /// Dispatch latencies (creation to handlers starting) since the last call; the dashboard's
    /// sampler is the only caller.
    pub fn take_dispatch_latencies(&self) -> Latencies {
        self.inner.queue.take_dispatch_latencies()
    }

    /// Takes over at once what `node`, found dead, left in this bus (its claims, and in the
    /// sticky modes the entries only it would have dispatched); returns how many entries.
    pub async fn take_over(&self, node: &str) -> Result<usize, BusError> {
        if self.inner.config.in_memory {
            return Ok(0);
        }
        self.inner.queue.take_over(node).await
    }

    /// Stops fetching, waits up to `timeout` for running handlers and records their outcome.
    /// Entries claimed but not finished stay leased until `claim.time` runs out (or another
    /// node takes them over); STICKY_EVENTS entries are reloaded on restart.
    pub async fn shutdown(&self, timeout: Duration) {
        self.inner.queue.shutdown(timeout).await;
        tracing::info!(bus = self.inner.config.name, "bus stopped");
    }

    /// The subscribers of `class_name`, copied so no lock is held while they run.
    fn subscribers_of(&self, class_name: &str) -> Vec<Handler<BusEntry>> {
        self.inner
            .subscribers
            .read()
            .get(class_name)
            .cloned()
            .unwrap_or_default()
    }

    /// Calls every subscriber of the entry's class in turn; the first error stops the round.
    async fn run_subscribers(&self, entry: Arc<BusEntry>) -> Result<(), String> {
        for handler in self.subscribers_of(&entry.class_name) {
            handler(entry.clone()).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// [`Bus::run_subscribers`] in its own task, so a panicking handler of the in-memory bus
    /// counts as a failure (the engine does the same for the others).
    async fn call_subscribers(&self, entry: Arc<BusEntry>) -> Result<(), String> {
        let bus = self.clone();
        match tokio::spawn(async move { bus.run_subscribers(entry).await }).await {
            Ok(result) => result,
            Err(join_error) => Err(format!("handler panicked: {join_error}")),
        }
    }
}

/// What a queue's dispatcher does on this node, as [`DispatchState::activity`] says it.
fn queue_activity(off: bool, running: bool) -> &'static str {
    if off {
        "off (nothing dispatched on this node)"
    } else if running {
        "dispatching"
    } else {
        "stopped"
    }
}
