//! The dashboard's charts: which series each one draws from the samples on show, and what
//! each is measured against (a pool's `maxActive`, `threads.nb`, Kill Bill's growth
//! threshold). The drawing itself is `crate::chart`'s.

use super::figures::{group_label, status_label, Layout, Topic};
use super::sample::{PoolSample, QueueSample, Sample};
use crate::chart::{ChartError, Limit, Panel, Series, XAxis};
use crate::health::GROWTH_THRESHOLD;
use crate::metrics::window::{Latencies, RouteGroup, StatusClass};

const SIZE: (u32, u32) = (600, 220);
/// The narrowest x axis, so the first seconds are not stretched across the chart.
const MIN_SPAN_SECONDS: f64 = 30.0;

/// One figure of a queue sample, charted per queue.
type QueueFigure = fn(&QueueSample) -> Option<f64>;

/// One drawn chart and the section it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub id: String,
    pub topic: Topic,
    pub svg: String,
}

/// Every chart over `samples` (oldest first), the x axis spanning at most `seconds` up to the
/// latest sample.
pub(crate) fn draw(
    layout: &Layout,
    samples: &[&Sample],
    seconds: u32,
) -> Result<Vec<Chart>, ChartError> {
    let at = |sample: &&Sample| sample.time_ms as f64 / 1000.0;
    let to = samples.last().map_or(0.0, at);
    // A young server's charts span what there is, up to the window asked for.
    let from = samples.first().map_or(to, at).max(to - f64::from(seconds));
    let plot = Plot {
        samples,
        x: XAxis::Clock {
            from: from.min(to - MIN_SPAN_SECONDS),
            to,
        },
    };
    let mut panels = vec![
        (
            "requests",
            Topic::Requests,
            plot.panel(
                "Requests per second",
                std::iter::once(("all routes", None))
                    .chain(RouteGroup::ALL.map(|g| (group_label(g), Some(g))))
                    .map(|(label, group)| {
                        plot.series(label, move |s| Some(group_latencies(s, group).count as f64))
                    })
                    .collect(),
                Vec::new(),
            ),
        ),
        (
            "latency",
            Topic::Requests,
            plot.panel(
                "Latency, all routes (ms)",
                [
                    ("p50", (|l| l.p50_ms) as fn(&Latencies) -> f64),
                    ("p95", |l| l.p95_ms),
                    ("p99", |l| l.p99_ms),
                ]
                .into_iter()
                .map(|(label, value)| plot.series(label, move |s| measured(&s.http.all).map(value)))
                .collect(),
                Vec::new(),
            ),
        ),
        (
            "latencyByGroup",
            Topic::Requests,
            plot.panel(
                "p99 latency by route group (ms)",
                RouteGroup::ALL
                    .map(|group| {
                        plot.series(group_label(group), move |s| {
                            measured(&group_latencies(s, Some(group))).map(|l| l.p99_ms)
                        })
                    })
                    .into(),
                Vec::new(),
            ),
        ),
        (
            "statuses",
            Topic::Requests,
            plot.panel(
                "Responses per second by status class",
                StatusClass::ALL
                    .map(|class| {
                        plot.series(status_label(class), move |s| {
                            Some(s.http.statuses.get(&class).copied().unwrap_or(0) as f64)
                        })
                    })
                    .into(),
                Vec::new(),
            ),
        ),
    ];
    for &name in &layout.pools {
        let max = samples
            .last()
            .and_then(|s| pool(s, name))
            .map(|pool| pool.max as f64);
        panels.push((
            name,
            Topic::Pools,
            plot.panel(
                &format!("{name} pool connections"),
                vec![
                    plot.series("in use", move |s| pool(s, name).map(|p| p.in_use as f64)),
                    plot.series("idle", move |s| pool(s, name).map(|p| p.idle as f64)),
                    plot.series("waiting", move |s| pool(s, name).map(|p| p.waiting as f64)),
                ],
                max.map(|max| Limit::new(format!("maxActive {max}"), max))
                    .into_iter()
                    .collect(),
            ),
        ));
    }
    panels.push((
        "poolWaits",
        Topic::Pools,
        plot.panel(
            "Longest connection wait (ms)",
            layout
                .pools
                .iter()
                .map(|&name| plot.series(name, move |s| pool(s, name).map(|p| p.longest_wait_ms)))
                .collect(),
            Vec::new(),
        ),
    ));
    let threads = samples.last().map(|s| s.plugin.threads as f64);
    panels.push((
        "plugin",
        Topic::Plugin,
        plot.panel(
            "Plugin executor slots",
            vec![
                plot.series("slots in use", |s| Some(s.plugin.in_use as f64)),
                plot.series("timeouts/s", |s| Some(s.plugin.timeouts as f64)),
            ],
            threads
                .map(|threads| Limit::new(format!("threads.nb {threads}"), threads))
                .into_iter()
                .collect(),
        ),
    ));
    let queue_panels: [(&str, &str, QueueFigure, Vec<Limit>); 4] = [
        (
            "queueReady",
            "Ready entries",
            |q| q.ready.map(|ready| ready as f64),
            Vec::new(),
        ),
        (
            "queueInFlight",
            "Handlers running",
            |q| Some(q.in_flight as f64),
            Vec::new(),
        ),
        (
            "queueLatency",
            "Dispatch latency p99 (ms)",
            |q| measured(&q.dispatch_latency).map(|l| l.p99_ms),
            Vec::new(),
        ),
        (
            "queueGrowth",
            "Growth slope (queue health check)",
            |q| q.growth_slope,
            vec![Limit::new(
                format!("unhealthy above {GROWTH_THRESHOLD}"),
                GROWTH_THRESHOLD,
            )],
        ),
    ];
    for (id, title, value, limits) in queue_panels {
        let series = layout
            .queues
            .iter()
            .map(|(queue_id, label)| {
                plot.series(label, move |s| {
                    s.queues.iter().find(|q| &q.id == queue_id).and_then(value)
                })
            })
            .collect();
        panels.push((id, Topic::Queues, plot.panel(title, series, limits)));
    }
    panels.extend([
        (
            "health",
            Topic::Process,
            plot.panel(
                "Health check (1 healthy, 0 unhealthy)",
                vec![plot.series("healthy", |s| {
                    s.health
                        .as_ref()
                        .map(|health| if health.healthy { 1.0 } else { 0.0 })
                })],
                Vec::new(),
            ),
        ),
        (
            "cpu",
            Topic::Process,
            plot.panel(
                "CPU (cores)",
                vec![plot.series("ferrobill", |s| s.process.cpu_cores)],
                Vec::new(),
            ),
        ),
        (
            "memory",
            Topic::Process,
            plot.panel(
                "Resident memory (MiB)",
                vec![plot.series("ferrobill", |s| s.process.rss_mib)],
                Vec::new(),
            ),
        ),
    ]);
    panels
        .into_iter()
        .map(|(id, topic, panel)| {
            Ok(Chart {
                id: id.to_string(),
                topic,
                svg: panel.svg(SIZE)?,
            })
        })
        .collect()
}

/// The samples on show and their x axis.
struct Plot<'a> {
    samples: &'a [&'a Sample],
    x: XAxis,
}

impl Plot<'_> {
    fn series(&self, label: &str, value: impl Fn(&Sample) -> Option<f64>) -> Series {
        Series::new(
            label,
            self.samples
                .iter()
                .map(|sample| (sample.time_ms as f64 / 1000.0, value(sample)))
                .collect(),
        )
    }

    fn panel(&self, title: &str, series: Vec<Series>, limits: Vec<Limit>) -> Panel {
        Panel {
            title: title.to_string(),
            x: self.x,
            series,
            limits,
        }
    }
}

fn pool<'a>(sample: &'a Sample, name: &str) -> Option<&'a PoolSample> {
    sample.pools.iter().find(|pool| pool.name == name)
}

/// All routes (`None`) or one group.
fn group_latencies(sample: &Sample, group: Option<RouteGroup>) -> Latencies {
    match group {
        None => sample.http.all,
        Some(group) => sample.http.groups.get(&group).copied().unwrap_or_default(),
    }
}

/// Percentiles mean something only over at least one value.
fn measured(latencies: &Latencies) -> Option<&Latencies> {
    (latencies.count > 0).then_some(latencies)
}
