//! What the dashboard needs the database for: the health report (the checks behind
//! `/1.0/healthcheck`, which borrow a connection per pool for a `select 1`) and a live count
//! of every queue's ready entries (one statement for all of them, on a main-pool connection
//! taken only if one is free, so the count never queues behind the requests it watches).
//!
//! Each runs at most once a second, and only while someone watches the dashboard; nothing
//! here holds a connection between two probes. A sample uses only findings from the last few
//! seconds, so a stalled check shows as unknown rather than as its last answer.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::sample::HealthSample;
use super::Watchers;
use crate::bus::ready::{self, ReadyCount};
use crate::db::work::Db;
use crate::health::{Health, Report};

/// How often each probe runs while someone watches.
const PROBE_PERIOD: Duration = Duration::from_secs(1);
/// Findings older than this are not shown. A health report can take a pool's whole
/// `connectionTimeout` (5 s in seed 001) when that pool is starved; that one still counts.
const FRESH_FOR: Duration = Duration::from_secs(15);

/// The probes of one dashboard and their latest findings.
pub(crate) struct Probe {
    health: Health,
    main_db: Db,
    /// Each followed queue's count, in the dashboard's queue order; `None` for a queue with no
    /// table.
    counts: Vec<Option<ReadyCount>>,
    latest: Mutex<Latest>,
}

#[derive(Default)]
struct Latest {
    health: Option<(Instant, HealthSample)>,
    ready: Option<(Instant, Vec<Option<i64>>)>,
}

/// The findings a sample may use.
#[derive(Debug, Default)]
pub(crate) struct Probed {
    pub health: Option<HealthSample>,
    /// Each queue's ready entries, in the dashboard's queue order.
    pub ready: Option<Vec<Option<i64>>>,
}

impl Probe {
    pub fn new(health: Health, main_db: Db, counts: Vec<Option<ReadyCount>>) -> Probe {
        Probe {
            health,
            main_db,
            counts,
            latest: Mutex::default(),
        }
    }

    /// The findings of the last [`FRESH_FOR`].
    pub fn probed(&self) -> Probed {
        let latest = self.latest.lock();
        let fresh = |at: &Instant| at.elapsed() <= FRESH_FOR;
        Probed {
            health: latest
                .health
                .as_ref()
                .filter(|(at, _)| fresh(at))
                .map(|(_, health)| health.clone()),
            ready: latest
                .ready
                .as_ref()
                .filter(|(at, _)| fresh(at))
                .map(|(_, ready)| ready.clone()),
        }
    }

    /// Runs both probes every second while someone watches, until the task is aborted.
    pub async fn run(self: Arc<Self>, watchers: Arc<Watchers>) {
        let health = {
            let probe = self.clone();
            let watchers = watchers.clone();
            every_second_while_watched(watchers, move || {
                let probe = probe.clone();
                async move { probe.check_health().await }
            })
        };
        let ready = every_second_while_watched(watchers, move || {
            let probe = self.clone();
            async move { probe.count_ready().await }
        });
        tokio::join!(health, ready);
    }

    async fn check_health(&self) {
        let report = self.health.report().await;
        self.latest.lock().health = Some((Instant::now(), health_sample(&report)));
    }

    async fn count_ready(&self) {
        let counted: Vec<ReadyCount> = self.counts.iter().flatten().cloned().collect();
        let found = match ready::count_if_connection_free(&self.main_db, &counted).await {
            Ok(Some(found)) => found,
            // Every connection is busy: this second goes without a live count.
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "dashboard: ready entries not counted");
                return;
            }
        };
        let mut found = found.into_iter();
        let ready = self
            .counts
            .iter()
            .map(|count| count.as_ref().and_then(|_| found.next()))
            .collect();
        self.latest.lock().ready = Some((Instant::now(), ready));
    }
}

async fn every_second_while_watched<F, Fut>(watchers: Arc<Watchers>, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(PROBE_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if watchers.is_watched() {
            probe().await;
        }
    }
}

fn health_sample(report: &Report) -> HealthSample {
    HealthSample {
        healthy: report.is_healthy(),
        failing: report
            .outcomes
            .iter()
            .filter(|(_, outcome)| !outcome.healthy)
            .map(|(name, outcome)| match &outcome.message {
                Some(message) => format!("{name}: {message}"),
                None => name.clone(),
            })
            .collect(),
    }
}
