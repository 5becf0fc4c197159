//! The rest of Kill Bill's PaymentResource beside `payments.rs`: combo payments (account,
//! method and transaction in one call), chargebacks and chargeback
//! reversals (by payment id and by the body's `paymentExternalKey`), completing a PENDING
//! transaction (`PUT`, 204 whatever its outcome), cancelling a scheduled payment retry, and the
//! audit logs with history of payments and payment attempts.
//!
//! Each handler reads the request as Kill Bill's resource does (the same checks, in the same
//! order) and calls one `service::payments` operation. No SQL, no payment rule here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::accounts::AccountInputJson;
use super::audit::audit_logs_with_history_json;
use super::error::{ApiError, Result};
use super::extract::{
    parse_id, BaseUrl, CurrentTenant, JsonBody, KbJson, KbPath, OptionalKbJson, QueryPairs,
    RawQueryPairs, WriteContext,
};
use super::payment_methods::PaymentMethodInputJson;
use super::payments::{
    operation_response, request_from, resolved, PaymentTransactionInputJson, PluginPropertyJson,
    PAYMENT_REFERENCE_NEEDED,
};
use super::AppState;
use crate::plugin::{PluginProperty, TransactionType};
use crate::service::combo::{ComboAccount, ComboMethod};
use crate::service::payments::state::TransactionStatus;
use crate::service::payments::{
    CompletionFilter, PaymentRef, PaymentRequest, Target, TransactionRefForCancel,
};
use crate::service::tenants::Tenant;
use crate::service::CallContext;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/1.0/kb/payments/combo", post(create_combo_payment))
        .route(
            "/1.0/kb/payments/{payment_id}/chargebacks",
            post(chargeback),
        )
        .route("/1.0/kb/payments/chargebacks", post(chargeback_by_key))
        .route(
            "/1.0/kb/payments/{payment_id}/chargebackReversals",
            post(chargeback_reversal),
        )
        .route(
            "/1.0/kb/payments/chargebackReversals",
            post(chargeback_reversal_by_key),
        )
        .route("/1.0/kb/payments/{payment_id}", put(complete))
        .route("/1.0/kb/payments/{payment_id}/", put(complete))
        .route("/1.0/kb/payments", put(complete_by_key))
        // Kill Bill names this segment paymentTransactionId; the router needs one name per
        // position under /payments, so it is payment_id here.
        .route(
            "/1.0/kb/payments/{payment_id}/cancelScheduledPaymentTransaction",
            delete(cancel_scheduled_by_id),
        )
        .route(
            "/1.0/kb/payments/cancelScheduledPaymentTransaction",
            delete(cancel_scheduled_by_key),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/auditLogsWithHistory",
            get(get_payment_audit_logs_with_history),
        )
        .route(
            "/1.0/kb/payments/attempts/{payment_attempt_id}/auditLogsWithHistory",
            get(get_attempt_audit_logs_with_history),
        )
}

/// The payment a request names: the path's id, else the body's `paymentExternalKey`.
fn target_of(id: Option<Uuid>, body: &PaymentTransactionInputJson) -> Result<Target> {
    let reference = match id {
        Some(id) => PaymentRef::Id(id),
        None => PaymentRef::ExternalKey(
            body.payment_external_key
                .clone()
                .ok_or_else(|| ApiError::InvalidParameter(PAYMENT_REFERENCE_NEEDED.to_string()))?,
        ),
    };
    Ok(Target::Payment(reference))
}

/// A chargeback (`reversal` false) or its reversal on the payment `id` names (else the body's
/// key), answered as Kill Bill's createPaymentResponse.
#[allow(clippy::too_many_arguments)]
async fn chargeback_response(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    context: &CallContext,
    id: Option<Uuid>,
    query: RawQueryPairs,
    body: PaymentTransactionInputJson,
    reversal: bool,
) -> Result<Response> {
    let params = QueryPairs::from(query);
    let (target, request) = if reversal {
        let key = body.transaction_external_key.clone().ok_or_else(|| {
            ApiError::InvalidParameter(
                "PaymentTransactionJson transactionExternalKey needs to be set".to_string(),
            )
        })?;
        let target = target_of(id, &body)?;
        let mut request = PaymentRequest::of(TransactionType::Chargeback);
        request.transaction_external_key = Some(key);
        request.effective_date = body.effective_date;
        request.properties = params.plugin_properties();
        request.override_status = Some(TransactionStatus::PaymentFailure);
        (target, request)
    } else {
        if body.amount.is_none() {
            return Err(ApiError::InvalidParameter(
                "PaymentTransactionJson amount needs to be set".to_string(),
            ));
        }
        let target = target_of(id, &body)?;
        let request = request_from(
            body,
            Some(TransactionType::Chargeback),
            params.plugin_properties(),
            None,
        )?;
        (target, request)
    };
    let result = state
        .payments
        .perform(tenant, target, request, context)
        .await
        .map_err(|error| resolved(id, error.into()))?;
    operation_response(base, result)
}

/// `POST /1.0/kb/payments/{paymentId}/chargebacks`.
async fn chargeback(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbPath(raw_payment_id): KbPath<String>,
    query: RawQueryPairs,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    let id = parse_id(&raw_payment_id)?;
    chargeback_response(
        &state,
        &base,
        &tenant,
        &context,
        Some(id),
        query,
        body,
        false,
    )
    .await
}

/// `POST /1.0/kb/payments/chargebacks`: by the body's `paymentExternalKey`.
async fn chargeback_by_key(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    query: RawQueryPairs,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    chargeback_response(&state, &base, &tenant, &context, None, query, body, false).await
}

/// `POST /1.0/kb/payments/{paymentId}/chargebackReversals`: the body's
/// `transactionExternalKey` names the chargeback to reverse.
async fn chargeback_reversal(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbPath(raw_payment_id): KbPath<String>,
    query: RawQueryPairs,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    let id = parse_id(&raw_payment_id)?;
    chargeback_response(
        &state,
        &base,
        &tenant,
        &context,
        Some(id),
        query,
        body,
        true,
    )
    .await
}

/// `POST /1.0/kb/payments/chargebackReversals`: by the body's `paymentExternalKey`.
async fn chargeback_reversal_by_key(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    query: RawQueryPairs,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    chargeback_response(&state, &base, &tenant, &context, None, query, body, true).await
}

/// A completion of the payment `id` names (else the body's key): the body (optional) names
/// the transaction; query and body plugin properties go to the plugin. 204 unless refused.
async fn complete_response(
    state: &AppState,
    tenant: &Tenant,
    context: &CallContext,
    id: Option<Uuid>,
    query: RawQueryPairs,
    body: Option<PaymentTransactionInputJson>,
) -> Result<Response> {
    let params = QueryPairs::from(query);
    let body = body.unwrap_or_default();
    let payment = match id {
        Some(id) => PaymentRef::Id(id),
        None => PaymentRef::ExternalKey(
            body.payment_external_key
                .clone()
                .ok_or_else(|| ApiError::InvalidParameter(PAYMENT_REFERENCE_NEEDED.to_string()))?,
        ),
    };
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
            tenant,
            payment,
            filter,
            body.amount.map(|amount| amount.0),
            body.currency,
            properties,
            context,
        )
        .await
        .map_err(|error| resolved(id, error.into()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /1.0/kb/payments/{paymentId}`.
async fn complete(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    KbPath(raw_payment_id): KbPath<String>,
    query: RawQueryPairs,
    OptionalKbJson(body): OptionalKbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    let id = parse_id(&raw_payment_id)?;
    complete_response(&state, &tenant, &context, Some(id), query, body).await
}

/// `PUT /1.0/kb/payments`: by the body's `paymentExternalKey`.
async fn complete_by_key(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    query: RawQueryPairs,
    OptionalKbJson(body): OptionalKbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    complete_response(&state, &tenant, &context, None, query, body).await
}

/// `DELETE /1.0/kb/payments/{paymentTransactionId}/cancelScheduledPaymentTransaction`.
async fn cancel_scheduled_by_id(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(_context): WriteContext,
    KbPath(raw_transaction_id): KbPath<String>,
) -> Result<Response> {
    let id = parse_id(&raw_transaction_id)?;
    state
        .payments
        .cancel_scheduled(&tenant, TransactionRefForCancel::Id(id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /1.0/kb/payments/cancelScheduledPaymentTransaction?transactionExternalKey=`.
async fn cancel_scheduled_by_key(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(_context): WriteContext,
    query: RawQueryPairs,
) -> Result<Response> {
    let params = QueryPairs::from(query);
    let key = params.value("transactionExternalKey");
    state
        .payments
        .cancel_scheduled(&tenant, TransactionRefForCancel::ExternalKey(key))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /1.0/kb/payments/{paymentId}/auditLogsWithHistory`.
async fn get_payment_audit_logs_with_history(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_payment_id): KbPath<String>,
) -> Result<Response> {
    let id = parse_id(&raw_payment_id)?;
    let logs = state
        .payments
        .payment_audit_logs_with_history(&tenant, id)
        .await?;
    Ok(Json(audit_logs_with_history_json("PAYMENT", id, logs)).into_response())
}

/// `GET /1.0/kb/payments/attempts/{paymentAttemptId}/auditLogsWithHistory`.
async fn get_attempt_audit_logs_with_history(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_attempt_id): KbPath<String>,
) -> Result<Response> {
    let id = parse_id(&raw_attempt_id)?;
    let logs = state
        .payments
        .attempt_audit_logs_with_history(&tenant, id)
        .await?;
    Ok(Json(audit_logs_with_history_json("PAYMENT_ATTEMPT", id, logs)).into_response())
}

/// Kill Bill's ComboPaymentTransactionJson.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ComboPaymentTransactionJson {
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

impl JsonBody for ComboPaymentTransactionJson {
    const NAME: &'static str = "ComboPaymentTransactionJson";
    const JAVA_TYPE: &'static str = "org.killbill.billing.jaxrs.json.ComboPaymentTransactionJson";
}

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
async fn create_combo_payment(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
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
