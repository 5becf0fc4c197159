//! ferrobill's metrics: the one process-wide recorder behind `/1.0/metrics` (Kill Bill's JSON)
//! and `/metrics` (Prometheus text), the metric names, and the small recording API the rest of
//! the crate calls.
//!
//! Every `metrics::counter!`/`gauge!`/`histogram!` call in the crate lands in [`Recorder`],
//! which hands each value to two stores at once: `metrics-exporter-prometheus`, which renders
//! `/metrics`, and [`dropwizard`], which keeps Dropwizard's shapes (meters with moving rates,
//! timers, percentiles over a window) for `/1.0/metrics`. Both pages therefore show the same
//! recorded values. The recorder is installed once per process ([`install`]); several servers
//! in one process (the integration tests) share it, so a counter is the sum over all of them.
//!
//! Names follow Kill Bill's where Kill Bill has the metric (Jersey's InstrumentedFilter,
//! Hikari's pool metrics, killbill-commons' queue counters in `crate::bus::metrics`) and are
//! `ferrobill.*` otherwise; `docs/metrics.md` lists them all. This module never does I/O and
//! never decides anything: it only counts.

mod dropwizard;
pub mod window;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use parking_lot::RwLock;
use serde_json::{json, Map, Value};

use self::dropwizard::{Count, Distribution, Level, Meter};
use self::window::{Peak, Tally};

/// Kill Bill's servlet filter prefix (killbill-commons `InstrumentedFilter`, named after its
/// class).
const FILTER: &str = "org.killbill.commons.metrics.servlets.InstrumentedFilter";
/// Every HTTP request, by route template, method and status: a timer in seconds.
const HTTP_REQUESTS: &str = "ferrobill.http.requests";
/// Requests turned away by admission control, by reason.
const ADMISSION_REJECTED: &str = "ferrobill.http.admission.rejected";
const PLUGIN_SLOTS_IN_USE: &str = "ferrobill.plugin.slotsInUse";
const PLUGIN_CALL_TIMEOUTS: &str = "ferrobill.plugin.callTimeouts";
const JANITOR_REPAIRED: &str = "ferrobill.payment.janitor.repaired";
const RUNTIME_WORKERS: &str = "ferrobill.runtime.workers";
const RUNTIME_ALIVE_TASKS: &str = "ferrobill.runtime.aliveTasks";
const RUNTIME_GLOBAL_QUEUE_DEPTH: &str = "ferrobill.runtime.globalQueueDepth";

/// Kill Bill's InstrumentedFilter meters, by the status each one counts; every other status
/// is `responseCodes.other`.
const RESPONSE_CODES: [(u16, &str); 6] = [
    (200, "responseCodes.ok"),
    (201, "responseCodes.created"),
    (204, "responseCodes.noContent"),
    (400, "responseCodes.badRequest"),
    (404, "responseCodes.notFound"),
    (500, "responseCodes.serverError"),
];

/// Prometheus buckets for every timer, in seconds: from a cached read to a request timeout.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// How often the Prometheus store folds recorded histogram values into its buckets when no
/// one scrapes, so memory stays bounded.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The two pages, rendered from the installed recorder.
pub(crate) struct Metrics {
    prometheus: PrometheusHandle,
    own: Arc<Store>,
}

static INSTALLED: OnceLock<Metrics> = OnceLock::new();

/// Installs the process-wide recorder the first time it is called and returns the pages.
/// Later calls (a second server in the same process) return the same one, whatever they ask
/// for. If some other recorder was installed first, the pages stay empty and a warning says
/// why. With `enabled` false (`ferrobill.metrics.enabled`) nothing is installed: the `metrics`
/// macros fall back to the crate's no-op recorder and the pages render empty, so the load
/// suite can measure what recording costs.
pub(crate) fn install(enabled: bool) -> &'static Metrics {
    INSTALLED.get_or_init(|| {
        if !enabled {
            tracing::info!("metrics are disabled (ferrobill.metrics.enabled=false)");
            return Metrics::empty();
        }
        let prometheus = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = prometheus.handle();
        let own = Arc::new(Store::default());
        let recorder = Recorder {
            prometheus,
            own: own.clone(),
        };
        if let Err(error) = ::metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; /1.0/metrics and /metrics stay empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("ferrobill-metrics".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_PERIOD);
                upkeep.run_upkeep();
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no metrics upkeep thread; histograms are folded on scrape only");
        }
        Metrics {
            prometheus: handle,
            own,
        }
    })
}

/// Declares which names are Dropwizard meters (a counter with rates), counters that can go
/// down (Dropwizard counters; a gauge here) and timers (a histogram of seconds with rates).
/// The unit carries the kind: [`Unit::CountPerSecond`] for meters, [`Unit::Count`] for a
/// gauge shown as a counter, [`Unit::Seconds`] for timers.
fn describe() {
    use Kind::{DownCounter, Meter, Timer};
    let mut described: Vec<(String, Kind, &str)> = RESPONSE_CODES
        .iter()
        .map(|(_, name)| {
            let doc = "responses with this status (Kill Bill's InstrumentedFilter)";
            (format!("{FILTER}.{name}"), Meter, doc)
        })
        .collect();
    described.extend([
        (
            format!("{FILTER}.responseCodes.other"),
            Meter,
            "responses with any other status",
        ),
        (
            format!("{FILTER}.activeRequests"),
            DownCounter,
            "requests being served",
        ),
        (
            format!("{FILTER}.requests"),
            Timer,
            "time to serve a request",
        ),
        (
            HTTP_REQUESTS.to_owned(),
            Timer,
            "time to serve a request, by route template, method and status",
        ),
    ]);
    for pool in ["main", "osgi"] {
        described.extend([
            (
                format!("{pool}.pool.Wait"),
                Timer,
                "time to obtain a connection (Hikari's pool.Wait)",
            ),
            (
                format!("{pool}.pool.ConnectionTimeoutRate"),
                Meter,
                "connection requests that timed out",
            ),
        ]);
    }
    for id in [
        "bus-bus_events",
        "bus-bus_ext_events",
        "notif-notifications",
    ] {
        for name in ["handlerTime", "dispatchLatency"] {
            described.push((
                format!("ferrobill.queue.{id}.{name}"),
                Timer,
                "queue timing",
            ));
        }
    }
    for (name, kind, doc) in described {
        match kind {
            Meter => ::metrics::describe_counter!(name, Unit::CountPerSecond, doc),
            DownCounter => ::metrics::describe_gauge!(name, Unit::Count, doc),
            Timer => ::metrics::describe_histogram!(name, Unit::Seconds, doc),
        }
    }
}

impl Metrics {
    /// Pages over stores nothing records into: what the endpoints serve when metrics are
    /// disabled.
    fn empty() -> Metrics {
        Metrics {
            prometheus: PrometheusBuilder::new().build_recorder().handle(),
            own: Arc::new(Store::default()),
        }
    }

    /// Kill Bill's `/1.0/metrics`: exactly `gauges`, `counters`, `histograms`, `meters` and
    /// `timers`, each sorted by name.
    pub fn to_json(&self) -> Value {
        self.own.to_json()
    }

    /// The Prometheus text exposition of the same values.
    pub fn prometheus_text(&self) -> String {
        self.prometheus.render()
    }
}

// ---------------------------------------------------------------------------------------------
// The recording API
// ---------------------------------------------------------------------------------------------

/// The handles of one route template, method and status, kept so a request records without
/// building metric keys.
type RouteHandles = HashMap<Box<str>, HashMap<Box<str>, HashMap<u16, Histogram>>>;

/// The HTTP metrics. One per process, created after [`install`].
pub(crate) struct HttpMetrics {
    active: Gauge,
    requests: Histogram,
    response_codes: [Counter; 6],
    other: Counter,
    by_route: RwLock<RouteHandles>,
}

static HTTP: OnceLock<HttpMetrics> = OnceLock::new();

impl HttpMetrics {
    pub fn get() -> &'static HttpMetrics {
        HTTP.get_or_init(|| HttpMetrics {
            active: ::metrics::gauge!(format!("{FILTER}.activeRequests")),
            requests: ::metrics::histogram!(format!("{FILTER}.requests")),
            response_codes: RESPONSE_CODES
                .map(|(_, name)| ::metrics::counter!(format!("{FILTER}.{name}"))),
            other: ::metrics::counter!(format!("{FILTER}.responseCodes.other")),
            by_route: RwLock::new(HashMap::new()),
        })
    }

    pub fn started(&self) {
        self.active.increment(1.0);
    }

    /// A request ended (answered, or abandoned by its client): `route` is the route template,
    /// or `None` for a path no route matched.
    pub fn finished(&self, route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
        self.active.decrement(1.0);
        self.requests.record(elapsed);
        match RESPONSE_CODES.iter().position(|(code, _)| *code == status) {
            Some(index) => self.response_codes[index].increment(1),
            None => self.other.increment(1),
        }
        let route = route.unwrap_or("unmatched");
        // Clients may send any token as a method; only the standard ones get their own series.
        let method = match method {
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "TRACE"
            | "CONNECT" => method,
            _ => "OTHER",
        };
        let cached = self
            .by_route
            .read()
            .get(route)
            .and_then(|methods| methods.get(method))
            .and_then(|statuses| statuses.get(&status))
            .cloned();
        let histogram = match cached {
            Some(histogram) => histogram,
            None => {
                let histogram = ::metrics::histogram!(
                    HTTP_REQUESTS,
                    "route" => route.to_string(),
                    "method" => method.to_string(),
                    "status" => status.to_string()
                );
                self.by_route
                    .write()
                    .entry(route.into())
                    .or_default()
                    .entry(method.into())
                    .or_default()
                    .insert(status, histogram.clone());
                histogram
            }
        };
        histogram.record(elapsed);
    }
}

/// A request admission control turned away: `overloaded` (no slot and the waiting line is
/// full) or `timeout` (no slot within the request timeout).
pub(crate) fn admission_rejected(reason: &'static str) {
    ::metrics::counter!(ADMISSION_REJECTED, "reason" => reason).increment(1);
}

/// For the payment plugin executor: how many of its `threads.nb` slots run a plugin call now.
pub fn plugin_slots_in_use(slots: usize) {
    ::metrics::gauge!(PLUGIN_SLOTS_IN_USE).set(slots as f64);
}

/// For the payment plugin executor: a plugin call ran past `org.killbill.payment.plugin.timeout`.
pub fn plugin_call_timed_out() {
    ::metrics::counter!(PLUGIN_CALL_TIMEOUTS).increment(1);
}

/// For the payment janitor: it fixed one UNKNOWN or PENDING transaction.
pub fn janitor_repaired() {
    ::metrics::counter!(JANITOR_REPAIRED).increment(1);
}

/// The tokio runtime as sampled when a page is rendered.
pub(crate) fn runtime_sampled(workers: usize, alive_tasks: usize, global_queue_depth: usize) {
    ::metrics::gauge!(RUNTIME_WORKERS).set(workers as f64);
    ::metrics::gauge!(RUNTIME_ALIVE_TASKS).set(alive_tasks as f64);
    ::metrics::gauge!(RUNTIME_GLOBAL_QUEUE_DEPTH).set(global_queue_depth as f64);
}

/// One connection pool's metrics under Hikari's names (`<pool>.pool.*`), handles kept by the
/// pool so acquiring a connection builds no key; and, for the dashboard, its longest wait and
/// its timeouts since the dashboard last looked.
pub(crate) struct PoolMetrics {
    wait: Histogram,
    pending: Gauge,
    timeouts: Counter,
    total: Gauge,
    idle: Gauge,
    active: Gauge,
    max: Gauge,
    longest_wait: Peak,
    recent_timeouts: Tally,
    /// Waits by who waited: queue work, then requests (`db::gate`).
    wait_by: [Histogram; 2],
    /// Who waits now, sampled when a page is rendered.
    waiting_queue_work: Gauge,
    waiting_requests: Gauge,
    longest_current_wait: Gauge,
}

/// A pool's waits since the dashboard last looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWaits {
    /// The longest wait that ended (with a connection or a timeout).
    pub longest: Duration,
    pub timeouts: u64,
}

impl PoolMetrics {
    pub fn new(pool: &str) -> PoolMetrics {
        let name = |metric: &str| format!("{pool}.pool.{metric}");
        PoolMetrics {
            wait: ::metrics::histogram!(name("Wait")),
            pending: ::metrics::gauge!(name("PendingConnections")),
            timeouts: ::metrics::counter!(name("ConnectionTimeoutRate")),
            total: ::metrics::gauge!(name("TotalConnections")),
            idle: ::metrics::gauge!(name("IdleConnections")),
            active: ::metrics::gauge!(name("ActiveConnections")),
            max: ::metrics::gauge!(name("MaxConnections")),
            longest_wait: Peak::default(),
            recent_timeouts: Tally::default(),
            wait_by: [
                ::metrics::histogram!(format!("ferrobill.pool.{pool}.wait"), "waiter" => "queue"),
                ::metrics::histogram!(format!("ferrobill.pool.{pool}.wait"), "waiter" => "request"),
            ],
            waiting_queue_work: ::metrics::gauge!(format!(
                "ferrobill.pool.{pool}.waitingQueueWork"
            )),
            waiting_requests: ::metrics::gauge!(format!("ferrobill.pool.{pool}.waitingRequests")),
            longest_current_wait: ::metrics::gauge!(format!(
                "ferrobill.pool.{pool}.longestCurrentWait"
            )),
        }
    }

    /// A caller starts waiting for a connection; the count drops when the guard does, however
    /// the wait ends.
    pub fn waiting(&self) -> PendingGuard<'_> {
        self.pending.increment(1.0);
        PendingGuard(&self.pending)
    }

    /// A wait ended with a connection; `queue_work` says who waited (`db::gate`).
    pub fn acquired(&self, waited: Duration, queue_work: bool) {
        self.wait.record(waited);
        self.wait_by[usize::from(!queue_work)].record(waited);
        self.longest_wait.record(waited);
    }

    pub fn timed_out(&self, waited: Duration, queue_work: bool) {
        self.acquired(waited, queue_work);
        self.timeouts.increment(1);
        self.recent_timeouts.add(1);
    }

    /// Who waits now, as sampled when a page is rendered.
    pub fn sampled_waiters(&self, queue_work: usize, requests: usize, longest: Duration) {
        self.waiting_queue_work.set(queue_work as f64);
        self.waiting_requests.set(requests as f64);
        self.longest_current_wait.set(longest.as_secs_f64());
    }

    /// The waits since the last call (the dashboard's sampler is the only caller).
    pub fn take_waits(&self) -> PoolWaits {
        PoolWaits {
            longest: self.longest_wait.take(),
            timeouts: self.recent_timeouts.take(),
        }
    }

    /// The pool's size as sampled when a page is rendered.
    pub fn sampled(&self, max: usize, size: usize, available: usize) {
        self.max.set(max as f64);
        self.total.set(size as f64);
        self.idle.set(available as f64);
        self.active.set(size.saturating_sub(available) as f64);
    }
}

pub(crate) struct PendingGuard<'a>(&'a Gauge);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The recorder and the JSON-side store
// ---------------------------------------------------------------------------------------------

/// Hands every value to the Prometheus recorder and to the Dropwizard store.
struct Recorder {
    prometheus: PrometheusRecorder,
    own: Arc<Store>,
}

/// What a name was described as; undescribed names are plain counters, gauges and histograms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Meter,
    /// A gauge shown under `counters`: Dropwizard counters can go down, `metrics` ones cannot.
    DownCounter,
    Timer,
}

#[derive(Clone)]
enum OwnCounter {
    Count(Arc<Count>),
    Meter(Arc<Meter>),
}

/// A gauge's handle, its value, and whether `/1.0/metrics` shows it as a counter.
type OwnGauge = (Gauge, Arc<Level>, bool);

#[derive(Default)]
struct Store {
    kinds: RwLock<HashMap<String, Kind>>,
    counters: RwLock<HashMap<Key, (Counter, OwnCounter)>>,
    gauges: RwLock<HashMap<Key, OwnGauge>>,
    histograms: RwLock<HashMap<Key, (Histogram, Arc<Distribution>)>>,
}

impl Store {
    fn kind(&self, name: &str) -> Option<Kind> {
        self.kinds.read().get(name).copied()
    }

    fn describe(&self, name: KeyName, unit: Option<Unit>) {
        let kind = match unit {
            Some(Unit::CountPerSecond) => Kind::Meter,
            Some(Unit::Count) => Kind::DownCounter,
            Some(Unit::Seconds) => Kind::Timer,
            _ => return,
        };
        self.kinds.write().insert(name.as_str().to_string(), kind);
    }

    fn to_json(&self) -> Value {
        let mut gauges = Map::new();
        let mut counters = Map::new();
        let mut histograms = Map::new();
        let mut meters = Map::new();
        let mut timers = Map::new();
        for (key, (_, own)) in self.counters.read().iter() {
            match own {
                OwnCounter::Count(count) => {
                    counters.insert(display_name(key), json!({ "count": count.get() }));
                }
                OwnCounter::Meter(meter) => {
                    meters.insert(display_name(key), meter.to_json());
                }
            }
        }
        for (key, (_, level, as_counter)) in self.gauges.read().iter() {
            if *as_counter {
                counters.insert(
                    display_name(key),
                    json!({ "count": level.get().round() as i64 }),
                );
            } else {
                gauges.insert(display_name(key), json!({ "value": number(level.get()) }));
            }
        }
        for (key, (_, distribution)) in self.histograms.read().iter() {
            let target = if distribution.is_timer() {
                &mut timers
            } else {
                &mut histograms
            };
            target.insert(display_name(key), distribution.to_json());
        }
        // serde_json's map is sorted, as Dropwizard's registry is.
        json!({
            "gauges": gauges,
            "counters": counters,
            "histograms": histograms,
            "meters": meters,
            "timers": timers,
        })
    }
}

/// A gauge's value as an integer when it is one (pool sizes, queue lengths), as Kill Bill's
/// integer gauges print.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// The name on `/1.0/metrics`: the metric name, then its labels in Prometheus' notation, so a
/// labelled series is one entry as Dropwizard names are.
fn display_name(key: &Key) -> String {
    let mut labels = key.labels().peekable();
    if labels.peek().is_none() {
        return key.name().to_string();
    }
    let rendered: Vec<String> = labels
        .map(|label| format!("{}=\"{}\"", label.key(), label.value().replace('"', "\\\"")))
        .collect();
    format!("{}{{{}}}", key.name(), rendered.join(","))
}

struct BothCounter(Counter, OwnCounter);
struct BothGauge(Gauge, Arc<Level>);
struct BothHistogram(Histogram, Arc<Distribution>);

impl CounterFn for BothCounter {
    fn increment(&self, value: u64) {
        self.0.increment(value);
        match &self.1 {
            OwnCounter::Count(count) => count.increment(value),
            OwnCounter::Meter(meter) => meter.mark(value),
        }
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(value);
        match &self.1 {
            OwnCounter::Count(count) => count.absolute(value),
            OwnCounter::Meter(meter) => meter.mark(value.saturating_sub(meter.count())),
        }
    }
}

impl GaugeFn for BothGauge {
    fn increment(&self, value: f64) {
        self.0.increment(value);
        self.1.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.0.decrement(value);
        self.1.decrement(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
        self.1.set(value);
    }
}

impl HistogramFn for BothHistogram {
    fn record(&self, value: f64) {
        self.0.record(value);
        self.1.record(value);
    }
}

impl ::metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.own.describe(key.clone(), unit);
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.own.describe(key.clone(), unit);
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.own.describe(key.clone(), unit);
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        if let Some((counter, _)) = self.own.counters.read().get(key) {
            return counter.clone();
        }
        let meter = self.own.kind(key.name()) == Some(Kind::Meter);
        let mut counters = self.own.counters.write();
        let (counter, _) = counters.entry(key.clone()).or_insert_with(|| {
            let prometheus = self.prometheus.register_counter(key, metadata);
            let own = if meter {
                OwnCounter::Meter(Arc::new(Meter::new()))
            } else {
                OwnCounter::Count(Arc::new(Count::default()))
            };
            (
                Counter::from_arc(Arc::new(BothCounter(prometheus, own.clone()))),
                own,
            )
        });
        counter.clone()
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        if let Some((gauge, _, _)) = self.own.gauges.read().get(key) {
            return gauge.clone();
        }
        let as_counter = self.own.kind(key.name()) == Some(Kind::DownCounter);
        let mut gauges = self.own.gauges.write();
        let (gauge, _, _) = gauges.entry(key.clone()).or_insert_with(|| {
            let prometheus = self.prometheus.register_gauge(key, metadata);
            let level = Arc::new(Level::default());
            (
                Gauge::from_arc(Arc::new(BothGauge(prometheus, level.clone()))),
                level,
                as_counter,
            )
        });
        gauge.clone()
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        if let Some((histogram, _)) = self.own.histograms.read().get(key) {
            return histogram.clone();
        }
        let timer = self.own.kind(key.name()) == Some(Kind::Timer);
        let mut histograms = self.own.histograms.write();
        let (histogram, _) = histograms.entry(key.clone()).or_insert_with(|| {
            let prometheus = self.prometheus.register_histogram(key, metadata);
            let distribution = Arc::new(Distribution::new(timer));
            (
                Histogram::from_arc(Arc::new(BothHistogram(prometheus, distribution.clone()))),
                distribution,
            )
        });
        histogram.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_series_are_named_as_prometheus_writes_them() {
        let key = Key::from_parts(
            HTTP_REQUESTS,
            vec![
                ::metrics::Label::new("route", "/1.0/kb/accounts/{accountId}"),
                ::metrics::Label::new("method", "GET"),
            ],
        );
        assert_eq!(
            display_name(&key),
            "ferrobill.http.requests{route=\"/1.0/kb/accounts/{accountId}\",method=\"GET\"}"
        );
        assert_eq!(display_name(&Key::from_name("a.b")), "a.b");
    }

    #[test]
    fn disabled_metrics_serve_empty_pages() {
        let metrics = Metrics::empty();
        let json = metrics.to_json();
        for kind in ["gauges", "counters", "histograms", "meters", "timers"] {
            assert_eq!(json[kind], json!({}), "{kind}");
        }
        assert_eq!(metrics.prometheus_text().trim(), "");
    }

    #[test]
    fn one_recorder_feeds_both_pages() {
        let recorder = Recorder {
            prometheus: PrometheusBuilder::new().build_recorder(),
            own: Arc::new(Store::default()),
        };
        let handle = recorder.prometheus.handle();
        let own = recorder.own.clone();
        ::metrics::with_local_recorder(&recorder, || {
            ::metrics::describe_counter!("kb.meter", Unit::CountPerSecond, "a meter");
            ::metrics::describe_gauge!("kb.active", Unit::Count, "a down counter");
            ::metrics::describe_histogram!("kb.timer", Unit::Seconds, "a timer");
            ::metrics::counter!("kb.meter").increment(3);
            ::metrics::counter!("plain.count").increment(2);
            ::metrics::gauge!("kb.active").increment(2.0);
            ::metrics::gauge!("plain.level").set(1.5);
            ::metrics::histogram!("kb.timer").record(0.25);
            ::metrics::histogram!("plain.sizes").record(4.0);
        });
        let json = own.to_json();
        let keys: Vec<&String> = json.as_object().expect("an object").keys().collect();
        assert_eq!(
            keys,
            ["counters", "gauges", "histograms", "meters", "timers"]
        );
        assert_eq!(json["meters"]["kb.meter"]["count"], json!(3));
        assert_eq!(json["meters"]["kb.meter"]["units"], json!("events/second"));
        assert_eq!(json["counters"]["plain.count"], json!({ "count": 2 }));
        assert_eq!(json["counters"]["kb.active"], json!({ "count": 2 }));
        assert_eq!(json["gauges"]["plain.level"], json!({ "value": 1.5 }));
        assert_eq!(json["timers"]["kb.timer"]["count"], json!(1));
        assert_eq!(
            json["timers"]["kb.timer"]["rate_units"],
            json!("calls/second")
        );
        assert_eq!(json["histograms"]["plain.sizes"]["max"], json!(4.0));
        let text = handle.render();
        assert!(text.contains("kb_meter 3"), "{text}");
        assert!(text.contains("plain_count 2"), "{text}");
        assert!(text.contains("kb_active 2"), "{text}");
    }
}
