//! The answer most of Kill Bill's creations give: 201 with an empty body and the absolute
//! `Location` of what was created (or of the list it was added to).
//!
//! Only response shapes live here; what to create, and where it is served, is each resource's.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// 201 with `location` (already absolute: the request's base URL and a path).
pub fn created(location: String) -> Response {
    (StatusCode::CREATED, [(header::LOCATION, location)]).into_response()
}
