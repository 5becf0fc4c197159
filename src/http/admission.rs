//! Admission control: at most `ferrobill.server.maxInFlight` requests run at once, at most
//! `ferrobill.server.maxWaiting` wait for a slot, and every admitted request must finish within
//! `ferrobill.server.requestTimeout`. Past those bounds the answer is an immediate 503 with
//! Kill Bill's error JSON, never an unbounded queue (seed 003 shows what unbounded queueing
//! does under overload: timeouts and connection resets).
//!
//! The ops endpoints bypass the bound so an operator can still see an overloaded server.
//! Every refusal carries [`Shed`] in its response extensions, so observation can tell it from
//! other 503s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;

/// Marks a response as admission control's refusal.
#[derive(Clone, Copy)]
pub struct Shed;

pub struct Admission {
    slots: Arc<Semaphore>,
    max_in_flight: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    request_timeout: Duration,
}

impl Admission {
    pub fn new(
        max_in_flight: usize,
        max_waiting: usize,
        request_timeout: Duration,
    ) -> Arc<Admission> {
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            waiting: AtomicUsize::new(0),
            max_waiting,
            request_timeout,
        })
    }

    fn overloaded(&self) -> Response {
        crate::metrics::admission_rejected("overloaded");
        shed(ApiError::Overloaded {
            in_flight: self.max_in_flight - self.slots.available_permits(),
            waiting: self.waiting.load(Ordering::SeqCst),
        })
    }
}

/// Decrements the waiting count however the wait ends (admitted, timed out, or the client went
/// away and the future was dropped).
struct WaitingGuard<'a>(&'a AtomicUsize);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub async fn admit(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    if is_ops_path(request.uri().path()) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let permit = match admission.slots.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            if admission.waiting.fetch_add(1, Ordering::SeqCst) >= admission.max_waiting {
                admission.waiting.fetch_sub(1, Ordering::SeqCst);
                return admission.overloaded();
            }
            let _waiting = WaitingGuard(&admission.waiting);
            let acquired = tokio::time::timeout(
                admission.request_timeout,
                admission.slots.clone().acquire_owned(),
            )
            .await;
            match acquired {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return admission.overloaded(),
                Err(_) => return timed_out(admission.request_timeout),
            }
        }
    };
    let remaining = admission.request_timeout.saturating_sub(started.elapsed());
    let response = tokio::time::timeout(remaining, next.run(request)).await;
    drop(permit);
    match response {
        Ok(response) => response,
        Err(_) => timed_out(admission.request_timeout),
    }
}

fn timed_out(request_timeout: Duration) -> Response {
    crate::metrics::admission_rejected("timeout");
    shed(ApiError::Timeout(request_timeout))
}

fn shed(refusal: ApiError) -> Response {
    let mut response = refusal.into_response();
    response.extensions_mut().insert(Shed);
    response
}

fn is_ops_path(path: &str) -> bool {
    matches!(
        path,
        "/1.0/healthcheck"
            | "/1.0/metrics"
            | "/1.0/threads"
            | "/metrics"
            | "/swagger.json"
            | "/dashboard"
            | "/dashboard/data"
    )
}
