//! Kill Bill's notification queue: future-dated work (`effective_date`) stored in the
//! `notifications` table, recorded inside the caller's transaction and handled once due by one
//! dispatcher that serves every queue name (`"service:queue"`) on this node.
//!
//! This file owns the queue's SQL (record, claim, complete, reap, count) and its tasks: a
//! polling fetcher woken by NOTIFY on commit, at most `nbThreads` handler calls fed through a
//! queue of `queue.capacity`, a completer that moves finished entries to history in batches,
//! a reaper and the node heartbeat (shared with the bus through `bus_nodes`). It must never
//! open, commit or roll back the caller's transaction, and never decide what a handler does.
//!
//! Delivery is at least once, as on the bus: handlers must be idempotent.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::Row;
use uuid::Uuid;

use super::dispatcher::{listen_for_wakeups, stopped};
use super::metrics;
use super::outcomes::{self, completion, Completion, DecidedBatch, Outcome};
use super::reaper::{self, HEARTBEAT_PERIOD, HEARTBEAT_STALE_AFTER};
use super::{ready, HandlerError, ReadyCount, SearchKeys};
use crate::config::{NotificationQueueConfig, QueueMode};
use crate::db::pool::PoolError;
use crate::db::work::{Db, Work};
use crate::metrics::window::Latencies;

/// Kill Bill's id of the notification queue in metric names.
pub const QUEUE_METRICS_ID: &str = "notif-notifications";

/// How long [`NotificationQueueService::shutdown`] waits for running handlers by default.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// Kill Bill's completion threads move at most this many entries per transaction.
const COMPLETION_BATCH: usize = 15;
/// The NOTIFY channel; named after the table as the bus's channels are.
const CHANNEL: &str = "notifications";
/// When a poll found nothing and `sleep` is 0, the least the fetcher waits (NOTIFY still wakes
/// it at once), so an idle queue does not spin on the database.
const MIN_IDLE_WAIT: Duration = Duration::from_millis(10);
/// After a poll that found fewer entries than a batch, the least the fetcher waits before the
/// next, NOTIFY or not: entries committed meanwhile are claimed together, so a busy bus takes
/// a connection per batch rather than per event.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long a completer waits for a batch to fill once it has one outcome: outcomes are
/// recorded together rather than a connection per handler call.
const COMPLETION_LINGER: Duration = Duration::from_millis(5);
/// After a database error, how long a loop waits before trying again.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// How often a stopping completer tries to record a batch before leaving it to leases and the
/// reaper (a running one keeps trying).
const COMPLETION_ATTEMPTS: u32 = 3;
/// The columns of [`NotificationEntry`], in the order [`entry_from_row`] reads them.
const ENTRY_COLUMNS: &str = "record_id, class_name, event_json, user_token, future_user_token, \
     created_date, creating_owner, search_key1, search_key2, error_count, queue_name, effective_date";

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

/// One due notification as read back from the live table and handed to its queue's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationEntry {
    pub record_id: i64,
    pub queue_name: String,
    pub effective_date: DateTime<Utc>,
    pub class_name: String,
    pub event_json: String,
    pub user_token: Option<Uuid>,
    pub future_user_token: Option<Uuid>,
    pub created_date: DateTime<Utc>,
    pub creating_owner: String,
    pub search_keys: SearchKeys,
    /// How many earlier attempts failed: 0 on the first try.
    pub error_count: i32,
}

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

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
type Handler = Arc<dyn Fn(Arc<NotificationEntry>) -> HandlerFuture + Send + Sync>;

/// The notification queue of one node. Cheap to clone; every clone is the same queue.
#[derive(Clone)]
pub struct NotificationQueueService {
    inner: Arc<Inner>,
}

struct Inner {
    config: NotificationQueueConfig,
    node: String,
    db: Db,
    handlers: RwLock<HashMap<String, Handler>>,
    /// Wakes the fetcher early: a NOTIFY arrived or an entry went back for a retry.
    wake: Notify,
    stop: watch::Sender<bool>,
    /// At most `nbThreads` handler calls at once; all permits back means nothing runs.
    workers: Arc<Semaphore>,
    tasks: Mutex<Option<Tasks>>,
    /// Handler rounds running, and their dispatch latencies for the dashboard.
    handler_rounds: metrics::HandlerRounds,
}

struct Tasks {
    fetcher: JoinHandle<()>,
    workers: JoinHandle<()>,
    completer: JoinHandle<()>,
    /// The NOTIFY listener, the reaper and the heartbeat: they watch the stop signal too.
    background: Vec<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl NotificationQueueService {
    /// A queue for node `node`, not yet dispatching: register handlers, then
    /// [`NotificationQueueService::start`]. Notifications may be recorded before it starts.
    pub fn new(db: Db, config: NotificationQueueConfig, node: &str) -> Self {
        let (stop, _) = watch::channel(false);
        NotificationQueueService {
            inner: Arc::new(Inner {
                workers: Arc::new(Semaphore::new(config.nb_threads.max(1) as usize)),
                config,
                node: node.to_string(),
                db,
                handlers: RwLock::new(HashMap::new()),
                wake: Notify::new(),
                stop,
                tasks: Mutex::new(None),
                handler_rounds: metrics::HandlerRounds::default(),
            }),
        }
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
        let mut handlers = match self.inner.handlers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        handlers.insert(queue_name.to_string(), handler);
    }

    /// The queue names with a handler on this node (`"service:queue"`), sorted.
    pub fn queue_names(&self) -> Vec<String> {
        let handlers = match self.inner.handlers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut names: Vec<String> = handlers.keys().cloned().collect();
        names.sort();
        names
    }

    /// Starts dispatching (a second call does nothing); `off=true` dispatches nothing.
    pub async fn start(&self) -> Result<(), NotificationError> {
        let config = &self.inner.config;
        if lock(&self.inner.tasks).is_some() {
            return Ok(());
        }
        if !config.off {
            // Known as alive before it claims anything, so no reaper takes its claims.
            reaper::register_node(&self.inner.db, &self.inner.node).await?;
            let tasks = self.spawn_tasks();
            *lock(&self.inner.tasks) = Some(tasks);
        }
        tracing::info!(
            queue = config.name,
            node = self.inner.node,
            mode = %config.mode,
            off = config.off,
            "notification queue started"
        );
        Ok(())
    }

    /// This node's name in `creating_owner` and `processing_owner`.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// What this node's dispatcher is doing, for `/1.0/threads`.
    pub fn dispatch_state(&self) -> super::DispatchState {
        let config = &self.inner.config;
        let slots = config.nb_threads.max(1) as usize;
        let running = lock(&self.inner.tasks).is_some();
        super::DispatchState {
            name: format!("notifications [{}]", self.queue_names().join(", ")),
            table: "notifications",
            mode: config.mode,
            activity: if config.off {
                "off (nothing dispatched on this node)"
            } else if running {
                "dispatching"
            } else {
                "stopped"
            },
            handlers_running: self.inner.handler_rounds.running(),
            handler_slots: slots,
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
                creating_owner: &self.inner.node,
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
        let owner = match self.inner.config.mode {
            QueueMode::StickyPolling => Some(self.inner.node.clone()),
            QueueMode::Polling | QueueMode::StickyEvents => None,
        };
        ReadyCount::new("notifications", true, owner)
    }

    /// The ready entries now, counted on a main-pool connection.
    pub async fn ready_entries(&self) -> Result<i64, NotificationError> {
        let work = self.inner.db.read().await?;
        let counts = ready::count(work.client(), &[self.ready_count()]).await?;
        Ok(counts.first().copied().unwrap_or_default())
    }

    /// Dispatch latencies (effective date to handler starting) since the last call; the
    /// dashboard's sampler is the only caller.
    pub fn take_dispatch_latencies(&self) -> Latencies {
        self.inner.handler_rounds.take_dispatch_latencies()
    }

    /// Stops fetching, waits up to `timeout` for running handlers and records their outcome.
    /// Entries claimed but not finished stay leased until `claim.time` runs out.
    pub async fn shutdown(&self, timeout: Duration) {
        let _ = self.inner.stop.send(true);
        let tasks = lock(&self.inner.tasks).take();
        if let Some(tasks) = tasks {
            let deadline = Instant::now() + timeout;
            finish("fetcher", tasks.fetcher, deadline).await;
            finish("worker loop", tasks.workers, deadline).await;
            let all_workers = self.inner.config.nb_threads.max(1);
            if tokio::time::timeout_at(deadline, self.inner.workers.acquire_many(all_workers))
                .await
                .is_err()
            {
                tracing::warn!("notification handlers still running at the shutdown deadline; their leases cover them");
            }
            finish(
                "completer",
                tasks.completer,
                deadline.max(Instant::now()) + Duration::from_secs(1),
            )
            .await;
            for task in tasks.background {
                finish(
                    "background task",
                    task,
                    Instant::now() + Duration::from_secs(1),
                )
                .await;
            }
        }
        tracing::info!(queue = self.inner.config.name, "notification queue stopped");
    }

    fn spawn_tasks(&self) -> Tasks {
        let capacity = self.inner.config.queue_capacity.max(1) as usize;
        let (queue, queue_receiver) = mpsc::channel::<Arc<NotificationEntry>>(capacity);
        let (outcomes, outcome_receiver) = mpsc::unbounded_channel::<Outcome<NotificationEntry>>();
        let woken = self.inner.clone();
        let background = vec![
            tokio::spawn(listen_for_wakeups(
                self.inner.db.clone(),
                CHANNEL,
                "notifications",
                self.inner.stop.subscribe(),
                move || woken.wake.notify_one(),
            )),
            tokio::spawn(heartbeat(self.clone())),
            tokio::spawn(reap_periodically(self.clone())),
        ];
        Tasks {
            fetcher: tokio::spawn(poll(self.clone(), queue)),
            workers: tokio::spawn(run_workers(self.clone(), queue_receiver, outcomes)),
            completer: tokio::spawn(complete(self.clone(), outcome_receiver)),
            background,
        }
    }

    fn handler_of(&self, queue_name: &str) -> Option<Handler> {
        let handlers = match self.inner.handlers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        handlers.get(queue_name).cloned()
    }

    /// Calls the entry's queue handler in its own task, so a panic counts as a failure.
    async fn call_handler(&self, entry: Arc<NotificationEntry>) -> Result<(), String> {
        let Some(handler) = self.handler_of(&entry.queue_name) else {
            return Err(format!(
                "no handler registered for notification queue {}",
                entry.queue_name
            ));
        };
        match tokio::spawn(async move { handler(entry).await.map_err(|e| e.to_string()) }).await {
            Ok(result) => result,
            Err(join_error) => Err(format!("handler panicked: {join_error}")),
        }
    }
}

/// Waits for `task` until `deadline`, then aborts it.
async fn finish(what: &str, mut task: JoinHandle<()>, deadline: Instant) {
    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
        tracing::warn!(
            what,
            "notification queue task did not stop in time; aborted"
        );
        task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Fetching
// ---------------------------------------------------------------------------------------------

/// Claims up to `claimed` due entries every `sleep` (minus the loop's time), waking early on
/// NOTIFY or a retry. A future entry recorded with no NOTIFY-worthy wake-up is found by the
/// timer, so `sleep` bounds how late a notification runs after its effective date.
async fn poll(service: NotificationQueueService, queue: mpsc::Sender<Arc<NotificationEntry>>) {
    let inner = &service.inner;
    let mut stop = inner.stop.subscribe();
    let sticky = inner.config.mode == QueueMode::StickyPolling;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let claimed = match inner.db.read().await {
            Ok(work) => {
                claim_due_entries(
                    work.client(),
                    &inner.node,
                    inner.config.claim_time,
                    i64::from(inner.config.claimed.max(1)),
                    sticky,
                )
                .await
            }
            Err(error) => Err(error.into()),
        };
        let mut failed = false;
        let found = match claimed {
            Ok(entries) => {
                let found = entries.len();
                metrics::fetched(QUEUE_METRICS_ID, found as u64, found as u64);
                for entry in entries {
                    // A full queue blocks here: entries wait in the table, not in memory.
                    tokio::select! {
                        biased;
                        _ = stopped(&mut stop) => return,
                        sent = queue.send(Arc::new(entry)) => if sent.is_err() { return },
                    }
                }
                found
            }
            Err(error) => {
                tracing::warn!(%error, "claiming notifications failed");
                failed = true;
                0
            }
        };
        let mut wait = inner.config.sleep.saturating_sub(started.elapsed());
        if failed {
            wait = wait.max(ERROR_BACKOFF);
        } else if found == 0 {
            wait = wait.max(MIN_IDLE_WAIT);
        } else if found >= inner.config.claimed.max(1) as usize {
            // A full batch means more are ready: claim again at once rather than letting a
            // backlog wait a whole `sleep` per batch.
            wait = Duration::ZERO;
        }
        if found > 0 && found < inner.config.claimed.max(1) as usize {
            let floor = MIN_POLL_INTERVAL.min(wait);
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = tokio::time::sleep(floor) => {}
            }
            wait -= floor;
        }
        if !wait.is_zero() {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = tokio::time::sleep(wait) => {}
                _ = inner.wake.notified() => {}
            }
        }
    }
}

/// Runs each entry's handler within `nbThreads`.
async fn run_workers(
    service: NotificationQueueService,
    queue: mpsc::Receiver<Arc<NotificationEntry>>,
    outcomes: mpsc::UnboundedSender<Outcome<NotificationEntry>>,
) {
    let stop = service.inner.stop.subscribe();
    let workers = service.inner.workers.clone();
    outcomes::run_workers(stop, workers, queue, outcomes, move |entry| {
        let service = service.clone();
        async move {
            let round = service.call_handler(entry.clone());
            let rounds = &service.inner.handler_rounds;
            rounds
                .run(QUEUE_METRICS_ID, entry.effective_date, round)
                .await
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------

/// Records outcomes, up to 15 per transaction, until every worker has finished.
async fn complete(
    service: NotificationQueueService,
    mut outcomes: mpsc::UnboundedReceiver<Outcome<NotificationEntry>>,
) {
    let inner = &service.inner;
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        let linger = tokio::time::Instant::now() + COMPLETION_LINGER;
        while batch.len() < COMPLETION_BATCH {
            match tokio::time::timeout_at(linger, outcomes.recv()).await {
                Ok(Some(outcome)) => batch.push(outcome),
                Ok(None) | Err(_) => break,
            }
        }
        let decided: Vec<(Arc<NotificationEntry>, Completion)> = batch
            .into_iter()
            .map(|outcome| {
                let decision = completion(
                    outcome.entry.error_count,
                    outcome.result.is_ok(),
                    inner.config.max_failure_retry,
                );
                if let Err(error) = &outcome.result {
                    tracing::warn!(
                        record_id = outcome.entry.record_id,
                        queue_name = outcome.entry.queue_name,
                        error_count = outcome.entry.error_count,
                        completion = ?decision,
                        %error,
                        "notification handler failed"
                    );
                }
                (outcome.entry, decision)
            })
            .collect();
        // As on the bus: keep trying through a database outage while running, so outcomes
        // are recorded once it is back instead of the entries waiting out claim.time and
        // running again; a stopping queue gives up after a few tries.
        let mut stop = inner.stop.subscribe();
        let mut attempt = 1;
        loop {
            match record_outcomes(&service, &decided).await {
                Ok(()) => {
                    if decided
                        .iter()
                        .any(|(_, decision)| matches!(decision, Completion::Retry(_)))
                    {
                        inner.wake.notify_one();
                    }
                    break;
                }
                Err(error) if attempt < COMPLETION_ATTEMPTS || !*stop.borrow() => {
                    tracing::warn!(%error, attempt, "recording notification outcomes failed; retrying");
                    attempt += 1;
                    if *stop.borrow() {
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    } else {
                        tokio::select! {
                            _ = stopped(&mut stop) => {}
                            _ = tokio::time::sleep(ERROR_BACKOFF) => {}
                        }
                    }
                }
                Err(error) => {
                    // The entries stay leased until claim.time runs out, then any node
                    // claims them again.
                    tracing::error!(%error, "recording notification outcomes failed; the entries will be dispatched again");
                    break;
                }
            }
        }
    }
}

/// One transaction: finished entries move to history, failed ones go back for a retry.
async fn record_outcomes(
    service: &NotificationQueueService,
    decided: &[(Arc<NotificationEntry>, Completion)],
) -> Result<(), NotificationError> {
    let node = service.inner.node.as_str();
    let batch = DecidedBatch::split(
        decided
            .iter()
            .map(|(entry, decision)| (entry.record_id, entry.error_count, *decision)),
    );
    let work = service.inner.db.begin().await?;
    let transaction = work.client();
    if !batch.finished_ids.is_empty() {
        move_to_history(
            transaction,
            &batch.finished_ids,
            &batch.finished_states,
            &batch.finished_error_counts,
            node,
        )
        .await?;
    }
    if !batch.retried_ids.is_empty() {
        release_for_retry(
            transaction,
            &batch.retried_ids,
            &batch.retried_error_counts,
            node,
        )
        .await?;
    }
    work.commit().await?;
    let (processed, failed, first_failures) = batch.counts();
    metrics::completed(QUEUE_METRICS_ID, processed, failed, first_failures);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reaper and heartbeat
// ---------------------------------------------------------------------------------------------

async fn heartbeat(service: NotificationQueueService) {
    let inner = &service.inner;
    let mut stop = inner.stop.subscribe();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(HEARTBEAT_PERIOD) => {}
        }
        if let Err(error) = reaper::write_heartbeat(&inner.db, &inner.node).await {
            tracing::warn!(%error, "writing the node heartbeat failed");
        }
    }
}

async fn reap_periodically(service: NotificationQueueService) {
    let inner = &service.inner;
    let mut stop = inner.stop.subscribe();
    let period = inner.config.reap_schedule.max(Duration::from_millis(10));
    loop {
        // The first pass comes one period after start, as in Kill Bill.
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
        if let Err(error) = reap_once(&service).await {
            tracing::warn!(%error, "reaping notifications failed");
        }
    }
}

impl NotificationQueueService {
    /// Takes over at once what `node`, found dead, had claimed (and in STICKY_POLLING, the
    /// entries only it would have dispatched): each goes to history as REAPED and comes back
    /// AVAILABLE, created by this node. Returns how many entries.
    pub async fn take_over(&self, node: &str) -> Result<usize, NotificationError> {
        if self.inner.config.off {
            return Ok(0);
        }
        let mut taken = 0;
        loop {
            let batch = self.take_over_batch(node).await?;
            taken += batch;
            if (batch as i64) < reaper::TAKE_OVER_BATCH {
                return Ok(taken);
            }
        }
    }

    /// One transaction of [`take_over`](Self::take_over): at most `TAKE_OVER_BATCH` entries.
    async fn take_over_batch(&self, node: &str) -> Result<usize, NotificationError> {
        let inner = &self.inner;
        let sticky = inner.config.mode == QueueMode::StickyPolling;
        let work = inner.db.begin().await?;
        let transaction = work.client();
        // `for update skip locked`: another node taking over at once skips these rows.
        let candidates = crate::db::sql::query(
            transaction,
            "select record_id from notifications
             where processing_state not in ('PROCESSED', 'REMOVED')
               and (processing_owner = $1
                    or ($2 and processing_owner is null and creating_owner = $1))
             order by record_id
             limit $3
             for update skip locked",
            &[&node, &sticky, &reaper::TAKE_OVER_BATCH],
        )
        .await?;
        let to_reap: Vec<i64> = candidates.iter().map(|row| row.get(0)).collect();
        if to_reap.is_empty() {
            work.commit().await?;
            return Ok(0);
        }
        let new_ids = reap_and_reinsert(transaction, &to_reap, &inner.node).await?;
        work.commit().await?;
        drop(work);
        tracing::warn!(node, reaped = ?to_reap, reinserted = ?new_ids, "took over the notifications of a dead node");
        metrics::reaped(QUEUE_METRICS_ID, to_reap.len() as u64);
        inner.wake.notify_one();
        Ok(to_reap.len())
    }
}

/// One pass of the bus's reaper logic on `notifications`, aged by `effective_date` as in
/// Kill Bill; returns the new record ids.
async fn reap_once(service: &NotificationQueueService) -> Result<Vec<i64>, NotificationError> {
    let inner = &service.inner;
    let threshold = reaper::reap_threshold(inner.config.claim_time, inner.config.reap_threshold);
    let work = inner.db.begin().await?;
    let transaction = work.client();
    let candidates = select_reapable(
        transaction,
        threshold,
        i64::from(inner.config.max_redispatch_count),
    )
    .await?;
    let mut late = Vec::new();
    let mut to_reap = Vec::new();
    for (record_id, creating_owner, processing_owner) in candidates {
        if creating_owner == inner.node && processing_owner.is_none() {
            late.push(record_id);
        } else {
            to_reap.push(record_id);
        }
    }
    if !late.is_empty() {
        tracing::warn!(late = ?late, "this node's notifications are late (due longer than the reap threshold ago and not dispatched)");
    }
    if to_reap.is_empty() {
        work.commit().await?;
        return Ok(Vec::new());
    }
    let new_ids = reap_and_reinsert(transaction, &to_reap, &inner.node).await?;
    work.commit().await?;
    tracing::warn!(reaped = ?to_reap, reinserted = ?new_ids, "reaped notifications of a dead or stuck node");
    metrics::reaped(QUEUE_METRICS_ID, to_reap.len() as u64);
    Ok(new_ids)
}

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

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
            &CHANNEL,
        ],
    )
    .await?;
    Ok(row.get(0))
}

/// Claims and leases up to `limit` due entries, earliest effective date first, in one
/// statement.
async fn claim_due_entries(
    client: &impl deadpool_postgres::GenericClient,
    node: &str,
    claim_time: Duration,
    limit: i64,
    sticky: bool,
) -> Result<Vec<NotificationEntry>, NotificationError> {
    // `for update skip locked`: concurrent claimers (other nodes) skip rows another claim has
    // locked instead of waiting for it and then finding them taken; the lock is held until
    // the update commits, so no row is claimed twice. The lease (claim.time) hides the row
    // from the ready clause until the handler is done or the lease runs out.
    let rows = client
        .query(
            &format!(
                "update notifications
                 set processing_owner = $1,
                     processing_available_date = now() + make_interval(secs => $2),
                     processing_state = 'IN_PROCESSING'
                 where record_id in (
                     select record_id from notifications
                     where effective_date <= now()
                       and processing_state not in ('PROCESSED', 'REMOVED')
                       and (processing_owner is null or processing_available_date <= now())
                       and (not $4 or creating_owner = $1)
                     order by effective_date, record_id
                     limit $3
                     for update skip locked
                 )
                 returning {ENTRY_COLUMNS}"
            ),
            &[&node, &claim_time.as_secs_f64(), &limit, &sticky],
        )
        .await?;
    let mut entries: Vec<NotificationEntry> = rows.iter().map(entry_from_row).collect();
    entries.sort_by_key(|entry| (entry.effective_date, entry.record_id));
    Ok(entries)
}

fn entry_from_row(row: &Row) -> NotificationEntry {
    NotificationEntry {
        record_id: row.get("record_id"),
        queue_name: row.get("queue_name"),
        effective_date: row.get("effective_date"),
        class_name: row.get("class_name"),
        event_json: row.get("event_json"),
        user_token: row.get("user_token"),
        future_user_token: row.get("future_user_token"),
        created_date: row.get("created_date"),
        creating_owner: row.get("creating_owner"),
        search_keys: SearchKeys {
            account_record_id: row.get("search_key1"),
            tenant_record_id: row.get("search_key2"),
        },
        error_count: row.get("error_count"),
    }
}

/// Deletes finished entries this node still holds and inserts them into history with their
/// final state, in one statement (the history copy gets a new record_id, as in Kill Bill).
async fn move_to_history(
    client: &impl deadpool_postgres::GenericClient,
    record_ids: &[i64],
    states: &[&str],
    error_counts: &[i32],
    node: &str,
) -> Result<u64, NotificationError> {
    // The delete takes the row locks; a row whose lease ran out and another node now holds
    // (`processing_owner` differs) is left to that node.
    Ok(client
        .execute(
            &client
                .prepare_cached(
                    "with moved as (
                 delete from notifications as live
                 using unnest($1::bigint[], $2::text[], $3::integer[])
                     as outcome(record_id, processing_state, error_count)
                 where live.record_id = outcome.record_id
                   and live.processing_owner = $4
                 returning live.record_id, live.class_name, live.event_json, live.user_token,
                     live.future_user_token, live.created_date, live.creating_owner,
                     live.search_key1, live.search_key2, live.queue_name, live.effective_date,
                     outcome.processing_state as final_state,
                     outcome.error_count as final_error_count
             )
             insert into notifications_history
                 (class_name, event_json, user_token, future_user_token, created_date,
                  creating_owner, processing_owner, processing_available_date, processing_state,
                  error_count, search_key1, search_key2, queue_name, effective_date)
             select class_name, event_json, user_token, future_user_token, created_date,
                    creating_owner, $4, now(), final_state, final_error_count, search_key1,
                    search_key2, queue_name, effective_date
             from moved
             order by record_id",
                )
                .await?,
            &[&record_ids, &states, &error_counts, &node],
        )
        .await?)
}

/// Puts failed entries back: AVAILABLE, unowned, with their new error count.
async fn release_for_retry(
    client: &impl deadpool_postgres::GenericClient,
    record_ids: &[i64],
    error_counts: &[i32],
    node: &str,
) -> Result<u64, NotificationError> {
    // The update locks the rows; as above, a claim another node now holds is left alone.
    Ok(client
        .execute(
            &client
                .prepare_cached(
                    "update notifications as live
             set processing_owner = null,
                 processing_available_date = now(),
                 processing_state = 'AVAILABLE',
                 error_count = retry.error_count
             from unnest($1::bigint[], $2::integer[]) as retry(record_id, error_count)
             where live.record_id = retry.record_id
               and live.processing_owner = $3",
                )
                .await?,
            &[&record_ids, &error_counts, &node],
        )
        .await?)
}

/// Entries due longer than `threshold` ago that nobody is going to finish: unowned, with an
/// expired lease, or held by a node that stopped heartbeating.
async fn select_reapable(
    client: &impl deadpool_postgres::GenericClient,
    threshold: Duration,
    limit: i64,
) -> Result<Vec<(i64, String, Option<String>)>, NotificationError> {
    // `for update skip locked`: rows a dispatcher is claiming or finishing, or another node's
    // reaper is reaping, are skipped rather than waited for; the locks are held to commit, so
    // two reapers never both re-insert one entry.
    let rows = client
        .query(
            &client
                .prepare_cached(
                    "select record_id, creating_owner, processing_owner from notifications as live
             where processing_state not in ('PROCESSED', 'REMOVED')
               and (processing_owner is null
                    or processing_available_date <= now()
                    or not exists (
                        select 1 from bus_nodes
                        where bus_nodes.node_name = live.processing_owner
                          and bus_nodes.heartbeat_at > now() - make_interval(secs => $3)))
               and effective_date <= now() - make_interval(secs => $1)
             order by effective_date, record_id
             limit $2
             for update of live skip locked",
                )
                .await?,
            &[
                &threshold.as_secs_f64(),
                &limit,
                &HEARTBEAT_STALE_AFTER.as_secs_f64(),
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// Moves `record_ids` (locked by [`select_reapable`]) to history as REAPED and re-inserts
/// each as AVAILABLE, created by `node`; wakes every polling node on commit.
async fn reap_and_reinsert(
    client: &impl deadpool_postgres::GenericClient,
    record_ids: &[i64],
    node: &str,
) -> Result<Vec<i64>, NotificationError> {
    // The rows are already locked by the select in this transaction.
    let rows = client
        .query(
            &client
                .prepare_cached(
                    "with reaped as (
                 delete from notifications where record_id = any($1)
                 returning record_id, class_name, event_json, user_token, future_user_token,
                     created_date, creating_owner, processing_owner, processing_available_date,
                     error_count, search_key1, search_key2, queue_name, effective_date
             ), archived as (
                 insert into notifications_history
                     (class_name, event_json, user_token, future_user_token, created_date,
                      creating_owner, processing_owner, processing_available_date,
                      processing_state, error_count, search_key1, search_key2, queue_name,
                      effective_date)
                 select class_name, event_json, user_token, future_user_token, created_date,
                        creating_owner, processing_owner, processing_available_date, 'REAPED',
                        error_count, search_key1, search_key2, queue_name, effective_date
                 from reaped
             ), reinserted as (
                 insert into notifications
                     (class_name, event_json, user_token, future_user_token, created_date,
                      creating_owner, processing_owner, processing_available_date,
                      processing_state, error_count, search_key1, search_key2, queue_name,
                      effective_date)
                 select class_name, event_json, user_token, future_user_token, now(), $2, null,
                        null, 'AVAILABLE', error_count, search_key1, search_key2, queue_name,
                        effective_date
                 from reaped
                 order by record_id
                 returning record_id
             )
             select reinserted.record_id from reinserted, (select pg_notify($3, '')) as notified",
                )
                .await?,
            &[&record_ids, &node, &CHANNEL],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
