//! Kill Bill's PaymentResource operations on a recorded payment: capture, refund, void,
//! chargeback and chargeback reversal, completing a PENDING transaction (`PUT`, 204 whatever
//! its outcome), cancelling a scheduled payment retry; and combo payments (account, method and
//! transaction in one call). A payment's audit logs with history are `history.rs`'s.
//!
//! Kill Bill serves each operation twice, on the payment the path's id names and on the one
//! the body's `paymentExternalKey` names; here one handler serves both routes
//! ([`OptionalKbPath`]). Each handler reads the request as Kill Bill's resource does (the same
//! checks, in the same order) and calls one `service::payments` operation. No SQL, no payment
//! rule here.

use axum::extract::State;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::Extension;
use serde::Deserialize;
use uuid::Uuid;

use super::accounts::AccountInputJson;
use super::error::{ApiError, Result};
use super::extract::{
    kill_bill_json_body, BaseUrl, KbJson, OptionalKbJson, OptionalKbPath, QueryPairs, TenantWrite,
};
use super::payment_methods::PaymentMethodInputJson;
use super::payments::{
    operation_response, request_from, resolved, PaymentTransactionInputJson, PluginPropertyJson,
    PAYMENT_REFERENCE_NEEDED,
};
use super::AppState;
use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::plugin::PluginProperty;
use crate::service::combo::{ComboAccount, ComboMethod};
use crate::service::payments::{
    CompletionFilter, PaymentRef, PaymentRequest, Target, TransactionRefForCancel,
};

/// What a payment itself answers beside `GET` (`payments.rs`'s): capture, complete, void.
pub(super) fn payment_routes() -> MethodRouter<AppState> {
    follow_up_route(FollowUp::Capture)
        .put(complete)
        .delete(void)
}

/// The `POST` of an operation answered as Kill Bill's createPaymentResponse.
pub(super) fn follow_up_route(operation: FollowUp) -> MethodRouter<AppState> {
    post(follow_up.layer(Extension(operation)))
}

/// The payment a request names: the path's id, else the body's `paymentExternalKey`.
fn payment_ref(id: Option<Uuid>, key: Option<String>) -> Result<PaymentRef> {
    match (id, key) {
        (Some(id), _) => Ok(PaymentRef::Id(id)),
        (None, Some(key)) => Ok(PaymentRef::ExternalKey(key)),
        (None, None) => Err(ApiError::InvalidParameter(
            PAYMENT_REFERENCE_NEEDED.to_string(),
        )),
    }
}

/// The operations that answer as Kill Bill's createPaymentResponse (201 with the payment's
/// Location, or its error JSON).
#[derive(Debug, Clone, Copy)]
pub(super) enum FollowUp {
    Capture,
    Refund,
    Chargeback,
    /// The body's `transactionExternalKey` names the chargeback to reverse.
    ChargebackReversal,
}

impl FollowUp {
    /// The request for this operation, after the checks Kill Bill's resource makes before it
    /// looks at the payment's reference.
    fn request(
        self,
        body: PaymentTransactionInputJson,
        params: &QueryPairs,
    ) -> Result<PaymentRequest> {
        let kind = match self {
            FollowUp::Capture => TransactionType::Capture,
            FollowUp::Refund => TransactionType::Refund,
            FollowUp::Chargeback if body.amount.is_none() => {
                return Err(ApiError::InvalidParameter(
                    "PaymentTransactionJson amount needs to be set".to_string(),
                ))
            }
            FollowUp::Chargeback => TransactionType::Chargeback,
            FollowUp::ChargebackReversal => {
                let key = body.transaction_external_key.ok_or_else(|| {
                    ApiError::InvalidParameter(
                        "PaymentTransactionJson transactionExternalKey needs to be set".to_string(),
                    )
                })?;
                let mut request = PaymentRequest::of(TransactionType::Chargeback);
                request.transaction_external_key = Some(key);
                request.effective_date = body.effective_date;
                request.properties = params.plugin_properties();
                request.override_status = Some(TransactionStatus::PaymentFailure);
                return Ok(request);
            }
        };
        request_from(body, Some(kind), params.plugin_properties(), None)
    }
}

/// `POST /1.0/kb/payments[/{paymentId}]` (CAPTURE), `…/refunds`, `…/chargebacks` and
/// `…/chargebackReversals`, on the payment the path's id names, else the body's key.
async fn follow_up(
    Extension(operation): Extension<FollowUp>,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    path: OptionalKbPath,
    params: QueryPairs,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    let id = path.id()?;
    let key = body.payment_external_key.clone();
    let request = operation.request(body, &params)?;
    let target = Target::Payment(payment_ref(id, key)?);
    let result = state
        .payments
        .perform(&tenant, target, request, &context)
        .await
        .map_err(|error| resolved(id, error.into()))?;
    operation_response(&base, result)
}

/// `DELETE /1.0/kb/payments[/{paymentId}]`: VOID. A void answers 204 whenever nothing was
/// thrown, even when the void itself failed, as Kill Bill's resource does.
async fn void(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    path: OptionalKbPath,
    params: QueryPairs,
    OptionalKbJson(body): OptionalKbJson<PaymentTransactionInputJson>,
) -> Result<StatusCode> {
    let id = path.id()?;
    // A void's body is optional (later 0.24.x accept an empty one).
    let body = body.unwrap_or_default();
    let target = Target::Payment(payment_ref(id, body.payment_external_key.clone())?);
    let properties = params.plugin_properties();
    let request = request_from(body, Some(TransactionType::Void), properties, None)?;
    state
        .payments
        .perform(&tenant, target, request, &context)
        .await
        .map_err(|error| resolved(id, error.into()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /1.0/kb/payments[/{paymentId}]`: completes a transaction of the payment the path's id
/// names (else the body's key); the body (optional) names the transaction; query and body
/// plugin properties go to the plugin. 204 unless refused.
async fn complete(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    path: OptionalKbPath,
    params: QueryPairs,
    OptionalKbJson(body): OptionalKbJson<PaymentTransactionInputJson>,
) -> Result<StatusCode> {
    let id = path.id()?;
    let body = body.unwrap_or_default();
    let payment = payment_ref(id, body.payment_external_key.clone())?;
    let mut properties = params.plugin_properties();
    properties.extend(
        body.properties
            .into_iter()
            .flatten()
            .map(PluginProperty::from),
    );
    let filter = CompletionFilter {
        transaction_id: body.transaction_id,
        transaction_external_key: body.transaction_external_key,
        // The JSON layer only lets Kill Bill's constants through.
        transaction_type: body
            .transaction_type
            .as_deref()
            .and_then(TransactionType::parse),
    };
    state
        .payments
        .complete(
            &tenant,
            payment,
            filter,
            body.amount.map(|amount| amount.0),
            body.currency,
            properties,
            &context,
        )
        .await
        .map_err(|error| resolved(id, error.into()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /1.0/kb/payments/{paymentTransactionId}/cancelScheduledPaymentTransaction`, and
/// `DELETE /1.0/kb/payments/cancelScheduledPaymentTransaction?transactionExternalKey=`.
pub(super) async fn cancel_scheduled(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    path: OptionalKbPath,
    params: QueryPairs,
) -> Result<StatusCode> {
    let transaction = match path.id()? {
        Some(id) => TransactionRefForCancel::Id(id),
        None => TransactionRefForCancel::ExternalKey(params.value("transactionExternalKey")),
    };
    state
        .payments
        .cancel_scheduled(&tenant, transaction)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Kill Bill's ComboPaymentTransactionJson.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ComboPaymentTransactionJson {
    #[serde(default)]
    account: Option<AccountInputJson>,
    #[serde(default)]
    payment_method: Option<PaymentMethodInputJson>,
    #[serde(default)]
    transaction: Option<PaymentTransactionInputJson>,
    #[serde(default)]
    payment_method_plugin_properties: Option<Vec<PluginPropertyJson>>,
    #[serde(default)]
    transaction_plugin_properties: Option<Vec<PluginPropertyJson>>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

kill_bill_json_body!(ComboPaymentTransactionJson, "ComboPaymentTransactionJson");

/// An id a combo body gives as a JSON string (`null` or absent: none).
pub(super) fn body_id(value: Option<serde_json::Value>, name: &str) -> Result<Option<Uuid>> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Uuid::parse_str(&text)
            .map(Some)
            .map_err(|_| ApiError::InvalidParameter(format!("Invalid UUID string: {text}"))),
        Some(other) => Err(ApiError::InvalidParameter(format!(
            "{name} is not a UUID: {other}"
        ))),
    }
}

/// The account part of a combo body (Kill Bill's getOrCreateAccount reads `accountId`, then
/// `externalKey`, then creates).
pub(super) fn combo_account(account: Option<AccountInputJson>) -> Result<ComboAccount> {
    let mut account = account.ok_or_else(|| {
        ApiError::InvalidParameter(
            "ComboPaymentTransactionJson account needs to be set".to_string(),
        )
    })?;
    let account_id = body_id(account.account_id.take(), "accountId")?;
    Ok(ComboAccount {
        account_id,
        input: account.into(),
    })
}

/// The payment method part of a combo body.
pub(super) fn combo_method(method: Option<PaymentMethodInputJson>) -> Result<Option<ComboMethod>> {
    let Some(mut method) = method else {
        return Ok(None);
    };
    let payment_method_id = body_id(method.payment_method_id.take(), "paymentMethodId")?;
    Ok(Some(ComboMethod {
        payment_method_id,
        input: method.into(),
    }))
}

pub(super) fn properties(json: Option<Vec<PluginPropertyJson>>) -> Vec<PluginProperty> {
    json.into_iter()
        .flatten()
        .map(PluginProperty::from)
        .collect()
}

/// `POST /1.0/kb/payments/combo`: answered as Kill Bill's createPaymentResponse.
pub(super) async fn create_combo_payment(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    KbJson(body): KbJson<ComboPaymentTransactionJson>,
) -> Result<Response> {
    let transaction = body.transaction.ok_or_else(|| {
        ApiError::InvalidParameter(
            "ComboPaymentTransactionJson transaction needs to be set".to_string(),
        )
    })?;
    let request = request_from(
        transaction,
        None,
        properties(body.transaction_plugin_properties),
        None,
    )?;
    let account = combo_account(body.account)?;
    let method = combo_method(body.payment_method)?;
    let result = state
        .combo
        .pay(
            &tenant,
            account,
            method,
            &properties(body.payment_method_plugin_properties),
            request,
            &context,
        )
        .await?;
    operation_response(&base, result)
}
