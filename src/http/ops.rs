//! The operator endpoints outside `/1.0/kb`: `/1.0/healthcheck`, with no authentication, as
//! in Kill Bill (where it is a plain servlet, not a JAX-RS resource).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/1.0/healthcheck", get(healthcheck))
}

#[derive(Debug, Default, Deserialize)]
struct PrettyQuery {
    pretty: Option<String>,
}

/// 200 when every check is healthy, 500 otherwise, 501 with no checks: Kill Bill's
/// HealthCheckServlet. `?pretty=true` indents the JSON.
async fn healthcheck(
    State(state): State<AppState>,
    query: Result<Query<PrettyQuery>, QueryRejection>,
) -> Response {
    let pretty = query
        .ok()
        .and_then(|Query(q)| q.pretty)
        .is_some_and(|value| value == "true");
    let report = state.health.report().await;
    let status = if report.outcomes.is_empty() {
        StatusCode::NOT_IMPLEMENTED
    } else if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let json = report.to_json();
    let body = if pretty {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    }
    .unwrap_or_else(|_| "{}".to_string());
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "must-revalidate,no-cache,no-store"),
        ],
        body,
    )
        .into_response()
}
