//! Recording outcomes: completers gather the workers' outcomes into batches of up to 15 (Kill
//! Bill's completion batch), decide each entry's fate (history as PROCESSED or FAILED, or back
//! for a retry), and write a batch in one transaction. While the queue runs, a batch that
//! cannot be written (the database is away) is tried again until it can, so a handler that
//! finished is not run again after `claim.time`.
//!
//! This file owns that loop. It must never run handlers, and never hold its connection while
//! it waits: the transaction is opened once a batch is complete and given back before a retry
//! waits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::gather::gather;
use super::workers::{completion, Completion, DecidedBatch, Outcome};
use super::{sql, stopped, Dispatching, Entry, Queue, ERROR_BACKOFF};
use crate::bus::metrics;
use crate::bus::BusError;
use crate::config::QueueMode;

/// Kill Bill's completion threads move at most this many entries per transaction.
const COMPLETION_BATCH: usize = 15;
/// How long a completer waits for a batch to fill once it has one outcome: outcomes are
/// recorded together rather than a connection per handler call.
const COMPLETION_LINGER: Duration = Duration::from_millis(5);
/// How often a stopping completer tries to record a batch before leaving it to leases and the
/// reaper (a running one keeps trying).
const COMPLETION_ATTEMPTS: u32 = 3;

type Outcomes<E> = Arc<AsyncMutex<mpsc::UnboundedReceiver<Outcome<E>>>>;

/// Records outcomes until every worker has finished. Several completers share `outcomes`:
/// the receiver is held only while a batch is gathered, not while it is written.
pub(super) async fn run<E: Entry>(
    queue: Queue<E>,
    outcomes: Outcomes<E>,
    dispatching: Dispatching,
) {
    let inner = &queue.inner;
    let settings = &inner.settings;
    loop {
        let batch = {
            let mut receiver = outcomes.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            let linger = tokio::time::Instant::now() + COMPLETION_LINGER;
            gather(
                &mut receiver,
                &mut batch,
                COMPLETION_BATCH,
                COMPLETION_BATCH,
                linger,
            )
            .await;
            batch
        };
        let decided: Vec<(Arc<E>, Completion)> = batch
            .into_iter()
            .map(|outcome| {
                let entry = outcome.entry;
                let decision = completion(
                    entry.error_count(),
                    outcome.result.is_ok(),
                    settings.max_failure_retry,
                );
                if let Err(error) = &outcome.result {
                    tracing::warn!(
                        queue = settings.name,
                        record_id = entry.record_id(),
                        entry = entry.label(),
                        error_count = entry.error_count(),
                        completion = ?decision,
                        %error,
                        "queue handler failed"
                    );
                }
                (entry, decision)
            })
            .collect();
        let recorded = record_with_retries(&queue, &decided).await;
        {
            let mut running = dispatching.lock();
            for (entry, _) in &decided {
                running.remove(&entry.record_id());
            }
        }
        let retried = |decision: &Completion| matches!(decision, Completion::Retry(_));
        if settings.mode == QueueMode::StickyEvents {
            // Nothing else would look at these rows again before a restart, so an unrecorded
            // batch is dispatched again (handlers are idempotent).
            queue.hand_over(
                decided
                    .iter()
                    .filter(|(_, decision)| !recorded || retried(decision))
                    .map(|(entry, _)| entry.record_id()),
            );
        } else if recorded && decided.iter().any(|(_, decision)| retried(decision)) {
            queue.wake();
        }
    }
}

/// Records a batch; `false` when it could not. While the queue runs it keeps trying through a
/// database outage: the claims stay in `dispatching`, so their leases are renewed once the
/// database is back, and the outcome is recorded instead of the entries being dispatched
/// again after claim.time (handlers run twice, the queue stalled for minutes). Once the queue
/// is stopping it gives up after a few tries and leaves the entries to their leases.
async fn record_with_retries<E: Entry>(queue: &Queue<E>, decided: &[(Arc<E>, Completion)]) -> bool {
    let name = queue.inner.settings.name;
    let mut stop = queue.inner.stop.subscribe();
    let mut attempt = 1;
    loop {
        match record(queue, decided).await {
            Ok(()) => return true,
            Err(error) if attempt < COMPLETION_ATTEMPTS || !*stop.borrow() => {
                tracing::warn!(queue = name, %error, attempt, "recording outcomes failed; retrying");
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
                // Polling modes: the entries stay leased until claim.time runs out, then any
                // node claims them again.
                tracing::error!(queue = name, %error, "recording outcomes failed; the entries will be dispatched again");
                return false;
            }
        }
    }
}

/// One transaction: finished entries move to history, failed ones go back for a retry.
async fn record<E: Entry>(
    queue: &Queue<E>,
    decided: &[(Arc<E>, Completion)],
) -> Result<(), BusError> {
    let inner = &queue.inner;
    let node = queue.node();
    let owner = inner.settings.completing_owner(node);
    let batch = DecidedBatch::split(
        decided
            .iter()
            .map(|(entry, decision)| (entry.record_id(), entry.error_count(), *decision)),
    );
    let work = inner.db.begin().await?;
    let transaction = work.client();
    if !batch.finished_ids.is_empty() {
        let finished = (
            batch.finished_ids.as_slice(),
            batch.finished_states.as_slice(),
            batch.finished_error_counts.as_slice(),
        );
        sql::move_to_history(transaction, inner.table, finished, owner, node).await?;
    }
    if !batch.retried_ids.is_empty() {
        let (ids, counts) = (&batch.retried_ids, &batch.retried_error_counts);
        sql::release_for_retry(transaction, inner.table, ids, counts, owner).await?;
    }
    work.commit().await?;
    let (processed, failed, first_failures) = batch.counts();
    metrics::completed(&inner.metrics_id, processed, failed, first_failures);
    Ok(())
}
