//! The closed loop: N virtual users, each sending one request and waiting for its answer, until
//! the duration ends or the request budget is spent. Owns timing, error classification, the
//! once-a-second progress line and health poll, and the hard deadline that ends every run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::RequestBuilder;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::client::{KillBill, TenantCredentials};
use crate::scenario::Scenario;
use crate::stats::Recorder;

/// Past the planned end, users get this long to finish their last request before they are
/// abandoned, so that a hung server can never hang the load generator.
const HARD_DEADLINE_GRACE: Duration = Duration::from_secs(30);
const HEALTH_POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// The run is over (time is up or the request budget is spent); the user should leave.
#[derive(Debug)]
pub struct Stop;

#[derive(Debug, Clone)]
pub struct RunPlan {
    pub users: u32,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: Option<u64>,
}

pub struct RunOutcome {
    pub recorder: Recorder,
    /// From the end of the warm-up until the last user stopped: the throughput denominator.
    pub measured: Duration,
    /// Healthcheck poll answers by status ("200", "500", "timeout"...).
    pub health_polls: BTreeMap<String, u64>,
    pub abandoned_users: usize,
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
    measure_from: Instant,
    end: Instant,
    max_requests: Option<u64>,
    requests_started: AtomicU64,
    requests_done: AtomicU64,
    errors: AtomicU64,
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

/// What a scenario sees: the client, the run's tenant, unique keys, and `send`.
pub struct VirtualUser {
    client: Arc<KillBill>,
    tenant: Arc<TenantCredentials>,
    state: Arc<RunState>,
    key_prefix: String,
    iteration: u64,
}

impl VirtualUser {
    pub fn client(&self) -> &KillBill {
        &self.client
    }

    pub fn tenant(&self) -> &TenantCredentials {
        &self.tenant
    }

    /// A key no other user, iteration or earlier run has used.
    pub fn unique_key(&mut self) -> String {
        self.iteration += 1;
        format!("{}-{}", self.key_prefix, self.iteration)
    }

    /// Sends one sample and records it under `sampler`. `Ok(None)` means it failed (and was
    /// counted as an error); `Err(Stop)` means the run is over and nothing was sent.
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
            response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers))
        }
        .await;
        let latency = started.elapsed();
        let (reply, error_class) = match answer {
            Ok((status, headers)) if status.is_success() => (Some(Reply { headers }), None),
            Ok((status, _)) => (None, Some(format!("HTTP {}", status.as_u16()))),
            Err(error) => (None, Some(classify(&error).to_string())),
        };
        let state = &self.state;
        state.requests_done.fetch_add(1, Ordering::Relaxed);
        if error_class.is_some() {
            state.errors.fetch_add(1, Ordering::Relaxed);
        }
        if Instant::now() >= state.measure_from {
            state
                .recorder()
                .record(sampler, latency, error_class.as_deref());
        }
        Ok(reply)
    }
}

fn classify(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "request error"
    }
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
        measure_from,
        end: measure_from + plan.duration,
        max_requests: plan.max_requests,
        requests_started: AtomicU64::new(0),
        requests_done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let health = Arc::new(Mutex::new(HealthPolls::default()));
    let poller = tokio::spawn(poll_health(client.clone(), health.clone()));
    let progress = tokio::spawn(print_progress(state.clone(), started, health.clone()));

    let mut users = JoinSet::new();
    for index in 0..plan.users {
        let mut user = VirtualUser {
            client: client.clone(),
            tenant: tenant.clone(),
            state: state.clone(),
            key_prefix: format!("{key_prefix}-u{index}"),
            iteration: 0,
        };
        let state = state.clone();
        users.spawn(async move {
            while !state.is_over() && scenario.iteration(&mut user).await.is_ok() {}
        });
    }
    let hard_deadline = state.end + HARD_DEADLINE_GRACE;
    let _ = tokio::time::timeout_at(hard_deadline.into(), async {
        while users.join_next().await.is_some() {}
    })
    .await;
    let abandoned_users = users.len();
    users.abort_all();
    // Wait for the aborts to land so no progress line interleaves with the report.
    for task in [poller, progress] {
        task.abort();
        let _ = task.await;
    }

    let measured = Instant::now().saturating_duration_since(measure_from);
    let recorder = std::mem::replace(&mut *state.recorder(), Recorder::new(&[]));
    let health_polls = std::mem::take(&mut lock(&health).counts);
    RunOutcome {
        recorder,
        measured,
        health_polls,
        abandoned_users,
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
        let status = match answer {
            Ok(response) => response.status().as_u16().to_string(),
            Err(error) => classify(&error).to_string(),
        };
        let mut health = lock(&health);
        *health.counts.entry(status.clone()).or_default() += 1;
        health.last = Some(status);
    }
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
        eprintln!(
            "[{:>5.1}s{phase}] requests {done} | {rate:.1}/s | errors {} | health {last_health}",
            (now - started).as_secs_f64(),
            state.errors.load(Ordering::Relaxed),
        );
    }
}
