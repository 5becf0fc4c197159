//! The queue engine: everything Kill Bill's persistent queues do between a committed row and
//! its history row, written once for every queue table. The main bus (`bus_events`), the
//! external bus (`bus_ext_events`) and the notification queue (`notifications`) are each a
//! [`Queue`] configured by a [`Table`] (its names, extra claim condition and order), an
//! [`Entry`] type (row ↔ entry) and [`QueueConfig`] (Kill Bill's queue properties).
//!
//! | file        | owns                                                                          |
//! |-------------|-------------------------------------------------------------------------------|
//! | `sql`       | every statement on a queue table: claim, lease renewal, read by id, completion, reaping and take-over |
//! | `fetch`     | the fetcher (claiming polls, or STICKY_EVENTS' in-memory ids) and lease renewal |
//! | `workers`   | running handlers within `nbThreads`, and Kill Bill's retry decision            |
//! | `complete`  | recording outcomes in batches, retried through database outages                |
//! | `gather`    | taking a batch from a channel against a deadline (completion linger, inflight wait) |
//! | `reaper`    | the periodic reaper and the take-over of a dead node's entries                 |
//! | `listen`    | LISTEN on a dedicated connection, waking a fetcher on NOTIFY                   |
//!
//! A queue never posts or records entries (the bus and the notification queue insert them in
//! the caller's transaction) and never decides what a handler does with one. It never writes
//! the node's heartbeat either: [`NodeMonitor`] is the node's only heartbeat writer, and a
//! queue only registers the node before it claims anything. Every database access takes one
//! unit of work for one statement or one transaction, and waits for nothing while holding it.

mod complete;
mod fetch;
mod gather;
mod listen;
mod reaper;
mod sql;
mod workers;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::Row;

use super::metrics::{self, HandlerRounds};
use super::nodes::NodeMonitor;
use super::ready::ReadyCount;
use super::BusError;
use crate::config::{QueueConfig, QueueMode};
use crate::db::work::Db;
use crate::metrics::window::Latencies;

pub(super) use listen::listen_for_wakeups;

/// Completion tasks per queue (Kill Bill's `lifecycle.complete.nbThreads` default): one
/// batch's transaction is in flight while the next batch is gathered.
const COMPLETION_THREADS: usize = 2;
/// After a database error, how long a loop waits before trying again.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// What the engine needs to know of one queue table; each is a `const` next to its entry type.
#[derive(Debug)]
pub(super) struct Table {
    pub live: &'static str,
    pub history: &'static str,
    /// The columns an entry carries unchanged through its life: copied to history and into
    /// a reaped entry's new row. Besides these, every queue table has Kill Bill's `record_id`,
    /// `created_date`, `creating_owner`, `processing_owner`, `processing_available_date`,
    /// `processing_state` and `error_count`.
    pub payload: &'static str,
    /// Ready entries must also meet this (the notification queue's `effective_date <= now()`).
    pub due: Option<&'static str>,
    /// Claim and reap order, also the order entries reach the workers in.
    pub order: &'static str,
    /// The column whose age `reapThreshold` is measured on.
    pub age: &'static str,
}

impl Table {
    /// The NOTIFY channel that wakes this table's fetchers: the live table's name.
    pub fn channel(&self) -> &'static str {
        self.live
    }

    /// Kill Bill's queue id in metric names (`bus-bus_events`, `notif-notifications`).
    pub fn metrics_id(&self) -> String {
        metrics::queue_id(self.live)
    }
}

/// One row of a queue table as its handlers receive it.
pub(super) trait Entry: Send + Sync + 'static {
    /// Reads the row selected with [`Table::payload`] and the common columns.
    fn from_row(row: &Row) -> Self;
    fn record_id(&self) -> i64;
    /// How many earlier attempts failed: 0 on the first try.
    fn error_count(&self) -> i32;
    /// When the entry became due (its creation, or a notification's effective date): the
    /// dispatch latency is counted from here.
    fn due(&self) -> DateTime<Utc>;
    /// What logs name the entry by (its class or its queue name).
    fn label(&self) -> &str;
}

pub(super) type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// What a queue does with one entry: every subscriber of its class, or its queue's handler.
pub(super) type Dispatch<E> = Arc<dyn Fn(Arc<E>) -> HandlerFuture + Send + Sync>;

/// How the engine reads Kill Bill's queue properties: a zero never stops a queue.
impl QueueConfig {
    fn claimed(&self) -> usize {
        self.claimed.max(1) as usize
    }

    fn nb_threads(&self) -> u32 {
        self.nb_threads.max(1)
    }

    /// Only the node that created an entry dispatches it (STICKY_POLLING, STICKY_EVENTS).
    fn sticky(&self) -> bool {
        self.mode != QueueMode::Polling
    }

    /// The owner a completion must still find on a row: in the polling modes an entry is
    /// this node's only while it holds the claim (another node may have taken it after the
    /// lease ran out); STICKY_EVENTS never claims.
    fn completing_owner<'a>(&self, node: &'a str) -> Option<&'a str> {
        match self.mode {
            QueueMode::StickyEvents => None,
            QueueMode::Polling | QueueMode::StickyPolling => Some(node),
        }
    }
}

/// One queue table's dispatcher on this node. Cheap to clone; every clone is the same queue.
pub(super) struct Queue<E: Entry> {
    inner: Arc<Inner<E>>,
}

impl<E: Entry> Clone for Queue<E> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<E: Entry> {
    table: &'static Table,
    settings: QueueConfig,
    node: NodeMonitor,
    metrics_id: String,
    db: Db,
    /// Wakes the polling fetcher early: a NOTIFY arrived, an entry was posted here or went
    /// back for a retry.
    wake: Notify,
    stop: watch::Sender<bool>,
    /// At most `nbThreads` handler calls at once; all permits back means nothing runs.
    workers: Arc<Semaphore>,
    tasks: Mutex<Option<Tasks>>,
    /// Handler rounds running, and their dispatch latencies for the dashboard.
    rounds: HandlerRounds,
    /// STICKY_EVENTS only: ids of committed entries waiting for this node's fetcher.
    inflight: Option<mpsc::UnboundedSender<i64>>,
    /// Its receiving end, until [`Queue::start`] hands it to the fetcher.
    inflight_receiver: Mutex<Option<mpsc::UnboundedReceiver<i64>>>,
    _entries: std::marker::PhantomData<fn() -> E>,
}

/// The running tasks of one queue; [`Tasks::stop`] ends them in order.
struct Tasks {
    fetcher: JoinHandle<()>,
    workers: JoinHandle<()>,
    completers: Vec<JoinHandle<()>>,
    /// The NOTIFY listener, lease renewal and the reaper: they watch the stop signal too.
    background: Vec<JoinHandle<()>>,
}

/// Ids between fetch and completion. Polling modes: the claims whose leases this node keeps
/// alive. STICKY_EVENTS: an id can be queued twice (the startup reload racing a commit, the
/// reaper); this keeps a second copy from running concurrently.
type Dispatching = Arc<Mutex<HashSet<i64>>>;

impl<E: Entry> Queue<E> {
    /// A queue on `table` for `node`, not yet dispatching.
    pub fn new(db: Db, table: &'static Table, settings: QueueConfig, node: &NodeMonitor) -> Self {
        let (inflight, inflight_receiver) = if settings.mode == QueueMode::StickyEvents {
            let (sender, receiver) = mpsc::unbounded_channel();
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let (stop, _) = watch::channel(false);
        Queue {
            inner: Arc::new(Inner {
                table,
                metrics_id: table.metrics_id(),
                workers: Arc::new(Semaphore::new(settings.nb_threads() as usize)),
                settings,
                node: node.clone(),
                db,
                wake: Notify::new(),
                stop,
                tasks: Mutex::new(None),
                rounds: HandlerRounds::default(),
                inflight,
                inflight_receiver: Mutex::new(inflight_receiver),
                _entries: std::marker::PhantomData,
            }),
        }
    }

    /// Starts dispatching with `dispatch` (a second call does nothing; `off` dispatches
    /// nothing). The node is registered first, so no reaper takes its claims as a dead node's.
    pub async fn start(&self, dispatch: Dispatch<E>) -> Result<(), BusError> {
        let inner = &self.inner;
        if inner.settings.off || self.is_running() {
            return Ok(());
        }
        inner.node.register().await?;
        let tasks = self.spawn(dispatch);
        *inner.tasks.lock() = Some(tasks);
        Ok(())
    }

    fn spawn(&self, dispatch: Dispatch<E>) -> Tasks {
        let inner = &self.inner;
        let (queue, queue_receiver) =
            mpsc::channel::<Arc<E>>(inner.settings.queue_capacity.max(1) as usize);
        let (outcomes, outcome_receiver) = mpsc::unbounded_channel();
        let dispatching: Dispatching = Arc::default();
        let mut background = Vec::new();
        let inflight_receiver = inner.inflight_receiver.lock().take();
        let fetcher = match inflight_receiver {
            Some(ids) => tokio::spawn(fetch::sticky_events(
                self.clone(),
                ids,
                queue,
                dispatching.clone(),
            )),
            None => {
                let woken = self.clone();
                background.push(tokio::spawn(listen_for_wakeups(
                    inner.db.clone(),
                    inner.table.channel(),
                    inner.settings.name,
                    inner.stop.subscribe(),
                    move || woken.wake(),
                )));
                background.push(tokio::spawn(fetch::keep_leases(
                    self.clone(),
                    dispatching.clone(),
                )));
                tokio::spawn(fetch::poll(self.clone(), queue, dispatching.clone()))
            }
        };
        let workers = tokio::spawn(workers::run(
            self.clone(),
            queue_receiver,
            outcomes,
            dispatch,
        ));
        let outcome_receiver = Arc::new(tokio::sync::Mutex::new(outcome_receiver));
        let completers = (0..COMPLETION_THREADS)
            .map(|_| {
                tokio::spawn(complete::run(
                    self.clone(),
                    outcome_receiver.clone(),
                    dispatching.clone(),
                ))
            })
            .collect();
        background.push(tokio::spawn(reaper::reap_periodically(self.clone())));
        Tasks {
            fetcher,
            workers,
            completers,
            background,
        }
    }

    /// Whether this node's dispatcher runs.
    pub fn is_running(&self) -> bool {
        self.inner.tasks.lock().is_some()
    }

    /// Stops fetching, waits up to `timeout` for running handlers and records their outcome.
    /// Entries claimed but not finished stay leased until `claim.time` runs out (or another
    /// node takes them over); STICKY_EVENTS entries are reloaded on restart.
    pub async fn shutdown(&self, timeout: Duration) {
        let _ = self.inner.stop.send(true);
        let tasks = self.inner.tasks.lock().take();
        if let Some(tasks) = tasks {
            tasks.stop(&self.inner, timeout).await;
        }
    }

    /// Resolves once the queue is stopping, for tasks that live as long as it (the bus's
    /// announcer).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    /// Wakes this node's polling fetcher at once (entries were committed here).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// STICKY_EVENTS: hands committed ids to this node's fetcher. A closed queue means it is
    /// shutting down; the rows stay AVAILABLE and are reloaded when the node restarts.
    pub fn hand_over(&self, record_ids: impl IntoIterator<Item = i64>) {
        if let Some(inflight) = &self.inner.inflight {
            for record_id in record_ids {
                let _ = inflight.send(record_id);
            }
        }
    }

    pub fn table(&self) -> &'static Table {
        self.inner.table
    }

    pub fn node(&self) -> &str {
        self.inner.node.node()
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn metrics_id(&self) -> &str {
        &self.inner.metrics_id
    }

    /// Handler calls running now on this node.
    pub fn handlers_running(&self) -> usize {
        self.inner.rounds.running()
    }

    pub fn handler_slots(&self) -> usize {
        self.inner.settings.nb_threads() as usize
    }

    /// Dispatch latencies since the last call; the dashboard's sampler is the only caller.
    pub fn take_dispatch_latencies(&self) -> Latencies {
        self.inner.rounds.take_dispatch_latencies()
    }

    /// How to count the ready entries (Kill Bill's `getNbReadyEntries`): AVAILABLE (and due)
    /// entries, only this node's in the sticky modes, where no other node would take them.
    pub fn ready_count(&self) -> ReadyCount {
        let owner = self
            .inner
            .settings
            .sticky()
            .then(|| self.node().to_string());
        ReadyCount::new(self.inner.table, owner)
    }

    /// Takes over at once what `node`, found dead, left in this queue (its claims, and in the
    /// sticky modes the entries only it would have dispatched); returns how many entries.
    pub async fn take_over(&self, node: &str) -> Result<usize, BusError> {
        if self.inner.settings.off {
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
}

impl Tasks {
    /// Stops fetching at once, gives running handlers until `timeout`, records their outcomes
    /// and ends the background tasks.
    async fn stop<E: Entry>(self, inner: &Inner<E>, timeout: Duration) {
        let name = inner.settings.name;
        let deadline = Instant::now() + timeout;
        for (what, task) in [("fetcher", self.fetcher), ("worker loop", self.workers)] {
            finish(name, what, task, deadline).await;
        }
        let all_workers = inner.settings.nb_threads();
        if tokio::time::timeout_at(deadline, inner.workers.acquire_many(all_workers))
            .await
            .is_err()
        {
            tracing::warn!(
                queue = name,
                "handlers still running at the shutdown deadline; their leases cover them"
            );
        }
        // The completers end once the last outcome is recorded; a moment of grace past the
        // deadline lets them write what the handlers finished.
        let grace = deadline.max(Instant::now()) + Duration::from_secs(1);
        for completer in self.completers {
            finish(name, "completer", completer, grace).await;
        }
        for task in self.background {
            let soon = Instant::now() + Duration::from_secs(1);
            finish(name, "background task", task, soon).await;
        }
    }
}

/// Waits for `task` until `deadline`, then aborts it.
async fn finish(queue: &str, what: &str, mut task: JoinHandle<()>, deadline: Instant) {
    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
        tracing::warn!(queue, what, "did not stop in time; aborted");
        task.abort();
    }
}

/// Resolves once the queue is stopping (or the queue is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}
