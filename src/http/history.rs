//! `GET …/{id}/auditLogsWithHistory` for every object Kill Bill serves it for but an account's
//! email (whose path names two ids): one handler, told by the route which object the path's id
//! names, with each audit log carrying the object's state after that change.
//!
//! This file only names the object to the service that reads the history and shapes the answer
//! (`audit.rs`); it must never decide which changes are shown: that is `service`'s.

use axum::extract::State;
use axum::routing::{get, MethodRouter};
use axum::{Extension, Json};

use super::audit::{audit_logs_with_history_json, AuditLogJson};
use super::error::Result;
use super::extract::{parse_id, CurrentTenant, KbPath};
use super::AppState;
pub use crate::service::history::WithHistory;

/// The route of the audit logs with history of objects of `object`.
pub fn history_route(object: WithHistory) -> MethodRouter<AppState> {
    get(audit_logs_with_history).layer(Extension(object))
}

async fn audit_logs_with_history(
    Extension(object): Extension<WithHistory>,
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
) -> Result<Json<Vec<AuditLogJson>>> {
    let id = parse_id(&raw_id)?;
    let logs = state
        .history
        .audit_logs_with_history(&tenant, object, id)
        .await?;
    Ok(Json(audit_logs_with_history_json(
        object.object_type(),
        id,
        logs,
    )))
}
