//! Kill Bill's ExportResource: `GET /1.0/kb/export/{accountId}`, the account's rows as CSV
//! (`application/octet-stream`). Like Kill Bill it takes the audit headers of a write
//! (`X-Killbill-CreatedBy` is required) though it changes nothing.
//!
//! This file owns the handler and the response's shape; the export itself is
//! `service::export`'s.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::Result;
use super::extract::{parse_id, KbPath, TenantWrite};
use super::AppState;

/// `GET /1.0/kb/export/{accountId}` → 200 with the CSV export.
pub(super) async fn export_account(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    KbPath(raw_id): KbPath<String>,
) -> Result<Response> {
    let account_id = parse_id(&raw_id)?;
    let csv = state.export.export_account(&tenant, account_id).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        csv,
    )
        .into_response())
}
