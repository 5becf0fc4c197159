//! Kill Bill's persistent bus: events written in the same transaction as the change that
//! causes them, then dispatched to subscribers by every node sharing the database.
//!
//! | file            | owns                                                                        |
//! |-----------------|-----------------------------------------------------------------------------|
//! | [`events`]      | the typed-event trait and the envelope handlers receive                     |
//! | [`post`]        | inserting events inside the caller's transaction ([`PostedEvents`])         |
//! | `dispatcher`    | fetching (POLLING, STICKY_POLLING, STICKY_EVENTS), workers, completion      |
//! | `reaper`        | re-dispatching entries of dead or stuck nodes; this node's heartbeat        |
//! | [`internal_events`] | the account/payment internal events and Kill Bill's external event      |
//! | [`notifications`] | the notification queue: future-dated entries per queue name, one dispatcher |
//! | [`ready`]       | counting ready entries, of one queue or several in one statement            |
//!
//! A [`Bus`] is one instance (`main` → `bus_events`, `external` → `bus_ext_events`) configured
//! by [`BusConfig`]. It never decides business rules and never opens a transaction around the
//! caller's writes: posting joins the caller's transaction.
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

mod dispatcher;
mod outcomes;
mod reaper;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::config::{BusConfig, QueueMode};
use crate::db::pool::PoolError;
use crate::db::work::Db;
use crate::metrics::window::Latencies;

pub use events::{BusEntry, BusEvent, SearchKeys};
pub use notifications::{NotificationEntry, NotificationEvent, NotificationQueueService};
pub use post::PostedEvents;
pub use ready::ReadyCount;

/// LISTENs on `channel` on a dedicated connection to `db`'s server and calls `wake` on every
/// notification, and once after each (re)connect, since whatever was announced meanwhile
/// reached nobody; reconnects after an error. Runs until `stop` turns true.
pub async fn listen(
    db: Db,
    channel: &'static str,
    what: &'static str,
    stop: watch::Receiver<bool>,
    wake: impl Fn() + Send + Sync + 'static,
) {
    dispatcher::listen_for_wakeups(db, channel, what, stop, wake).await
}

/// How long [`Bus::shutdown`] waits for running handlers (Kill Bill's bus shutdownTimeout).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// What a handler returns when it could not handle an event; the event is retried.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
type Handler = Arc<dyn Fn(Arc<BusEntry>) -> HandlerFuture + Send + Sync>;

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

/// The live and history tables of one bus instance.
#[derive(Debug, Clone, Copy)]
struct Tables {
    live: &'static str,
    history: &'static str,
}

impl Tables {
    fn for_instance(name: &str) -> Tables {
        match name {
            "external" => Tables {
                live: "bus_ext_events",
                history: "bus_ext_events_history",
            },
            _ => Tables {
                live: "bus_events",
                history: "bus_events_history",
            },
        }
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
    config: BusConfig,
    node: String,
    tables: Tables,
    /// Kill Bill's queue id for metric names (`bus-bus_events`).
    metrics_id: String,
    db: Db,
    subscribers: RwLock<HashMap<String, Vec<Handler>>>,
    /// STICKY_EVENTS only: ids of committed entries waiting for this node's dispatcher.
    inflight: Option<mpsc::UnboundedSender<i64>>,
    /// Its receiving end, until [`Bus::start`] hands it to the fetcher.
    inflight_receiver: Mutex<Option<mpsc::UnboundedReceiver<i64>>>,
    /// Wakes the polling fetcher early: a NOTIFY arrived or an entry went back for a retry.
    wake: Notify,
    /// Asks the announcer to tell the other nodes that entries were committed (`post`).
    announce: Notify,
    stop: watch::Sender<bool>,
    /// At most `nbThreads` handler calls at once; all permits back means nothing runs.
    workers: Arc<Semaphore>,
    tasks: Mutex<Option<dispatcher::Tasks>>,
    /// Handler rounds running, and their dispatch latencies for the dashboard.
    handler_rounds: metrics::HandlerRounds,
    /// Hands out record ids for the in-memory bus, which has no table.
    next_in_memory_id: std::sync::atomic::AtomicI64,
}

impl Bus {
    /// A bus for `config`'s instance as node `node` (Kill Bill's creator name), not yet
    /// dispatching: subscribe, then [`Bus::start`]. Events may be posted before it starts.
    ///
    /// `inMemory=true`: no tables; events are handed to subscribers when the posting
    /// transaction commits. `off=true`: events are stored but this node dispatches nothing.
    pub fn new(db: Db, config: BusConfig, node: &str) -> Bus {
        let (inflight, inflight_receiver) = if config.mode == QueueMode::StickyEvents {
            let (sender, receiver) = mpsc::unbounded_channel();
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let (stop, _) = watch::channel(false);
        Bus {
            inner: Arc::new(BusInner {
                tables: Tables::for_instance(config.name),
                metrics_id: self::metrics::queue_id(Tables::for_instance(config.name).live),
                workers: Arc::new(Semaphore::new(config.nb_threads.max(1) as usize)),
                config,
                node: node.to_string(),
                db,
                subscribers: RwLock::new(HashMap::new()),
                inflight,
                inflight_receiver: Mutex::new(inflight_receiver),
                wake: Notify::new(),
                announce: Notify::new(),
                stop,
                tasks: Mutex::new(None),
                handler_rounds: metrics::HandlerRounds::default(),
                next_in_memory_id: std::sync::atomic::AtomicI64::new(1),
            }),
        }
    }

    /// Starts dispatching (a second call does nothing). Register subscribers first: an event
    /// dispatched while its class has no subscriber is complete.
    pub async fn start(&self) -> Result<(), BusError> {
        let config = &self.inner.config;
        let already_started = match self.inner.tasks.lock() {
            Ok(slot) => slot.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        };
        if already_started {
            return Ok(());
        }
        if !config.in_memory && config.mode != QueueMode::StickyEvents {
            // Also with `off`: this node's posts are for the other nodes' dispatchers. Ends
            // when the bus stops.
            tokio::spawn(post::announce(self.clone()));
        }
        if !config.in_memory && !config.off {
            // Known as alive before it claims anything, so no reaper takes its claims.
            reaper::register_node(&self.inner.db, &self.inner.node).await?;
            let receiver = match self.inner.inflight_receiver.lock() {
                Ok(mut slot) => slot.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            let tasks = dispatcher::spawn(self, receiver);
            match self.inner.tasks.lock() {
                Ok(mut slot) => *slot = Some(tasks),
                Err(poisoned) => *poisoned.into_inner() = Some(tasks),
            }
        }
        tracing::info!(
            bus = config.name,
            node = self.inner.node,
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
        &self.inner.node
    }

    /// The live table, for diagnostics and tests.
    pub fn table(&self) -> &'static str {
        self.inner.tables.live
    }

    /// Handler calls running now on this node.
    fn in_flight(&self) -> usize {
        self.inner.handler_rounds.running()
    }

    /// What this node's dispatcher is doing, for `/1.0/threads`.
    pub fn dispatch_state(&self) -> DispatchState {
        let config = &self.inner.config;
        let running = match self.inner.tasks.lock() {
            Ok(slot) => slot.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        };
        DispatchState {
            name: config.name.to_string(),
            table: self.inner.tables.live,
            mode: config.mode,
            activity: if config.in_memory {
                "in memory (dispatched on commit)"
            } else if config.off {
                "off (nothing dispatched on this node)"
            } else if running {
                "dispatching"
            } else {
                "stopped"
            },
            handlers_running: self.in_flight(),
            handler_slots: config.nb_threads.max(1) as usize,
        }
    }

    /// Kill Bill's id of this queue in metric names, e.g. `bus-bus_events`.
    pub fn metrics_id(&self) -> &str {
        &self.inner.metrics_id
    }

    /// The history table, for diagnostics and tests.
    pub fn history_table(&self) -> &'static str {
        self.inner.tables.history
    }

    /// Registers `handler` for every event whose class name is `class_name`, normally before
    /// [`Bus::start`]. Every subscriber of a class gets every event of it, one after the other; if any fails, the event is
    /// retried for all of them, so handlers must be idempotent.
    pub fn subscribe<F, Fut>(&self, class_name: &str, handler: F)
    where
        F: Fn(Arc<BusEntry>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |entry| Box::pin(handler(entry)));
        let mut subscribers = match self.inner.subscribers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        subscribers
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
        let config = &self.inner.config;
        if config.in_memory {
            return None;
        }
        let owner = match config.mode {
            QueueMode::Polling => None,
            QueueMode::StickyPolling | QueueMode::StickyEvents => Some(self.inner.node.clone()),
        };
        Some(ReadyCount::new(self.inner.tables.live, false, owner))
    }

    /// The ready entries now, counted on a main-pool connection.
    pub async fn ready_entries(&self) -> Result<i64, BusError> {
        let count = self.ready_count().ok_or(BusError::InMemory {
            bus: self.inner.config.name,
        })?;
        let work = self.inner.db.read().await?;
        let counts = ready::count(work.client(), &[count]).await?;
        Ok(counts.first().copied().unwrap_or_default())
    }

    /// Dispatch latencies (creation to handlers starting) since the last call; the dashboard's
    /// sampler is the only caller.
    pub fn take_dispatch_latencies(&self) -> Latencies {
        self.inner.handler_rounds.take_dispatch_latencies()
    }

    /// Takes over at once what `node`, found dead, left in this bus (its claims, and in the
    /// sticky modes the entries only it would have dispatched); returns how many entries.
    pub async fn take_over(&self, node: &str) -> Result<usize, BusError> {
        if self.inner.config.in_memory || self.inner.config.off {
            return Ok(0);
        }
        let mut taken = 0;
        loop {
            let batch = reaper::take_over(self, node).await?.len();
            taken += batch;
            if (batch as i64) < reaper::TAKE_OVER_BATCH {
                return Ok(taken);
            }
        }
    }

    /// Stops fetching, waits up to `timeout` for running handlers and records their outcome.
    /// Entries claimed but not finished stay leased until `claim.time` runs out (or the
    /// reaper of another node takes them); STICKY_EVENTS entries are reloaded on restart.
    pub async fn shutdown(&self, timeout: Duration) {
        let _ = self.inner.stop.send(true);
        let tasks = match self.inner.tasks.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(tasks) = tasks {
            tasks.stop(&self.inner, timeout).await;
        }
        tracing::info!(bus = self.inner.config.name, "bus stopped");
    }

    /// The subscribers of `class_name`, copied so no lock is held while they run.
    fn subscribers_of(&self, class_name: &str) -> Vec<Handler> {
        let subscribers = match self.inner.subscribers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        subscribers.get(class_name).cloned().unwrap_or_default()
    }

    /// Calls every subscriber of the entry's class in turn; the first error stops the round.
    /// Runs in its own task so a panicking handler counts as a failure instead of losing
    /// the entry's outcome.
    async fn call_subscribers(&self, entry: Arc<BusEntry>) -> Result<(), String> {
        let handlers = self.subscribers_of(&entry.class_name);
        if handlers.is_empty() {
            return Ok(());
        }
        let call = tokio::spawn(async move {
            for handler in handlers {
                handler(entry.clone()).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        match call.await {
            Ok(result) => result,
            Err(join_error) => Err(format!("handler panicked: {join_error}")),
        }
    }
}
