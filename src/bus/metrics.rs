//! The queues' metrics, recorded through the `metrics` crate under Kill Bill's names where
//! Kill Bill has one (killbill-commons `DBBackedQueue`: `org.killbill.queue.DBBackedQueue.<id>.*`,
//! with `<id>` = `bus-<table>` for a bus and `notif-<table>` for the notification queue) and
//! under `ferrobill.queue.<id>.*` otherwise. Recording is cheap and does nothing until a
//! recorder is installed; publishing them is the observability layer's job. Each queue also
//! keeps its [`HandlerRounds`]: how many run now, and their dispatch latencies for the
//! dashboard. Nothing here touches the database.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use metrics::{counter, gauge, histogram};

use crate::metrics::window::{Latencies, LatencyWindow};

/// Kill Bill's queue id of a live table: `bus-bus_events`, `bus-bus_ext_events`,
/// `notif-notifications`.
pub fn queue_id(live_table: &str) -> String {
    if live_table.starts_with("notifications") {
        format!("notif-{live_table}")
    } else {
        format!("bus-{live_table}")
    }
}

fn killbill(id: &str, name: &str) -> String {
    format!("org.killbill.queue.DBBackedQueue.{id}.{name}")
}

fn own(id: &str, name: &str) -> String {
    format!("ferrobill.queue.{id}.{name}")
}

/// Entries inserted (Kill Bill counts them before the transaction's outcome is known).
pub fn inserted(id: &str, count: u64) {
    counter!(killbill(id, "totalInsert")).increment(count);
}

/// Entries fetched from the table by a poll or by id, and how many of them this node claimed.
pub fn fetched(id: &str, fetched: u64, claimed: u64) {
    counter!(killbill(id, "totalFetched")).increment(fetched);
    counter!(killbill(id, "totalClaimed")).increment(claimed);
}

/// Outcomes recorded in one batch: moved to history as PROCESSED, moved as FAILED (Kill Bill's
/// "aborted"), or released for a retry after a first failure.
pub fn completed(id: &str, processed: u64, failed: u64, first_failures: u64) {
    counter!(killbill(id, "totalProcessedSuccess")).increment(processed);
    counter!(killbill(id, "totalProcessedAborted")).increment(failed);
    counter!(killbill(id, "totalProcessedFirstFailures")).increment(first_failures);
}

/// Entries handed to workers and not yet finished on this node.
pub fn in_flight(id: &str, entries: usize) {
    gauge!(own(id, "inFlight")).set(entries as f64);
}

/// Entries the reaper took over from a dead or stuck node.
pub fn reaped(id: &str, count: u64) {
    counter!(own(id, "reaped")).increment(count);
}

/// How long the subscribers of one entry ran, and how long the entry waited from its creation
/// until they started.
fn handled(id: &str, handler_time: Duration, dispatch_latency: Duration) {
    histogram!(own(id, "handlerTime")).record(handler_time.as_secs_f64());
    histogram!(own(id, "dispatchLatency")).record(dispatch_latency.as_secs_f64());
}

/// A queue's handler rounds: how many run now (a worker slot waiting for its next entry is
/// not one), and their dispatch latencies since the dashboard last looked.
#[derive(Default)]
pub(super) struct HandlerRounds {
    running: AtomicUsize,
    dispatch_latency: LatencyWindow,
}

impl HandlerRounds {
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    pub fn take_dispatch_latencies(&self) -> Latencies {
        self.dispatch_latency.take()
    }

    /// Runs one handler round of an entry that became due at `due` (a bus entry's creation, a
    /// notification's effective date), counting it as running meanwhile, and records its
    /// timings under the queue `id`: handler time and dispatch latency.
    pub async fn run<R>(&self, id: &str, due: DateTime<Utc>, round: R) -> Result<(), String>
    where
        R: Future<Output = Result<(), String>>,
    {
        let waited = (Utc::now() - due).to_std().unwrap_or_default();
        self.dispatch_latency.record(waited);
        let _running = Running::start(self, id);
        let started = Instant::now();
        let result = round.await;
        handled(id, started.elapsed(), waited);
        result
    }
}

/// One running round; uncounted when dropped, however the round ends.
struct Running<'a> {
    rounds: &'a HandlerRounds,
    id: &'a str,
}

impl<'a> Running<'a> {
    fn start(rounds: &'a HandlerRounds, id: &'a str) -> Running<'a> {
        let running = rounds.running.fetch_add(1, Ordering::Relaxed) + 1;
        in_flight(id, running);
        Running { rounds, id }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let running = self.rounds.running.fetch_sub(1, Ordering::Relaxed) - 1;
        in_flight(self.id, running);
    }
}

/// Ready entries as last sampled for the queue-growth health check.
pub fn ready_entries(id: &str, count: i64) {
    gauge!(own(id, "readyEntries")).set(count as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_follow_kill_bills_naming() {
        assert_eq!(queue_id("bus_events"), "bus-bus_events");
        assert_eq!(queue_id("bus_ext_events"), "bus-bus_ext_events");
        assert_eq!(queue_id("notifications"), "notif-notifications");
        assert_eq!(
            killbill("bus-bus_events", "totalInsert"),
            "org.killbill.queue.DBBackedQueue.bus-bus_events.totalInsert"
        );
    }
}
