//! Authentication and authorization of `/1.0/kb/**`, in Kill Bill's order: HTTP Basic first
//! (Shiro), then the tenant headers (TenantFilter) except on the paths Kill Bill exempts, then
//! the permission the operation needs (`permissions.rs`), refused with Kill Bill's 401
//! UnauthorizedException. The ops endpoints (`/1.0/healthcheck`, metrics, threads) are not
//! under `/1.0/kb` and need none of it.
//!
//! Failed authentications are counted per client address and principal (`throttle.rs`); while
//! a pair is blocked, only credentials already verified are served and any others get 429
//! without being checked. Secrets are compared in constant time and never logged. What a
//! tenant may see is decided by each handler through [`CurrentTenant`]; who the caller is, by
//! [`CurrentSubject`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::ApiError;
use super::extract::CurrentTenant;
use super::observe::RequestTenant;
use super::permissions;
use super::throttle::{AuthFailures, Principal};
use super::AppState;
use crate::service::security::Subject;

const API_KEY: &str = "X-Killbill-ApiKey";
const API_SECRET: &str = "X-Killbill-ApiSecret";
const FORWARDED_FOR: &str = "X-Forwarded-For";

/// The authenticated caller of this request, with what it may do.
#[derive(Clone)]
pub struct CurrentSubject(pub Arc<Subject>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentSubject {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<CurrentSubject>()
            .cloned()
            .ok_or(ApiError::Unauthenticated(
                "Authentication failed: missing or wrong credentials",
            ))
    }
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let under_kb = path == "/1.0/kb" || path.starts_with("/1.0/kb/");
    if !under_kb || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let failures = &state.auth_failures;
    // The TCP peer (absent only when the router is served without connect info), or the
    // client a trusted proxy names.
    let forwarded_for = request
        .headers()
        .get(FORWARDED_FOR)
        .and_then(|value| value.to_str().ok());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| failures.client(address.ip(), forwarded_for));
    let credentials = basic_credentials(request.headers());
    let subject = match authenticate_user(&state, credentials, client).await {
        Ok(subject) => subject,
        Err(refusal) => return refusal.into_response(),
    };
    if !tenant_exempt(&path) {
        let headers = request.headers();
        let tenant_credentials = (
            headers
                .get(API_KEY)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            headers
                .get(API_SECRET)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        );
        match authenticate_tenant(&state, tenant_credentials, client).await {
            Ok(tenant) => {
                if let Some(slot) = request.extensions().get::<RequestTenant>() {
                    slot.set(tenant.0.id);
                }
                request.extensions_mut().insert(tenant);
            }
            Err(refusal) => return refusal.into_response(),
        }
    }
    if let Some((method, template, access)) = permissions::operation(request.method(), &path) {
        let operation = format!("{} {template}", method.to_ascii_uppercase());
        if let Err(refusal) = access.check(&subject, &operation) {
            return refusal.into_response();
        }
    }
    request.extensions_mut().insert(CurrentSubject(subject));
    next.run(request).await
}

/// The Basic-auth user: 401 without credentials or with wrong ones (counted), 429 while its
/// pair is blocked and the credentials are not ones already verified.
async fn authenticate_user(
    state: &AppState,
    credentials: Option<(String, String)>,
    client: Option<IpAddr>,
) -> Result<Arc<Subject>, ApiError> {
    let refused =
        || ApiError::Unauthenticated("Authentication failed: missing or wrong credentials");
    // No credentials is no guess: nothing to count.
    let (user, password) = credentials.ok_or_else(refused)?;
    let principal = Principal::User(user.clone());
    if let Some(wait) = blocked(&state.auth_failures, client, &principal) {
        return state
            .security
            .authenticate_known(&user, &password)
            .ok_or(ApiError::TooManyAuthFailures(wait));
    }
    match state.security.authenticate(&user, &password).await {
        Ok(Some(subject)) => Ok(subject),
        Ok(None) => {
            record_failure(&state.auth_failures, client, principal);
            Err(refused())
        }
        Err(error) => Err(ApiError::Service(error)),
    }
}

/// The tenant the headers name: 401 when missing (not counted) or wrong (counted), 429 while
/// the pair of address and API key is blocked and the secret is not one already verified.
async fn authenticate_tenant(
    state: &AppState,
    (api_key, api_secret): (Option<String>, Option<String>),
    client: Option<IpAddr>,
) -> Result<CurrentTenant, ApiError> {
    let (Some(api_key), Some(api_secret)) = (api_key, api_secret) else {
        return Err(ApiError::TenantNotAuthenticated);
    };
    let principal = Principal::ApiKey(api_key.clone());
    if let Some(wait) = blocked(&state.auth_failures, client, &principal) {
        return state
            .tenants
            .authenticate_known(&api_key, &api_secret)
            .map(CurrentTenant)
            .ok_or(ApiError::TooManyAuthFailures(wait));
    }
    match state.tenants.authenticate(&api_key, &api_secret).await {
        Ok(Some(tenant)) => Ok(CurrentTenant(tenant)),
        Ok(None) => {
            record_failure(&state.auth_failures, client, principal);
            Err(ApiError::TenantNotAuthenticated)
        }
        Err(error) => Err(ApiError::Service(error)),
    }
}

fn blocked(
    failures: &AuthFailures,
    client: Option<IpAddr>,
    principal: &Principal,
) -> Option<std::time::Duration> {
    client.and_then(|client| failures.blocked(client, principal, Instant::now()))
}

fn record_failure(failures: &AuthFailures, client: Option<IpAddr>, principal: Principal) {
    if let Some(client) = client {
        failures.record(client, principal, Instant::now());
    }
}

/// Paths under `/1.0/kb` that Kill Bill's TenantFilter lets through without tenant headers.
fn tenant_exempt(path: &str) -> bool {
    path == "/1.0/kb/tenants"
        || path.starts_with("/1.0/kb/security/")
        || path == "/1.0/kb/nodesInfo"
}

/// The Basic-auth user name and password, if the header carries them.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_exemptions_match_kill_bill() {
        assert!(tenant_exempt("/1.0/kb/tenants"));
        assert!(tenant_exempt("/1.0/kb/security/permissions"));
        assert!(tenant_exempt("/1.0/kb/nodesInfo"));
        assert!(!tenant_exempt(
            "/1.0/kb/tenants/2b8a0b27-5d5c-4b1e-8a4b-2f5c1e0e7a10"
        ));
        assert!(!tenant_exempt("/1.0/kb/accounts"));
        assert!(!tenant_exempt("/1.0/kb/pluginsInfo"));
    }
}
