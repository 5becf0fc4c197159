//! Authentication of `/1.0/kb/**`, in Kill Bill's order: HTTP Basic first (Shiro), then the
//! tenant headers (TenantFilter), except on the paths Kill Bill exempts. The ops endpoints
//! (`/1.0/healthcheck`, metrics, threads) are not under `/1.0/kb` and need neither.
//!
//! It also enforces the one role ferrobill has: `/1.0/kb/admin/*` is for the users in
//! `ferrobill.security.adminUsers` (403 for the others), and it refuses clients that failed
//! authentication too often (429, `throttle.rs`). Secrets are compared in constant time and
//! never logged. What a tenant may see is decided by each handler through [`CurrentTenant`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use super::extract::CurrentTenant;
use super::observe::RequestTenant;
use super::throttle::AuthFailures;
use super::AppState;

const API_KEY: &str = "X-Killbill-ApiKey";
const API_SECRET: &str = "X-Killbill-ApiSecret";
const FORWARDED_FOR: &str = "X-Forwarded-For";

/// The Basic-auth users, from `ferrobill.security.users`, their admin role
/// (`ferrobill.security.adminUsers`) and the failed-authentication limiter.
pub struct Users {
    /// Each user's name, with the SHA-256 of the name and of the password: digests have one
    /// length, so comparing them takes the same time whatever the lengths of the inputs.
    users: Vec<(String, [u8; 32], [u8; 32])>,
    admins: Vec<String>,
    failures: AuthFailures,
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Users {
    pub fn new(
        users: Vec<(String, String)>,
        admins: Vec<String>,
        failures: AuthFailures,
    ) -> Arc<Users> {
        let users = users
            .into_iter()
            .map(|(user, password)| {
                let digests = (digest(&user), digest(&password));
                (user, digests.0, digests.1)
            })
            .collect();
        Arc::new(Users {
            users,
            admins,
            failures,
        })
    }

    /// The index of the matching user. Compares every configured user in constant time, with
    /// no branch on the outcome, so the answer's timing says nothing about which user exists
    /// or which part was wrong.
    fn verify(&self, user: &str, password: &str) -> Option<usize> {
        let (user, password) = (digest(user), digest(password));
        // The index plus one of the match; 0 for none.
        let mut found = 0u64;
        for (index, (_, known_user, known_password)) in self.users.iter().enumerate() {
            let matched = known_user.ct_eq(&user) & known_password.ct_eq(&password);
            found.conditional_assign(&(index as u64 + 1), matched);
        }
        usize::try_from(found).ok()?.checked_sub(1)
    }

    fn is_admin(&self, user: usize) -> bool {
        self.users
            .get(user)
            .is_some_and(|(name, _, _)| self.admins.iter().any(|admin| admin == name))
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
    let failures = &state.users.failures;
    // The TCP peer (absent only when the router is served without connect info), or the
    // client a trusted proxy names.
    let forwarded_for = request
        .headers()
        .get(FORWARDED_FOR)
        .and_then(|value| value.to_str().ok());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| failures.client(address.ip(), forwarded_for));
    if let Some(wait) = peer.and_then(|peer| failures.blocked(peer, Instant::now())) {
        return ApiError::TooManyAuthFailures(wait).into_response();
    }
    let Some(user) = basic_auth_user(&state, &request) else {
        record_failure(failures, peer);
        return ApiError::Unauthenticated("Authentication failed: missing or wrong credentials")
            .into_response();
    };
    if is_admin_path(path) && !state.users.is_admin(user) {
        return ApiError::NotEnoughPermissions.into_response();
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
        Ok(None) => {
            record_failure(failures, peer);
            ApiError::TenantNotAuthenticated.into_response()
        }
        Err(error) => ApiError::Service(error).into_response(),
    }
}

fn record_failure(failures: &AuthFailures, peer: Option<IpAddr>) {
    if let Some(peer) = peer {
        failures.record(peer, Instant::now());
    }
}

/// Kill Bill's AdminResource paths, which need the admin role.
fn is_admin_path(path: &str) -> bool {
    path == "/1.0/kb/admin" || path.starts_with("/1.0/kb/admin/")
}

/// Paths under `/1.0/kb` that Kill Bill's TenantFilter lets through without tenant headers.
fn tenant_exempt(path: &str) -> bool {
    path == "/1.0/kb/tenants"
        || path.starts_with("/1.0/kb/security/")
        || path == "/1.0/kb/nodesInfo"
}

/// The index of the Basic-auth user, when the credentials are right.
fn basic_auth_user(state: &AppState, request: &Request) -> Option<usize> {
    let value = request
        .headers()
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
    state.users.verify(user, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_pairs_verify() {
        let users = Users::new(
            vec![
                ("admin".into(), "password".into()),
                ("ops".into(), "s3cret".into()),
            ],
            vec!["admin".into()],
            AuthFailures::new(1, std::time::Duration::from_secs(1), 1, Vec::new()),
        );
        assert_eq!(users.verify("admin", "password"), Some(0));
        assert_eq!(users.verify("ops", "s3cret"), Some(1));
        assert_eq!(users.verify("admin", "s3cret"), None);
        assert_eq!(users.verify("nobody", "password"), None);
        assert_eq!(users.verify("", ""), None);
        assert!(users.is_admin(0));
        assert!(!users.is_admin(1));
    }

    #[test]
    fn admin_paths_are_kill_bills_admin_resource() {
        assert!(is_admin_path("/1.0/kb/admin/queues"));
        assert!(is_admin_path("/1.0/kb/admin"));
        assert!(!is_admin_path("/1.0/kb/administrators"));
        assert!(!is_admin_path("/1.0/kb/accounts"));
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
