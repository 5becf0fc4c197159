//! `org.killbill.billing.server.healthchecks.KillbillQueuesHealthcheck`: samples each queue's
//! ready entries into the growth tracker ([`super::queues`]) and reports "Growing queues: …".
//!
//! Unlike Kill Bill, which samples once per `/1.0/healthcheck` call, samples are taken on a
//! timer (`ferrobill.server.queue.healthcheck.period`, the first at startup): a load balancer
//! polling every second then costs no `count(*)` per poll and cannot skew the window. The check
//! itself only reads the tracker. This module never changes a queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::queues::{disabled_outcome, QueueGrowthTracker};
use super::{BoxFuture, HealthCheck, Outcome};

pub const KILLBILL_QUEUES_HEALTHCHECK: &str =
    "org.killbill.billing.server.healthchecks.KillbillQueuesHealthcheck";

/// Reads one queue's ready entries; `None` when it cannot be counted (an in-memory bus, or
/// the database is unreachable), and that sample is skipped, as Kill Bill skips queues that
/// do not support counting.
pub type ReadyEntries = Box<dyn Fn() -> BoxFuture<'static, Option<i64>> + Send + Sync>;

/// A queue to watch, under Kill Bill's name for it (`bus`, `externalBus`, `svc:queue`).
pub struct WatchedQueue {
    pub name: String,
    pub ready_entries: ReadyEntries,
}

/// What the check knows of one queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueGrowthFigures {
    /// The growth slope the check compares with [`super::GROWTH_THRESHOLD`].
    pub slope: f64,
    /// Ready entries at the last sample.
    pub last_ready: Option<i64>,
}

/// The check and its sampler share the tracker.
#[derive(Clone)]
pub struct QueuesHealthcheck {
    enabled: bool,
    tracker: Arc<Mutex<QueueGrowthTracker>>,
}

impl QueuesHealthcheck {
    pub fn new(enabled: bool) -> QueuesHealthcheck {
        QueuesHealthcheck {
            enabled,
            tracker: Arc::new(Mutex::new(QueueGrowthTracker::new())),
        }
    }

    /// Takes one sample of every queue now.
    pub async fn sample(&self, queues: &[WatchedQueue]) {
        for queue in queues {
            let Some(count) = (queue.ready_entries)().await else {
                continue;
            };
            let now_ms = chrono::Utc::now().timestamp_millis();
            let mut tracker = self
                .tracker
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            tracker.record(&queue.name, now_ms, count);
            let Some(stats) = tracker.queue(&queue.name) else {
                continue;
            };
            tracing::debug!(
                queue = %queue.name,
                ready_entries = ?stats.last_raw_size(),
                smoothed = ?stats.last_smoothed_size(),
                slope = stats.slope(),
                "queue sampled"
            );
            if stats.is_growing() {
                tracing::warn!(
                    queue = %queue.name,
                    ready_entries = count,
                    slope = stats.slope(),
                    "queue is growing"
                );
            }
        }
    }

    /// The figures of the queue the check knows as `name` (`bus`, `svc:queue`…); `None`
    /// before its first sample, and always when the check is disabled.
    pub fn growth(&self, name: &str) -> Option<QueueGrowthFigures> {
        let tracker = self
            .tracker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tracker.queue(name).map(|growth| QueueGrowthFigures {
            slope: growth.slope(),
            last_ready: growth.last_raw_size(),
        })
    }

    /// Takes the first sample now, so every queue is listed from the first health check, then
    /// returns the task that samples every `period` until it is aborted. Disabled: samples
    /// nothing.
    pub async fn start_sampler(
        &self,
        queues: Vec<WatchedQueue>,
        period: Duration,
    ) -> tokio::task::JoinHandle<()> {
        if self.enabled {
            self.sample(&queues).await;
        }
        let check = self.clone();
        tokio::spawn(async move {
            if !check.enabled {
                return;
            }
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                check.sample(&queues).await;
            }
        })
    }
}

impl HealthCheck for QueuesHealthcheck {
    fn name(&self) -> String {
        KILLBILL_QUEUES_HEALTHCHECK.to_string()
    }

    fn check(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            if !self.enabled {
                return disabled_outcome();
            }
            self.tracker
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .outcome()
        })
    }
}
