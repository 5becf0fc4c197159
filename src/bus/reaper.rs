//! The reaper and the node heartbeat.
//!
//! Every `reapSchedule` the reaper gives entries that nobody is going to finish a new life on
//! this node: entries older than `reapThreshold` that are unowned, whose lease expired, or
//! whose owner stopped heartbeating in `bus_nodes`. Each goes to history as REAPED and a copy
//! is inserted AVAILABLE, created by this node. This node's own unowned entries are only
//! logged as late (Kill Bill's behaviour). The heartbeat keeps this node's row in `bus_nodes`
//! fresh so other reapers leave its claims alone.
//!
//! This file owns that SQL. It must never call handlers or touch an entry a live node holds.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::dispatcher::stopped;
use super::{Bus, BusError};
use crate::config::QueueMode;
use crate::db::work::{Db, Work};

/// How often a node writes its heartbeat.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(3);
/// A node silent for this long is taken for dead: its claims are reaped even if their lease
/// (claim.time, 5 minutes by default) has not run out.
pub const HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(4 * 3);
/// Kill Bill: when claim.time ≥ reapThreshold, the threshold becomes claim.time plus this.
const CLAIM_TIME_MARGIN: Duration = Duration::from_secs(5 * 60);

pub(super) fn spawn(bus: &Bus) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(heartbeat(bus.clone())),
        tokio::spawn(reap_periodically(bus.clone())),
    ]
}

/// Records this node as started and alive, before it claims anything.
pub(super) async fn register_node(db: &Db, node: &str) -> Result<(), BusError> {
    let read = db.read().await?;
    let connection = read.client();
    // Upsert on the primary key: the row lock is held for one statement.
    connection
        .execute(
            "insert into bus_nodes (node_name, started_at, heartbeat_at)
             values ($1, now(), now())
             on conflict (node_name) do update
             set started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            &[&node],
        )
        .await?;
    Ok(())
}

pub(super) async fn write_heartbeat(db: &Db, node: &str) -> Result<(), BusError> {
    let read = db.read().await?;
    let connection = read.client();
    // Upsert on the primary key: the row lock is held for one statement.
    connection
        .execute(
            "insert into bus_nodes (node_name, started_at, heartbeat_at)
             values ($1, now(), now())
             on conflict (node_name) do update set heartbeat_at = excluded.heartbeat_at",
            &[&node],
        )
        .await?;
    Ok(())
}

async fn heartbeat(bus: Bus) {
    let inner = &bus.inner;
    let mut stop = inner.stop.subscribe();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(HEARTBEAT_PERIOD) => {}
        }
        if let Err(error) = write_heartbeat(&inner.db, &inner.node).await {
            tracing::warn!(bus = inner.config.name, %error, "writing the node heartbeat failed");
        }
    }
}

/// The age past which an entry may be reaped.
pub(super) fn reap_threshold(claim_time: Duration, reap_threshold: Duration) -> Duration {
    if claim_time >= reap_threshold {
        claim_time + CLAIM_TIME_MARGIN
    } else {
        reap_threshold
    }
}

async fn reap_periodically(bus: Bus) {
    let inner = &bus.inner;
    let mut stop = inner.stop.subscribe();
    let period = inner.config.reap_schedule.max(Duration::from_millis(10));
    if inner.config.claim_time >= inner.config.reap_threshold {
        // Kill Bill's DefaultReaper warns the same way: reaping entries younger than their
        // lease would take them from nodes still working on them.
        tracing::warn!(
            bus = inner.config.name,
            claim_time_ms = inner.config.claim_time.as_millis() as u64,
            reap_threshold_ms = inner.config.reap_threshold.as_millis() as u64,
            "reapThreshold is not above claim.time; reaping entries older than claim.time + 5m instead"
        );
    }
    loop {
        // The first pass comes one period after start, as in Kill Bill.
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(period) => {}
        }
        if let Err(error) = reap_once(&bus).await {
            tracing::warn!(bus = inner.config.name, %error, "reaping bus entries failed");
        }
    }
}

/// One pass: selects, reaps and re-inserts in one transaction; returns the new record ids.
pub(super) async fn reap_once(bus: &Bus) -> Result<Vec<i64>, BusError> {
    let inner = &bus.inner;
    let tables = inner.tables;
    let threshold = reap_threshold(inner.config.claim_time, inner.config.reap_threshold);
    let work = inner.db.begin().await?;
    let transaction = work.client();
    // `for update skip locked`: rows a dispatcher is claiming or finishing, or another node's
    // reaper is reaping, are skipped rather than waited for; the locks are held to commit, so
    // two reapers never both re-insert one entry.
    let candidates = transaction
        .query(
            &format!(
                "select record_id, creating_owner, processing_owner from {live} as live
                 where processing_state not in ('PROCESSED', 'REMOVED')
                   and (processing_owner is null
                        or processing_available_date <= now()
                        or not exists (
                            select 1 from bus_nodes
                            where bus_nodes.node_name = live.processing_owner
                              and bus_nodes.heartbeat_at > now() - make_interval(secs => $3)))
                   and created_date <= now() - make_interval(secs => $1)
                 order by record_id
                 limit $2
                 for update of live skip locked",
                live = tables.live
            ),
            &[
                &threshold.as_secs_f64(),
                &i64::from(inner.config.max_redispatch_count),
                &HEARTBEAT_STALE_AFTER.as_secs_f64(),
            ],
        )
        .await?;
    let mut late = Vec::new();
    let mut to_reap = Vec::new();
    for row in &candidates {
        let record_id: i64 = row.get(0);
        let creating_owner: String = row.get(1);
        let processing_owner: Option<String> = row.get(2);
        if creating_owner == inner.node && processing_owner.is_none() {
            late.push(record_id);
        } else {
            to_reap.push(record_id);
        }
    }
    if !late.is_empty() {
        tracing::warn!(
            bus = inner.config.name,
            late = ?late,
            "this node's bus entries are late (older than the reap threshold and not dispatched)"
        );
    }
    reap_and_reinsert(
        bus,
        work,
        &to_reap,
        "reaped bus entries of a dead or stuck node",
    )
    .await
}

/// Most entries one take-over transaction moves; a dead node's backlog goes in several.
pub(super) const TAKE_OVER_BATCH: i64 = 500;

/// Takes over what `node`, found dead, left in this bus at once, whatever its entries' age:
/// the entries it had claimed, and in the sticky modes the entries it created and alone would
/// have dispatched; at most [`TAKE_OVER_BATCH`] of them. Each goes to history as REAPED and
/// comes back AVAILABLE, created by this node. Returns the new record ids.
pub(super) async fn take_over(bus: &Bus, node: &str) -> Result<Vec<i64>, BusError> {
    let inner = &bus.inner;
    let sticky = inner.config.mode != QueueMode::Polling;
    let work = inner.db.begin().await?;
    // `for update skip locked`, as in the periodic reaper: another node taking over the same
    // entries at once skips them instead of re-inserting them twice.
    let candidates = crate::db::sql::query(
        work.client(),
        &format!(
            "select record_id from {live}
             where processing_state not in ('PROCESSED', 'REMOVED')
               and (processing_owner = $1
                    or ($2 and processing_owner is null and creating_owner = $1))
             order by record_id
             limit $3
             for update skip locked",
            live = inner.tables.live
        ),
        &[&node, &sticky, &TAKE_OVER_BATCH],
    )
    .await?;
    let to_reap: Vec<i64> = candidates.iter().map(|row| row.get(0)).collect();
    reap_and_reinsert(
        bus,
        work,
        &to_reap,
        "took over the bus entries of a dead node",
    )
    .await
}

/// Moves `to_reap` (locked in `work`'s transaction) to history as REAPED and re-inserts each
/// as AVAILABLE, created by this node; commits, then wakes the dispatchers.
async fn reap_and_reinsert(
    bus: &Bus,
    work: Work,
    to_reap: &[i64],
    what: &str,
) -> Result<Vec<i64>, BusError> {
    let inner = &bus.inner;
    let tables = inner.tables;
    if to_reap.is_empty() {
        work.commit().await?;
        return Ok(Vec::new());
    }
    let transaction = work.client();
    let reinserted = transaction
        .query(
            &format!(
                "with reaped as (
                     delete from {live} where record_id = any($1)
                     returning record_id, class_name, event_json, user_token, created_date,
                         creating_owner, processing_owner, processing_available_date,
                         error_count, search_key1, search_key2
                 ), archived as (
                     insert into {history}
                         (class_name, event_json, user_token, created_date, creating_owner,
                          processing_owner, processing_available_date, processing_state,
                          error_count, search_key1, search_key2)
                     select class_name, event_json, user_token, created_date, creating_owner,
                            processing_owner, processing_available_date, 'REAPED',
                            error_count, search_key1, search_key2
                     from reaped
                 )
                 insert into {live}
                     (class_name, event_json, user_token, created_date, creating_owner,
                      processing_owner, processing_available_date, processing_state,
                      error_count, search_key1, search_key2)
                 select class_name, event_json, user_token, now(), $2, null, null, 'AVAILABLE',
                        error_count, search_key1, search_key2
                 from reaped
                 order by record_id
                 returning record_id",
                live = tables.live,
                history = tables.history
            ),
            &[&to_reap, &inner.node],
        )
        .await?;
    let new_ids: Vec<i64> = reinserted.iter().map(|row| row.get(0)).collect();
    if inner.config.mode != QueueMode::StickyEvents {
        // Delivered on commit: wakes every polling node.
        transaction
            .execute("select pg_notify($1, '')", &[&tables.live])
            .await?;
    }
    work.commit().await?;
    drop(work);
    tracing::warn!(
        bus = inner.config.name,
        reaped = ?to_reap,
        reinserted = ?new_ids,
        "{what}"
    );
    super::metrics::reaped(&inner.metrics_id, to_reap.len() as u64);
    if let Some(inflight) = &inner.inflight {
        new_ids.iter().for_each(|id| {
            let _ = inflight.send(*id);
        });
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
