//! Authentication of `/1.0/kb/**`, in Kill Bill's order: HTTP Basic first (Shiro), then the
//! tenant headers (TenantFilter), except on the paths Kill Bill exempts. The ops endpoints
//! (`/1.0/healthcheck`, metrics, threads) are not under `/1.0/kb` and need neither.
//!
//! This middleware only authenticates; what a tenant may see is decided by each handler
//! through [`CurrentTenant`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::extract::CurrentTenant;
use super::observe::RequestTenant;
use super::AppState;

const API_KEY: &str = "X-Killbill-ApiKey";
const API_SECRET: &str = "X-Killbill-ApiSecret";

/// The Basic-auth users, from `ferrobill.security.users`.
pub struct Users {
    users: Vec<(String, String)>,
}

impl Users {
    pub fn new(users: Vec<(String, String)>) -> Arc<Users> {
        Arc::new(Users { users })
    }

    /// Compares every configured user in constant time so the answer's timing says nothing
    /// about which part was wrong.
    fn verify(&self, user: &str, password: &str) -> bool {
        let mut found = false;
        for (known_user, known_password) in &self.users {
            let user_ok = known_user.as_bytes().ct_eq(user.as_bytes());
            let password_ok = known_password.as_bytes().ct_eq(password.as_bytes());
            found |= bool::from(user_ok & password_ok);
        }
        found
    }
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let under_kb = path == "/1.0/kb" || path.starts_with("/1.0/kb/");
    if !under_kb || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    if !basic_auth_ok(&state, &request) {
        return ApiError::Unauthenticated("Authentication failed: missing or wrong credentials")
            .into_response();
    }
    if tenant_exempt(path) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let (Some(api_key), Some(api_secret)) = (
        headers.get(API_KEY).and_then(|v| v.to_str().ok()),
        headers.get(API_SECRET).and_then(|v| v.to_str().ok()),
    ) else {
        return ApiError::TenantNotAuthenticated.into_response();
    };
    match state.tenants.authenticate(api_key, api_secret).await {
        Ok(Some(tenant)) => {
            if let Some(slot) = request.extensions().get::<RequestTenant>() {
                slot.set(tenant.id);
            }
            request.extensions_mut().insert(CurrentTenant(tenant));
            next.run(request).await
        }
        Ok(None) => ApiError::TenantNotAuthenticated.into_response(),
        Err(error) => ApiError::Service(error).into_response(),
    }
}

/// Paths under `/1.0/kb` that Kill Bill's TenantFilter lets through without tenant headers.
fn tenant_exempt(path: &str) -> bool {
    path == "/1.0/kb/tenants"
        || path.starts_with("/1.0/kb/security/")
        || path == "/1.0/kb/nodesInfo"
}

fn basic_auth_ok(state: &AppState, request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    state.users.verify(user, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_pairs_verify() {
        let users = Users::new(vec![
            ("admin".into(), "password".into()),
            ("ops".into(), "s3cret".into()),
        ]);
        assert!(users.verify("admin", "password"));
        assert!(users.verify("ops", "s3cret"));
        assert!(!users.verify("admin", "s3cret"));
        assert!(!users.verify("nobody", "password"));
        assert!(!users.verify("", ""));
    }

    #[test]
    fn tenant_exemptions_match_kill_bill() {
        assert!(tenant_exempt("/1.0/kb/tenants"));
        assert!(tenant_exempt("/1.0/kb/security/permissions"));
        assert!(!tenant_exempt(
            "/1.0/kb/tenants/2b8a0b27-5d5c-4b1e-8a4b-2f5c1e0e7a10"
        ));
        assert!(!tenant_exempt("/1.0/kb/accounts"));
    }
}
