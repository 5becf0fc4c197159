//! The outermost middleware: every request is registered as in flight (for `/1.0/threads`),
//! counted and timed (Kill Bill's InstrumentedFilter metrics, `ferrobill.http.requests` by
//! route template, and this server's per-second [`Traffic`] for the dashboard), logged in one
//! line when it ends, and profiled when it carries `X-Killbill-Profiling-Req`.
//!
//! It observes only: it never changes a response other than adding
//! `X-Killbill-Profiling-Resp`, and never rejects a request. With no profiling header the
//! per-request work is two short lock holds on the in-flight table and cached metric handles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use uuid::Uuid;

use super::admission::Shed;
use super::redact::mask_card_numbers;
use crate::metrics::window::Traffic;
use crate::metrics::HttpMetrics;
use crate::profiling::{self, Category, Profile};

const PROFILING_REQUEST: &str = "X-Killbill-Profiling-Req";
const PROFILING_RESPONSE: &str = "X-Killbill-Profiling-Resp";
const REQUEST_ID: &str = "X-Request-Id";

/// What observation keeps per server: the requests in flight, and a tally of those that
/// finished since the dashboard last looked. Cheap to clone.
#[derive(Clone)]
pub struct Observation {
    pub in_flight: Arc<InFlight>,
    pub traffic: Arc<Traffic>,
}

/// The requests this server is serving now.
#[derive(Default)]
pub struct InFlight {
    next_id: AtomicU64,
    requests: Mutex<HashMap<u64, Arc<InFlightRequest>>>,
}

/// One request in flight. The tenant is filled in once authentication has found it.
pub struct InFlightRequest {
    pub id: u64,
    pub method: Method,
    pub route: Route,
    pub started: Instant,
    tenant: OnceLock<Uuid>,
}

/// The route template (cheap to clone), or the raw path when no route matched.
pub enum Route {
    Matched(MatchedPath),
    Unmatched(String),
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Matched(path) => f.write_str(path.as_str()),
            // The raw path is the client's text: a card number in it stays out of the logs.
            Route::Unmatched(path) => write!(f, "(no route) {}", mask_card_numbers(path)),
        }
    }
}

impl InFlightRequest {
    pub fn tenant(&self) -> Option<Uuid> {
        self.tenant.get().copied()
    }

    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Put in the request's extensions so authentication can name the tenant.
#[derive(Clone)]
pub struct RequestTenant(Arc<InFlightRequest>);

impl RequestTenant {
    pub fn set(&self, tenant: Uuid) {
        let _ = self.0.tenant.set(tenant);
    }
}

impl InFlight {
    /// The requests in flight now, oldest first.
    pub fn snapshot(&self) -> Vec<Arc<InFlightRequest>> {
        let mut requests: Vec<Arc<InFlightRequest>> =
            self.requests.lock().values().cloned().collect();
        requests.sort_by_key(|request| request.started);
        requests
    }

    fn register<'a>(
        &'a self,
        traffic: &'a Traffic,
        method: Method,
        route: Route,
        started: Instant,
        request_id: Option<String>,
    ) -> Registered<'a> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let request = Arc::new(InFlightRequest {
            id,
            method,
            route,
            started,
            tenant: OnceLock::new(),
        });
        self.requests.lock().insert(id, request.clone());
        HttpMetrics::get().started();
        Registered {
            table: self,
            traffic,
            request,
            request_id,
            status: None,
            shed: false,
        }
    }
}

/// Removes the request from the table, records its metrics and writes its log line when
/// dropped, so a request whose client went away (the future dropped mid-flight) is accounted
/// for too.
struct Registered<'a> {
    table: &'a InFlight,
    traffic: &'a Traffic,
    request: Arc<InFlightRequest>,
    /// The client's `X-Request-Id`, for the log line.
    request_id: Option<String>,
    status: Option<u16>,
    /// Admission control refused it.
    shed: bool,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.table.requests.lock().remove(&self.request.id);
        // 499: the client closed the connection before the answer (nginx's convention).
        let status = self.status.unwrap_or(499);
        let request = &self.request;
        let latency = request.age();
        let route = matched(request);
        HttpMetrics::get().finished(route, request.method.as_str(), status, latency);
        self.traffic.record(route, status, self.shed, latency);
        tracing::info!(
            target: "ferrobill::request",
            method = %request.method,
            route = %request.route,
            status,
            latency_us = latency.as_micros() as u64,
            tenant = request.tenant().map(tracing::field::display),
            request_id = self.request_id.as_deref().map(mask_card_numbers).as_deref(),
            "request"
        );
    }
}

/// The route label: the template when a route matched, else `None` (a raw path would give one
/// series per URL).
fn matched(request: &InFlightRequest) -> Option<&str> {
    match &request.route {
        Route::Matched(path) => Some(path.as_str()),
        Route::Unmatched(_) => None,
    }
}

pub async fn observe(
    State(observation): State<Observation>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => Route::Matched(path.clone()),
        None => Route::Unmatched(request.uri().path().to_string()),
    };
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let profile = request
        .headers()
        .get(PROFILING_REQUEST)
        .and_then(|value| value.to_str().ok())
        .map(|value| Arc::new(Profile::from_header(value)));
    let mut registered = observation.in_flight.register(
        &observation.traffic,
        request.method().clone(),
        route,
        started,
        request_id,
    );
    request
        .extensions_mut()
        .insert(RequestTenant(registered.request.clone()));

    let response = match &profile {
        None => next.run(request).await,
        Some(profile) => {
            let path = request.uri().path().to_string();
            let mut response = profiling::collect(profile.clone(), next.run(request)).await;
            if profile.wants(Category::Jaxrs) {
                profile.record(Category::Jaxrs, &path, started, Instant::now());
            }
            let value = profile.to_json();
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(PROFILING_RESPONSE, value);
            }
            response
        }
    };
    registered.status = Some(response.status().as_u16());
    registered.shed = response.extensions().get::<Shed>().is_some();
    response
}
