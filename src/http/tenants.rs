//! `/1.0/kb/tenants`: Kill Bill's TenantResource (api.md §1.6).
//!
//! Creating a tenant needs Basic auth and `X-Killbill-CreatedBy` but no tenant headers; reading
//! one by id needs the tenant's own headers. `apiSecret` is never returned.

use crate::service::push_notifications::PUSH_NOTIFICATION_CB;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{ApiError, Result};
use super::extract::{parse_id, BaseUrl, CurrentTenant, JsonBody, KbJson, KbPath, WriteContext};
use super::lenient;
use super::AppState;
use crate::service::tenants::{NewTenant, Tenant};
use crate::service::ServiceError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/1.0/kb/tenants",
            post(create_tenant).get(get_tenant_by_api_key),
        )
        .route("/1.0/kb/tenants/{tenant_id}", get(get_tenant))
        .route(
            REGISTER_NOTIFICATION_CALLBACK,
            post(register_push_notification_callback)
                .get(get_push_notification_callbacks)
                .delete(delete_push_notification_callbacks),
        )
}

/// Kill Bill's TenantResource path for push notification callbacks; tenant-scoped (only the
/// exact path `/1.0/kb/tenants` is exempt from the tenant headers).
const REGISTER_NOTIFICATION_CALLBACK: &str = "/1.0/kb/tenants/registerNotificationCallback";

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

impl JsonBody for TenantInputJson {
    const NAME: &'static str = "TenantJson";
    const JAVA_TYPE: &'static str = "org.killbill.billing.jaxrs.json.TenantJson";
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantJson {
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
async fn create_tenant(
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
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeyQuery {
    api_key: Option<String>,
}

/// `GET /1.0/kb/tenants?apiKey=`: needs Basic auth only, as in Kill Bill.
async fn get_tenant_by_api_key(
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
async fn get_tenant(
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
struct TenantKeyValueJson {
    key: &'static str,
    values: Vec<String>,
    audit_logs: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    cb: Option<String>,
}

/// `POST /1.0/kb/tenants/registerNotificationCallback?cb=URL` → 201 with an empty body and a
/// `Location` to read the callback back; a missing or non-http(s) URL is a 400.
async fn register_push_notification_callback(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
    query: std::result::Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let url = query.ok().and_then(|Query(query)| query.cb);
    state
        .push_callbacks
        .register(&tenant, url.as_deref(), &context)
        .await?;
    let location = format!("{base}{REGISTER_NOTIFICATION_CALLBACK}");
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

/// `GET /1.0/kb/tenants/registerNotificationCallback` → `{"key":"PUSH_NOTIFICATION_CB","values":[…]}`.
async fn get_push_notification_callbacks(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
) -> Result<Json<TenantKeyValueJson>> {
    let values = state.push_callbacks.list(&tenant).await?;
    Ok(Json(TenantKeyValueJson {
        key: PUSH_NOTIFICATION_CB,
        values,
        audit_logs: Vec::new(),
    }))
}

/// `DELETE /1.0/kb/tenants/registerNotificationCallback` → 204.
async fn delete_push_notification_callbacks(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    WriteContext(context): WriteContext,
) -> Result<StatusCode> {
    state.push_callbacks.delete(&tenant, &context).await?;
    Ok(StatusCode::NO_CONTENT)
}
