//! The load models: a closed loop (N virtual users, each sending one request and waiting for
//! its answer) and an open loop (iterations started at a constant arrival rate, each by an idle
//! user from a fixed pool, like k6's constant-arrival-rate). Owns timing, error
//! classification, the once-a-second progress line, health poll and timeline, the server's
//! own per-second samples (ferrobill's `/dashboard/data`), and the hard deadline that ends
//! every run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrobill::dashboard::sample::Sample;
use hdrhistogram::Histogram;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::RequestBuilder;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::client::{KillBill, TenantCredentials};
use crate::scenario::Scenario;
use crate::stats::{self, Recorder};

/// Past the planned end, users get this long to finish their last request before they are
/// abandoned, so that a hung server can never hang the load generator.
const HARD_DEADLINE_GRACE: Duration = Duration::from_secs(30);
const HEALTH_POLL_TIMEOUT: Duration = Duration::from_secs(5);
/// The open loop's dispatcher wakes this often and starts every arrival that fell due since;
/// finer than the timer's resolution would only burn the generator's CPU.
const DISPATCH_PERIOD: Duration = Duration::from_millis(2);
/// ferrobill's per-second samples; another server (a real Kill Bill) answers 404 and the run
/// goes without them.
const SERVER_SAMPLES: &str = "/dashboard/data";

/// The run is over (time is up or the request budget is spent); the user should leave.
#[derive(Debug)]
pub struct Stop;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum LoadModel {
    /// Each user sends its next request as soon as the previous one answered.
    Closed,
    /// Iterations start at `rate` per second whatever the answers; `users` bounds how many run
    /// at once, and an arrival finding no idle user is dropped (counted, never queued).
    Open { rate: f64 },
}

#[derive(Debug, Clone)]
pub struct RunPlan {
    pub users: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: Option<u64>,
    pub model: LoadModel,
    /// How many accounts the users share (the `purchases` scenario).
    pub accounts: usize,
}

/// One second of the run as the load generator saw it, for the charts and `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    /// Seconds since the measured window began.
    pub second: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub requests_by_sampler: BTreeMap<String, u64>,
    pub errors_by_class: BTreeMap<String, u64>,
    /// The healthcheck poll's last answer by then ("200", "500", "timeout"…).
    pub health: Option<String>,
}

pub struct RunOutcome {
    pub recorder: Recorder,
    /// From the end of the warm-up until the last user stopped: the throughput denominator.
    pub measured: Duration,
    /// Healthcheck poll answers by status ("200", "500", "timeout"...).
    pub health_polls: BTreeMap<String, u64>,
    /// The body of the last non-200 healthcheck answer (seed 002's "Growing queues: bus").
    pub last_unhealthy: Option<String>,
    pub abandoned_users: usize,
    /// Open loop only: arrivals in the measured window that found no idle user.
    pub dropped: u64,
    /// Every request answered or failed, warm-up included: with no warm-up, what the
    /// recorder must have counted.
    pub requests_sent: u64,
    pub timeline: Vec<TimelinePoint>,
    /// When the measured window began, in Unix milliseconds: where `server_samples` start.
    pub measured_from_unix_ms: i64,
    /// The server's own samples over the measured window (ferrobill only).
    pub server_samples: Vec<Sample>,
}

/// A successful (2xx) answer, fully read.
pub struct Reply {
    headers: HeaderMap,
}

impl Reply {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION)?.to_str().ok()
    }
}

struct RunState {
    recorder: Mutex<Recorder>,
    /// The scenario's setup samplers: recorded during the warm-up too (seed 000's table lists
    /// every setup request).
    setup_samplers: &'static [&'static str],
    /// What happened since the last timeline point.
    second: Mutex<SecondTally>,
    measure_from: Instant,
    end: Instant,
    max_requests: Option<u64>,
    requests_started: AtomicU64,
    requests_done: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

/// The measured samples of the second in progress.
struct SecondTally {
    latencies: Histogram<u64>,
    requests: u64,
    errors: u64,
    requests_by_sampler: BTreeMap<&'static str, u64>,
    errors_by_class: BTreeMap<String, u64>,
}

impl SecondTally {
    fn new() -> SecondTally {
        SecondTally {
            latencies: stats::empty_histogram(),
            requests: 0,
            errors: 0,
            requests_by_sampler: BTreeMap::new(),
            errors_by_class: BTreeMap::new(),
        }
    }

    fn record(&mut self, sampler: &'static str, latency: Duration, error_class: Option<&str>) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latencies.saturating_record(micros);
        self.requests += 1;
        *self.requests_by_sampler.entry(sampler).or_default() += 1;
        if let Some(class) = error_class {
            self.errors += 1;
            *self.errors_by_class.entry(class.to_string()).or_default() += 1;
        }
    }

    fn point(self, second: f64, health: Option<String>) -> TimelinePoint {
        let ms = |quantile| self.latencies.value_at_quantile(quantile) as f64 / 1000.0;
        TimelinePoint {
            second,
            requests: self.requests,
            errors: self.errors,
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            requests_by_sampler: self
                .requests_by_sampler
                .into_iter()
                .map(|(sampler, count)| (sampler.to_string(), count))
                .collect(),
            errors_by_class: self.errors_by_class,
            health,
        }
    }
}

impl RunState {
    fn is_over(&self) -> bool {
        Instant::now() >= self.end
            || self
                .max_requests
                .is_some_and(|max| self.requests_started.load(Ordering::Relaxed) >= max)
    }

    fn take_request_slot(&self) -> bool {
        if Instant::now() >= self.end {
            return false;
        }
        let started_before = self.requests_started.fetch_add(1, Ordering::Relaxed);
        self.max_requests.is_none_or(|max| started_before < max)
    }

    fn recorder(&self) -> MutexGuard<'_, Recorder> {
        lock(&self.recorder)
    }
}

/// What a user remembers between iterations (the payments scenario's account, the reads'
/// payment); empty in a fresh user.
#[derive(Debug, Default)]
pub struct UserMemory {
    pub account_id: Option<String>,
    pub payment_id: Option<String>,
}

/// What every user of one run shares: the `purchases` scenario's accounts, each set up once
/// by whichever user picks it first.
#[derive(Debug)]
pub struct SharedAccounts {
    accounts: Vec<tokio::sync::OnceCell<String>>,
}

impl SharedAccounts {
    pub fn new(count: usize) -> SharedAccounts {
        SharedAccounts {
            accounts: (0..count).map(|_| tokio::sync::OnceCell::new()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The slot of the `index`th account (modulo the count).
    pub fn slot(&self, index: usize) -> &tokio::sync::OnceCell<String> {
        &self.accounts[index % self.accounts.len().max(1)]
    }
}

/// What a scenario sees: the client, the run's tenant, unique keys, memory, and `send`.
pub struct VirtualUser {
    client: Arc<KillBill>,
    tenant: Arc<TenantCredentials>,
    state: Arc<RunState>,
    key_prefix: String,
    iteration: u64,
    pub memory: UserMemory,
    shared: Arc<SharedAccounts>,
}

impl VirtualUser {
    pub fn client(&self) -> &KillBill {
        &self.client
    }

    pub fn tenant(&self) -> &TenantCredentials {
        &self.tenant
    }

    /// The accounts every user of the run shares.
    pub fn shared(&self) -> Arc<SharedAccounts> {
        self.shared.clone()
    }

    /// A number from the user's own sequence, spread over `0..bound` (no shared generator, so
    /// users never contend for one).
    pub fn pick(&mut self, bound: usize) -> usize {
        self.iteration += 1;
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&(&self.key_prefix, self.iteration), &mut hasher);
        (std::hash::Hasher::finish(&hasher) % bound.max(1) as u64) as usize
    }

    /// A key no other user, iteration or earlier run has used.
    pub fn unique_key(&mut self) -> String {
        self.iteration += 1;
        format!("{}-{}", self.key_prefix, self.iteration)
    }

    /// Sends one sample and records it under `sampler`. `Ok(None)` means it failed (and was
    /// counted as an error, with the server's message when it sent one); `Err(Stop)` means
    /// the run is over and nothing was sent.
    pub async fn send(
        &self,
        sampler: &'static str,
        request: RequestBuilder,
    ) -> Result<Option<Reply>, Stop> {
        if !self.state.take_request_slot() {
            return Err(Stop);
        }
        let started = Instant::now();
        let answer = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            // Read the whole body: it is part of the latency, and lets the connection be reused.
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let latency = started.elapsed();
        let (reply, error) = match answer {
            Ok((status, headers, _)) if status.is_success() => (Some(Reply { headers }), None),
            Ok((status, _, body)) => (
                None,
                Some((
                    format!("HTTP {}", status.as_u16()),
                    stats::error_message(&body),
                )),
            ),
            Err(error) => (
                None,
                Some((classify(&error).to_string(), error_chain(&error))),
            ),
        };
        let state = &self.state;
        state.requests_done.fetch_add(1, Ordering::Relaxed);
        if error.is_some() {
            state.errors.fetch_add(1, Ordering::Relaxed);
        }
        let error = error
            .as_ref()
            .map(|(class, message)| (class.as_str(), message.as_str()));
        if Instant::now() >= state.measure_from {
            state.recorder().record_error(sampler, latency, error);
            lock(&state.second).record(sampler, latency, error.map(|(class, _)| class));
        } else if state.setup_samplers.contains(&sampler) {
            state
                .recorder()
                .record_before_window(sampler, latency, error);
        }
        Ok(reply)
    }
}

/// The error classes of the report. A reset is told apart from a refused connection and a
/// timeout because seed 003 counts them separately: each says something different about how
/// the server sheds load.
pub fn classify(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        return "timeout";
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    return "connection reset"
                }
                std::io::ErrorKind::ConnectionRefused => return "connection refused",
                std::io::ErrorKind::TimedOut => return "timeout",
                _ => {}
            }
        }
        source = cause.source();
    }
    if error.is_connect() {
        "connection error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "request error"
    }
}

/// The innermost cause's text: reqwest's own message only says which request failed.
fn error_chain(error: &reqwest::Error) -> String {
    let mut last = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        last = cause.to_string();
        source = cause.source();
    }
    stats::normalize_message(&last)
}

pub async fn run(
    scenario: Scenario,
    client: Arc<KillBill>,
    tenant: Arc<TenantCredentials>,
    key_prefix: &str,
    plan: &RunPlan,
) -> RunOutcome {
    let started = Instant::now();
    let measure_from = started + plan.warmup;
    let state = Arc::new(RunState {
        recorder: Mutex::new(Recorder::new(scenario.samplers())),
        setup_samplers: scenario.setup_samplers(),
        second: Mutex::new(SecondTally::new()),
        measure_from,
        end: measure_from + plan.duration,
        max_requests: plan.max_requests,
        requests_started: AtomicU64::new(0),
        requests_done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    let measured_from_unix_ms = unix_ms(SystemTime::now() + plan.warmup);
    let health = Arc::new(Mutex::new(HealthPolls::default()));
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let server_samples = Arc::new(Mutex::new(Vec::new()));
    let poller = tokio::spawn(poll_health(client.clone(), health.clone()));
    let progress = tokio::spawn(print_progress(state.clone(), started, health.clone()));
    let sampler = tokio::spawn(sample_timeline(
        state.clone(),
        health.clone(),
        timeline.clone(),
    ));
    let server_sampler = tokio::spawn(collect_server_samples(
        client.clone(),
        server_samples.clone(),
    ));

    let shared = Arc::new(SharedAccounts::new(plan.accounts));
    let users = (0..plan.users).map(|index| VirtualUser {
        client: client.clone(),
        tenant: tenant.clone(),
        state: state.clone(),
        key_prefix: format!("{key_prefix}-u{index}"),
        iteration: 0,
        memory: UserMemory::default(),
        shared: shared.clone(),
    });
    let mut tasks = JoinSet::new();
    match plan.model {
        LoadModel::Closed => {
            for mut user in users {
                let state = state.clone();
                tasks.spawn(async move {
                    while !state.is_over() && scenario.iteration(&mut user).await.is_ok() {}
                });
            }
        }
        LoadModel::Open { rate } => {
            let (idle_sender, idle) = mpsc::channel(plan.users as usize);
            for user in users {
                // The channel holds exactly `users` entries, so this never fails.
                let _ = idle_sender.try_send(user);
            }
            dispatch(scenario, &state, rate, idle, idle_sender, &mut tasks).await;
        }
    }
    let hard_deadline = state.end + HARD_DEADLINE_GRACE;
    let _ = tokio::time::timeout_at(hard_deadline.into(), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    let abandoned_users = tasks.len();
    tasks.abort_all();
    // Wait for the aborts to land so no progress line interleaves with the report.
    for task in [poller, progress, sampler, server_sampler] {
        task.abort();
        let _ = task.await;
    }

    let measured = Instant::now().saturating_duration_since(measure_from);
    let recorder = std::mem::replace(&mut *state.recorder(), Recorder::new(&[]));
    let (health_polls, last_unhealthy) = {
        let mut health = lock(&health);
        (
            std::mem::take(&mut health.counts),
            health.last_unhealthy.take(),
        )
    };
    let timeline = std::mem::take(&mut *lock(&timeline));
    let mut server_samples = std::mem::take(&mut *lock(&server_samples));
    server_samples.retain(|sample| sample.time_ms >= measured_from_unix_ms);
    RunOutcome {
        recorder,
        measured,
        health_polls,
        last_unhealthy,
        abandoned_users,
        dropped: state.dropped.load(Ordering::Relaxed),
        requests_sent: state.requests_done.load(Ordering::Relaxed),
        timeline,
        measured_from_unix_ms,
        server_samples,
    }
}

fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// The open loop: every `DISPATCH_PERIOD`, starts the arrivals that fell due, each on an idle
/// user that goes back to the pool when its iteration ends. Returns when the run is over; the
/// iterations still running are in `tasks`.
async fn dispatch(
    scenario: Scenario,
    state: &Arc<RunState>,
    rate: f64,
    mut idle: mpsc::Receiver<VirtualUser>,
    idle_sender: mpsc::Sender<VirtualUser>,
    tasks: &mut JoinSet<()>,
) {
    let started = Instant::now();
    let mut arrivals: u64 = 0;
    let mut ticks = tokio::time::interval(DISPATCH_PERIOD);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while !state.is_over() {
        ticks.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while arrivals < due && !state.is_over() {
            arrivals += 1;
            match idle.try_recv() {
                Ok(mut user) => {
                    let back = idle_sender.clone();
                    tasks.spawn(async move {
                        let _ = scenario.iteration(&mut user).await;
                        let _ = back.send(user).await;
                    });
                }
                Err(_) => {
                    if Instant::now() >= state.measure_from {
                        state.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        // Reap finished iterations so the set does not grow with the whole run.
        while tasks.try_join_next().is_some() {}
    }
}

/// A panicking task cannot leave these counters half-updated, so a poisoned lock is usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
struct HealthPolls {
    counts: BTreeMap<String, u64>,
    last: Option<String>,
    last_unhealthy: Option<String>,
}

/// Polls /1.0/healthcheck once a second, apart from the users, so the report shows whether the
/// server declared itself unhealthy under load (seed 002's "Growing queues").
async fn poll_health(client: Arc<KillBill>, health: Arc<Mutex<HealthPolls>>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let answer = client
            .healthcheck()
            .timeout(HEALTH_POLL_TIMEOUT)
            .send()
            .await;
        let (status, unhealthy) = match answer {
            Ok(response) if response.status().is_success() => {
                (response.status().as_u16().to_string(), None)
            }
            Ok(response) => {
                let status = response.status().as_u16().to_string();
                let body = response.bytes().await.unwrap_or_default();
                let body = String::from_utf8_lossy(&body).trim().to_string();
                (status, Some(body))
            }
            Err(error) => (classify(&error).to_string(), None),
        };
        let mut health = lock(&health);
        if unhealthy.is_some() {
            health.last_unhealthy = unhealthy;
        }
        *health.counts.entry(status.clone()).or_default() += 1;
        health.last = Some(status);
    }
}

/// Once a second: the measured requests of that second (per sampler, latency percentiles,
/// errors by class) and the health poll's last answer.
async fn sample_timeline(
    state: Arc<RunState>,
    health: Arc<Mutex<HealthPolls>>,
    timeline: Arc<Mutex<Vec<TimelinePoint>>>,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = Instant::now();
        if now < state.measure_from {
            continue;
        }
        let second = std::mem::replace(&mut *lock(&state.second), SecondTally::new());
        let last_health = lock(&health).last.clone();
        let point = second.point((now - state.measure_from).as_secs_f64(), last_health);
        lock(&timeline).push(point);
    }
}

/// ferrobill's own samples, a second each: once a second, those taken since the last ones
/// collected. Asking also keeps the server's dashboard "watched", so its samples include the
/// health report and live ready-entry counts. Stops asking at a 404 (not ferrobill).
async fn collect_server_samples(client: Arc<KillBill>, samples: Arc<Mutex<Vec<Sample>>>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // The first ask, without `since`, only learns where the server's numbering stands.
    let mut since: Option<u64> = None;
    loop {
        ticks.tick().await;
        let path = match since {
            Some(since) => format!("{SERVER_SAMPLES}?since={since}"),
            None => SERVER_SAMPLES.to_string(),
        };
        let answer = client
            .observe(&path)
            .timeout(HEALTH_POLL_TIMEOUT)
            .send()
            .await;
        let frame = match answer {
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => return,
            Ok(response) => response.json::<ServerFrame>().await,
            Err(error) => Err(error),
        };
        let Ok(frame) = frame else { continue };
        since = Some(frame.samples.last().map_or(frame.sequence, |s| s.sequence));
        lock(&samples).extend(frame.samples);
    }
}

/// What the suite reads of `/dashboard/data`.
#[derive(serde::Deserialize)]
struct ServerFrame {
    /// The latest sample's number.
    sequence: u64,
    #[serde(default)]
    samples: Vec<Sample>,
}

/// One stderr line a second; the rate is over the last second, not the whole run.
async fn print_progress(state: Arc<RunState>, started: Instant, health: Arc<Mutex<HealthPolls>>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticks.tick().await;
    let mut previous_done = 0;
    let mut previous_tick = Instant::now();
    loop {
        ticks.tick().await;
        let done = state.requests_done.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (done - previous_done) as f64 / (now - previous_tick).as_secs_f64();
        (previous_done, previous_tick) = (done, now);
        let phase = if now < state.measure_from {
            " (warm-up)"
        } else {
            ""
        };
        let last_health = lock(&health).last.clone().unwrap_or_else(|| "-".into());
        let dropped = state.dropped.load(Ordering::Relaxed);
        let dropped = if dropped > 0 {
            format!(" | dropped {dropped}")
        } else {
            String::new()
        };
        eprintln!(
            "[{:>5.1}s{phase}] requests {done} | {rate:.1}/s | errors {}{dropped} | health {last_health}",
            (now - started).as_secs_f64(),
            state.errors.load(Ordering::Relaxed),
        );
    }
}
