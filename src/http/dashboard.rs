//! `GET /dashboard`, ferrobill's live view of its own saturation, and `GET /dashboard/data`,
//! what the page refreshes itself from every second: the latest figures, and on request the
//! charts (`charts=true`, over `seconds`) and the raw samples after a sequence number
//! (`since`). Like the metrics pages they need no authentication and show no tenant data.
//!
//! The query is ferrobill's own, so it is read strictly: an unknown or repeated parameter, or
//! a value that cannot be read, is a 400 with Kill Bill's error JSON. Charts are drawn on a
//! blocking thread so drawing never holds up a request worker.

use std::ops::RangeInclusive;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::extract::RawQueryPairs;
use super::AppState;
use crate::chart::ChartError;
use crate::dashboard::{View, DEFAULT_SECONDS, MAX_SAMPLES};
use crate::service::ServiceError;

const NO_CACHE: &str = "must-revalidate,no-cache,no-store";
/// The chart windows accepted, in seconds: up to everything kept.
const SECONDS: RangeInclusive<u32> = 10..=MAX_SAMPLES as u32;

pub(super) async fn page(
    State(state): State<AppState>,
    query: RawQueryPairs,
) -> Result<Response, ApiError> {
    let query = DashboardQuery::read(query, &["seconds"])?;
    let dashboard = state.ops.dashboard.clone();
    dashboard.watch();
    let html = drawn(move || dashboard.page(query.seconds)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        html,
    )
        .into_response())
}

pub(super) async fn data(
    State(state): State<AppState>,
    query: RawQueryPairs,
) -> Result<Response, ApiError> {
    let query = DashboardQuery::read(query, &["charts", "seconds", "since"])?;
    let dashboard = state.ops.dashboard.clone();
    dashboard.watch();
    let view = View {
        charts: query.charts.then_some(query.seconds),
        since: query.since,
    };
    let frame = drawn(move || dashboard.frame(view)).await?;
    Ok(([(header::CACHE_CONTROL, NO_CACHE)], Json(frame)).into_response())
}

/// Runs `draw` on a blocking thread.
async fn drawn<T: Send + 'static>(
    draw: impl FnOnce() -> Result<T, ChartError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(draw).await {
        Ok(Ok(drawn)) => Ok(drawn),
        Ok(Err(error)) => Err(ServiceError::Internal(error.to_string()).into()),
        Err(error) => {
            Err(ServiceError::Internal(format!("dashboard drawing failed: {error}")).into())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DashboardQuery {
    seconds: u32,
    charts: bool,
    since: Option<u64>,
}

impl DashboardQuery {
    /// Reads the query, accepting only the `allowed` parameters, each at most once.
    fn read(query: RawQueryPairs, allowed: &[&str]) -> Result<DashboardQuery, ApiError> {
        let Query(pairs) = query.map_err(|rejection| {
            ApiError::InvalidParameter(format!(
                "Unreadable query string: {}",
                rejection.body_text()
            ))
        })?;
        for (index, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::InvalidParameter(format!(
                    "Unknown query parameter {name:?}: this endpoint takes {}",
                    allowed.join(", ")
                )));
            }
            if pairs[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::InvalidParameter(format!(
                    "Query parameter {name:?} is given more than once"
                )));
            }
        }
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let seconds = match value("seconds") {
            None => DEFAULT_SECONDS,
            Some(text) => text
                .parse()
                .ok()
                .filter(|seconds| SECONDS.contains(seconds))
                .ok_or_else(|| {
                    ApiError::InvalidParameter(format!(
                        "Invalid seconds {text:?}: expected a whole number from {} to {}",
                        SECONDS.start(),
                        SECONDS.end()
                    ))
                })?,
        };
        let charts = match value("charts") {
            None | Some("false") => false,
            Some("true") => true,
            Some(text) => {
                return Err(ApiError::InvalidParameter(format!(
                    "Invalid charts {text:?}: expected true or false"
                )))
            }
        };
        let since = value("since")
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::InvalidParameter(format!(
                        "Invalid since {text:?}: expected a sample number (0 or more)"
                    ))
                })
            })
            .transpose()?;
        Ok(DashboardQuery {
            seconds,
            charts,
            since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)], allowed: &[&str]) -> Result<DashboardQuery, String> {
        let pairs = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        DashboardQuery::read(Ok(Query(pairs)), allowed).map_err(|error| error.to_string())
    }

    #[test]
    fn the_query_is_read_strictly() {
        let all = ["charts", "seconds", "since"];
        assert_eq!(
            read(&[], &all),
            Ok(DashboardQuery {
                seconds: DEFAULT_SECONDS,
                charts: false,
                since: None
            })
        );
        assert_eq!(
            read(
                &[("charts", "true"), ("seconds", "60"), ("since", "7")],
                &all
            ),
            Ok(DashboardQuery {
                seconds: 60,
                charts: true,
                since: Some(7)
            })
        );
        for bad in [
            vec![("seconds", "5")],
            vec![("seconds", "901")],
            vec![("seconds", "1.5")],
            vec![("charts", "yes")],
            vec![("since", "-1")],
            vec![("window", "60")],
            vec![("seconds", "60"), ("seconds", "60")],
        ] {
            assert!(read(&bad, &all).is_err(), "{bad:?}");
        }
        assert!(read(&[("since", "1")], &["seconds"]).is_err());
    }
}
