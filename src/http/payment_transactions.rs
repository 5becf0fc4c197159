//! `/1.0/kb/paymentTransactions`: Kill Bill's TransactionResource: the payment of a transaction
//! (by id or external key, with `withPluginInfo`, `withAttempts`, `audit`), a gateway's word on
//! a PENDING transaction (notifyStateChanged: 201 with the payment's Location), and the
//! transaction's audit logs with history.
//!
//! This file owns the handlers' parameters and wire shapes only; the rules are
//! `service::payments`'s. It never holds SQL.

use axum::extract::State;
use axum::response::Response;
use axum::Json;

use super::error::{ApiError, Result};
use super::extract::{
    parse_id, BaseUrl, CurrentTenant, KbJson, KbPath, OptionalKbPath, QueryPairs, TenantWrite,
};
use super::payments::{read_options, PaymentJson, PaymentTransactionInputJson};
use super::respond::created;
use super::AppState;
use crate::domain::payments::TransactionStatus;

/// `GET /1.0/kb/paymentTransactions/{transactionId}`, and
/// `GET /1.0/kb/paymentTransactions?transactionExternalKey=`: a missing key is looked up as the
/// text `null`, as Kill Bill does.
pub(super) async fn get_payment_by_transaction(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    path: OptionalKbPath,
    params: QueryPairs,
) -> Result<Json<PaymentJson>> {
    let transaction_id = path.id()?;
    let options = read_options(&params)?;
    let payments = &state.payments;
    let view = match transaction_id {
        Some(id) => {
            payments
                .find_by_transaction_id(&tenant, id, options)
                .await?
        }
        None => {
            let key = params.value("transactionExternalKey").unwrap_or("null");
            payments
                .find_by_transaction_external_key(&tenant, key, options)
                .await?
        }
    };
    Ok(Json(PaymentJson::from_view(
        view,
        params.flag("withAttempts"),
    )))
}

/// `POST /1.0/kb/paymentTransactions/{transactionId}`: the body's `paymentId` and `status`
/// (SUCCESS, or anything else for a failure) are required; 201 with the payment's Location.
pub(super) async fn notify_state_changed(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_transaction_id): KbPath<String>,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    let transaction_id = parse_id(&raw_transaction_id)?;
    let payment_id = body.payment_id.ok_or_else(|| {
        ApiError::InvalidParameter("PaymentTransactionJson paymentId needs to be set".to_string())
    })?;
    let status = body.status.ok_or_else(|| {
        ApiError::InvalidParameter("PaymentTransactionJson status needs to be set".to_string())
    })?;
    let result = state
        .payments
        .notify_state_changed(
            &tenant,
            payment_id,
            transaction_id,
            // Any name but SUCCESS, even one Kill Bill does not know, is a failure.
            TransactionStatus::parse(&status) == Some(TransactionStatus::Success),
            &context,
        )
        .await?;
    Ok(created(format!(
        "{base}/1.0/kb/payments/{}/",
        result.payment.id
    )))
}
