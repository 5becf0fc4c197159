//! Finding entries for the workers: in the polling modes a fetcher claims batches every
//! `sleep` (sooner when woken) and a companion task renews the leases of the claims this node
//! still holds; in STICKY_EVENTS the fetcher reads the rows of ids committed on this node,
//! after reloading what this node left before a restart.
//!
//! This file owns those loops. It must never hold a connection while it waits: each claim or
//! read takes one unit of work for one statement and gives it back before the entries are
//! handed over. When the hand-over queue is full the fetcher blocks and the table grows (Kill
//! Bill's saturation behaviour); it never drops an entry.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::gather::gather;
use super::{sql, stopped, Dispatching, Entry, Queue, ERROR_BACKOFF};
use crate::bus::metrics;
use crate::bus::BusError;
use crate::config::QueueMode;

/// When a poll found nothing and `sleep` is 0, the least the fetcher waits (NOTIFY still wakes
/// it at once), so an idle queue does not spin on the database.
const MIN_IDLE_WAIT: Duration = Duration::from_millis(10);
/// After a poll that found fewer entries than a batch, the least the fetcher waits before the
/// next, NOTIFY or not: entries committed meanwhile are claimed together, so a busy queue
/// takes a connection per batch rather than per entry.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// STICKY_EVENTS: how long the fetcher waits for `inflight.min` ids before dispatching fewer.
const INFLIGHT_WAIT: Duration = Duration::from_millis(100);
/// STICKY_EVENTS: ids reloaded per query when the node starts.
const RELOAD_BATCH: i64 = 1000;

/// Sends `entries` to the workers in order; `false` once the queue stops or the workers are
/// gone. A full hand-over queue blocks here: entries wait in the table, not in memory.
async fn hand_to_workers<E: Entry>(
    queue: &Queue<E>,
    entries: Vec<E>,
    workers: &mpsc::Sender<Arc<E>>,
) -> bool {
    let mut stop = queue.inner.stop.subscribe();
    for entry in entries {
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => return false,
            sent = workers.send(Arc::new(entry)) => if sent.is_err() { return false },
        }
    }
    true
}

/// Polling modes: claims up to `claimed` entries every `sleep` (minus the time the loop took,
/// as Kill Bill's lifecycle thread does), waking early when a NOTIFY arrives, an entry is
/// posted here or an entry went back for a retry. `sleep` also bounds how late a
/// notification runs after its effective date, since nothing announces that moment.
pub(super) async fn poll<E: Entry>(
    queue: Queue<E>,
    workers: mpsc::Sender<Arc<E>>,
    dispatching: Dispatching,
) {
    let inner = &queue.inner;
    let settings = &inner.settings;
    let mut stop = inner.stop.subscribe();
    let sticky = settings.mode == QueueMode::StickyPolling;
    let batch = settings.claimed();
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let claimed = match inner.db.read().await {
            Ok(work) => {
                let node = queue.node();
                let limit = batch as i64;
                sql::claim::<E>(
                    work.client(),
                    inner.table,
                    node,
                    settings.claim_time,
                    limit,
                    sticky,
                )
                .await
            }
            Err(error) => Err(error.into()),
        };
        let (found, failed) = match claimed {
            Ok(entries) => {
                let found = entries.len();
                metrics::fetched(&inner.metrics_id, found as u64, found as u64);
                dispatching
                    .lock()
                    .extend(entries.iter().map(Entry::record_id));
                if !hand_to_workers(&queue, entries, &workers).await {
                    return;
                }
                (found, false)
            }
            Err(error) => {
                tracing::warn!(queue = settings.name, %error, "claiming queue entries failed");
                (0, true)
            }
        };
        let mut wait = settings.sleep.saturating_sub(started.elapsed());
        if failed {
            wait = wait.max(ERROR_BACKOFF);
        } else if found == 0 {
            wait = wait.max(MIN_IDLE_WAIT);
        } else if found >= batch {
            // A full batch means more are ready: claim again at once rather than letting a
            // backlog wait a whole `sleep` per batch.
            wait = Duration::ZERO;
        }
        if found > 0 && found < batch {
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

/// Polling modes: renews the lease of every entry this node claimed and has not finished,
/// every half `claim.time`, so a handler that outlives `claim.time` on a live node (a slow
/// database, a saturated pool, a slow callback) is not claimed or reaped by another node and
/// run twice while it still runs. A dead node renews nothing: its leases run out and another
/// node takes over. The claims waiting in the hand-over queue for a worker are kept alive too.
pub(super) async fn keep_leases<E: Entry>(queue: Queue<E>, dispatching: Dispatching) {
    let inner = &queue.inner;
    let settings = &inner.settings;
    let mut stop = inner.stop.subscribe();
    let period = (settings.claim_time / 2).max(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
        let ids: Vec<i64> = dispatching.lock().iter().copied().collect();
        if ids.is_empty() {
            continue;
        }
        let renewed = match inner.db.read().await {
            Ok(work) => {
                let node = queue.node();
                sql::renew_leases(work.client(), inner.table, node, settings.claim_time, &ids).await
            }
            Err(error) => Err(error.into()),
        };
        if let Err(error) = renewed {
            tracing::warn!(queue = settings.name, %error, "renewing leases failed");
        }
    }
}

/// STICKY_EVENTS: takes committed ids from this node's in-memory queue, up to `inflight.max`
/// at a time, waiting at most 100 ms for `inflight.min`, and reads their rows. Rows are not
/// claimed: only this node knows the ids, and they stay AVAILABLE until moved to history.
pub(super) async fn sticky_events<E: Entry>(
    queue: Queue<E>,
    mut ids: mpsc::UnboundedReceiver<i64>,
    workers: mpsc::Sender<Arc<E>>,
    dispatching: Dispatching,
) {
    let inner = &queue.inner;
    let settings = &inner.settings;
    let mut stop = inner.stop.subscribe();
    tokio::select! {
        _ = stopped(&mut stop) => return,
        _ = reload_own_entries(&queue) => {}
    }
    let min = settings.inflight_min.max(1) as usize;
    let max = (settings.inflight_max as usize).max(min);
    loop {
        let first = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            id = ids.recv() => match id { Some(id) => id, None => return },
        };
        let mut batch = vec![first];
        gather(
            &mut ids,
            &mut batch,
            min,
            max,
            Instant::now() + INFLIGHT_WAIT,
        )
        .await;
        {
            let mut running = dispatching.lock();
            batch.retain(|id| running.insert(*id));
        }
        if batch.is_empty() {
            continue;
        }
        let read = match inner.db.read().await {
            Ok(work) => sql::read_available::<E>(work.client(), inner.table, &batch).await,
            Err(error) => Err(BusError::from(error)),
        };
        match read {
            Ok(entries) => {
                // Read by id without claiming, as Kill Bill's inflight queue.
                metrics::fetched(&inner.metrics_id, entries.len() as u64, 0);
                // Ids without a row were completed or reaped meanwhile: nothing to do.
                let found: HashSet<i64> = entries.iter().map(Entry::record_id).collect();
                forget(&dispatching, batch.iter().filter(|id| !found.contains(id)));
                if !hand_to_workers(&queue, entries, &workers).await {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(queue = settings.name, %error, "reading queue entries failed; retrying");
                forget(&dispatching, batch.iter());
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = tokio::time::sleep(ERROR_BACKOFF) => {}
                }
                queue.hand_over(batch);
            }
        }
    }
}

/// Takes `record_ids` out of `dispatching` (a plain function, so no guard lives across an
/// await).
fn forget<'a>(dispatching: &Dispatching, record_ids: impl Iterator<Item = &'a i64>) {
    let mut running = dispatching.lock();
    for record_id in record_ids {
        running.remove(record_id);
    }
}

/// Queues this node's AVAILABLE entries left from before a restart, 1000 ids at a time.
async fn reload_own_entries<E: Entry>(queue: &Queue<E>) {
    let inner = &queue.inner;
    let mut after = 0_i64;
    let mut reloaded = 0_usize;
    loop {
        let page = match inner.db.read().await {
            Ok(work) => {
                let node = queue.node();
                sql::own_available_ids(work.client(), inner.table, node, after, RELOAD_BATCH).await
            }
            Err(error) => Err(error.into()),
        };
        match page {
            Ok(ids) if ids.is_empty() => break,
            Ok(ids) => {
                after = ids.last().copied().unwrap_or(after);
                reloaded += ids.len();
                queue.hand_over(ids);
            }
            Err(error) => {
                tracing::warn!(queue = inner.settings.name, %error, "reloading this node's entries failed; retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    if reloaded > 0 {
        tracing::info!(
            queue = inner.settings.name,
            reloaded,
            "queued this node's entries left from before"
        );
    }
}
