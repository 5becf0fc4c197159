//! `/1.0/kb/paymentGateways`: Kill Bill's PaymentGatewayResource: hosted payment page form
//! descriptors (for an account, and the combo form that finds or creates the account and
//! method first) and gateway notifications (`processNotification`, answered as the plugin
//! says: status, headers, body). Also the simulated gateway's checkout page the form points
//! at, outside `/1.0/kb` as a Kill Bill plugin's servlet is (docs/gateway.md).
//!
//! This file owns the handlers' parameters and wire shapes only; the rules are
//! `service::payment_gateways`'s. It never holds SQL.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::AccountInputJson;
use super::error::Result;
use super::extract::{
    kill_bill_json_body, parse_id, BaseUrl, KbJson, KbPath, QueryPairs, TenantWrite,
};
use super::payment_methods::PaymentMethodInputJson;
use super::payment_operations::{combo_account, combo_method, properties};
use super::payments::PluginPropertyJson;
use super::AppState;
use crate::plugin::{FormDescriptor, PluginProperty};
use crate::service::payment_gateways::HostedPageRequest;

/// Kill Bill's HostedPaymentPageFieldsJson.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct HostedPaymentPageFieldsJson {
    #[serde(default)]
    form_fields: Option<Vec<PluginPropertyJson>>,
}

kill_bill_json_body!(HostedPaymentPageFieldsJson, "HostedPaymentPageFieldsJson");

/// Kill Bill's ComboHostedPaymentPageJson.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ComboHostedPaymentPageJson {
    #[serde(default)]
    account: Option<AccountInputJson>,
    #[serde(default)]
    payment_method: Option<PaymentMethodInputJson>,
    #[serde(default)]
    hosted_payment_page_fields: Option<HostedPaymentPageFieldsJson>,
    #[serde(default)]
    payment_method_plugin_properties: Option<Vec<PluginPropertyJson>>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

kill_bill_json_body!(ComboHostedPaymentPageJson, "ComboHostedPaymentPageJson");

/// Kill Bill's HostedPaymentPageFormDescriptorJson: properties as JSON objects.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HostedPaymentPageFormDescriptorJson {
    kb_account_id: Uuid,
    form_method: Option<String>,
    form_url: Option<String>,
    form_fields: BTreeMap<String, Option<String>>,
    properties: BTreeMap<String, Option<String>>,
    audit_logs: Vec<serde_json::Value>,
}

fn as_map(properties: Vec<PluginProperty>) -> BTreeMap<String, Option<String>> {
    properties
        .into_iter()
        .map(|property| (property.key, property.value))
        .collect()
}

impl From<FormDescriptor> for HostedPaymentPageFormDescriptorJson {
    fn from(descriptor: FormDescriptor) -> Self {
        HostedPaymentPageFormDescriptorJson {
            kb_account_id: descriptor.kb_account_id,
            form_method: descriptor.form_method,
            form_url: descriptor.form_url,
            form_fields: as_map(descriptor.form_fields),
            properties: as_map(descriptor.properties),
            audit_logs: Vec::new(),
        }
    }
}

/// `POST /1.0/kb/paymentGateways/hosted/form/{accountId}`.
pub(super) async fn build_form_descriptor(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, .. }: TenantWrite,
    KbPath(raw_account_id): KbPath<String>,
    params: QueryPairs,
    KbJson(body): KbJson<HostedPaymentPageFieldsJson>,
) -> Result<Response> {
    let account_id = parse_id(&raw_account_id)?;
    let payment_method_id = params.value("paymentMethodId").map(parse_id).transpose()?;
    let form_fields = properties(body.form_fields);
    let plugin_properties = params.plugin_properties();
    let descriptor = state
        .payment_gateways
        .build_form_descriptor(
            &tenant,
            account_id,
            payment_method_id,
            HostedPageRequest {
                form_fields: &form_fields,
                properties: &plugin_properties,
                base_url: &base,
            },
        )
        .await?;
    Ok(Json(HostedPaymentPageFormDescriptorJson::from(descriptor)).into_response())
}

/// `POST /1.0/kb/paymentGateways/hosted/form`: the account and method as a combo payment
/// finds or creates them, then the form.
pub(super) async fn build_combo_form_descriptor(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    params: QueryPairs,
    KbJson(body): KbJson<ComboHostedPaymentPageJson>,
) -> Result<Response> {
    let account = combo_account(body.account)?;
    let method = combo_method(body.payment_method)?;
    let form_fields = properties(body.hosted_payment_page_fields.and_then(|f| f.form_fields));
    let plugin_properties = params.plugin_properties();
    let descriptor = state
        .payment_gateways
        .build_combo_form_descriptor(
            &tenant,
            account,
            method,
            &properties(body.payment_method_plugin_properties),
            HostedPageRequest {
                form_fields: &form_fields,
                properties: &plugin_properties,
                base_url: &base,
            },
            &context,
        )
        .await?;
    Ok(Json(HostedPaymentPageFormDescriptorJson::from(descriptor)).into_response())
}

/// `POST /1.0/kb/paymentGateways/notification/{pluginName}`: the body is the gateway's, opaque
/// here (any content type); an empty one is the request's query string, as in Kill Bill.
pub(super) async fn process_notification(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(plugin_name): KbPath<String>,
    params: QueryPairs,
    RawQuery(raw_query): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let text = String::from_utf8_lossy(&body).into_owned();
    let notification = if text.trim().is_empty() {
        raw_query.unwrap_or_default()
    } else {
        text
    };
    let answer = state
        .payment_gateways
        .process_notification(
            &tenant,
            &plugin_name,
            &notification,
            &params.plugin_properties(),
            &context,
        )
        .await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = match answer.entity {
        Some(entity) => (status, entity).into_response(),
        None => status.into_response(),
    };
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The simulated gateway's checkout page: what a customer sent there by the form descriptor
/// sees. It shows the session; the simulated gateway learns the customer's answer from the
/// test (or operator) posting a notification, as a real gateway's webhook would.
pub(super) async fn checkout_page(RawQuery(raw_query): RawQuery, body: Bytes) -> Response {
    let fields = if body.is_empty() {
        raw_query.unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let rows: String = fields
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                crate::html::escape(key),
                crate::html::escape(value)
            )
        })
        .collect();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Simulated checkout</title>\
         </head><body><h1>Simulated checkout (ferrobill-gateway)</h1>\
         <p>No card is taken here. The gateway settles the payment when it is notified: \
         <code>POST /1.0/kb/paymentGateways/notification/ferrobill-gateway</code> with \
         <code>{{\"kbPaymentId\": …, \"kbTransactionId\": …, \"status\": \"PROCESSED\"}}</code> \
         (docs/gateway.md).</p><table>{rows}</table></body></html>"
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
