//! Which nodes sharing the database are alive. This node writes its heartbeat in `bus_nodes`
//! every `ferrobill.cluster.heartbeat`, and reads everyone's. Another node is dead once its
//! heartbeat has not moved for `ferrobill.cluster.deadAfter` **as this node saw it**: time is
//! counted on this node's clock, and only while this node itself could reach the database.
//! After an outage every node's heartbeat is old, and none of them is dead for it: a node is
//! judged by what it failed to do while the database answered.
//!
//! A node found dead is announced once, on the channel [`NodeMonitor::start`] returns, so that
//! what it held (leases, claims, open payments) passes to the live nodes; it is alive again
//! when its heartbeat moves (a restart under its name).
//!
//! This node's heartbeat is written here and nowhere else: the queues only
//! [register](NodeMonitor::register) the node before they claim anything, and their reapers
//! take [`NodeMonitor::stale_after`] as the heartbeat age past which a claim's owner is gone.
//!
//! This file owns the heartbeat and that judgement. It never takes anything over itself.
//!
//! The heartbeat written is PostgreSQL's `now()`, so every node compares stamps of one clock;
//! how long one stood still is counted on `tokio::time::Instant`, which follows tokio's paused
//! clock, so the judgement is tested with `tokio::time::advance` rather than waited for.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::queue::stopped;
use super::BusError;
use crate::db::work::Db;

/// The least [`NodeMonitor::stale_after`]: the 12 s (four 3 s beats) reapers always allowed.
const MIN_STALE_AFTER: Duration = Duration::from_secs(12);

/// Cheap to clone; every clone is the same monitor.
#[derive(Clone)]
pub struct NodeMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    node: String,
    heartbeat: Duration,
    dead_after: Duration,
    liveness: Mutex<Liveness>,
}

/// What this node saw of the others.
#[derive(Default)]
struct Liveness {
    seen: HashMap<String, Seen>,
    dead: HashSet<String>,
    /// Since when this node could not read the heartbeats.
    blind_since: Option<Instant>,
}

struct Seen {
    heartbeat: DateTime<Utc>,
    /// When this node last saw that heartbeat move (or first saw it).
    moved_at: Instant,
}

impl NodeMonitor {
    pub fn new(db: Db, node: &str, heartbeat: Duration, dead_after: Duration) -> NodeMonitor {
        NodeMonitor {
            inner: Arc::new(Inner {
                db,
                node: node.to_string(),
                heartbeat,
                dead_after,
                liveness: Mutex::default(),
            }),
        }
    }

    /// This node's name (Kill Bill's creator name), in `creating_owner` and `processing_owner`.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// How old a heartbeat in `bus_nodes` must be for a reaper to take its node's claims: a
    /// node that misses one beat or two is never taken for gone, and the reapers stay
    /// `deadAfter` behind the monitor (they are a second line, counted on the database's
    /// clock, where an outage makes every node look silent).
    pub fn stale_after(&self) -> Duration {
        self.inner.dead_after.max(MIN_STALE_AFTER)
    }

    /// Records this node as started and alive now, before a queue claims anything, so no
    /// reaper takes its first claims for a dead node's while the monitor is not beating yet.
    pub async fn register(&self) -> Result<(), BusError> {
        let work = self.inner.db.read().await?;
        // Upsert on the primary key: the row lock is held for one statement.
        crate::db::sql::execute(
            work.client(),
            "insert into bus_nodes (node_name, started_at, heartbeat_at)
             values ($1, now(), now())
             on conflict (node_name) do update
             set started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
            &[&self.inner.node],
        )
        .await?;
        Ok(())
    }

    /// The nodes found dead and not alive again since.
    pub fn dead_nodes(&self) -> Vec<String> {
        let mut dead: Vec<String> = self.inner.liveness.lock().dead.iter().cloned().collect();
        dead.sort();
        dead
    }

    /// Writes the heartbeat and judges the others every period until `stop` turns true;
    /// each node found dead is sent once on the returned channel.
    pub fn start(
        &self,
        stop: watch::Receiver<bool>,
    ) -> (JoinHandle<()>, mpsc::UnboundedReceiver<String>) {
        let (found_dead, dead) = mpsc::unbounded_channel();
        let monitor = self.clone();
        let task = tokio::spawn(async move { monitor.watch(stop, found_dead).await });
        (task, dead)
    }

    async fn watch(
        self,
        mut stop: watch::Receiver<bool>,
        found_dead: mpsc::UnboundedSender<String>,
    ) {
        let mut ticks = tokio::time::interval(self.inner.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = ticks.tick() => {}
            }
            match self.beat_and_read().await {
                Ok(heartbeats) => {
                    for node in self.judge(&heartbeats, Instant::now()) {
                        tracing::warn!(
                            node,
                            dead_after_ms = self.inner.dead_after.as_millis() as u64,
                            "a node stopped heartbeating; its work passes to the live nodes"
                        );
                        let _ = found_dead.send(node);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "node heartbeat failed");
                    self.lost_sight(Instant::now());
                }
            }
        }
    }

    /// This node's heartbeat, then every node's, in one round trip.
    async fn beat_and_read(&self) -> Result<Vec<(String, DateTime<Utc>)>, BusError> {
        let work = self.inner.db.read().await?;
        let client = work.client();
        let node: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&self.inner.node];
        let (_, rows) = crate::db::sql::pipelined(async {
            tokio::try_join!(
                crate::db::sql::execute(
                    client,
                    "insert into bus_nodes (node_name, started_at, heartbeat_at)
                     values ($1, now(), now())
                     on conflict (node_name) do update set heartbeat_at = excluded.heartbeat_at",
                    &node,
                ),
                crate::db::sql::query(client, "select node_name, heartbeat_at from bus_nodes", &[]),
            )
        })
        .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Records that this node could not read the heartbeats at `now`: until it reads them
    /// again, no time counts against the others.
    fn lost_sight(&self, now: Instant) {
        self.inner.liveness.lock().blind_since.get_or_insert(now);
    }

    /// Updates what this node saw with `heartbeats` read at `now`; returns the nodes newly
    /// found dead.
    fn judge(&self, heartbeats: &[(String, DateTime<Utc>)], now: Instant) -> Vec<String> {
        let mut liveness = self.inner.liveness.lock();
        if liveness.blind_since.take().is_some() {
            // Nobody could be judged while this node could not see: start counting again.
            for seen in liveness.seen.values_mut() {
                seen.moved_at = now;
            }
        }
        let present: HashSet<&str> = heartbeats.iter().map(|(node, _)| node.as_str()).collect();
        liveness
            .seen
            .retain(|node, _| present.contains(node.as_str()));
        liveness.dead.retain(|node| present.contains(node.as_str()));
        let mut newly_dead = Vec::new();
        for (node, heartbeat) in heartbeats {
            if *node == self.inner.node {
                continue;
            }
            let liveness = &mut *liveness;
            let seen = liveness.seen.entry(node.clone()).or_insert(Seen {
                heartbeat: *heartbeat,
                moved_at: now,
            });
            if seen.heartbeat != *heartbeat {
                seen.heartbeat = *heartbeat;
                seen.moved_at = now;
                liveness.dead.remove(node);
            } else if now.saturating_duration_since(seen.moved_at) >= self.inner.dead_after
                && liveness.dead.insert(node.clone())
            {
                newly_dead.push(node.clone());
            }
        }
        newly_dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::db::pool::DbPool;

    fn monitor(dead_after: Duration) -> NodeMonitor {
        let config = Config::from_properties(&[]).expect("defaults");
        // Building a pool opens no connection; judging needs none.
        let pool =
            DbPool::new("main", &config.main_pool, tokio_postgres::Config::new()).expect("a pool");
        NodeMonitor::new(Db::new(pool), "me", Duration::from_secs(1), dead_after)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a date")
    }

    #[test]
    fn a_node_whose_heartbeat_stands_still_long_enough_is_dead_once() {
        let monitor = monitor(Duration::from_secs(10));
        let start = Instant::now();
        let beats = |other: i64| vec![("me".to_string(), at(0)), ("other".to_string(), at(other))];
        assert!(monitor.judge(&beats(0), start).is_empty());
        assert!(monitor
            .judge(&beats(0), start + Duration::from_secs(9))
            .is_empty());
        assert_eq!(
            monitor.judge(&beats(0), start + Duration::from_secs(10)),
            ["other"]
        );
        assert!(monitor
            .judge(&beats(0), start + Duration::from_secs(11))
            .is_empty());
        assert_eq!(monitor.dead_nodes(), ["other"]);
        // It restarted under its name: alive again.
        assert!(monitor
            .judge(&beats(20), start + Duration::from_secs(12))
            .is_empty());
        assert!(monitor.dead_nodes().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_standing_still_for_dead_after_on_this_nodes_clock_is_a_death() {
        let dead_after = Duration::from_secs(10);
        let monitor = monitor(dead_after);
        // Stamps from the database's clock; only whether they moved matters here.
        let beats = vec![("me".to_string(), at(0)), ("other".to_string(), at(-3600))];
        assert!(monitor.judge(&beats, Instant::now()).is_empty());
        tokio::time::advance(dead_after - Duration::from_millis(1)).await;
        assert!(monitor.judge(&beats, Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(monitor.judge(&beats, Instant::now()), ["other"]);
        // This node never judges itself, however still its own stamp stands.
        assert_eq!(monitor.dead_nodes(), ["other"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_could_not_reach_the_database_judges_nobody_for_that_time() {
        let dead_after = Duration::from_secs(10);
        let monitor = monitor(dead_after);
        let beats = vec![("other".to_string(), at(0))];
        monitor.judge(&beats, Instant::now());
        tokio::time::advance(Duration::from_secs(2)).await;
        monitor.lost_sight(Instant::now());
        // An outage far longer than deadAfter, then the same old heartbeat.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(monitor.judge(&beats, Instant::now()).is_empty());
        // The count starts again from the first reading after it.
        tokio::time::advance(dead_after - Duration::from_millis(1)).await;
        assert!(monitor.judge(&beats, Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(monitor.judge(&beats, Instant::now()), ["other"]);
    }
}
