//! `org.killbill.billing.server.healthchecks.KillbillQueuesHealthcheck`: samples each queue's
//! ready entries into the growth tracker ([`super::queues`]) and reports "Growing queues: …".
//!
//! Unlike Kill Bill, which samples once per `/1.0/healthcheck` call, samples are taken on a
//! timer (`ferrobill.server.queue.healthcheck.period`, the first at startup): a load balancer
//! polling every second then costs no `count(*)` per poll and cannot skew the window. The check
//! itself only reads the tracker. Samples are stamped by the [`Clock`] passed in, so a test
//! on tokio's paused time can take an hour of samples at once. This module never changes a
//! queue.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::queues::{disabled_outcome, QueueGrowthTracker};
use super::{BoxFuture, HealthCheck, Outcome};
use crate::clock::Clock;

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
    /// Stamps each sample: the growth is a slope over time, so time decides the verdict.
    clock: Clock,
}

impl QueuesHealthcheck {
    pub fn new(enabled: bool, clock: Clock) -> QueuesHealthcheck {
        QueuesHealthcheck {
            enabled,
            tracker: Arc::new(Mutex::new(QueueGrowthTracker::new())),
            clock,
        }
    }

    /// Takes one sample of every queue now.
    pub async fn sample(&self, queues: &[WatchedQueue]) {
        for queue in queues {
            let Some(count) = (queue.ready_entries)().await else {
                continue;
            };
            let now_ms = self.clock.now().timestamp_millis();
            let mut tracker = self.tracker.lock();
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
        let tracker = self.tracker.lock();
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
            self.tracker.lock().outcome()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    /// A queue whose ready entries grow by `step` at every count.
    fn growing_queue(name: &str, step: i64) -> (WatchedQueue, Arc<AtomicI64>) {
        let ready = Arc::new(AtomicI64::new(0));
        let counted = ready.clone();
        let queue = WatchedQueue {
            name: name.to_owned(),
            ready_entries: Box::new(move || {
                let count = counted.fetch_add(step, Ordering::SeqCst) + step;
                Box::pin(async move { Some(count) })
            }),
        };
        (queue, ready)
    }

    // An hour of one-minute samples, on tokio's paused clock: the test takes no real time,
    // and the samples are stamped a minute apart, as in production.
    #[tokio::test(start_paused = true)]
    async fn a_queue_growing_for_an_hour_of_samples_turns_the_check_unhealthy() {
        let period = Duration::from_secs(60);
        let check = QueuesHealthcheck::new(true, Clock::following_tokio());
        // 2,000 entries a minute: a slope of 3.33 per 100 ms, above the threshold of 0.1.
        let (bus, _) = growing_queue("bus", 2_000);
        // 10 entries a minute stays below it.
        let (slow, _) = growing_queue("svc:queue", 10);
        let sampler = check.start_sampler(vec![bus, slow], period).await;
        assert!(
            check.check().await.healthy,
            "no slope before the window is full"
        );

        // The first sample was taken at start; 59 more fill Kill Bill's 60-sample window.
        tokio::time::sleep(period * 59 + period / 2).await;
        let bus = check.growth("bus").expect("bus sampled");
        assert_eq!(bus.last_ready, Some(60 * 2_000));
        assert!(bus.slope > crate::health::GROWTH_THRESHOLD, "{bus:?}");
        let slow = check.growth("svc:queue").expect("svc:queue sampled");
        assert!(slow.slope <= crate::health::GROWTH_THRESHOLD, "{slow:?}");
        let outcome = check.check().await;
        assert!(!outcome.healthy);
        assert!(
            outcome
                .message
                .as_deref()
                .is_some_and(|m| m.contains("bus")),
            "{outcome:?}"
        );
        sampler.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_disabled_check_samples_nothing() {
        let check = QueuesHealthcheck::new(false, Clock::following_tokio());
        let (bus, ready) = growing_queue("bus", 1);
        let sampler = check
            .start_sampler(vec![bus], Duration::from_secs(60))
            .await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(ready.load(Ordering::SeqCst), 0);
        assert_eq!(check.growth("bus"), None);
        assert!(check.check().await.healthy);
        sampler.abort();
    }
}
