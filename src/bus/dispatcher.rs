//! Dispatching one bus instance: a fetcher that finds entries (by claiming rows in the polling
//! modes, from this node's in-memory queue in STICKY_EVENTS), a bounded hand-over queue of
//! `queue.capacity` entries, at most `nbThreads` handler calls at once, and a completer that
//! records outcomes in batches: to history (PROCESSED, FAILED) or back for a retry.
//!
//! This file owns those tasks and their SQL. It must never post events or decide what a
//! handler does with one; when the hand-over queue is full the fetcher blocks and the table
//! grows (Kill Bill's saturation behaviour), it never drops an entry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use super::metrics;
use super::outcomes::{self, completion, Completion, DecidedBatch, Outcome};
use super::{reaper, Bus, BusEntry, BusError, BusInner, SearchKeys};
use crate::config::QueueMode;
use crate::db::work::Db;

/// Kill Bill's completion threads move at most this many entries per transaction.
const COMPLETION_BATCH: usize = 15;
/// Completion tasks per bus (Kill Bill's `lifecycle.complete.nbThreads` default).
const COMPLETION_THREADS: usize = 2;
/// STICKY_EVENTS: how long the fetcher waits for `inflight.min` ids before dispatching fewer.
const INFLIGHT_WAIT: Duration = Duration::from_millis(100);
/// STICKY_EVENTS: ids reloaded per query when the node starts.
const RELOAD_BATCH: i64 = 1000;
/// When a poll found nothing and `sleep` is 0, the least the fetcher waits (NOTIFY still wakes
/// it at once), so an idle bus does not spin on the database.
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
/// The columns of [`BusEntry`], in the order [`entry_from_row`] reads them.
const ENTRY_COLUMNS: &str = "record_id, class_name, event_json, user_token, created_date, \
     creating_owner, search_key1, search_key2, error_count";

/// The running tasks of one bus; [`Tasks::stop`] ends them in order.
pub(super) struct Tasks {
    fetcher: JoinHandle<()>,
    workers: JoinHandle<()>,
    completers: Vec<JoinHandle<()>>,
    /// The NOTIFY listener, the reaper and the heartbeat: they watch the stop signal too.
    background: Vec<JoinHandle<()>>,
}

/// Ids between fetch and completion. STICKY_EVENTS: an id can be queued twice (the startup
/// reload racing a commit, the reaper); this keeps a second copy from running concurrently.
/// Polling modes: the claims whose leases this node keeps alive.
type Dispatching = Arc<Mutex<HashSet<i64>>>;

/// Starts the tasks of a bus whose node is registered in `bus_nodes`.
pub(super) fn spawn(bus: &Bus, inflight_receiver: Option<mpsc::UnboundedReceiver<i64>>) -> Tasks {
    let inner = &bus.inner;
    let capacity = inner.config.queue_capacity.max(1) as usize;
    let (queue, queue_receiver) = mpsc::channel::<Arc<BusEntry>>(capacity);
    let (outcomes, outcome_receiver) = mpsc::unbounded_channel::<Outcome<BusEntry>>();
    let dispatching: Dispatching = Arc::default();

    let mut background = Vec::new();
    let fetcher = match (inner.config.mode, inflight_receiver) {
        (QueueMode::StickyEvents, Some(ids)) => tokio::spawn(fetch_sticky_events(
            bus.clone(),
            ids,
            queue,
            dispatching.clone(),
        )),
        _ => {
            background.push(tokio::spawn(listen(bus.clone())));
            background.push(tokio::spawn(keep_leases(bus.clone(), dispatching.clone())));
            tokio::spawn(poll(bus.clone(), queue, dispatching.clone()))
        }
    };
    let workers = tokio::spawn(run_workers(bus.clone(), queue_receiver, outcomes));
    // Kill Bill's lifecycle.complete.nbThreads (2): two completers share the outcomes, so one
    // batch's transaction is in flight while the next batch is gathered and written.
    let outcome_receiver = Arc::new(tokio::sync::Mutex::new(outcome_receiver));
    let completers = (0..COMPLETION_THREADS)
        .map(|_| {
            tokio::spawn(complete(
                bus.clone(),
                outcome_receiver.clone(),
                dispatching.clone(),
            ))
        })
        .collect();
    background.extend(reaper::spawn(bus));
    Tasks {
        fetcher,
        workers,
        completers,
        background,
    }
}

impl Tasks {
    /// Stops fetching at once, gives running handlers until `timeout`, records their outcomes
    /// and ends the background tasks.
    pub(super) async fn stop(self, inner: &BusInner, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for (what, task) in [("fetcher", self.fetcher), ("worker loop", self.workers)] {
            finish(inner.config.name, what, task, deadline).await;
        }
        let all_workers = inner.config.nb_threads.max(1);
        match tokio::time::timeout_at(deadline, inner.workers.acquire_many(all_workers)).await {
            Ok(_) => {}
            Err(_) => tracing::warn!(
                bus = inner.config.name,
                "handlers still running at the shutdown deadline; their leases cover them"
            ),
        }
        // The completers end once the last outcome is recorded; a moment of grace past the
        // deadline lets them write what the handlers finished.
        let grace = deadline.max(Instant::now()) + Duration::from_secs(1);
        for completer in self.completers {
            finish(inner.config.name, "completer", completer, grace).await;
        }
        for task in self.background {
            finish(
                inner.config.name,
                "background task",
                task,
                Instant::now() + Duration::from_secs(1),
            )
            .await;
        }
    }
}

/// Waits for `task` until `deadline`, then aborts it.
async fn finish(bus: &str, what: &str, mut task: JoinHandle<()>, deadline: Instant) {
    if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
        tracing::warn!(bus, what, "did not stop in time; aborted");
        task.abort();
    }
}

/// Resolves once the bus is stopping (or the bus is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

// ---------------------------------------------------------------------------------------------
// Fetching: POLLING and STICKY_POLLING
// ---------------------------------------------------------------------------------------------

/// Claims up to `claimed` entries every `sleep` (minus the time the loop took, as Kill Bill's
/// lifecycle thread does), waking early when a NOTIFY arrives or an entry is retried.
async fn poll(bus: Bus, queue: mpsc::Sender<Arc<BusEntry>>, dispatching: Dispatching) {
    let inner = &bus.inner;
    let mut stop = inner.stop.subscribe();
    let sticky = inner.config.mode == QueueMode::StickyPolling;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let claimed = match inner.db.read().await {
            Ok(work) => {
                claim_entries(
                    work.client(),
                    inner.tables.live,
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
                metrics::fetched(&inner.metrics_id, found as u64, found as u64);
                if let Ok(mut running) = dispatching.lock() {
                    running.extend(entries.iter().map(|entry| entry.record_id));
                }
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
                tracing::warn!(bus = inner.config.name, %error, "claiming bus entries failed");
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

/// Claims and leases up to `limit` ready entries, oldest first, in one statement.
async fn claim_entries(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    node: &str,
    claim_time: Duration,
    limit: i64,
    sticky: bool,
) -> Result<Vec<BusEntry>, BusError> {
    // Kill Bill's ready clause: not finished, and unowned or with an expired lease.
    // STICKY_POLLING only takes what this node created.
    let sticky_clause = if sticky {
        "and creating_owner = $1"
    } else {
        ""
    };
    // `for update skip locked`: concurrent claimers (other nodes) skip rows another claim has
    // locked instead of waiting for it and then finding them taken; the lock is held until
    // the update commits, so no row is claimed twice. The lease (claim.time) hides the row
    // from the ready clause until the handler is done or the lease runs out.
    let sql = format!(
        "update {live_table}
         set processing_owner = $1,
             processing_available_date = now() + make_interval(secs => $2),
             processing_state = 'IN_PROCESSING'
         where record_id in (
             select record_id from {live_table}
             where processing_state not in ('PROCESSED', 'REMOVED')
               and (processing_owner is null or processing_available_date <= now())
               {sticky_clause}
             order by record_id
             limit $3
             for update skip locked
         )
         returning {ENTRY_COLUMNS}"
    );
    let rows = client
        .query(
            &client.prepare_cached(&sql).await?,
            &[&node, &claim_time.as_secs_f64(), &limit],
        )
        .await?;
    let mut entries: Vec<BusEntry> = rows.iter().map(entry_from_row).collect();
    entries.sort_by_key(|entry| entry.record_id);
    Ok(entries)
}

/// Polling modes: renews the lease of every entry this node claimed and has not finished,
/// every half `claim.time`, so a handler that outlives `claim.time` on a live node (a slow
/// database, a saturated pool) is not claimed or reaped by another node and run twice while
/// it still runs. A dead node renews nothing: its leases run out and the reaper takes over, as
/// before. The claims waiting in the hand-over queue for a worker are kept alive too.
async fn keep_leases(bus: Bus, dispatching: Dispatching) {
    let inner = &bus.inner;
    let mut stop = inner.stop.subscribe();
    let period = (inner.config.claim_time / 2).max(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
        let ids: Vec<i64> = match dispatching.lock() {
            Ok(running) => running.iter().copied().collect(),
            Err(poisoned) => poisoned.into_inner().iter().copied().collect(),
        };
        if ids.is_empty() {
            continue;
        }
        let renewed = match inner.db.read().await {
            Ok(work) => {
                renew_leases(
                    work.client(),
                    inner.tables.live,
                    &inner.node,
                    inner.config.claim_time,
                    &ids,
                )
                .await
            }
            Err(error) => Err(error.into()),
        };
        if let Err(error) = renewed {
            tracing::warn!(bus = inner.config.name, %error, "renewing bus entry leases failed");
        }
    }
}

/// Moves the lease of this node's claims among `ids` to now + `claim_time`.
async fn renew_leases(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    node: &str,
    claim_time: Duration,
    ids: &[i64],
) -> Result<u64, BusError> {
    // One statement on rows this node owns; a row another node took (after a missed renewal)
    // or already moved to history is not touched. Row locks are held for the statement only.
    let sql = format!(
        "update {live_table} set processing_available_date = now() + make_interval(secs => $3)
         where record_id = any($1) and processing_owner = $2
           and processing_state = 'IN_PROCESSING'"
    );
    Ok(client
        .execute(
            &client.prepare_cached(&sql).await?,
            &[&ids, &node, &claim_time.as_secs_f64()],
        )
        .await?)
}

/// LISTENs on the live table's channel and wakes the fetcher on every notification.
async fn listen(bus: Bus) {
    let woken = bus.inner.clone();
    listen_for_wakeups(
        bus.inner.db.clone(),
        bus.inner.tables.live,
        bus.inner.config.name,
        bus.inner.stop.subscribe(),
        move || woken.wake.notify_one(),
    )
    .await
}

/// LISTENs on `channel` on a dedicated connection (a pooled one would be recycled and lose
/// the subscription) and calls `wake` on every notification, and once after each (re)connect
/// since anything committed meanwhile notified nobody. Reconnects after an error; the
/// fetcher's timer covers the gap. Shared by the buses and the notification queue.
pub(super) async fn listen_for_wakeups(
    db: Db,
    channel: &'static str,
    queue: &'static str,
    mut stop: watch::Receiver<bool>,
    wake: impl Fn() + Send + Sync + 'static,
) {
    let wake = Arc::new(wake);
    loop {
        match listen_until_error(&db, channel, &mut stop, wake.clone()).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(
                bus = queue,
                %error,
                "the NOTIFY listener lost its connection; reconnecting"
            ),
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(ERROR_BACKOFF) => {}
        }
    }
}

/// Returns `Ok` when the queue stops, `Err` when the connection fails.
async fn listen_until_error(
    db: &Db,
    channel: &str,
    stop: &mut watch::Receiver<bool>,
    wake: Arc<impl Fn() + Send + Sync + 'static>,
) -> Result<(), String> {
    let connect = db.pool().target().connect(NoTls);
    let (client, mut connection) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "connecting timed out".to_string())?
        .map_err(|error| error.to_string())?;
    let (closed, closed_receiver) = oneshot::channel::<String>();
    let woken = wake.clone();
    let driver = AbortOnDrop(tokio::spawn(async move {
        let reason = loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => woken(),
                Some(Ok(_)) => {}
                Some(Err(error)) => break error.to_string(),
                None => break "the connection closed".to_string(),
            }
        };
        let _ = closed.send(reason);
    }));
    client
        .batch_execute(&format!("listen {channel}"))
        .await
        .map_err(|error| error.to_string())?;
    // Anything committed while the listener was (re)connecting sent its NOTIFY to nobody.
    wake();
    tokio::select! {
        _ = stopped(stop) => {
            drop(client);
            drop(driver);
            Ok(())
        }
        reason = closed_receiver => Err(reason.unwrap_or_else(|_| "the connection task ended".to_string())),
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Fetching: STICKY_EVENTS
// ---------------------------------------------------------------------------------------------

/// Takes committed ids from this node's in-memory queue: up to `inflight.max` at a time,
/// waiting at most 100 ms for `inflight.min`, and reads their rows. Rows are not claimed:
/// only this node knows the ids, and they stay AVAILABLE until moved to history.
async fn fetch_sticky_events(
    bus: Bus,
    mut ids: mpsc::UnboundedReceiver<i64>,
    queue: mpsc::Sender<Arc<BusEntry>>,
    dispatching: Dispatching,
) {
    let inner = &bus.inner;
    let mut stop = inner.stop.subscribe();
    tokio::select! {
        _ = stopped(&mut stop) => return,
        _ = reload_own_entries(&bus) => {}
    }
    let min = inner.config.inflight_min.max(1) as usize;
    let max = (inner.config.inflight_max as usize).max(min);
    loop {
        let first = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            id = ids.recv() => match id { Some(id) => id, None => return },
        };
        let mut batch = vec![first];
        let waited_until = Instant::now() + INFLIGHT_WAIT;
        while batch.len() < max {
            match ids.try_recv() {
                Ok(id) => batch.push(id),
                Err(_) if batch.len() >= min => break,
                Err(_) => match tokio::time::timeout_at(waited_until, ids.recv()).await {
                    Ok(Some(id)) => batch.push(id),
                    Ok(None) | Err(_) => break,
                },
            }
        }
        if let Ok(mut running) = dispatching.lock() {
            batch.retain(|id| running.insert(*id));
        }
        if batch.is_empty() {
            continue;
        }
        let read = match inner.db.read().await {
            Ok(work) => read_entries(work.client(), inner.tables.live, &batch).await,
            Err(error) => Err(error.into()),
        };
        match read {
            Ok(entries) => {
                // STICKY_EVENTS reads by id without claiming, as Kill Bill's inflight queue.
                metrics::fetched(&inner.metrics_id, entries.len() as u64, 0);
                // Ids without a row were completed or reaped meanwhile: nothing to do.
                let found: HashSet<i64> = entries.iter().map(|e| e.record_id).collect();
                if let Ok(mut running) = dispatching.lock() {
                    batch
                        .iter()
                        .filter(|id| !found.contains(id))
                        .for_each(|id| {
                            running.remove(id);
                        });
                }
                for entry in entries {
                    tokio::select! {
                        biased;
                        _ = stopped(&mut stop) => return,
                        sent = queue.send(Arc::new(entry)) => if sent.is_err() { return },
                    }
                }
            }
            Err(error) => {
                tracing::warn!(bus = inner.config.name, %error, "reading bus entries failed; retrying");
                if let Ok(mut running) = dispatching.lock() {
                    batch.iter().for_each(|id| {
                        running.remove(id);
                    });
                }
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = tokio::time::sleep(ERROR_BACKOFF) => {}
                }
                if let Some(inflight) = &inner.inflight {
                    batch.into_iter().for_each(|id| {
                        let _ = inflight.send(id);
                    });
                }
            }
        }
    }
}

/// Queues this node's AVAILABLE entries left from before a restart, 1000 ids at a time.
async fn reload_own_entries(bus: &Bus) {
    let inner = &bus.inner;
    let Some(inflight) = &inner.inflight else {
        return;
    };
    let mut after = 0_i64;
    let mut reloaded = 0_usize;
    loop {
        let page = match inner.db.read().await {
            Ok(work) => {
                own_available_ids(work.client(), inner.tables.live, &inner.node, after).await
            }
            Err(error) => Err(error.into()),
        };
        match page {
            Ok(ids) if ids.is_empty() => break,
            Ok(ids) => {
                after = ids.last().copied().unwrap_or(after);
                reloaded += ids.len();
                ids.into_iter().for_each(|id| {
                    let _ = inflight.send(id);
                });
            }
            Err(error) => {
                tracing::warn!(bus = inner.config.name, %error, "reloading this node's bus entries failed; retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    if reloaded > 0 {
        tracing::info!(
            bus = inner.config.name,
            reloaded,
            "queued this node's entries left from before"
        );
    }
}

async fn own_available_ids(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    node: &str,
    after_record_id: i64,
) -> Result<Vec<i64>, BusError> {
    // No lock: the ids only enter this node's queue; the dispatcher reads the rows later.
    let sql = format!(
        "select record_id from {live_table}
         where creating_owner = $1 and processing_state = 'AVAILABLE' and record_id > $2
         order by record_id
         limit $3"
    );
    let rows = client
        .query(
            &client.prepare_cached(&sql).await?,
            &[&node, &after_record_id, &RELOAD_BATCH],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

async fn read_entries(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    record_ids: &[i64],
) -> Result<Vec<BusEntry>, BusError> {
    // No lock: in STICKY_EVENTS only this node dispatches these ids.
    let sql = format!(
        "select {ENTRY_COLUMNS} from {live_table}
         where record_id = any($1) and processing_state = 'AVAILABLE'
         order by record_id"
    );
    let rows = client
        .query(&client.prepare_cached(&sql).await?, &[&record_ids])
        .await?;
    Ok(rows.iter().map(entry_from_row).collect())
}

fn entry_from_row(row: &Row) -> BusEntry {
    BusEntry {
        record_id: row.get("record_id"),
        class_name: row.get("class_name"),
        event_json: row.get("event_json"),
        user_token: row.get("user_token"),
        created_date: row.get("created_date"),
        creating_owner: row.get("creating_owner"),
        search_keys: SearchKeys {
            account_record_id: row.get("search_key1"),
            tenant_record_id: row.get("search_key2"),
        },
        error_count: row.get("error_count"),
    }
}

// ---------------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------------

/// Runs the handlers of each entry within `nbThreads`, recording per-queue handler metrics.
async fn run_workers(
    bus: Bus,
    queue: mpsc::Receiver<Arc<BusEntry>>,
    outcomes: mpsc::UnboundedSender<Outcome<BusEntry>>,
) {
    let stop = bus.inner.stop.subscribe();
    let workers = bus.inner.workers.clone();
    outcomes::run_workers(
        stop,
        workers,
        queue,
        outcomes,
        move |entry: Arc<BusEntry>| {
            let bus = bus.clone();
            async move {
                let inner = &bus.inner;
                let round = bus.call_subscribers(entry.clone());
                inner
                    .handler_rounds
                    .run(&inner.metrics_id, entry.created_date, round)
                    .await
            }
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------

/// Records outcomes, up to 15 per transaction, until every worker has finished.
async fn complete(
    bus: Bus,
    outcomes: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Outcome<BusEntry>>>>,
    dispatching: Dispatching,
) {
    let inner = &bus.inner;
    loop {
        let batch = {
            // Held only while gathering a batch, not while writing it.
            let mut receiver = outcomes.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            let linger = tokio::time::Instant::now() + COMPLETION_LINGER;
            while batch.len() < COMPLETION_BATCH {
                match tokio::time::timeout_at(linger, receiver.recv()).await {
                    Ok(Some(outcome)) => batch.push(outcome),
                    Ok(None) | Err(_) => break,
                }
            }
            batch
        };
        let decided: Vec<(Arc<BusEntry>, Completion)> = batch
            .into_iter()
            .map(|outcome| {
                let completion = completion(
                    outcome.entry.error_count,
                    outcome.result.is_ok(),
                    inner.config.max_failure_retry,
                );
                if let Err(error) = &outcome.result {
                    tracing::warn!(
                        bus = inner.config.name,
                        record_id = outcome.entry.record_id,
                        class_name = outcome.entry.class_name,
                        error_count = outcome.entry.error_count,
                        ?completion,
                        %error,
                        "bus event handler failed"
                    );
                }
                (outcome.entry, completion)
            })
            .collect();
        let recorded = record_with_retries(&bus, &decided).await;
        if let Ok(mut running) = dispatching.lock() {
            decided.iter().for_each(|(entry, _)| {
                running.remove(&entry.record_id);
            });
        }
        match &inner.inflight {
            // STICKY_EVENTS: nothing else would ever look at these rows again before a
            // restart, so an unrecorded batch is dispatched again (handlers are idempotent).
            Some(inflight) => decided
                .iter()
                .filter(|(_, completion)| !recorded || matches!(completion, Completion::Retry(_)))
                .for_each(|(entry, _)| {
                    let _ = inflight.send(entry.record_id);
                }),
            None => {
                if recorded
                    && decided
                        .iter()
                        .any(|(_, completion)| matches!(completion, Completion::Retry(_)))
                {
                    inner.wake.notify_one();
                }
            }
        }
    }
}

/// Records a batch; `false` when it could not. While the bus runs it keeps trying through a
/// database outage: the claims stay in `dispatching`, so their leases are renewed once the
/// database is back, and the outcome is recorded instead of the entries being dispatched
/// again after claim.time (handlers run twice, the bus stalled for minutes). Once the bus is
/// stopping it gives up after a few tries and leaves the entries to their leases.
async fn record_with_retries(bus: &Bus, decided: &[(Arc<BusEntry>, Completion)]) -> bool {
    let name = bus.inner.config.name;
    let mut stop = bus.inner.stop.subscribe();
    let mut attempt = 1;
    loop {
        match record_outcomes(bus, decided).await {
            Ok(()) => return true,
            Err(error) if attempt < COMPLETION_ATTEMPTS || !*stop.borrow() => {
                tracing::warn!(bus = name, %error, attempt, "recording bus outcomes failed; retrying");
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
                // Polling modes: the entries stay leased until claim.time runs out, then
                // any node claims them again.
                tracing::error!(bus = name, %error, "recording bus outcomes failed; the entries will be dispatched again");
                return false;
            }
        }
    }
}

/// One transaction: finished entries move to history, failed ones go back for a retry.
async fn record_outcomes(
    bus: &Bus,
    decided: &[(Arc<BusEntry>, Completion)],
) -> Result<(), BusError> {
    let inner = &bus.inner;
    // In the polling modes an entry is ours only while we hold its claim: if the lease ran out
    // and another node took it, this node must not finish or reset it under that node.
    let owner = match inner.config.mode {
        QueueMode::StickyEvents => None,
        QueueMode::Polling | QueueMode::StickyPolling => Some(inner.node.as_str()),
    };
    let batch = DecidedBatch::split(
        decided
            .iter()
            .map(|(entry, completion)| (entry.record_id, entry.error_count, *completion)),
    );
    let work = inner.db.begin().await?;
    let transaction = work.client();
    if !batch.finished_ids.is_empty() {
        move_to_history(
            transaction,
            inner.tables,
            &batch.finished_ids,
            &batch.finished_states,
            &batch.finished_error_counts,
            owner,
            &inner.node,
        )
        .await?;
    }
    if !batch.retried_ids.is_empty() {
        release_for_retry(
            transaction,
            inner.tables.live,
            &batch.retried_ids,
            &batch.retried_error_counts,
            owner,
        )
        .await?;
    }
    work.commit().await?;
    let (processed, failed, first_failures) = batch.counts();
    metrics::completed(&inner.metrics_id, processed, failed, first_failures);
    Ok(())
}

/// Deletes finished entries from the live table and inserts them into history with their
/// final state, in one statement (the history copy gets a new record_id, as in Kill Bill).
async fn move_to_history(
    client: &impl deadpool_postgres::GenericClient,
    tables: super::Tables,
    record_ids: &[i64],
    states: &[&str],
    error_counts: &[i32],
    owner: Option<&str>,
    node: &str,
) -> Result<u64, BusError> {
    let super::Tables { live, history } = tables;
    // The delete takes the row locks; a row whose claim another node now holds (`owner`
    // differs) is left alone.
    let sql = format!(
        "with moved as (
             delete from {live} as live
             using unnest($1::bigint[], $2::text[], $3::integer[])
                 as outcome(record_id, processing_state, error_count)
             where live.record_id = outcome.record_id
               and live.processing_owner is not distinct from $4::text
             returning live.record_id, live.class_name, live.event_json, live.user_token,
                 live.created_date, live.creating_owner, live.search_key1, live.search_key2,
                 outcome.processing_state as final_state, outcome.error_count as final_error_count
         )
         insert into {history}
             (class_name, event_json, user_token, created_date, creating_owner,
              processing_owner, processing_available_date, processing_state, error_count,
              search_key1, search_key2)
         select class_name, event_json, user_token, created_date, creating_owner,
                $5, now(), final_state, final_error_count, search_key1, search_key2
         from moved
         order by record_id"
    );
    Ok(client
        .execute(
            &client.prepare_cached(&sql).await?,
            &[&record_ids, &states, &error_counts, &owner, &node],
        )
        .await?)
}

/// Puts failed entries back: AVAILABLE, unowned, due now, with their new error count.
async fn release_for_retry(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    record_ids: &[i64],
    error_counts: &[i32],
    owner: Option<&str>,
) -> Result<u64, BusError> {
    // The update locks the rows; as above, a claim another node now holds is left alone.
    let sql = format!(
        "update {live_table} as live
         set processing_owner = null,
             processing_available_date = now(),
             processing_state = 'AVAILABLE',
             error_count = retry.error_count
         from unnest($1::bigint[], $2::integer[]) as retry(record_id, error_count)
         where live.record_id = retry.record_id
           and live.processing_owner is not distinct from $3::text"
    );
    Ok(client
        .execute(
            &client.prepare_cached(&sql).await?,
            &[&record_ids, &error_counts, &owner],
        )
        .await?)
}
