//! The connection pools as the operator pages see them: their gauges refreshed on demand and a
//! snapshot of each (size, use, who waits).
//!
//! This is the only way http learns about the pools; it must never hand out a pool or a
//! connection, only figures.

use crate::db::pool::DbPool;

/// The main and plugin pools, observed only. Cheap to clone.
#[derive(Clone)]
pub struct PoolMonitor {
    pools: Vec<DbPool>,
}

/// The figures of a pool, as [`crate::db::pool`] reports them.
pub use crate::db::pool::PoolState;

/// One pool's figures at one moment, under Kill Bill's pool name (`main` or `osgi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSnapshot {
    pub name: &'static str,
    pub state: PoolState,
}

impl PoolSnapshot {
    pub fn in_use(&self) -> usize {
        self.state.size.saturating_sub(self.state.available)
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
            .map(|pool| PoolSnapshot {
                name: pool.name(),
                state: pool.state(),
            })
            .collect()
    }
}
