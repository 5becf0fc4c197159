//! `/1.0/kb/tenants`: Kill Bill's TenantResource (api.md §1.6): tenants, the push-notification
//! callback, and the tenant's key-values: plugin configurations, payment state machines, the
//! per-tenant system configuration and user keys (text bodies, answered as TenantKeyValueJson).
//!
//! Creating a tenant needs Basic auth and `X-Killbill-CreatedBy` but no tenant headers; every
//! other route needs the tenant's own headers and sees only that tenant's values. `apiSecret`
//! is never returned.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{ApiError, Result};
use super::extract::{
    encode_uri_component, kill_bill_json_body, parse_id, BaseUrl, CurrentTenant, KbJson, KbPath,
    KbText, TenantWrite, WriteContext,
};
use super::lenient;
use super::respond::created;
use super::AppState;
use crate::service::push_notifications::PUSH_NOTIFICATION_CB;
use crate::service::tenant_key_values::PER_TENANT_CONFIG;
use crate::service::tenants::{NewTenant, Tenant};
use crate::service::ServiceError;

/// A plugin's configuration (`PLUGIN_CONFIG_<plugin>`), text; a new one replaces the old and
/// announces itself as TENANT_CONFIG_CHANGE.
pub(super) const PLUGIN_CONFIG_PATH: &str = "/1.0/kb/tenants/uploadPluginConfig/{name}";
/// A plugin's payment state machine (`PLUGIN_PAYMENT_STATE_MACHINE_<plugin>`), stored and
/// served as Kill Bill does without plugins; payments keep Kill Bill's default state machine.
pub(super) const STATE_MACHINE_PATH: &str =
    "/1.0/kb/tenants/uploadPluginPaymentStateMachineConfig/{name}";
/// A user key: each value posted is added to the others.
pub(super) const USER_KEY_PATH: &str = "/1.0/kb/tenants/userKeyValue/{name}";

pub(super) const PER_TENANT_CONFIG_PATH: &str = "/1.0/kb/tenants/uploadPerTenantConfig";

/// Kill Bill's TenantResource path for push notification callbacks; tenant-scoped (only the
/// exact path `/1.0/kb/tenants` is exempt from the tenant headers).
pub(super) const REGISTER_NOTIFICATION_CALLBACK: &str =
    "/1.0/kb/tenants/registerNotificationCallback";

/// Kill Bill's TenantJson. On input `tenantId` and `auditLogs` are accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantInputJson {
    #[serde(default, rename = "tenantId")]
    _tenant_id: Option<serde::de::IgnoredAny>,
    #[serde(default, deserialize_with = "lenient::string")]
    external_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    api_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    api_secret: Option<String>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

kill_bill_json_body!(TenantInputJson, "TenantJson");

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantJson {
    tenant_id: Uuid,
    external_key: Option<String>,
    api_key: String,
    /// Always null: the secret is stored hashed and never read back.
    api_secret: Option<String>,
    audit_logs: Vec<serde_json::Value>,
}

impl From<Tenant> for TenantJson {
    fn from(tenant: Tenant) -> Self {
        TenantJson {
            tenant_id: tenant.id,
            external_key: tenant.external_key,
            api_key: tenant.api_key,
            api_secret: None,
            audit_logs: Vec::new(),
        }
    }
}

/// `POST /1.0/kb/tenants` → 201 with an empty body and the new tenant's `Location`.
pub(super) async fn create_tenant(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    WriteContext(context): WriteContext,
    KbJson(body): KbJson<TenantInputJson>,
) -> Result<Response> {
    let tenant = state
        .tenants
        .create(
            NewTenant {
                api_key: body.api_key,
                api_secret: body.api_secret,
                external_key: body.external_key,
            },
            &context,
        )
        .await?;
    let location = format!("{base}/1.0/kb/tenants/{}", tenant.id);
    Ok(created(location))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApiKeyQuery {
    api_key: Option<String>,
}

/// `GET /1.0/kb/tenants?apiKey=`: needs Basic auth only, as in Kill Bill.
pub(super) async fn get_tenant_by_api_key(
    State(state): State<AppState>,
    query: std::result::Result<Query<ApiKeyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TenantJson>> {
    let api_key = query
        .ok()
        .and_then(|Query(query)| query.api_key)
        .unwrap_or_else(|| "null".to_string());
    let tenant = state.tenants.find_by_api_key(&api_key).await?;
    Ok(Json(tenant.into()))
}

/// `GET /1.0/kb/tenants/{tenantId}`. Unlike Kill Bill, another tenant's id answers 404: a
/// caller only ever sees its own tenant (docs/compatibility.md).
pub(super) async fn get_tenant(
    State(state): State<AppState>,
    CurrentTenant(current): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
) -> Result<Json<TenantJson>> {
    let id = parse_id(&raw_id)?;
    if id != current.id {
        return Err(ApiError::Service(ServiceError::TenantNotFoundForId { id }));
    }
    let tenant = state.tenants.find_by_id(id).await?;
    Ok(Json(tenant.into()))
}

/// Kill Bill's TenantKeyValueJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantKeyValueJson {
    key: String,
    values: Vec<String>,
    audit_logs: Vec<serde_json::Value>,
}

impl TenantKeyValueJson {
    fn new(key: String, values: Vec<String>) -> TenantKeyValueJson {
        TenantKeyValueJson {
            key,
            values,
            audit_logs: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    cb: Option<String>,
}

/// `POST /1.0/kb/tenants/registerNotificationCallback?cb=URL` → 201 with an empty body and a
/// `Location` to read the callback back; a missing or non-http(s) URL is a 400.
pub(super) async fn register_push_notification_callback(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    query: std::result::Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let url = query.ok().and_then(|Query(query)| query.cb);
    state
        .push_callbacks
        .register(&tenant, url.as_deref(), &context)
        .await?;
    let location = format!("{base}{REGISTER_NOTIFICATION_CALLBACK}");
    Ok(created(location))
}

/// `GET /1.0/kb/tenants/registerNotificationCallback` → `{"key":"PUSH_NOTIFICATION_CB","values":[…]}`.
pub(super) async fn get_push_notification_callbacks(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
) -> Result<Json<TenantKeyValueJson>> {
    let values = state.push_callbacks.list(&tenant).await?;
    Ok(Json(TenantKeyValueJson::new(
        PUSH_NOTIFICATION_CB.to_string(),
        values,
    )))
}

/// `DELETE /1.0/kb/tenants/registerNotificationCallback` → 204.
pub(super) async fn delete_push_notification_callbacks(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
) -> Result<StatusCode> {
    state.push_callbacks.delete(&tenant, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST` (a text body) → 201 with `Location`, `GET` → TenantKeyValueJson and `DELETE` → 204
/// on the tenant key `key_of` makes of the path's `{name}` segment.
pub(super) fn named_key_routes(
    path: &'static str,
    key_of: fn(&str) -> String,
) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              BaseUrl(base): BaseUrl,
              CurrentTenant(tenant): CurrentTenant,
              KbPath(name): KbPath<String>,
              WriteContext(context): WriteContext,
              KbText(value): KbText| async move {
            let location = format!(
                "{base}{}",
                path.replace("{name}", &encode_uri_component(&name))
            );
            upload_key_value(&state, &tenant, &context, &key_of(&name), &value, location).await
        },
    )
    .get(
        move |State(state): State<AppState>,
              CurrentTenant(tenant): CurrentTenant,
              KbPath(name): KbPath<String>| async move {
            show_key_value(&state, &tenant, key_of(&name)).await
        },
    )
    .delete(
        move |State(state): State<AppState>,
              CurrentTenant(tenant): CurrentTenant,
              KbPath(name): KbPath<String>,
              WriteContext(context): WriteContext| async move {
            delete_key_value(&state, &tenant, &context, &key_of(&name)).await
        },
    )
}

/// Stores `value` under `key` → 201, empty body, `Location` the path to read it back.
async fn upload_key_value(
    state: &AppState,
    tenant: &Tenant,
    context: &crate::service::CallContext,
    key: &str,
    value: &str,
    location: String,
) -> Result<Response> {
    state.tenant_kvs.add(tenant, key, value, context).await?;
    Ok(created(location))
}

/// `{"key":…,"values":[…]}`; an unknown key has no values.
async fn show_key_value(
    state: &AppState,
    tenant: &Tenant,
    key: String,
) -> Result<Json<TenantKeyValueJson>> {
    let values = state.tenant_kvs.values(tenant, &key).await?;
    Ok(Json(TenantKeyValueJson::new(key, values)))
}

/// Removes every value of `key` → 204; nothing there is not an error.
async fn delete_key_value(
    state: &AppState,
    tenant: &Tenant,
    context: &crate::service::CallContext,
    key: &str,
) -> Result<StatusCode> {
    state.tenant_kvs.delete(tenant, key, context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /1.0/kb/tenants/uploadPerTenantConfig` (text): the tenant's system properties, a JSON
/// object, stored as given (Kill Bill checks nothing either); what ferrobill applies is in
/// `service/per_tenant_config.rs`.
pub(super) async fn upload_per_tenant_config(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    KbText(config): KbText,
) -> Result<Response> {
    let location = format!("{base}{PER_TENANT_CONFIG_PATH}");
    upload_key_value(
        &state,
        &tenant,
        &context,
        PER_TENANT_CONFIG,
        &config,
        location,
    )
    .await
}

/// `GET /1.0/kb/tenants/uploadPerTenantConfig`.
pub(super) async fn get_per_tenant_config(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
) -> Result<Json<TenantKeyValueJson>> {
    show_key_value(&state, &tenant, PER_TENANT_CONFIG.to_string()).await
}

/// `DELETE /1.0/kb/tenants/uploadPerTenantConfig`.
pub(super) async fn delete_per_tenant_config(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
) -> Result<StatusCode> {
    delete_key_value(&state, &tenant, &context, PER_TENANT_CONFIG).await
}

/// `GET /1.0/kb/tenants/uploadPerTenantConfig/{keyPrefix}/search`: every key of the tenant
/// starting with the prefix (any key, not only the configuration), in Kill Bill's order.
pub(super) async fn search_key_values(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(prefix): KbPath<String>,
) -> Result<Json<Vec<TenantKeyValueJson>>> {
    let found = state.tenant_kvs.search(&tenant, &prefix).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|(key, values)| TenantKeyValueJson::new(key, values))
            .collect(),
    ))
}
