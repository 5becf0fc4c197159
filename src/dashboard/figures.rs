//! The page's live figures, each named by the metric it shows: the `data-metric` attribute
//! of its element, and its key in `/dashboard/data`'s `figures`. Names follow Kill Bill's and
//! `/1.0/metrics`' where a metric exists (`main.pool.ActiveConnections`,
//! `ferrobill.queue.bus-bus_events.readyEntries`), with a suffix for a statistic of it
//! (`main.pool.Wait.max`); docs/dashboard.md lists them all.
//!
//! Values are display text (a number without its unit, `–` when unknown), the same on the page
//! as in the JSON, so a script reads either. This file names and formats; it draws nothing and
//! reads no server object.

use std::collections::BTreeMap;

use super::sample::Sample;
use crate::health::GROWTH_THRESHOLD;
use crate::metrics::window::{Latencies, RouteGroup, StatusClass};

/// Shown for a value not known yet.
const UNKNOWN: &str = "–";

/// What the page shows besides its samples: the server's pools and queues, and the settings
/// that matter for saturation.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Kill Bill's pool names, main first.
    pub pools: Vec<&'static str>,
    /// Queue ids with a label for people.
    pub queues: Vec<(String, String)>,
    /// Property names and effective values.
    pub settings: Vec<(&'static str, String)>,
}

/// Where a section's charts belong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Requests,
    Pools,
    Plugin,
    Queues,
    Process,
}

/// One figure: the metric it shows and its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    pub metric: String,
    pub value: String,
}

/// Rows of figures under column headers (each header holds its unit).
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<Cell>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub title: &'static str,
    pub topic: Topic,
    pub tables: Vec<Table>,
}

/// Every figure of the page for the latest sample (`None` before the first one).
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    /// The sample's number and time, the health status and the failing checks.
    pub banner: Vec<Cell>,
    pub sections: Vec<Section>,
}

impl Figures {
    pub fn of(layout: &Layout, sample: Option<&Sample>) -> Figures {
        Figures {
            banner: banner(sample),
            sections: vec![
                requests(sample),
                pools(layout, sample),
                plugin(sample),
                queues(layout, sample),
                process(sample),
            ],
        }
    }

    /// Metric name → value, for the JSON.
    pub fn values(&self) -> BTreeMap<String, String> {
        let tables = self.sections.iter().flat_map(|section| &section.tables);
        let rows = tables.flat_map(|table| &table.rows);
        self.banner
            .iter()
            .chain(rows.flat_map(|(_, cells)| cells))
            .map(|cell| (cell.metric.clone(), cell.value.clone()))
            .collect()
    }
}

fn columns(headers: &[&str]) -> Vec<String> {
    headers.iter().map(|header| header.to_string()).collect()
}

fn cell(metric: impl Into<String>, value: String) -> Cell {
    Cell {
        metric: metric.into(),
        value,
    }
}

fn count(value: impl std::fmt::Display) -> String {
    value.to_string()
}

fn decimals(value: f64, places: usize) -> String {
    format!("{value:.places$}")
}

fn known<T>(value: Option<T>, format: impl Fn(T) -> String) -> String {
    value.map_or_else(|| UNKNOWN.to_string(), format)
}

fn banner(sample: Option<&Sample>) -> Vec<Cell> {
    let health = sample.and_then(|sample| sample.health.as_ref());
    let time = sample
        .and_then(|sample| chrono::DateTime::from_timestamp_millis(sample.time_ms))
        .map(|time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    vec![
        cell(
            "ferrobill.dashboard.sample",
            known(sample, |sample| count(sample.sequence)),
        ),
        cell("ferrobill.dashboard.time", known(time, |time| time)),
        cell(
            "ferrobill.health.status",
            match health {
                Some(health) if health.healthy => "healthy".to_string(),
                Some(_) => "unhealthy".to_string(),
                None => "unknown".to_string(),
            },
        ),
        cell(
            "ferrobill.health.message",
            match health {
                Some(health) if health.healthy => String::new(),
                Some(health) => health.failing.join("; "),
                None => "no health report in the last 15 s".to_string(),
            },
        ),
    ]
}

fn latency_cells(prefix: &str, latencies: Option<&Latencies>) -> Vec<Cell> {
    let percentile = |value: fn(&Latencies) -> f64| {
        known(latencies, |latencies| {
            if latencies.count == 0 {
                UNKNOWN.to_string()
            } else {
                decimals(value(latencies), 1)
            }
        })
    };
    vec![
        cell(
            format!("{prefix}.perSecond"),
            known(latencies, |latencies| count(latencies.count)),
        ),
        cell(format!("{prefix}.p50"), percentile(|l| l.p50_ms)),
        cell(format!("{prefix}.p95"), percentile(|l| l.p95_ms)),
        cell(format!("{prefix}.p99"), percentile(|l| l.p99_ms)),
    ]
}

fn requests(sample: Option<&Sample>) -> Section {
    let http = sample.map(|sample| &sample.http);
    let mut rows = vec![(
        "all routes".to_string(),
        latency_cells("ferrobill.http.all", http.map(|http| &http.all)),
    )];
    for group in RouteGroup::ALL {
        let latencies = http.and_then(|http| http.groups.get(&group));
        rows.push((
            group_label(group).to_string(),
            latency_cells(&format!("ferrobill.http.{}", group.name()), latencies),
        ));
    }
    let statuses = StatusClass::ALL
        .iter()
        .map(|&class| {
            let responses = http.map(|http| http.statuses.get(&class).copied().unwrap_or(0));
            (
                status_label(class).to_string(),
                vec![cell(
                    format!("ferrobill.http.responses.{}", class.name()),
                    known(responses, count),
                )],
            )
        })
        .collect();
    Section {
        title: "Requests",
        topic: Topic::Requests,
        tables: vec![
            Table {
                columns: columns(&["route group", "requests/s", "p50 ms", "p95 ms", "p99 ms"]),
                rows,
            },
            Table {
                columns: columns(&["status class", "responses/s"]),
                rows: statuses,
            },
        ],
    }
}

pub(crate) fn group_label(group: RouteGroup) -> &'static str {
    match group {
        RouteGroup::Accounts => "accounts",
        RouteGroup::PaymentMethods => "payment methods",
        RouteGroup::Payments => "payments",
        RouteGroup::Tenants => "tenants",
        RouteGroup::Ops => "ops",
        RouteGroup::Other => "other",
    }
}

pub(crate) fn status_label(class: StatusClass) -> &'static str {
    match class {
        StatusClass::Success => "2xx",
        StatusClass::ClientError => "4xx (not 429)",
        StatusClass::TooManyRequests => "429 auth throttle",
        StatusClass::ServerError => "5xx (not 503)",
        StatusClass::Shed => "503 admission control",
        StatusClass::Unavailable => "503 other",
    }
}

fn pools(layout: &Layout, sample: Option<&Sample>) -> Section {
    let rows = layout
        .pools
        .iter()
        .map(|&name| {
            let pool = sample.and_then(|sample| sample.pools.iter().find(|p| p.name == name));
            let metric = |suffix: &str| format!("{name}.pool.{suffix}");
            (
                name.to_string(),
                vec![
                    cell(
                        metric("ActiveConnections"),
                        known(pool, |p| count(p.in_use)),
                    ),
                    cell(metric("IdleConnections"), known(pool, |p| count(p.idle))),
                    cell(
                        metric("PendingConnections"),
                        known(pool, |p| count(p.waiting)),
                    ),
                    cell(metric("TotalConnections"), known(pool, |p| count(p.open))),
                    cell(metric("MaxConnections"), known(pool, |p| count(p.max))),
                    cell(
                        metric("Wait.max"),
                        known(pool, |p| decimals(p.longest_wait_ms, 1)),
                    ),
                    cell(
                        metric("ConnectionTimeoutRate"),
                        known(pool, |p| count(p.timeouts)),
                    ),
                ],
            )
        })
        .collect();
    Section {
        title: "Connection pools",
        topic: Topic::Pools,
        tables: vec![Table {
            columns: columns(&[
                "pool",
                "in use",
                "idle",
                "waiting",
                "open",
                "maxActive",
                "longest wait ms",
                "timeouts/s",
            ]),
            rows,
        }],
    }
}

fn plugin(sample: Option<&Sample>) -> Section {
    let plugin = sample.map(|sample| &sample.plugin);
    Section {
        title: "Payment plugin executor",
        topic: Topic::Plugin,
        tables: vec![Table {
            columns: columns(&["executor", "slots in use", "threads.nb", "timeouts/s"]),
            rows: vec![(
                "plugin calls".to_string(),
                vec![
                    cell(
                        "ferrobill.plugin.slotsInUse",
                        known(plugin, |p| count(p.in_use)),
                    ),
                    cell(
                        "org.killbill.payment.plugin.threads.nb",
                        known(plugin, |p| count(p.threads)),
                    ),
                    cell(
                        "ferrobill.plugin.callTimeouts",
                        known(plugin, |p| count(p.timeouts)),
                    ),
                ],
            )],
        }],
    }
}

fn queues(layout: &Layout, sample: Option<&Sample>) -> Section {
    let rows = layout
        .queues
        .iter()
        .map(|(id, label)| {
            let queue = sample.and_then(|sample| sample.queues.iter().find(|q| &q.id == id));
            let metric = |suffix: &str| format!("ferrobill.queue.{id}.{suffix}");
            let latency = |q: &super::sample::QueueSample| {
                if q.dispatch_latency.count == 0 {
                    UNKNOWN.to_string()
                } else {
                    decimals(q.dispatch_latency.p99_ms, 1)
                }
            };
            (
                label.clone(),
                vec![
                    cell(
                        metric("readyEntries"),
                        known(queue.and_then(|q| q.ready), count),
                    ),
                    cell(metric("inFlight"), known(queue, |q| count(q.in_flight))),
                    cell(
                        metric("nbThreads"),
                        known(queue, |q| count(q.handler_slots)),
                    ),
                    cell(
                        metric("dispatched"),
                        known(queue, |q| count(q.dispatch_latency.count)),
                    ),
                    cell(metric("dispatchLatency.p99"), known(queue, latency)),
                    cell(
                        metric("growthSlope"),
                        known(queue.and_then(|q| q.growth_slope), |slope| {
                            decimals(slope, 2)
                        }),
                    ),
                ],
            )
        })
        .collect();
    Section {
        title: "Queues",
        topic: Topic::Queues,
        tables: vec![Table {
            columns: columns(&[
                "queue",
                "ready entries",
                "handlers running",
                "nbThreads",
                "dispatched/s",
                "dispatch p99 ms",
                &format!("growth slope (unhealthy above {GROWTH_THRESHOLD})"),
            ]),
            rows,
        }],
    }
}

fn process(sample: Option<&Sample>) -> Section {
    let process = sample.map(|sample| sample.process);
    Section {
        title: "Process",
        topic: Topic::Process,
        tables: vec![Table {
            columns: columns(&["process", "CPU cores", "RSS MiB"]),
            rows: vec![(
                "ferrobill".to_string(),
                vec![
                    cell(
                        "ferrobill.process.cpuCores",
                        known(process.and_then(|p| p.cpu_cores), |cores| {
                            decimals(cores, 2)
                        }),
                    ),
                    cell(
                        "ferrobill.process.rssMiB",
                        known(process.and_then(|p| p.rss_mib), |mib| decimals(mib, 1)),
                    ),
                ],
            )],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::tests::sample;

    fn layout() -> Layout {
        Layout {
            pools: vec!["main", "osgi"],
            queues: vec![("bus-bus_events".into(), "main bus".into())],
            settings: Vec::new(),
        }
    }

    #[test]
    fn every_figure_has_its_own_name_and_is_unknown_before_the_first_sample() {
        let figures = Figures::of(&layout(), None);
        let cells: Vec<&Cell> = figures
            .sections
            .iter()
            .flat_map(|section| &section.tables)
            .flat_map(|table| &table.rows)
            .flat_map(|(_, cells)| cells)
            .chain(&figures.banner)
            .collect();
        assert_eq!(figures.values().len(), cells.len(), "names are unique");
        let values = figures.values();
        assert_eq!(values["main.pool.ActiveConnections"], UNKNOWN);
        assert_eq!(
            values["ferrobill.queue.bus-bus_events.readyEntries"],
            UNKNOWN
        );
        assert_eq!(values["ferrobill.health.status"], "unknown");
    }

    #[test]
    fn figures_show_the_latest_sample() {
        let mut latest = sample(7);
        latest.http.all.count = 12;
        latest.http.all.p99_ms = 3.25;
        latest.health = Some(super::super::sample::HealthSample {
            healthy: false,
            failing: vec!["main.pool.ConnectivityCheck: no connection".into()],
        });
        let values = Figures::of(&layout(), Some(&latest)).values();
        assert_eq!(values["ferrobill.dashboard.sample"], "7");
        assert_eq!(values["ferrobill.http.all.perSecond"], "12");
        assert_eq!(values["ferrobill.http.all.p99"], "3.2");
        assert_eq!(values["ferrobill.http.accounts.p99"], UNKNOWN);
        assert_eq!(values["ferrobill.health.status"], "unhealthy");
        assert_eq!(
            values["ferrobill.health.message"],
            "main.pool.ConnectivityCheck: no connection"
        );
        assert_eq!(values["org.killbill.payment.plugin.threads.nb"], "10");
    }
}
