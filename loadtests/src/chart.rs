//! The run's charts, drawn with ferrobill's chart module (plotters, SVG): `chart.svg` for
//! report.md (throughput, p90, errors, ready bus entries) and the panels of report.html
//! (throughput per sampler, latency percentiles, errors by class, and what the server's own
//! samples say of its pools, plugin slots and queues, and the health poll).
//!
//! x is seconds into each step's measured window. With one step, a panel draws a group's
//! figures together; with several (a sweep, several configurations), each figure gets a panel
//! with one curve per step, so the step where saturation starts stands out. Steps come
//! labelled (`suite::labelled_steps`), so any list of steps plugs in the same way.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use ferrobill::chart::{stacked_svg, Limit, Panel, Series, XAxis};
use ferrobill::dashboard::sample::{PoolSample, Sample};

use crate::runner::TimelinePoint;
use crate::suite::StepReport;

const CHART_SVG_SIZE: (u32, u32) = (900, 220);
/// Each panel of report.html.
pub const HTML_PANEL_SIZE: (u32, u32) = (900, 260);

type Points = Vec<(f64, Option<f64>)>;
/// A step's figures of one group, each a labelled series.
type Figures = Box<dyn Fn(&StepReport) -> Vec<Series>>;
/// What a step's figures are measured against (a pool's size, `threads.nb`).
type Limits = Box<dyn Fn(&StepReport) -> Vec<Limit>>;

/// Figures drawn together when the run has one step.
struct Group {
    title: &'static str,
    figures: Figures,
    limits: Limits,
}

impl Group {
    fn new(title: &'static str, figures: impl Fn(&StepReport) -> Vec<Series> + 'static) -> Group {
        Group {
            title,
            figures: Box::new(figures),
            limits: Box::new(|_| Vec::new()),
        }
    }

    fn limited(mut self, limits: impl Fn(&StepReport) -> Vec<Limit> + 'static) -> Group {
        self.limits = Box::new(limits);
        self
    }
}

/// `chart.svg`: throughput, p90 latency, errors and the main bus's ready entries.
pub fn draw_chart_svg(path: &Path, steps: &[(String, &StepReport)]) -> Result<()> {
    let groups = [
        Group::new("throughput (requests/s)", |step| {
            vec![Series::new(
                "all samplers",
                rate(step, |p| p.requests as f64),
            )]
        }),
        Group::new("p90 latency (ms)", |step| {
            vec![Series::new("p90", latency(step, |p| p.p90_ms))]
        }),
        Group::new("errors (/s)", |step| {
            vec![Series::new("errors", rate(step, |p| p.errors as f64))]
        }),
        ready_entries("ready bus entries", &QUEUES[..1]),
    ];
    let svg = stacked_svg(&panels(steps, &groups), CHART_SVG_SIZE)?;
    std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}

/// report.html's panels, in order.
pub fn report_panels(steps: &[(String, &StepReport)]) -> Vec<Panel> {
    let groups = [
        Group::new("Throughput per sampler (requests/s)", |step| {
            rates_by_key(step, samplers(step), |p| &p.requests_by_sampler)
        }),
        Group::new("Latency (ms)", |step| {
            vec![
                Series::new("p50", latency(step, |p| p.p50_ms)),
                Series::new("p90", latency(step, |p| p.p90_ms)),
                Series::new("p99", latency(step, |p| p.p99_ms)),
            ]
        }),
        Group::new("Errors per second by class", |step| {
            let classes = step.errors_by_class.keys().cloned().collect();
            rates_by_key(step, classes, |p| &p.errors_by_class)
        }),
        pool_group("main"),
        pool_group("osgi"),
        Group::new("Longest connection wait (ms)", |step| {
            ["main", "osgi"]
                .map(|name| {
                    Series::new(
                        name,
                        server(step, |s| pool(s, name).map(|p| p.longest_wait_ms)),
                    )
                })
                .into()
        }),
        Group::new("Plugin executor slots in use", |step| {
            vec![Series::new(
                "slots in use",
                server(step, |s| Some(s.plugin.in_use as f64)),
            )]
        })
        .limited(|step| {
            last_sample(step)
                .map(|s| s.plugin.threads as f64)
                .map(|threads| Limit::new(format!("threads.nb {threads}"), threads))
                .into_iter()
                .collect()
        }),
        ready_entries("ready queue entries", &QUEUES),
        Group::new("Healthcheck (1 = 200, 0 = other)", |step| {
            vec![Series::new(
                "healthy",
                step.timeline
                    .iter()
                    .map(|p| {
                        let healthy = p.health.as_deref().map(|status| status == "200");
                        (
                            p.second,
                            healthy.map(|healthy| f64::from(u8::from(healthy))),
                        )
                    })
                    .collect(),
            )]
        }),
    ];
    panels(steps, &groups)
}

fn pool_group(name: &'static str) -> Group {
    let title = if name == "main" {
        "main pool connections"
    } else {
        "osgi (plugin) pool connections"
    };
    Group::new(title, move |step| {
        vec![
            Series::new(
                "in use",
                server(step, |s| pool(s, name).map(|p| p.in_use as f64)),
            ),
            Series::new(
                "waiting",
                server(step, |s| pool(s, name).map(|p| p.waiting as f64)),
            ),
        ]
    })
    .limited(move |step| {
        last_sample(step)
            .and_then(|s| pool(s, name))
            .map(|p| Limit::new(format!("maxActive {}", p.max), p.max as f64))
            .into_iter()
            .collect()
    })
}

/// ferrobill's queues: Kill Bill's queue id, and a label.
const QUEUES: [(&str, &str); 3] = [
    ("bus-bus_events", "main bus"),
    ("bus-bus_ext_events", "external bus"),
    ("notif-notifications", "notification queue"),
];

fn ready_entries(title: &'static str, queues: &'static [(&'static str, &'static str)]) -> Group {
    Group::new(title, move |step| {
        queues
            .iter()
            .map(|&(id, label)| {
                Series::new(
                    label,
                    server(step, |s| {
                        s.queues
                            .iter()
                            .find(|queue| queue.id == id)
                            .and_then(|queue| queue.ready)
                            .map(|ready| ready as f64)
                    }),
                )
            })
            .collect()
    })
}

/// One panel per group with one step; one panel per figure, a curve per step, with several.
/// Panels with nothing to draw (no server samples from a real Kill Bill) are left out.
fn panels(steps: &[(String, &StepReport)], groups: &[Group]) -> Vec<Panel> {
    let end = steps
        .iter()
        .map(|(_, step)| step.measured_seconds)
        .fold(1.0, f64::max);
    let x = XAxis::Elapsed { end };
    let mut panels = Vec::new();
    for group in groups {
        let per_step: Vec<(&String, Vec<Series>, Vec<Limit>)> = steps
            .iter()
            .map(|(label, step)| (label, (group.figures)(step), (group.limits)(step)))
            .collect();
        if let [(_, series, limits)] = per_step.as_slice() {
            panels.push(Panel {
                title: group.title.to_string(),
                x,
                series: series.clone(),
                limits: limits.clone(),
            });
            continue;
        }
        let mut figures: Vec<&str> = Vec::new();
        for (_, series, _) in &per_step {
            for figure in series {
                if !figures.contains(&figure.label.as_str()) {
                    figures.push(&figure.label);
                }
            }
        }
        for figure in &figures {
            let title = if figures.len() == 1 {
                group.title.to_string()
            } else {
                format!("{}: {figure}", group.title)
            };
            let series = per_step
                .iter()
                .filter_map(|(label, series, _)| {
                    let found = series.iter().find(|series| series.label == *figure)?;
                    Some(Series::new(label.as_str(), found.points.clone()))
                })
                .collect();
            panels.push(Panel {
                title,
                x,
                series,
                limits: step_limits(&per_step),
            });
        }
    }
    panels.retain(|panel| {
        panel
            .series
            .iter()
            .any(|series| series.points.iter().any(|(_, y)| y.is_some()))
    });
    panels
}

/// Each step's limits, labelled with their step unless every step has the same.
fn step_limits(per_step: &[(&String, Vec<Series>, Vec<Limit>)]) -> Vec<Limit> {
    let all: Vec<(&String, &Limit)> = per_step
        .iter()
        .flat_map(|(label, _, limits)| limits.iter().map(move |limit| (*label, limit)))
        .collect();
    let same = all
        .windows(2)
        .all(|pair| pair[0].1.value == pair[1].1.value && pair[0].1.label == pair[1].1.label);
    if same {
        return all
            .first()
            .map(|(_, limit)| (*limit).clone())
            .into_iter()
            .collect();
    }
    all.into_iter()
        .map(|(step, limit)| Limit::new(format!("{} ({step})", limit.label), limit.value))
        .collect()
}

/// A per-second count as a rate: each point covers the time since the previous one.
fn rate(step: &StepReport, count: impl Fn(&TimelinePoint) -> f64) -> Points {
    let mut previous = 0.0;
    step.timeline
        .iter()
        .map(|point| {
            let width = (point.second - previous).max(1e-3);
            previous = point.second;
            (point.second, Some(count(point) / width))
        })
        .collect()
}

/// One rate per key of a per-second count map (requests per sampler, errors per class).
fn rates_by_key(
    step: &StepReport,
    keys: Vec<String>,
    counts: fn(&TimelinePoint) -> &BTreeMap<String, u64>,
) -> Vec<Series> {
    keys.into_iter()
        .map(|key| {
            let points = rate(step, |p| counts(p).get(&key).copied().unwrap_or(0) as f64);
            Series::new(key, points)
        })
        .collect()
}

/// A latency percentile, known only in seconds with requests.
fn latency(step: &StepReport, value: impl Fn(&TimelinePoint) -> f64) -> Points {
    step.timeline
        .iter()
        .map(|point| (point.second, (point.requests > 0).then(|| value(point))))
        .collect()
}

/// A figure of the server's own samples, at seconds into the step.
fn server(step: &StepReport, value: impl Fn(&Sample) -> Option<f64>) -> Points {
    step.server_samples
        .iter()
        .map(|sample| {
            let second = (sample.time_ms - step.measured_from_unix_ms) as f64 / 1000.0;
            (second, value(sample))
        })
        .collect()
}

fn pool<'a>(sample: &'a Sample, name: &str) -> Option<&'a PoolSample> {
    sample.pools.iter().find(|pool| pool.name == name)
}

fn last_sample(step: &StepReport) -> Option<&Sample> {
    step.server_samples.last()
}

/// The samplers with requests in the step, in the report's row order.
fn samplers(step: &StepReport) -> Vec<String> {
    step.rows
        .iter()
        .filter(|row| row.name != "TOTAL" && row.count > 0)
        .map(|row| row.name.clone())
        .filter(|name| {
            step.timeline
                .iter()
                .any(|point| point.requests_by_sampler.contains_key(name))
        })
        .collect()
}
