//! The live dashboard behind `/dashboard`: one sample a second of what saturates this server
//! (requests and latencies per route group, responses by status class, both pools, the plugin
//! executor, each queue, the health check, CPU and memory), the last 15 minutes of them in
//! memory, and the figures and charts drawn from them.
//!
//! | file          | owns                                                                        |
//! |---------------|-----------------------------------------------------------------------------|
//! | [`sample`]    | one second's figures, and the sampler taking them from the server's objects |
//! | `probe`       | what needs the database (health report, live ready counts): while watched   |
//! | `figures`     | the live figures, named by the metric each shows (`data-metric`)            |
//! | `charts`      | the charts, drawn with `crate::chart`                                       |
//! | `page`        | the HTML page and its built-in style and script                             |
//!
//! The sampler reads memory only and never waits on the database; everything it keeps is
//! bounded ([`MAX_SAMPLES`]). Serving the page and parsing its query is the HTTP layer's job
//! (`http/dashboard.rs`); this module never sees a request.

mod charts;
mod figures;
mod page;
mod probe;
pub mod sample;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::task::JoinHandle;

use self::figures::Figures;
pub(crate) use self::figures::Layout;
use self::probe::Probe;
pub(crate) use self::sample::{Queue, QueueKind, Sources};
use self::sample::{Sample, Sampler};
use crate::chart::ChartError;
use crate::health::Health;

/// Fifteen minutes of one-second samples.
pub const MAX_SAMPLES: usize = 900;
/// The chart window the page opens with, in seconds.
pub const DEFAULT_SECONDS: u32 = 300;
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);
/// Someone watches while the page or its data was asked for within this long.
const WATCHED_FOR: Duration = Duration::from_secs(5);

/// The dashboard of one server. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Dashboard {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    samples: Mutex<VecDeque<Sample>>,
    watchers: Arc<Watchers>,
    probe: Arc<Probe>,
    /// The charts of the latest sample, drawn once however many viewers ask.
    charts: Mutex<Option<DrawnCharts>>,
}

struct DrawnCharts {
    sequence: u64,
    seconds: u32,
    charts: Arc<Vec<charts::Chart>>,
}

/// When the page or its data was last asked for.
#[derive(Default)]
pub(crate) struct Watchers {
    last: Mutex<Option<Instant>>,
}

impl Watchers {
    fn watch(&self) {
        *self.last.lock() = Some(Instant::now());
    }

    fn is_watched(&self) -> bool {
        self.last
            .lock()
            .is_some_and(|last| last.elapsed() <= WATCHED_FOR)
    }
}

/// What `/dashboard/data` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    /// Draw the charts over this many seconds up to the latest sample.
    pub charts: Option<u32>,
    /// Include the samples taken after this sequence number.
    pub since: Option<u64>,
}

/// `/dashboard/data`'s answer.
#[derive(Debug, Serialize)]
pub(crate) struct Frame {
    /// The latest sample's number (0 before the first).
    sequence: u64,
    figures: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    charts: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<Vec<Sample>>,
}

impl Dashboard {
    /// The dashboard of the server `sources` are taken from, showing `settings` (property
    /// names and effective values) beside the samples.
    pub fn new(
        sources: &Sources,
        health: Health,
        settings: Vec<(&'static str, String)>,
    ) -> Dashboard {
        // Reaches the database only when a connection is free (`Db::try_read`).
        let main_db = crate::db::work::Db::new(sources.main_pool.clone());
        let counts = sources.queues.iter().map(Queue::ready_count).collect();
        let layout = Layout {
            pools: vec![sources.main_pool.name(), sources.plugin_pool.name()],
            queues: sources
                .queues
                .iter()
                .map(|queue| (queue.id(), queue.label()))
                .collect(),
            settings,
        };
        Dashboard {
            inner: Arc::new(Inner {
                layout,
                samples: Mutex::new(VecDeque::with_capacity(MAX_SAMPLES)),
                watchers: Arc::default(),
                probe: Arc::new(Probe::new(health, main_db, counts)),
                charts: Mutex::new(None),
            }),
        }
    }

    /// Samples every second, and probes the database while someone watches, until the
    /// returned task is aborted.
    pub fn start(&self, sources: Sources) -> JoinHandle<()> {
        let dashboard = self.clone();
        tokio::spawn(async move {
            let probe = dashboard.inner.probe.clone();
            let watchers = dashboard.inner.watchers.clone();
            tokio::join!(dashboard.sample_every_second(sources), probe.run(watchers));
        })
    }

    async fn sample_every_second(&self, sources: Sources) {
        let mut sampler = Sampler::new(sources);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + SAMPLE_PERIOD, SAMPLE_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let sample = sampler.take(&self.inner.probe.probed());
            remember(&mut self.inner.samples.lock(), sample);
        }
    }

    /// Someone is looking: the probes run for the next few seconds.
    pub fn watch(&self) {
        self.inner.watchers.watch();
    }

    /// `/dashboard/data`'s answer for `view`.
    pub fn frame(&self, view: View) -> Result<Frame, ChartError> {
        let (latest, samples) = {
            let samples = self.inner.samples.lock();
            let latest = samples.back().cloned();
            let since = view.since.map(|since| {
                samples
                    .iter()
                    .filter(|sample| sample.sequence > since)
                    .cloned()
                    .collect()
            });
            (latest, since)
        };
        let charts = match view.charts {
            Some(seconds) => Some(
                self.charts(seconds)?
                    .iter()
                    .map(|chart| (chart.id.clone(), chart.svg.clone()))
                    .collect(),
            ),
            None => None,
        };
        Ok(Frame {
            sequence: latest.as_ref().map_or(0, |sample| sample.sequence),
            figures: Figures::of(&self.inner.layout, latest.as_ref()).values(),
            charts,
            samples,
        })
    }

    /// The page, its charts over `seconds`.
    pub fn page(&self, seconds: u32) -> Result<String, ChartError> {
        let latest = self.inner.samples.lock().back().cloned();
        let figures = Figures::of(&self.inner.layout, latest.as_ref());
        let charts = self.charts(seconds)?;
        Ok(page::render(&self.inner.layout, &figures, &charts, seconds))
    }

    /// The charts of the latest sample over `seconds`, drawn on the first call for them.
    fn charts(&self, seconds: u32) -> Result<Arc<Vec<charts::Chart>>, ChartError> {
        let (sequence, drawn) = {
            let samples = self.inner.samples.lock();
            let sequence = samples.back().map_or(0, |sample| sample.sequence);
            let cached = self.inner.charts.lock().as_ref().and_then(|drawn| {
                (drawn.sequence == sequence && drawn.seconds == seconds)
                    .then(|| drawn.charts.clone())
            });
            if let Some(charts) = cached {
                return Ok(charts);
            }
            let from = sequence.saturating_sub(u64::from(seconds));
            let shown: Vec<&Sample> = samples
                .iter()
                .filter(|sample| sample.sequence > from)
                .collect();
            (
                sequence,
                Arc::new(charts::draw(&self.inner.layout, &shown, seconds)?),
            )
        };
        *self.inner.charts.lock() = Some(DrawnCharts {
            sequence,
            seconds,
            charts: drawn.clone(),
        });
        Ok(drawn)
    }
}

/// Keeps `sample`, forgetting the oldest beyond [`MAX_SAMPLES`].
fn remember(samples: &mut VecDeque<Sample>, sample: Sample) {
    if samples.len() >= MAX_SAMPLES {
        samples.pop_front();
    }
    samples.push_back(sample);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::sample::{PluginSample, ProcessSample};
    use super::*;

    /// An idle second numbered `sequence`.
    pub fn sample(sequence: u64) -> Sample {
        Sample {
            sequence,
            time_ms: 1_800_000_000_000 + sequence as i64 * 1000,
            http: Default::default(),
            pools: Vec::new(),
            plugin: PluginSample {
                threads: 10,
                in_use: 0,
                timeouts: 0,
            },
            queues: Vec::new(),
            health: None,
            process: ProcessSample::default(),
        }
    }

    #[test]
    fn fifteen_minutes_are_kept_and_no_more() {
        let mut samples = VecDeque::new();
        for sequence in 1..=(MAX_SAMPLES as u64 + 100) {
            remember(&mut samples, sample(sequence));
        }
        assert_eq!(samples.len(), MAX_SAMPLES);
        assert_eq!(samples.front().map(|s| s.sequence), Some(101));
        assert_eq!(
            samples.back().map(|s| s.sequence),
            Some(MAX_SAMPLES as u64 + 100)
        );
    }
}
