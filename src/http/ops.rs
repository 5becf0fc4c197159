//! The operator endpoints outside `/1.0/kb`, with no authentication, as in Kill Bill (where
//! they are plain servlets, not JAX-RS resources): `/1.0/healthcheck`, `/1.0/metrics` (Kill
//! Bill's JSON), `/metrics` (Prometheus text, ferrobill's own) and `/1.0/threads` (what the
//! server is doing now, in text). The dashboard, ferrobill's own too, is in `dashboard.rs`.
//!
//! These pages only read state; they change nothing but the sampled gauges (pool sizes, the
//! runtime) that they refresh before rendering.

use std::fmt::Write as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::observe::{Observation, Route};
use super::redact::tenant_tag;
use super::AppState;
use crate::bus::{Bus, NotificationQueueService};
use crate::dashboard::Dashboard;
use crate::metrics::{self, Metrics};
use crate::service::pools::PoolMonitor;

const NO_CACHE: &str = "must-revalidate,no-cache,no-store";

/// What the metrics and thread-dump pages read. Cheap to clone.
#[derive(Clone)]
pub struct Ops {
    pub metrics: &'static Metrics,
    /// The main and plugin pools, observed only.
    pub pools: PoolMonitor,
    /// The internal and external buses.
    pub buses: Vec<Bus>,
    pub notification_queue: NotificationQueueService,
    /// Requests in flight, and the per-second tally of finished ones.
    pub observation: Observation,
    pub dashboard: Dashboard,
}

impl Ops {
    /// Refreshes the gauges that are sampled rather than recorded as they change.
    fn sample(&self) {
        self.pools.sample_metrics();
        let runtime = tokio::runtime::Handle::current().metrics();
        metrics::runtime_sampled(
            runtime.num_workers(),
            runtime.num_alive_tasks(),
            runtime.global_queue_depth(),
        );
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PrettyQuery {
    pretty: Option<String>,
}

/// 200 when every check is healthy, 500 otherwise, 501 with no checks: Kill Bill's
/// HealthCheckServlet. `?pretty=true` indents the JSON.
pub(super) async fn healthcheck(
    State(state): State<AppState>,
    query: Result<Query<PrettyQuery>, QueryRejection>,
) -> Response {
    let pretty = is_pretty(query);
    let report = state.health.report().await;
    let status = if report.outcomes.is_empty() {
        StatusCode::NOT_IMPLEMENTED
    } else if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json_page(status, &report.to_json(), pretty)
}

fn is_pretty(query: Result<Query<PrettyQuery>, QueryRejection>) -> bool {
    query
        .ok()
        .and_then(|Query(q)| q.pretty)
        .is_some_and(|value| value == "true")
}

fn json_page(status: StatusCode, json: &serde_json::Value, pretty: bool) -> Response {
    let body = if pretty {
        serde_json::to_string_pretty(json)
    } else {
        serde_json::to_string(json)
    }
    .unwrap_or_else(|_| "{}".to_string());
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        body,
    )
        .into_response()
}

/// Kill Bill's MetricsServlet: `gauges`, `counters`, `histograms`, `meters`, `timers`.
/// `?pretty=true` indents the JSON.
pub(super) async fn metrics_json(
    State(state): State<AppState>,
    query: Result<Query<PrettyQuery>, QueryRejection>,
) -> Response {
    state.ops.sample();
    json_page(
        StatusCode::OK,
        &state.ops.metrics.to_json(),
        is_pretty(query),
    )
}

/// The same values in Prometheus' text format (not in Kill Bill).
pub(super) async fn metrics_prometheus(State(state): State<AppState>) -> Response {
    state.ops.sample();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; version=0.0.4"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        state.ops.metrics.prometheus_text(),
    )
        .into_response()
}

/// Kill Bill's ThreadDumpServlet answers a JVM thread dump; ferrobill has no threads to dump,
/// so it shows what an operator looks for in one: the runtime, each pool, each queue's
/// dispatcher, and every request in flight with its age.
pub(super) async fn threads(State(state): State<AppState>) -> Response {
    let ops = &state.ops;
    let mut page = String::new();
    let runtime = tokio::runtime::Handle::current().metrics();
    let _ = writeln!(
        page,
        "ferrobill {} at {}",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    let _ = writeln!(page, "\nruntime");
    let _ = writeln!(
        page,
        "  workers={} alive_tasks={} global_queue_depth={}",
        runtime.num_workers(),
        runtime.num_alive_tasks(),
        runtime.global_queue_depth()
    );
    let _ = writeln!(page, "\npools");
    for s in ops.pools.snapshots() {
        let _ = writeln!(
            page,
            "  {}: max={} size={} in_use={} available={} waiting={} (queue work {}, requests {}, longest waiting {} ms)",
            s.name,
            s.state.max_size,
            s.state.size,
            s.in_use(),
            s.state.available,
            s.state.waiting,
            s.state.waiters.queue,
            s.state.waiters.requests,
            s.state.waiters.longest.as_millis()
        );
    }
    let _ = writeln!(page, "\nqueues");
    for bus in &ops.buses {
        let _ = writeln!(page, "  {}", bus.dispatch_state());
    }
    let _ = writeln!(page, "  {}", ops.notification_queue.dispatch_state());
    let requests = ops.observation.in_flight.snapshot();
    let _ = writeln!(page, "\nrequests in flight: {}", requests.len());
    for request in requests {
        // Unauthenticated page: a digest tells the tenants apart without naming them, and an
        // unmatched path (the client's raw text, possibly ids or keys) is not shown.
        let tenant = request.tenant().map_or_else(|| "-".to_string(), tenant_tag);
        let route = match &request.route {
            Route::Matched(path) => path.as_str(),
            Route::Unmatched(_) => "(no route)",
        };
        let _ = writeln!(
            page,
            "  #{} {} {} tenant={} age={:.3}s",
            request.id,
            request.method,
            route,
            tenant,
            request.age().as_secs_f64()
        );
    }
    (
        StatusCode::OK,
        [
            // As Kill Bill's ThreadDumpServlet: no charset (the page is ASCII).
            (header::CONTENT_TYPE, "text/plain"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        page,
    )
        .into_response()
}
