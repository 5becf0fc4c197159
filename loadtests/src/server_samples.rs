//! What the server's own samples (ferrobill's `/dashboard/data`, one a second) say about a
//! step: the peaks and totals of its requests, pools, plugin slots, queues, health and
//! process, each named by the dashboard's metric name with a `.max` or `.total` suffix, so
//! report.md and report.html show them and scripts can find them.

use ferrobill::dashboard::sample::Sample;
use ferrobill::metrics::window::StatusClass;

use crate::stats::Table;

/// One line of the step's server figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFigure {
    pub label: String,
    pub metric: String,
    pub value: String,
}

fn figure(label: impl Into<String>, metric: impl Into<String>, value: String) -> ServerFigure {
    ServerFigure {
        label: label.into(),
        metric: metric.into(),
        value,
    }
}

fn max<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    values.reduce(|a, b| if b > a { b } else { a })
}

/// The figures of `samples`; none without samples (a target that is not ferrobill).
pub fn figures(samples: &[Sample]) -> Vec<ServerFigure> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let text = |value: Option<f64>, places: usize| {
        value.map_or_else(|| "–".to_string(), |value| format!("{value:.places$}"))
    };
    let mut figures = vec![
        figure(
            "requests the server answered",
            "ferrobill.http.all.total",
            samples
                .iter()
                .map(|s| s.http.all.count)
                .sum::<u64>()
                .to_string(),
        ),
        figure(
            "503s from admission control",
            "ferrobill.http.responses.503.admission.total",
            samples
                .iter()
                .filter_map(|s| s.http.statuses.get(&StatusClass::Shed))
                .sum::<u64>()
                .to_string(),
        ),
    ];
    for pool in &last.pools {
        let name = pool.name.as_str();
        let of = |s: &Sample| s.pools.iter().find(|p| p.name == name).cloned();
        let pools: Vec<_> = samples.iter().filter_map(of).collect();
        let metric = |suffix: &str| format!("{name}.pool.{suffix}");
        figures.extend([
            figure(
                format!(
                    "{name} pool: most connections in use (maxActive {})",
                    pool.max
                ),
                metric("ActiveConnections.max"),
                max(pools.iter().map(|p| p.in_use)).unwrap_or(0).to_string(),
            ),
            figure(
                format!("{name} pool: most callers waiting"),
                metric("PendingConnections.max"),
                max(pools.iter().map(|p| p.waiting))
                    .unwrap_or(0)
                    .to_string(),
            ),
            figure(
                format!("{name} pool: longest wait, ms"),
                metric("Wait.max"),
                text(max(pools.iter().map(|p| p.longest_wait_ms)), 1),
            ),
            figure(
                format!("{name} pool: waits timed out"),
                metric("ConnectionTimeoutRate.total"),
                pools.iter().map(|p| p.timeouts).sum::<u64>().to_string(),
            ),
        ]);
    }
    figures.extend([
        figure(
            format!(
                "plugin slots: most in use (threads.nb {})",
                last.plugin.threads
            ),
            "ferrobill.plugin.slotsInUse.max",
            max(samples.iter().map(|s| s.plugin.in_use))
                .unwrap_or(0)
                .to_string(),
        ),
        figure(
            "plugin calls timed out",
            "ferrobill.plugin.callTimeouts.total",
            samples
                .iter()
                .map(|s| s.plugin.timeouts)
                .sum::<u64>()
                .to_string(),
        ),
    ]);
    for queue in &last.queues {
        let id = queue.id.as_str();
        let queues: Vec<_> = samples
            .iter()
            .filter_map(|s| s.queues.iter().find(|q| q.id == id))
            .collect();
        figures.extend([
            figure(
                format!("{id}: most ready entries"),
                format!("ferrobill.queue.{id}.readyEntries.max"),
                text(
                    max(queues.iter().filter_map(|q| q.ready)).map(|ready| ready as f64),
                    0,
                ),
            ),
            figure(
                format!("{id}: largest growth slope (unhealthy above 0.1)"),
                format!("ferrobill.queue.{id}.growthSlope.max"),
                text(max(queues.iter().filter_map(|q| q.growth_slope)), 2),
            ),
        ]);
    }
    figures.extend([
        figure(
            "seconds the health report was unhealthy",
            "ferrobill.health.unhealthySeconds",
            samples
                .iter()
                .filter(|s| s.health.as_ref().is_some_and(|health| !health.healthy))
                .count()
                .to_string(),
        ),
        figure(
            "most CPU, cores",
            "ferrobill.process.cpuCores.max",
            text(max(samples.iter().filter_map(|s| s.process.cpu_cores)), 2),
        ),
        figure(
            "most resident memory, MiB",
            "ferrobill.process.rssMiB.max",
            text(max(samples.iter().filter_map(|s| s.process.rss_mib)), 1),
        ),
    ]);
    figures
}

/// The figures as report.md's table, with the metric each shows.
pub fn table(figures: &[ServerFigure]) -> Table {
    let body = figures
        .iter()
        .map(|figure| {
            vec![
                figure.label.clone(),
                figure.value.clone(),
                figure.metric.clone(),
            ]
        })
        .collect();
    Table::new(&["figure", "value", "metric"], body)
}
