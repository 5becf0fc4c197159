//! `GET …/{id}/auditLogsWithHistory` for every object Kill Bill serves it for but an account's
//! email (whose path names two ids): one handler, told by the route which object the path's id
//! names, with each audit log carrying the object's state after that change.
//!
//! This file only picks the service that reads the history and shapes it (`audit.rs`); it must
//! never decide which changes are shown: that is `service`'s.

use axum::extract::State;
use axum::routing::{get, MethodRouter};
use axum::{Extension, Json};

use super::audit::{audit_logs_with_history_json, AuditLogJson};
use super::error::Result;
use super::extract::{parse_id, CurrentTenant, KbPath};
use super::AppState;

/// The objects with an `auditLogsWithHistory` route, by Kill Bill's ObjectType.
#[derive(Debug, Clone, Copy)]
pub enum WithHistory {
    Account,
    PaymentMethod,
    Payment,
    PaymentAttempt,
    Transaction,
    CustomField,
    Tag,
    TagDefinition,
}

impl WithHistory {
    /// Kill Bill's ObjectType, in the audit logs.
    fn object_type(self) -> &'static str {
        match self {
            WithHistory::Account => "ACCOUNT",
            WithHistory::PaymentMethod => "PAYMENT_METHOD",
            WithHistory::Payment => "PAYMENT",
            WithHistory::PaymentAttempt => "PAYMENT_ATTEMPT",
            WithHistory::Transaction => "TRANSACTION",
            WithHistory::CustomField => "CUSTOM_FIELD",
            WithHistory::Tag => "TAG",
            WithHistory::TagDefinition => "TAG_DEFINITION",
        }
    }
}

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
    let tenant = &tenant;
    let (methods, payments, tags) = (&state.payment_methods, &state.payments, &state.tags);
    let logs = match object {
        WithHistory::Account => state.accounts.audit_logs_with_history(tenant, id).await,
        WithHistory::PaymentMethod => methods.audit_logs_with_history(tenant, id).await,
        WithHistory::Payment => payments.payment_audit_logs_with_history(tenant, id).await,
        WithHistory::PaymentAttempt => payments.attempt_audit_logs_with_history(tenant, id).await,
        WithHistory::Transaction => {
            payments
                .transaction_audit_logs_with_history(tenant, id)
                .await
        }
        WithHistory::CustomField => {
            state
                .custom_fields
                .audit_logs_with_history(tenant, id)
                .await
        }
        WithHistory::Tag => tags.tag_audit_logs_with_history(tenant, id).await,
        WithHistory::TagDefinition => tags.definition_audit_logs_with_history(tenant, id).await,
    }?;
    Ok(Json(audit_logs_with_history_json(
        object.object_type(),
        id,
        logs,
    )))
}
