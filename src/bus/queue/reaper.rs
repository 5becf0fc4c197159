//! Giving entries that nobody is going to finish a new life on this node, in two ways.
//!
//! The periodic reaper (Kill Bill's, every `reapSchedule`): entries older than `reapThreshold`
//! that are unowned, whose lease expired, or whose owner stopped heartbeating in `bus_nodes`.
//! This node's own unowned entries are only logged as late, as Kill Bill does.
//!
//! The take-over, when the node monitor finds a node dead: at once, whatever their age, the
//! entries it had claimed and, in the sticky modes, the entries it created.
//!
//! Either way each entry goes to history as REAPED and a copy comes back AVAILABLE, created by
//! this node, which is then woken (or handed the ids, in STICKY_EVENTS). This file owns those
//! passes. It must never call handlers or touch an entry a live node holds.

use std::time::Duration;

use super::{sql, stopped, Entry, Queue};
use crate::bus::metrics;
use crate::bus::BusError;
use crate::config::QueueMode;
use crate::db::work::Work;

/// Kill Bill: when claim.time ≥ reapThreshold, the threshold becomes claim.time plus this.
const CLAIM_TIME_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Most entries one take-over transaction moves; a dead node's backlog goes in several.
pub(super) const TAKE_OVER_BATCH: i64 = 500;

/// The age past which an entry may be reaped.
fn reap_threshold(claim_time: Duration, reap_threshold: Duration) -> Duration {
    if claim_time >= reap_threshold {
        claim_time + CLAIM_TIME_MARGIN
    } else {
        reap_threshold
    }
}

/// Reaps every `reapSchedule` until the queue stops; the first pass comes one period after
/// start, as in Kill Bill.
pub(super) async fn reap_periodically<E: Entry>(queue: Queue<E>) {
    let settings = &queue.inner.settings;
    let mut stop = queue.inner.stop.subscribe();
    let period = settings.reap_schedule.max(Duration::from_millis(10));
    if settings.claim_time >= settings.reap_threshold {
        // Kill Bill's DefaultReaper warns the same way: reaping entries younger than their
        // lease would take them from nodes still working on them.
        tracing::warn!(
            queue = settings.name,
            claim_time_ms = settings.claim_time.as_millis() as u64,
            reap_threshold_ms = settings.reap_threshold.as_millis() as u64,
            "reapThreshold is not above claim.time; reaping entries older than claim.time + 5m instead"
        );
    }
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
        if let Err(error) = reap_once(&queue).await {
            tracing::warn!(queue = settings.name, %error, "reaping queue entries failed");
        }
    }
}

/// One pass: selects, reaps and re-inserts in one transaction; returns the new record ids.
async fn reap_once<E: Entry>(queue: &Queue<E>) -> Result<Vec<i64>, BusError> {
    let inner = &queue.inner;
    let settings = &inner.settings;
    let threshold = reap_threshold(settings.claim_time, settings.reap_threshold);
    let limit = i64::from(settings.max_redispatch_count);
    let work = inner.db.begin().await?;
    let stale_after = inner.node.stale_after();
    let candidates =
        sql::lock_reapable(work.client(), inner.table, threshold, stale_after, limit).await?;
    let mut late = Vec::new();
    let mut to_reap = Vec::new();
    for (record_id, creating_owner, processing_owner) in candidates {
        if creating_owner == queue.node() && processing_owner.is_none() {
            late.push(record_id);
        } else {
            to_reap.push(record_id);
        }
    }
    if !late.is_empty() {
        tracing::warn!(
            queue = settings.name,
            late = ?late,
            "this node's entries are late (older than the reap threshold and not dispatched)"
        );
    }
    reap(
        queue,
        work,
        &to_reap,
        "reaped the entries of a dead or stuck node",
    )
    .await
}

/// Takes over what `node`, found dead, left in this queue, whatever its entries' age: the
/// entries it had claimed, and in the sticky modes the entries it created and alone would
/// have dispatched; at most [`TAKE_OVER_BATCH`] of them. Returns the new record ids.
pub(super) async fn take_over<E: Entry>(
    queue: &Queue<E>,
    node: &str,
) -> Result<Vec<i64>, BusError> {
    let inner = &queue.inner;
    let sticky = inner.settings.sticky();
    let work = inner.db.begin().await?;
    let to_reap =
        sql::lock_held_by(work.client(), inner.table, node, sticky, TAKE_OVER_BATCH).await?;
    reap(
        queue,
        work,
        &to_reap,
        "took over the entries of a dead node",
    )
    .await
}

/// Moves `to_reap` (locked in `work`'s transaction) to history as REAPED and re-inserts each
/// as AVAILABLE, created by this node; commits, then dispatches them here.
async fn reap<E: Entry>(
    queue: &Queue<E>,
    work: Work,
    to_reap: &[i64],
    what: &str,
) -> Result<Vec<i64>, BusError> {
    let inner = &queue.inner;
    if to_reap.is_empty() {
        work.commit().await?;
        return Ok(Vec::new());
    }
    // STICKY_EVENTS fetchers do not listen: this node is handed the ids below.
    let notify = inner.settings.mode != QueueMode::StickyEvents;
    let new_ids =
        sql::reap_and_reinsert(work.client(), inner.table, to_reap, queue.node(), notify).await?;
    work.commit().await?;
    drop(work);
    tracing::warn!(
        queue = inner.settings.name,
        reaped = ?to_reap,
        reinserted = ?new_ids,
        "{what}"
    );
    metrics::reaped(&inner.metrics_id, to_reap.len() as u64);
    if notify {
        queue.wake();
    } else {
        queue.hand_over(new_ids.iter().copied());
    }
    Ok(new_ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_time_past_the_reap_threshold_pushes_the_threshold_out() {
        let minute = Duration::from_secs(60);
        assert_eq!(reap_threshold(5 * minute, 10 * minute), 10 * minute);
        assert_eq!(reap_threshold(10 * minute, 10 * minute), 15 * minute);
        assert_eq!(reap_threshold(20 * minute, 10 * minute), 25 * minute);
    }
}
