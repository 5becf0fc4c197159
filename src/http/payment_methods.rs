//! Kill Bill's payment method endpoints (api.md §3): adding, listing and refreshing an account's
//! methods and choosing its default (AccountResource), reading and deleting one method, paging
//! and searching the tenant's (PaymentMethodResource), with PaymentMethodJson exactly as Kill
//! Bill writes it.
//!
//! This file owns the wire shape and the query parameters (`isDefault`, `withPluginInfo`,
//! `includedDeleted`, `audit`, the repeatable `pluginProperty=k=v`). It must never hold SQL or a
//! business rule: those are `service::payment_methods`'s.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{audit_logs_json, AuditLogJson};
use super::error::Result;
use super::extract::{
    kill_bill_json_body, parse_id, BaseUrl, CurrentTenant, KbJson, KbPath, OptionalKbPath,
    QueryPairs, TenantWrite,
};
use super::lenient;
use super::paging::{page_request, Listing};
use super::respond::created;
use super::AppState;
use crate::plugin::{PaymentMethodPlugin, PluginProperty};
use crate::service::payment_methods::{
    DeleteFlags, MethodListing, MethodRef, PaymentMethodInput, PaymentMethodView, ReadOptions,
};

/// Kill Bill's ObjectType of a payment method, in its audit logs.
const PAYMENT_METHOD_OBJECT_TYPE: &str = "PAYMENT_METHOD";

/// Kill Bill's PluginPropertyJson.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PluginPropertyJson {
    #[serde(default, deserialize_with = "lenient::string")]
    key: Option<String>,
    #[serde(default, deserialize_with = "property_value")]
    value: Option<String>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    is_updatable: Option<bool>,
}

/// Kill Bill's PluginPropertyJson `value` is a Java `Object`, so clients send card numbers and
/// expiration months as JSON numbers as often as strings. Numbers and booleans become their
/// JSON text (`4242424242424242` → `"4242424242424242"`: serde_json keeps every integer up to
/// 20 digits exact); objects and arrays, which no plugin property holds, are refused.
fn property_value<'de, D>(deserializer: D) -> std::result::Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde_json::Value;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(Value::Array(_) | Value::Object(_)) => Err(serde::de::Error::custom(
            "a plugin property value must be a string, a number or a boolean",
        )),
    }
}

/// Kill Bill's PaymentMethodPluginDetailJson (`pluginInfo`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PluginInfoJson {
    #[serde(default, deserialize_with = "lenient::string")]
    external_payment_method_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    is_default_payment_method: Option<bool>,
    #[serde(default)]
    properties: Option<Vec<PluginPropertyJson>>,
}

impl From<PluginInfoJson> for PaymentMethodPlugin {
    fn from(json: PluginInfoJson) -> Self {
        PaymentMethodPlugin {
            external_payment_method_id: json.external_payment_method_id,
            is_default_payment_method: json.is_default_payment_method.unwrap_or(false),
            properties: json
                .properties
                .unwrap_or_default()
                .into_iter()
                .map(|property| PluginProperty {
                    key: property.key.unwrap_or_default(),
                    value: property.value,
                    is_updatable: property.is_updatable.unwrap_or(false),
                })
                .collect(),
        }
    }
}

impl From<PaymentMethodPlugin> for PluginInfoJson {
    fn from(plugin: PaymentMethodPlugin) -> Self {
        PluginInfoJson {
            external_payment_method_id: plugin.external_payment_method_id,
            is_default_payment_method: Some(plugin.is_default_payment_method),
            properties: Some(
                plugin
                    .properties
                    .into_iter()
                    .map(|property| PluginPropertyJson {
                        key: Some(property.key),
                        value: property.value,
                        is_updatable: Some(property.is_updatable),
                    })
                    .collect(),
            ),
        }
    }
}

/// Kill Bill's PaymentMethodJson as a request body. `paymentMethodId`, `accountId`,
/// `isDefault` and `auditLogs` are accepted and ignored, as Kill Bill does (the default comes
/// from the `isDefault` query parameter).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PaymentMethodInputJson {
    /// Ignored by an addition; the combo calls find the method by it.
    #[serde(default, rename = "paymentMethodId")]
    pub(super) payment_method_id: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient::string")]
    external_key: Option<String>,
    #[serde(default, rename = "accountId")]
    _account_id: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "isDefault")]
    _is_default: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "lenient::string")]
    plugin_name: Option<String>,
    #[serde(default)]
    plugin_info: Option<PluginInfoJson>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

impl From<PaymentMethodInputJson> for PaymentMethodInput {
    fn from(json: PaymentMethodInputJson) -> Self {
        PaymentMethodInput {
            external_key: json.external_key,
            plugin_name: json.plugin_name,
            plugin_info: json.plugin_info.map(Into::into),
        }
    }
}

kill_bill_json_body!(PaymentMethodInputJson, "PaymentMethodJson");

/// Kill Bill's PaymentMethodJson as a response, fields in Kill Bill's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentMethodJson {
    payment_method_id: Uuid,
    external_key: String,
    account_id: Uuid,
    is_default: bool,
    plugin_name: String,
    plugin_info: Option<PluginInfoJson>,
    audit_logs: Vec<AuditLogJson>,
}

impl From<PaymentMethodView> for PaymentMethodJson {
    fn from(view: PaymentMethodView) -> Self {
        PaymentMethodJson {
            payment_method_id: view.method.id,
            external_key: view.method.external_key,
            account_id: view.method.account_id,
            is_default: view.is_default,
            plugin_name: view.method.plugin_name,
            plugin_info: view.plugin_info.map(Into::into),
            audit_logs: audit_logs_json(
                PAYMENT_METHOD_OBJECT_TYPE,
                view.method.id,
                view.audit_logs,
            ),
        }
    }
}

/// The read parameters: `includedDeleted`, `withPluginInfo`, `audit` (404 when it names no
/// AuditLevel), with `properties` for the plugin.
fn read_options<'a>(
    params: &QueryPairs,
    properties: &'a [PluginProperty],
) -> Result<ReadOptions<'a>> {
    Ok(ReadOptions {
        include_deleted: params.flag("includedDeleted"),
        with_plugin_info: params.flag("withPluginInfo"),
        properties,
        audit: params.audit()?,
    })
}

/// `POST /1.0/kb/accounts/{accountId}/paymentMethods` → 201 with the method's absolute
/// `Location`.
pub(super) async fn create_payment_method(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_account_id): KbPath<String>,
    params: QueryPairs,
    KbJson(body): KbJson<PaymentMethodInputJson>,
) -> Result<Response> {
    let account_id = parse_id(&raw_account_id)?;
    let input = PaymentMethodInput {
        external_key: body.external_key,
        plugin_name: body.plugin_name,
        plugin_info: body.plugin_info.map(Into::into),
    };
    let method = state
        .payment_methods
        .add(
            &tenant,
            account_id,
            input,
            params.flag("isDefault"),
            &params.plugin_properties(),
            &context,
        )
        .await?;
    let location = format!("{base}/1.0/kb/paymentMethods/{}", method.id);
    Ok(created(location))
}

/// `GET /1.0/kb/accounts/{accountId}/paymentMethods`.
pub(super) async fn list_payment_methods(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_account_id): KbPath<String>,
    params: QueryPairs,
) -> Result<Json<Vec<PaymentMethodJson>>> {
    let account_id = parse_id(&raw_account_id)?;
    let properties = params.plugin_properties();
    let views = state
        .payment_methods
        .list_for_account(&tenant, account_id, read_options(&params, &properties)?)
        .await?;
    Ok(Json(views.into_iter().map(Into::into).collect()))
}

/// `GET /1.0/kb/paymentMethods/{paymentMethodId}`, and
/// `GET /1.0/kb/paymentMethods?externalKey=`: a missing key is looked up as Kill Bill's `null`.
pub(super) async fn get_payment_method(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    path: OptionalKbPath,
    params: QueryPairs,
) -> Result<Json<PaymentMethodJson>> {
    let id = path.id()?;
    let properties = params.plugin_properties();
    let options = read_options(&params, &properties)?;
    let reference = match id {
        Some(id) => MethodRef::Id(id),
        None => MethodRef::ExternalKey(params.value("externalKey").unwrap_or("null")),
    };
    let view = state
        .payment_methods
        .find(&tenant, reference, options)
        .await?;
    Ok(Json(view.into()))
}

/// `DELETE /1.0/kb/paymentMethods/{paymentMethodId}` → 204 (a soft delete).
pub(super) async fn delete_payment_method(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_id): KbPath<String>,
    params: QueryPairs,
) -> Result<StatusCode> {
    let id = parse_id(&raw_id)?;
    let flags = DeleteFlags {
        delete_default_with_auto_pay_off: params.flag("deleteDefaultPmWithAutoPayOff"),
        force_default_deletion: params.flag("forceDefaultPmDeletion"),
    };
    state
        .payment_methods
        .delete(&tenant, id, flags, &params.plugin_properties(), &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/paymentMethods/pagination?offset=0&limit=100&pluginName=&withPluginInfo=false`
/// and `GET /1.0/kb/paymentMethods/search/{searchKey}?offset=0&limit=100&pluginName=`; the next
/// page's URI echoes `pluginName` (empty when absent) and `audit`.
pub(super) async fn list_payment_methods_page(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    listing: Listing,
    params: QueryPairs,
) -> Result<Response> {
    let request = page_request(&params)?;
    let properties = params.plugin_properties();
    let options = read_options(&params, &properties)?;
    // JAX-RS reads an empty `pluginName` as none, as Kill Bill's isNullOrEmpty does.
    let plugin_name = params.value("pluginName").filter(|name| !name.is_empty());
    let methods = match listing.search.as_deref() {
        Some(key) => MethodListing::Search { key, plugin_name },
        None => MethodListing::All { plugin_name },
    };
    let page = state
        .payment_methods
        .page(&tenant, methods, request, options)
        .await?;
    let echoed = vec![("pluginName", plugin_name.unwrap_or_default().to_string())];
    listing.respond(
        page.map(PaymentMethodJson::from),
        request.limit,
        echoed,
        options.audit,
    )
}

/// `PUT /1.0/kb/accounts/{accountId}/paymentMethods/refresh?pluginName=` → 204.
pub(super) async fn refresh_payment_methods(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_account_id): KbPath<String>,
    params: QueryPairs,
) -> Result<StatusCode> {
    let account_id = parse_id(&raw_account_id)?;
    let plugin_name = params.value("pluginName").filter(|name| !name.is_empty());
    state
        .payment_methods
        .refresh(
            &tenant,
            account_id,
            plugin_name,
            &params.plugin_properties(),
            &context,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /1.0/kb/accounts/{accountId}/paymentMethods/{paymentMethodId}/setDefault` → 204.
pub(super) async fn set_default_payment_method(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath((raw_account_id, raw_id)): KbPath<(String, String)>,
    params: QueryPairs,
) -> Result<StatusCode> {
    let account_id = parse_id(&raw_account_id)?;
    let id = parse_id(&raw_id)?;
    state
        .payment_methods
        .set_default(
            &tenant,
            account_id,
            id,
            &params.plugin_properties(),
            &context,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::fuzz::{client_error, parse_query, query, CASES};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// `pluginProperty`, the booleans and the audit level: values or a 4xx, never a
        /// panic.
        #[test]
        fn read_queries_parse_or_are_refused_with_a_4xx(
            text in query(&["pluginProperty", "includedDeleted", "withPluginInfo", "audit", "isDefault"])
        ) {
            let Some(parsed) = parse_query::<Vec<(String, String)>>(&text) else {
                return Ok(());
            };
            let params = QueryPairs::from(parsed);
            let properties = params.plugin_properties();
            prop_assert!(properties.len() <= params.0.len());
            let _ = params.flag("isDefault");
            if let Err(error) = read_options(&params, &properties) {
                client_error(error)?;
            }
        }
    }

    fn params(pairs: &[(&str, &str)]) -> QueryPairs {
        QueryPairs(
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        )
    }

    #[test]
    fn property_values_may_be_numbers_or_booleans() {
        let info: PluginInfoJson = serde_json::from_value(serde_json::json!({
            "properties": [
                { "key": "ccNumber", "value": 4242424242424242u64 },
                { "key": "ccExpirationMonth", "value": 12 },
                { "key": "amount", "value": 12.5 },
                { "key": "flag", "value": true },
                { "key": "ccFirstName", "value": "Ada" },
                { "key": "none", "value": null },
                { "key": "absent" }
            ]
        }))
        .expect("numbers and booleans are accepted");
        let values: Vec<Option<String>> = PaymentMethodPlugin::from(info)
            .properties
            .into_iter()
            .map(|property| property.value)
            .collect();
        let expected = [
            Some("4242424242424242"),
            Some("12"),
            Some("12.5"),
            Some("true"),
            Some("Ada"),
            None,
            None,
        ];
        assert_eq!(
            values,
            expected.map(|value| value.map(str::to_string)).to_vec()
        );
        let nested = serde_json::from_value::<PluginInfoJson>(serde_json::json!({
            "properties": [{ "key": "k", "value": { "a": 1 } }]
        }));
        assert!(nested.is_err());
    }

    #[test]
    fn plugin_properties_split_at_the_first_equals_sign() {
        let params = params(&[
            ("pluginProperty", "token=a=b"),
            ("isDefault", "TRUE"),
            ("pluginProperty", "flag"),
        ]);
        let properties = params.plugin_properties();
        assert_eq!(properties.len(), 2);
        assert_eq!(properties[0].key, "token");
        assert_eq!(properties[0].value.as_deref(), Some("a=b"));
        assert_eq!(properties[1].key, "flag");
        assert_eq!(properties[1].value, None);
        assert!(params.flag("isDefault"));
        assert!(!params.flag("withPluginInfo"));
    }
}
