//! The connection pools as the operator pages see them: their gauges refreshed on demand and a
//! snapshot of each (size, use, who waits).
//!
//! This is the only way http learns about the pools; it must never hand out a pool or a
//! connection, only figures.

use std::time::Duration;

use crate::db::pool::DbPool;

/// The main and plugin pools, observed only. Cheap to clone.
#[derive(Clone)]
pub struct PoolMonitor {
    pools: Vec<DbPool>,
}

/// One pool's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSnapshot {
    /// `main` or `osgi`, Kill Bill's pool names.
    pub name: &'static str,
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    /// Callers waiting for a connection, all kinds.
    pub waiting: usize,
    pub queue_waiting: usize,
    /// Requests waiting, resumed ones included.
    pub request_waiting: usize,
    /// How long the longest waiter has waited.
    pub longest_wait: Duration,
}

impl PoolSnapshot {
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.available)
    }
}

impl PoolMonitor {
    pub fn new(pools: Vec<DbPool>) -> PoolMonitor {
        PoolMonitor { pools }
    }

    /// Refreshes the pools' sampled gauges (they are not recorded as they change).
    pub fn sample_metrics(&self) {
        for pool in &self.pools {
            pool.sample_metrics();
        }
    }

    pub fn snapshots(&self) -> Vec<PoolSnapshot> {
        self.pools
            .iter()
            .map(|pool| {
                let state = pool.state();
                PoolSnapshot {
                    name: pool.name(),
                    max_size: state.max_size,
                    size: state.size,
                    available: state.available,
                    waiting: state.waiting,
                    queue_waiting: state.waiters.queue,
                    request_waiting: state.waiters.requests,
                    longest_wait: state.waiters.longest,
                }
            })
            .collect()
    }
}
