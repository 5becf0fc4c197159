//! The values behind `/1.0/metrics`, kept the way Dropwizard (Kill Bill's metrics library)
//! keeps them so the page can show Kill Bill's object shapes: counters, gauges, meters (a count
//! with exponentially weighted 1, 5 and 15 minute rates), histograms and timers (a histogram
//! of seconds plus a meter) over a sliding window of the last [`RESERVOIR_SIZE`] values.
//!
//! This file only stores and renders; it never decides names or kinds (the recorder in
//! `super` does) and never does I/O.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::metrics::{CounterFn, GaugeFn, HistogramFn};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Dropwizard's default reservoir holds 1028 samples; a sliding window of the same size keeps
/// the percentiles about the recent past without Dropwizard's decaying weights.
const RESERVOIR_SIZE: usize = 1028;
/// Dropwizard ticks its moving averages every 5 seconds.
const TICK: Duration = Duration::from_secs(5);

/// A count that only goes up.
#[derive(Default)]
pub struct Count(AtomicU64);

impl Count {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// An f64 stored as its bits.
#[derive(Default)]
pub struct Level(AtomicU64);

impl Level {
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn update(&self, change: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(change(f64::from_bits(bits)).to_bits())
            });
    }
}

impl GaugeFn for Level {
    fn increment(&self, value: f64) {
        self.update(|current| current + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|current| current - value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// Dropwizard's Meter: a count and its 1, 5 and 15 minute exponentially weighted rates,
/// ticked lazily (when marked and when read), as Dropwizard does.
pub struct Meter {
    count: AtomicU64,
    started: Instant,
    rates: Mutex<Rates>,
}

struct Rates {
    last_tick: Instant,
    uncounted: u64,
    /// Events per second, once the first tick has happened.
    m1: Option<f64>,
    m5: Option<f64>,
    m15: Option<f64>,
}

impl Meter {
    pub fn new() -> Meter {
        let now = Instant::now();
        Meter {
            count: AtomicU64::new(0),
            started: now,
            rates: Mutex::new(Rates {
                last_tick: now,
                uncounted: 0,
                m1: None,
                m5: None,
                m15: None,
            }),
        }
    }

    pub fn mark(&self, events: u64) {
        self.count.fetch_add(events, Ordering::Relaxed);
        let mut rates = self.rates.lock();
        rates.tick_if_necessary(Instant::now());
        rates.uncounted += events;
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// `m15_rate`, `m1_rate`, `m5_rate`, `mean_rate`, in events per second.
    fn rate_fields(&self) -> [(&'static str, f64); 4] {
        let now = Instant::now();
        let mut rates = self.rates.lock();
        rates.tick_if_necessary(now);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let count = self.count() as f64;
        let mean = if count == 0.0 || elapsed == 0.0 {
            0.0
        } else {
            count / elapsed
        };
        [
            ("m15_rate", rates.m15.unwrap_or(0.0)),
            ("m1_rate", rates.m1.unwrap_or(0.0)),
            ("m5_rate", rates.m5.unwrap_or(0.0)),
            ("mean_rate", mean),
        ]
    }

    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("count".into(), json!(self.count()));
        for (name, rate) in self.rate_fields() {
            object.insert(name.into(), json!(rate));
        }
        object.insert("units".into(), json!("events/second"));
        Value::Object(object)
    }
}

impl Rates {
    fn tick_if_necessary(&mut self, now: Instant) {
        let age = now.duration_since(self.last_tick);
        if age < TICK {
            return;
        }
        let ticks = (age.as_nanos() / TICK.as_nanos()) as u64;
        self.last_tick += TICK * ticks as u32;
        // The first tick takes every event counted since the last one; later ticks see none,
        // so an idle meter decays as Dropwizard's does.
        for _ in 0..ticks.min(1_000) {
            let instant = std::mem::take(&mut self.uncounted) as f64 / TICK.as_secs_f64();
            for (rate, minutes) in [
                (&mut self.m1, 1.0),
                (&mut self.m5, 5.0),
                (&mut self.m15, 15.0),
            ] {
                let alpha = 1.0 - (-TICK.as_secs_f64() / 60.0 / minutes).exp();
                *rate = Some(match *rate {
                    Some(current) => current + alpha * (instant - current),
                    None => instant,
                });
            }
        }
    }
}

/// A Dropwizard Histogram over a sliding window, and for timers a Meter of the same events.
pub struct Distribution {
    window: Mutex<Window>,
    count: AtomicU64,
    meter: Option<Meter>,
}

struct Window {
    values: Vec<f64>,
    next: usize,
}

impl Distribution {
    pub fn new(timer: bool) -> Distribution {
        Distribution {
            window: Mutex::new(Window {
                values: Vec::new(),
                next: 0,
            }),
            count: AtomicU64::new(0),
            meter: timer.then(Meter::new),
        }
    }

    pub fn is_timer(&self) -> bool {
        self.meter.is_some()
    }

    pub fn to_json(&self) -> Value {
        let mut values = self.window.lock().values.clone();
        values.sort_by(f64::total_cmp);
        let mut object = serde_json::Map::new();
        object.insert("count".into(), json!(self.count.load(Ordering::Relaxed)));
        let (min, max) = (
            values.first().copied().unwrap_or(0.0),
            values.last().copied().unwrap_or(0.0),
        );
        object.insert("max".into(), json!(max));
        object.insert("mean".into(), json!(mean(&values)));
        object.insert("min".into(), json!(min));
        for (name, q) in [
            ("p50", 0.5),
            ("p75", 0.75),
            ("p95", 0.95),
            ("p98", 0.98),
            ("p99", 0.99),
            ("p999", 0.999),
        ] {
            object.insert(name.into(), json!(quantile(&values, q)));
        }
        object.insert("stddev".into(), json!(stddev(&values)));
        if let Some(meter) = &self.meter {
            for (name, rate) in meter.rate_fields() {
                object.insert(name.into(), json!(rate));
            }
            object.insert("duration_units".into(), json!("seconds"));
            object.insert("rate_units".into(), json!("calls/second"));
        }
        Value::Object(object)
    }
}

impl HistogramFn for Distribution {
    fn record(&self, value: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        {
            let mut window = self.window.lock();
            if window.values.len() < RESERVOIR_SIZE {
                window.values.push(value);
            } else {
                let next = window.next;
                window.values[next] = value;
            }
            window.next = (window.next + 1) % RESERVOIR_SIZE;
        }
        if let Some(meter) = &self.meter {
            meter.mark(1);
        }
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Dropwizard's sample standard deviation (0 for fewer than two values).
fn stddev(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = mean(values);
    let sum: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (sum / (values.len() - 1) as f64).sqrt()
}

/// Dropwizard's UniformSnapshot quantile: linear interpolation at `q × (n + 1)` over sorted
/// values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = q * (sorted.len() + 1) as f64;
    let index = position as usize;
    if index < 1 {
        return sorted[0];
    }
    if index >= sorted.len() {
        return sorted[sorted.len() - 1];
    }
    let lower = sorted[index - 1];
    let upper = sorted[index];
    lower + (position - position.floor()) * (upper - lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_dropwizard_does() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 5.5);
        assert_eq!(quantile(&values, 0.999), 10.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert!((stddev(&[1.0, 2.0, 3.0, 4.0]) - 1.2909944).abs() < 1e-6);
    }

    #[test]
    fn a_histogram_counts_every_value_but_keeps_a_window() {
        let distribution = Distribution::new(false);
        for i in 0..(RESERVOIR_SIZE + 10) {
            distribution.record(i as f64);
        }
        let json = distribution.to_json();
        assert_eq!(json["count"], json!(RESERVOIR_SIZE as u64 + 10));
        assert_eq!(json["min"], json!(10.0));
        assert!(json.get("m1_rate").is_none());
    }

    #[test]
    fn the_first_tick_turns_the_events_into_a_rate() {
        let mut rates = Rates {
            last_tick: Instant::now(),
            uncounted: 50,
            m1: None,
            m5: None,
            m15: None,
        };
        let later = rates.last_tick + TICK;
        rates.tick_if_necessary(later);
        assert_eq!(rates.m1, Some(10.0));
        assert_eq!(rates.uncounted, 0);
        rates.tick_if_necessary(later + TICK * 12);
        assert!(rates.m1.is_some_and(|rate| rate < 10.0 * 0.5));
    }

    #[test]
    fn levels_move_both_ways() {
        let level = Level::default();
        level.increment(3.0);
        level.decrement(1.0);
        assert_eq!(level.get(), 2.0);
        level.set(7.5);
        assert_eq!(level.get(), 7.5);
    }
}
