//! The HTTP layer: the route table (`routes.rs`), one file of handlers per Kill Bill resource,
//! and here the middleware every request goes through (observation, panic safety, admission
//! control, authentication and permissions, body limit).
//!
//! Handlers parse and validate the request, call one service, and shape Kill Bill's JSON. They
//! hold no SQL and no business rule; every error becomes Kill Bill's error JSON in `error.rs`.

mod accounts;
mod admin;
mod admin_payments;
mod admission;
mod audit;
mod auth;
mod custom_fields;
mod dashboard;
mod error;
mod export;
mod extract;
#[cfg(test)]
mod fuzz;
mod history;
mod lenient;
mod nodes;
mod observe;
mod ops;
mod paging;
mod payment_gateways;
mod payment_methods;
mod payment_operations;
mod payment_transactions;
mod payments;
mod permissions;
mod redact;
mod respond;
mod routes;
mod security;
mod swagger;
mod tags;
mod tenants;
mod throttle;

use std::any::Any;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use self::admission::Admission;
use self::error::ApiError;
pub use self::observe::{InFlight, Observation};
pub use self::ops::Ops;
pub use self::throttle::AuthFailures;
use crate::health::Health;
use crate::service::account_emails::AccountEmailService;
use crate::service::accounts::AccountService;
use crate::service::admin::AdminService;
use crate::service::caches::Caches;
use crate::service::combo::ComboService;
use crate::service::custom_fields::CustomFieldService;
use crate::service::export::ExportService;
use crate::service::history::HistoryService;
use crate::service::nodes::NodesService;
use crate::service::payment_gateways::PaymentGatewayService;
use crate::service::payment_methods::PaymentMethodService;
use crate::service::payments::PaymentService;
use crate::service::push_notifications::PushNotificationCallbacks;
use crate::service::security::SecurityService;
use crate::service::tags::TagService;
use crate::service::tenant_key_values::TenantKeyValues;
use crate::service::tenants::TenantService;
use crate::service::{ObjectKind, ObjectRef};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub tenants: TenantService,
    /// Posts AccountCreationInternalEvent on the main bus.
    pub accounts: AccountService,
    /// Accounts' additional email addresses.
    pub account_emails: AccountEmailService,
    pub admin: AdminService,
    /// Custom fields on accounts, payment methods, payments and transactions.
    pub custom_fields: CustomFieldService,
    /// Kill Bill's export of an account's rows.
    pub export: ExportService,
    /// The audit logs with history of one object (`auditLogsWithHistory`).
    pub history: HistoryService,
    /// Payment methods through the registered payment plugins.
    pub payment_methods: PaymentMethodService,
    /// Payments through the plugins, the state machine and the janitor.
    pub payments: PaymentService,
    /// Combo payments: the account and method found or created, then the payment.
    pub combo: ComboService,
    /// Hosted payment pages and gateway notifications through the plugins.
    pub payment_gateways: PaymentGatewayService,
    /// Tag definitions and the tags of accounts, payments and transactions.
    pub tags: TagService,
    pub health: Health,
    /// Users, roles and permissions (configured and `/1.0/kb/security`).
    pub security: SecurityService,
    /// Failed authentications per client address and principal.
    pub auth_failures: Arc<AuthFailures>,
    /// The tenants' push notification callbacks (`/1.0/kb/tenants/registerNotificationCallback`).
    pub push_callbacks: PushNotificationCallbacks,
    /// The tenants' key-values: plugin and per-tenant configurations, user keys.
    pub tenant_kvs: TenantKeyValues,
    /// This node and the others sharing the database, and the plugins it runs.
    pub nodes: NodesService,
    /// The in-memory caches, for `/1.0/kb/admin/cache`.
    pub caches: Caches,
    /// What the metrics and thread-dump pages read.
    pub ops: Ops,
}

/// Limits applied to every request, from `ferrobill.server.*`.
pub struct Limits {
    pub admission: Arc<Admission>,
    pub max_body_size: usize,
}

pub fn router(state: AppState, limits: Limits) -> Router {
    // Layers run outside-in in the reverse order of these calls: every request is observed
    // (in flight, metrics, log line, profiling), a panic anywhere is caught, admission is
    // decided before the (possibly slow) tenant verification, then auth.
    let observation = state.ops.observation.clone();
    routes::routes()
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_size))
        .layer(axum::Extension(extract::BodyLimit(limits.max_body_size)))
        .layer(middleware::from_fn_with_state(
            limits.admission,
            admission::admit,
        ))
        .layer(middleware::from_fn(json_content_type))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            observation,
            observe::observe,
        ))
        .with_state(state)
}

/// The absolute `Location` of `resource` (`tags`, `customFields`) under `object`, as Kill Bill
/// answers an addition to it.
fn object_location(base: &str, object: ObjectRef, resource: &str) -> String {
    let collection = match object.kind {
        ObjectKind::Account => "/1.0/kb/accounts",
        ObjectKind::PaymentMethod => "/1.0/kb/paymentMethods",
        ObjectKind::Payment => "/1.0/kb/payments",
        ObjectKind::Transaction => "/1.0/kb/paymentTransactions",
    };
    format!("{base}{collection}/{}/{resource}", object.id)
}

async fn unknown_route(request: Request<axum::body::Body>) -> ApiError {
    ApiError::no_resource(request.uri().path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Kill Bill adds `Content-Type: application/json` even to 201 and 204 responses
/// (Jersey1BackwardCompatibleFilter); some clients rely on it.
async fn json_content_type(request: Request<axum::body::Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
    response
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "request handler panicked");
    ApiError::Panic.into_response()
}
