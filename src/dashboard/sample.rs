//! One second of what saturates a server, as the dashboard keeps it and as
//! `/dashboard/data?since=N` serves it (the load suite reads these back into its reports), and
//! the sampler that takes it from the server's own objects: the HTTP layer's traffic window,
//! each pool's state and waits, the plugin executor's slots, each queue's dispatcher, the
//! queue-growth check's figures, and /proc for the process.
//!
//! Taking a sample reads memory only: the database figures (the health report, live ready
//! counts) come from the prober (`probe.rs`), which runs only while someone watches.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::probe::Probed;
use crate::bus::{Bus, NotificationQueueService, ReadyCount};
use crate::db::pool::DbPool;
use crate::health::queue_check::QueuesHealthcheck;
use crate::metrics::window::{Latencies, Traffic, TrafficSecond};
use crate::plugin::PluginExecutor;

/// One second of one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Counts samples from the server's start: 1, 2, …
    pub sequence: u64,
    /// When it was taken, in Unix milliseconds.
    pub time_ms: i64,
    /// The requests that finished during the second.
    pub http: TrafficSecond,
    /// The main pool, then the plugin pool.
    pub pools: Vec<PoolSample>,
    pub plugin: PluginSample,
    /// The main bus, the external bus, then the notification queue.
    pub queues: Vec<QueueSample>,
    /// The latest health report, when one answered in the last few seconds.
    pub health: Option<HealthSample>,
    pub process: ProcessSample,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSample {
    /// Kill Bill's pool name: `main` or `osgi`.
    pub name: String,
    /// `maxActive`.
    pub max: usize,
    pub open: usize,
    pub in_use: usize,
    pub idle: usize,
    /// Callers waiting for a connection now.
    pub waiting: usize,
    /// The longest wait that ended during the second (with a connection or a timeout).
    pub longest_wait_ms: f64,
    /// Waits that reached `connectionTimeout` during the second.
    pub timeouts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSample {
    /// `org.killbill.payment.plugin.threads.nb`.
    pub threads: usize,
    pub in_use: usize,
    /// Plugin calls that timed out during the second.
    pub timeouts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSample {
    /// Kill Bill's queue id: `bus-bus_events`, `bus-bus_ext_events`, `notif-notifications`.
    pub id: String,
    /// Ready entries: counted this second while someone watches, else the queue-growth
    /// check's last sample; `None` when neither is known (an in-memory bus).
    pub ready: Option<i64>,
    pub in_flight: usize,
    /// `nbThreads`.
    pub handler_slots: usize,
    /// Entries whose handlers started during the second, from due to started.
    pub dispatch_latency: Latencies,
    /// The queue-growth check's slope (its largest over the queue's names).
    pub growth_slope: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthSample {
    pub healthy: bool,
    /// `check name: message` of every failing check.
    pub failing: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessSample {
    /// CPU used during the second, in cores (1.0 = one core busy).
    pub cpu_cores: Option<f64>,
    pub rss_mib: Option<f64>,
}

/// A queue the dashboard follows.
#[derive(Clone)]
pub(crate) struct Queue {
    pub kind: QueueKind,
    /// The names the queue-growth check knows it by (`bus`; `svc:queue` for each
    /// notification queue, which all count the one table).
    pub check_names: Vec<String>,
}

#[derive(Clone)]
pub(crate) enum QueueKind {
    Bus(Bus),
    Notifications(NotificationQueueService),
}

impl Queue {
    pub fn id(&self) -> String {
        match &self.kind {
            QueueKind::Bus(bus) => bus.metrics_id().to_string(),
            QueueKind::Notifications(_) => crate::bus::notifications::QUEUE_METRICS_ID.to_string(),
        }
    }

    /// For people: `main bus`, `external bus`, `notification queue`.
    pub fn label(&self) -> String {
        match &self.kind {
            QueueKind::Bus(bus) => format!("{} bus", bus.name()),
            QueueKind::Notifications(_) => "notification queue".to_string(),
        }
    }

    /// `None` for the in-memory bus, which has no table.
    pub fn ready_count(&self) -> Option<ReadyCount> {
        match &self.kind {
            QueueKind::Bus(bus) => bus.ready_count(),
            QueueKind::Notifications(queue) => Some(queue.ready_count()),
        }
    }

    fn take_dispatch_latencies(&self) -> Latencies {
        match &self.kind {
            QueueKind::Bus(bus) => bus.take_dispatch_latencies(),
            QueueKind::Notifications(queue) => queue.take_dispatch_latencies(),
        }
    }

    fn handlers(&self) -> (usize, usize) {
        let state = match &self.kind {
            QueueKind::Bus(bus) => bus.dispatch_state(),
            QueueKind::Notifications(queue) => queue.dispatch_state(),
        };
        (state.handlers_running, state.handler_slots)
    }
}

/// What the sampler reads, all of it this server's own.
#[derive(Clone)]
pub(crate) struct Sources {
    pub traffic: std::sync::Arc<Traffic>,
    /// The prober counts ready entries on it.
    pub main_pool: DbPool,
    pub plugin_pool: DbPool,
    pub executor: PluginExecutor,
    pub queues: Vec<Queue>,
    pub queues_check: QueuesHealthcheck,
}

/// Takes samples; keeps what a sample needs from the previous one (the CPU time).
pub(crate) struct Sampler {
    sources: Sources,
    sequence: u64,
    cpu: Option<(Instant, f64)>,
}

impl Sampler {
    pub fn new(sources: Sources) -> Sampler {
        Sampler {
            sources,
            sequence: 0,
            cpu: None,
        }
    }

    /// The second since the last call, with the prober's latest findings.
    pub fn take(&mut self, probed: &Probed) -> Sample {
        self.sequence += 1;
        let sources = &self.sources;
        let executor = &sources.executor;
        Sample {
            sequence: self.sequence,
            time_ms: chrono::Utc::now().timestamp_millis(),
            http: sources.traffic.take(),
            pools: [&sources.main_pool, &sources.plugin_pool]
                .into_iter()
                .map(pool_sample)
                .collect(),
            plugin: PluginSample {
                threads: executor.size(),
                in_use: executor.busy(),
                timeouts: executor.take_timeouts(),
            },
            queues: sources
                .queues
                .iter()
                .enumerate()
                .map(|(index, queue)| {
                    self.queue_sample(queue, probed.ready.as_ref().map(|ready| ready[index]))
                })
                .collect(),
            health: probed.health.clone(),
            process: self.process_sample(),
        }
    }

    fn queue_sample(&self, queue: &Queue, counted: Option<Option<i64>>) -> QueueSample {
        let growth: Vec<_> = queue
            .check_names
            .iter()
            .filter_map(|name| self.sources.queues_check.growth(name))
            .collect();
        let (in_flight, handler_slots) = queue.handlers();
        QueueSample {
            id: queue.id(),
            ready: counted
                .flatten()
                .or_else(|| growth.iter().find_map(|figures| figures.last_ready)),
            in_flight,
            handler_slots,
            dispatch_latency: queue.take_dispatch_latencies(),
            growth_slope: growth.iter().map(|figures| figures.slope).reduce(f64::max),
        }
    }

    fn process_sample(&mut self) -> ProcessSample {
        let pid = std::process::id();
        let now = Instant::now();
        let cpu_seconds = crate::procfs::cpu_seconds(pid);
        let cpu_cores = match (self.cpu, cpu_seconds) {
            (Some((then, before)), Some(after)) => {
                let wall = now.duration_since(then).as_secs_f64();
                (wall > 0.0).then(|| ((after - before) / wall).max(0.0))
            }
            _ => None,
        };
        self.cpu = cpu_seconds.map(|seconds| (now, seconds));
        ProcessSample {
            cpu_cores,
            rss_mib: crate::procfs::rss_mib(pid),
        }
    }
}

fn pool_sample(pool: &DbPool) -> PoolSample {
    let state = pool.state();
    let waits = pool.take_waits();
    PoolSample {
        name: pool.name().to_string(),
        max: state.max_size,
        open: state.size,
        in_use: state.size.saturating_sub(state.available),
        idle: state.available,
        waiting: state.waiting,
        longest_wait_ms: waits.longest.as_secs_f64() * 1000.0,
        timeouts: waits.timeouts,
    }
}
