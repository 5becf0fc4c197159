//! `PUT /1.0/kb/admin/payments/{paymentId}/transactions/{paymentTransactionId}`: Kill Bill's
//! AdminResource `updatePaymentTransactionState`, an operator's repair of a stuck transaction
//! (its status, and the payment's current and last successful states), answered 204.
//!
//! This file reads AdminPaymentJson and calls the payment service; it holds no rule and no SQL.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{ApiError, Result};
use super::extract::{kill_bill_json_body, parse_id, KbJson, KbPath, TenantWrite};
use super::lenient;
use super::AppState;
use crate::domain::payments::TransactionStatus;
use crate::service::payments::StateFix;

/// Kill Bill's AdminPaymentJson.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AdminPaymentJson {
    #[serde(default, deserialize_with = "lenient::string")]
    last_success_payment_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    current_payment_state_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    transaction_status: Option<String>,
}

kill_bill_json_body!(AdminPaymentJson, "AdminPaymentJson");

/// Kill Bill's `TransactionStatus.valueOf`, with its message for an unknown name.
fn transaction_status(name: Option<String>) -> Result<TransactionStatus> {
    let name = name.ok_or_else(|| {
        ApiError::InvalidParameter("AdminPaymentJson transactionStatus needs to be set".to_string())
    })?;
    TransactionStatus::parse(&name).ok_or_else(|| {
        ApiError::InvalidParameter(format!(
            "No enum constant org.killbill.billing.payment.api.TransactionStatus.{name}"
        ))
    })
}

pub(super) async fn update_payment_transaction_state(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath((raw_payment_id, raw_transaction_id)): KbPath<(String, String)>,
    KbJson(body): KbJson<AdminPaymentJson>,
) -> Result<Response> {
    let payment_id = parse_id(&raw_payment_id)?;
    let transaction_id = parse_id(&raw_transaction_id)?;
    let fix = StateFix {
        transaction_status: transaction_status(body.transaction_status)?,
        last_success_payment_state: body.last_success_payment_state,
        current_payment_state_name: body.current_payment_state_name,
    };
    state
        .payments
        .fix_transaction_state(&tenant, payment_id, transaction_id, fix, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_kill_bills_constants() {
        assert!(matches!(
            transaction_status(Some("SUCCESS".to_string())),
            Ok(TransactionStatus::Success)
        ));
        let Err(ApiError::InvalidParameter(message)) = transaction_status(Some("NOPE".to_string()))
        else {
            panic!("an unknown status is refused");
        };
        assert!(message.ends_with("TransactionStatus.NOPE"));
        assert!(transaction_status(None).is_err());
    }
}
