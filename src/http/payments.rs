//! `/1.0/kb/payments` and `/1.0/kb/accounts/{accountId}/payments`: Kill Bill's PaymentResource
//! and the account's payment endpoints (api.md §4), with PaymentJson and PaymentTransactionJson
//! as Kill Bill writes them, and each outcome answered as Kill Bill's `createPaymentResponse`
//! does: 201 for SUCCESS and PENDING, 402, 502 or 503 with Kill Bill's error JSON otherwise,
//! all with the payment's Location (`/1.0/kb/payments/{id}/`, trailing slash included).
//!
//! This file owns the wire shapes and the query parameters. It must never hold SQL or a rule
//! of the state machine: those are `service::payments`'s.

use std::str::FromStr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{audit_logs_json, kill_bill_date_time, parse_audit_level, AuditLogJson};
use super::error::{ApiError, Result};
use super::extract::{
    kill_bill_json_body, parse_id, BaseUrl, CurrentTenant, KbJson, KbPath, OptionalKbPath,
    QueryPairs, TenantWrite,
};
use super::lenient;
use super::paging::{page_request, Listing};
use super::respond::created;
use super::AppState;
use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::plugin::{PaymentTransactionInfo, PluginProperty};
use crate::service::payments::money::rounded;
use crate::service::payments::{
    AccountRef, OperationResult, PaymentRef, PaymentRequest, PaymentView, ReadOptions, Target,
    Transaction,
};
use crate::service::{Page, ServiceError};

/// Kill Bill's refusal of an operation by key without a key.
pub(super) const PAYMENT_REFERENCE_NEEDED: &str =
    "Need to set either paymentId or payment externalKey";

/// A JSON amount: a number or a numeric string, read exactly (no float on the way); an empty
/// string is no amount, as Jackson reads a `BigDecimal`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Amount(pub(super) Decimal);

fn amount<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Amount>, D::Error> {
    use serde::de::Error;
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    let text = match &value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Number(number)) => number.to_string(),
        Some(serde_json::Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(serde_json::Value::String(text)) => text.trim().to_string(),
        Some(other) => return Err(lenient::mismatched("java.math.BigDecimal", other)),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(|decimal| Some(Amount(decimal)))
        .map_err(|_| {
            D::Error::custom(format!(
                "{}Cannot deserialize value of type `java.math.BigDecimal` from String \"{text}\": not a valid representation",
                lenient::INVALID_FORMAT
            ))
        })
}

/// Kill Bill's PluginPropertyJson; `value` may be any JSON and is passed on as text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PluginPropertyJson {
    #[serde(default, deserialize_with = "lenient::string")]
    key: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    is_updatable: Option<bool>,
}

impl From<PluginPropertyJson> for PluginProperty {
    fn from(json: PluginPropertyJson) -> Self {
        PluginProperty {
            key: json.key.unwrap_or_default(),
            value: json.value.and_then(|value| match value {
                serde_json::Value::Null => None,
                serde_json::Value::String(text) => Some(text),
                other => Some(other.to_string()),
            }),
            is_updatable: json.is_updatable.unwrap_or(false),
        }
    }
}

/// Kill Bill's PaymentTransactionJson as a request body. Output-only fields are accepted and
/// ignored, an explicit `null` is an absent field, unknown fields are a 400.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PaymentTransactionInputJson {
    #[serde(default, deserialize_with = "lenient::uuid")]
    pub(super) transaction_id: Option<Uuid>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub(super) transaction_external_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::uuid")]
    pub(super) payment_id: Option<Uuid>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub(super) payment_external_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::transaction_type")]
    pub(super) transaction_type: Option<String>,
    #[serde(default, deserialize_with = "amount")]
    pub(super) amount: Option<Amount>,
    #[serde(default, deserialize_with = "lenient::currency")]
    pub(super) currency: Option<String>,
    #[serde(default, deserialize_with = "lenient::date_time")]
    pub(super) effective_date: Option<DateTime<Utc>>,
    #[serde(default, rename = "processedAmount")]
    _processed_amount: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "processedCurrency")]
    _processed_currency: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub(super) status: Option<String>,
    #[serde(default, rename = "gatewayErrorCode")]
    _gateway_error_code: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "gatewayErrorMsg")]
    _gateway_error_msg: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "firstPaymentReferenceId")]
    _first_payment_reference_id: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "secondPaymentReferenceId")]
    _second_payment_reference_id: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub(super) properties: Option<Vec<PluginPropertyJson>>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

kill_bill_json_body!(PaymentTransactionInputJson, "PaymentTransactionJson");

/// `withPluginInfo` and `audit` (an unknown audit level is a 404, as JAX-RS answers).
pub(super) fn read_options(params: &QueryPairs) -> Result<ReadOptions> {
    Ok(ReadOptions {
        with_plugin_info: params.flag("withPluginInfo"),
        audit: parse_audit_level(params.value("audit"))?,
    })
}

/// The operation a body asks for, with `fixed` as its type when the endpoint decides it.
pub(super) fn request_from(
    body: PaymentTransactionInputJson,
    fixed: Option<TransactionType>,
    query_properties: Vec<PluginProperty>,
    payment_method_id: Option<Uuid>,
) -> Result<PaymentRequest> {
    let transaction_type = match fixed {
        Some(kind) => kind,
        None => {
            let name = body.transaction_type.ok_or_else(|| {
                ApiError::InvalidParameter(
                    "PaymentTransactionJson transactionType needs to be set".to_string(),
                )
            })?;
            // The JSON layer only lets Kill Bill's constants through.
            TransactionType::parse(&name).ok_or_else(|| {
                ApiError::InvalidParameter(format!("Invalid transactionType {name}"))
            })?
        }
    };
    // Kill Bill reads body properties on follow-ups only; new payments take the query's.
    let mut properties = query_properties;
    if fixed.is_some() {
        properties.extend(body.properties.into_iter().flatten().map(Into::into));
    }
    Ok(PaymentRequest {
        amount: body.amount.map(|amount| amount.0),
        currency: body.currency,
        effective_date: body.effective_date,
        payment_external_key: body.payment_external_key,
        transaction_external_key: body.transaction_external_key,
        payment_method_id,
        properties,
        ..PaymentRequest::of(transaction_type)
    })
}

/// The response to an operation (Kill Bill's createPaymentResponse).
pub(super) fn operation_response(base: &str, result: OperationResult) -> Result<Response> {
    let location = format!("{base}/1.0/kb/payments/{}/", result.payment.id);
    let failure = match result.status {
        TransactionStatus::Success | TransactionStatus::Pending => return Ok(created(location)),
        TransactionStatus::PaymentFailure => (
            StatusCode::PAYMENT_REQUIRED,
            "Payment decline by gateway. Error message: ",
        ),
        TransactionStatus::PluginFailure => (
            StatusCode::BAD_GATEWAY,
            "Failed to submit payment transaction",
        ),
        TransactionStatus::Unknown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Payment in unknown status, failed to receive gateway response",
        ),
    };
    let message = match result.status {
        TransactionStatus::PaymentFailure => {
            let gateway = result
                .transaction
                .gateway_error_msg
                .clone()
                .unwrap_or_else(|| "null".to_string());
            format!("{}{gateway}", failure.1)
        }
        _ => failure.1.to_string(),
    };
    Err(ApiError::PaymentNotSucceeded {
        status: failure.0,
        message,
        location,
    })
}

/// New payments on an account take AUTHORIZE, PURCHASE and CREDIT only (else Kill Bill's 412).
fn account_payment_request(
    body: PaymentTransactionInputJson,
    params: &QueryPairs,
) -> Result<PaymentRequest> {
    let payment_method_id = params.value("paymentMethodId").map(parse_id).transpose()?;
    let request = request_from(body, None, params.plugin_properties(), payment_method_id)?;
    match request.transaction_type {
        TransactionType::Authorize | TransactionType::Purchase | TransactionType::Credit => {
            Ok(request)
        }
        other => Err(ServiceError::TransactionTypeNotAllowed(other.as_str().to_string()).into()),
    }
}

/// `POST /1.0/kb/accounts/{accountId}/payments`, and `POST /1.0/kb/accounts/payments?externalKey=`
/// for the account with that key.
pub(super) async fn create_account_payment(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    path: OptionalKbPath,
    params: QueryPairs,
    KbJson(body): KbJson<PaymentTransactionInputJson>,
) -> Result<Response> {
    let account = match path.id()? {
        Some(id) => AccountRef::Id(id),
        // Kill Bill looks the account up by the missing key, as the text "null".
        None => AccountRef::ExternalKey(params.value("externalKey").unwrap_or("null").to_string()),
    };
    let request = account_payment_request(body, &params)?;
    let result = state
        .payments
        .perform(&tenant, Target::Account(account), request, &context)
        .await?;
    operation_response(&base, result)
}

/// Kill Bill resolves a payment id of the path before its payment API runs: an id no payment
/// of the tenant has is ObjectDoesNotExist there (PAYMENT_NO_SUCH_PAYMENT is for keys).
pub(super) fn resolved(id: Option<Uuid>, error: ApiError) -> ApiError {
    match (id, error) {
        (Some(id), ApiError::Service(ServiceError::PaymentNotFound { id: missing }))
            if missing == id.to_string() =>
        {
            ApiError::Service(ServiceError::ObjectNotFound {
                object_type: "PAYMENT",
                id,
            })
        }
        (_, other) => other,
    }
}

/// `GET /1.0/kb/payments/{paymentId}`, and `GET /1.0/kb/payments?externalKey=`.
pub(super) async fn get_payment(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    path: OptionalKbPath,
    params: QueryPairs,
) -> Result<Json<PaymentJson>> {
    let id = path.id()?;
    let payment = match id {
        Some(id) => PaymentRef::Id(id),
        None => PaymentRef::ExternalKey(
            params
                .value("externalKey")
                .ok_or_else(|| {
                    ApiError::InvalidParameter(
                        "Payment externalKey needs to be specified".to_string(),
                    )
                })?
                .to_string(),
        ),
    };
    let view = state
        .payments
        .find(&tenant, payment, read_options(&params)?)
        .await
        .map_err(|error| resolved(id, error.into()))?;
    Ok(Json(PaymentJson::from_view(
        view,
        params.flag("withAttempts"),
    )))
}

/// `GET /1.0/kb/accounts/{accountId}/payments`.
pub(super) async fn list_account_payments(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_account_id): KbPath<String>,
    params: QueryPairs,
) -> Result<Response> {
    let account_id = parse_id(&raw_account_id)?;
    let views = state
        .payments
        .list_for_account(&tenant, account_id, read_options(&params)?)
        .await?;
    let with_attempts = params.flag("withAttempts");
    let body: Vec<PaymentJson> = views
        .into_iter()
        .map(|view| PaymentJson::from_view(view, with_attempts))
        .collect();
    Ok(Json(body).into_response())
}

/// `GET /1.0/kb/payments/pagination` and `GET /1.0/kb/payments/search/{searchKey}`.
pub(super) async fn list_payments(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    listing: Listing,
    params: QueryPairs,
) -> Result<Response> {
    let request = page_request(&params)?;
    let options = read_options(&params)?;
    let with_attempts = params.flag("withAttempts");
    let (views, matching, total) = state
        .payments
        .page(
            &tenant,
            listing.search.as_deref(),
            request.offset,
            request.limit,
            options,
        )
        .await?;
    let body: Vec<PaymentJson> = views
        .into_iter()
        .map(|view| PaymentJson::from_view(view, with_attempts))
        .collect();
    // PaymentResource's nextPage: the plugin filter (echoed, empty when absent) and the
    // audit level; `withPluginInfo` and `withAttempts` are not carried over.
    let plugin_name = params.value("pluginName").unwrap_or_default().to_string();
    let page = Page::new(body, request, matching, total);
    listing.respond(
        page,
        request.limit,
        vec![("pluginName", plugin_name)],
        options.audit,
    )
}

/// An amount on the wire: a JSON number rounded to the currency's minor units.
fn amount_json(amount: Decimal, currency: Option<&str>) -> serde_json::Value {
    let rounded = rounded(amount, currency);
    rounded
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Kill Bill's PluginPropertyJson on the way out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginPropertyOutJson {
    key: String,
    value: Option<String>,
    is_updatable: bool,
}

/// Kill Bill's PaymentTransactionJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentTransactionJson {
    transaction_id: Uuid,
    transaction_external_key: String,
    payment_id: Uuid,
    payment_external_key: String,
    transaction_type: &'static str,
    amount: serde_json::Value,
    currency: Option<String>,
    #[serde(serialize_with = "kill_bill_date_time")]
    effective_date: DateTime<Utc>,
    processed_amount: serde_json::Value,
    processed_currency: Option<String>,
    status: &'static str,
    gateway_error_code: Option<String>,
    gateway_error_msg: Option<String>,
    first_payment_reference_id: Option<String>,
    second_payment_reference_id: Option<String>,
    properties: Option<Vec<PluginPropertyOutJson>>,
    audit_logs: Vec<AuditLogJson>,
}

impl PaymentTransactionJson {
    fn from_transaction(
        transaction: Transaction,
        payment_external_key: &str,
        info: Option<&PaymentTransactionInfo>,
        with_plugin_info: bool,
        audit_logs: Vec<AuditLogJson>,
    ) -> PaymentTransactionJson {
        // Kill Bill records a VOID without amount or currency.
        let void = transaction.transaction_type == TransactionType::Void;
        let currency = transaction.currency.as_deref().filter(|_| !void);
        let processed_currency = transaction.processed_currency.as_deref().filter(|_| !void);
        let processed = transaction.status.is_success_or_pending();
        let processed_amount = if processed && !void {
            transaction.processed_amount.unwrap_or_default()
        } else {
            Decimal::ZERO
        };
        PaymentTransactionJson {
            transaction_id: transaction.id,
            transaction_external_key: transaction.external_key.clone(),
            payment_id: transaction.payment_id,
            payment_external_key: payment_external_key.to_string(),
            transaction_type: transaction.transaction_type.as_str(),
            // A VOID, and a chargeback reversal, carry no amount: Kill Bill writes null.
            amount: match transaction.amount.filter(|_| !void) {
                Some(amount) => amount_json(amount, currency),
                None => serde_json::Value::Null,
            },
            currency: currency.map(str::to_string),
            effective_date: transaction.effective_date,
            processed_amount: amount_json(processed_amount, processed_currency.or(currency)),
            processed_currency: processed_currency.map(str::to_string),
            status: transaction.status.as_str(),
            gateway_error_code: transaction.gateway_error_code.clone(),
            gateway_error_msg: transaction.gateway_error_msg.clone(),
            first_payment_reference_id: info
                .and_then(|info| info.first_payment_reference_id.clone()),
            second_payment_reference_id: info
                .and_then(|info| info.second_payment_reference_id.clone()),
            // Only what the plugin said about this transaction; nothing when it said nothing.
            properties: info.filter(|_| with_plugin_info).map(|info| {
                info.properties
                    .iter()
                    .map(|property| PluginPropertyOutJson {
                        key: property.key.clone(),
                        value: property.value.clone(),
                        is_updatable: property.is_updatable,
                    })
                    .collect()
            }),
            audit_logs,
        }
    }
}

/// Kill Bill's PaymentJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentJson {
    account_id: Uuid,
    payment_id: Uuid,
    payment_number: String,
    payment_external_key: String,
    auth_amount: serde_json::Value,
    captured_amount: serde_json::Value,
    purchased_amount: serde_json::Value,
    refunded_amount: serde_json::Value,
    credited_amount: serde_json::Value,
    currency: Option<String>,
    payment_method_id: Uuid,
    transactions: Vec<PaymentTransactionJson>,
    payment_attempts: Option<Vec<serde_json::Value>>,
    audit_logs: Vec<AuditLogJson>,
}

impl PaymentJson {
    pub(super) fn from_view(view: PaymentView, with_attempts: bool) -> PaymentJson {
        let totals = view.totals();
        let currency = view.currency().map(str::to_string);
        let currency_ref = currency.as_deref();
        let with_plugin_info = view.plugin_info.is_some();
        let infos = view.plugin_info.clone().unwrap_or_default();
        let payment = view.payment;
        let mut transaction_audit_logs = view.transaction_audit_logs;
        let transactions = view
            .transactions
            .into_iter()
            .map(|transaction| {
                let info = infos
                    .iter()
                    .find(|info| info.transaction_id == transaction.id);
                let audit_logs = audit_logs_json(
                    "TRANSACTION",
                    transaction.id,
                    transaction_audit_logs
                        .remove(&transaction.record_id)
                        .unwrap_or_default(),
                );
                PaymentTransactionJson::from_transaction(
                    transaction,
                    &payment.external_key,
                    info,
                    with_plugin_info,
                    audit_logs,
                )
            })
            .collect();
        PaymentJson {
            account_id: payment.account_id,
            payment_id: payment.id,
            payment_number: payment.record_id.to_string(),
            payment_external_key: payment.external_key.clone(),
            auth_amount: amount_json(totals.authorized, currency_ref),
            captured_amount: amount_json(totals.captured, currency_ref),
            purchased_amount: amount_json(totals.purchased, currency_ref),
            refunded_amount: amount_json(totals.refunded, currency_ref),
            credited_amount: amount_json(totals.credited, currency_ref),
            currency,
            payment_method_id: payment.payment_method_id,
            transactions,
            // ferrobill has no payment control plugins, hence no attempts to show.
            payment_attempts: with_attempts.then(Vec::new),
            audit_logs: audit_logs_json("PAYMENT", payment.id, view.audit_logs),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::fuzz::{client_error, parse_query, query, CASES};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Paging, `pluginProperty` and the booleans of the payment endpoints: values or a
        /// 4xx, never a panic.
        #[test]
        fn payment_queries_parse_or_are_refused_with_a_4xx(
            text in query(&["offset", "limit", "pluginProperty", "withPluginInfo", "withAttempts", "externalKey"])
        ) {
            let Some(parsed) = parse_query::<Vec<(String, String)>>(&text) else {
                return Ok(());
            };
            let params = QueryPairs::from(parsed);
            let properties = params.plugin_properties();
            prop_assert!(properties.len() <= params.0.len());
            let _ = (params.flag("withPluginInfo"), params.value("externalKey"));
            for (name, default) in [("offset", 0), ("limit", 100)] {
                if let Err(error) = params.long(name, default) {
                    client_error(error)?;
                }
            }
        }
    }
}
