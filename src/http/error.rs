//! Every failure the API can answer with, and the one place that turns each into an HTTP
//! status and Kill Bill's error JSON:
//! `{className, code, message, causeClassName, causeMessage, stackTrace}`.
//!
//! Class names and codes are Kill Bill's, so clients that branch on them keep working. Internal
//! causes are logged here and never leak beyond their message. Nothing outside this file
//! builds an error body.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::{ServiceError, StorageFailure};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The message of a failure whose detail is for the log only.
const INTERNAL_MESSAGE: &str = "Internal error; see the server log";

const ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";
const TENANT_API_EXCEPTION: &str = "org.killbill.billing.tenant.api.TenantApiException";
const ACCOUNT_API_EXCEPTION: &str = "org.killbill.billing.account.api.AccountApiException";
const PAYMENT_API_EXCEPTION: &str = "org.killbill.billing.payment.api.PaymentApiException";
const TAG_API_EXCEPTION: &str = "org.killbill.billing.util.api.TagApiException";
const CUSTOM_FIELD_API_EXCEPTION: &str = "org.killbill.billing.util.api.CustomFieldApiException";
const TAG_DEFINITION_API_EXCEPTION: &str =
    "org.killbill.billing.util.api.TagDefinitionApiException";
const SECURITY_API_EXCEPTION: &str = "org.killbill.billing.security.SecurityApiException";
const OBJECT_DOES_NOT_EXIST: &str =
    "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist";
const CONNECTION_EXCEPTION: &str = "java.sql.SQLTransientConnectionException";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Basic authentication missing or wrong (Shiro's 401, with its challenge header).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Too many failed authentications from this client address (`throttle.rs`); retry after
    /// the duration.
    #[error("Too many failed authentications from this address; retry in {} s", retry_after_secs(*.0))]
    TooManyAuthFailures(Duration),
    /// An authenticated user without the permission the operation needs: Shiro's
    /// UnauthorizedException, with the operation the check was made for as its cause.
    #[error("Subject does not have permission [{permission}]")]
    NotPermitted {
        permission: String,
        operation: String,
    },
    /// Tenant headers missing or not matching a tenant (Kill Bill's TenantFilter).
    #[error("Make sure to set the X-Killbill-ApiKey and X-Killbill-ApiSecret headers")]
    TenantNotAuthenticated,
    /// A required header (e.g. `X-Killbill-CreatedBy`) is absent.
    #[error("Header {0} needs to be set")]
    MissingHeader(&'static str),
    #[error("{0}")]
    BadHeader(String),
    /// A query parameter that cannot be read (Kill Bill's IllegalArgumentException).
    #[error("{0}")]
    InvalidParameter(String),
    /// A required query parameter left out, refused by Kill Bill's `Preconditions.checkNotNull`
    /// (a NullPointerException with this message).
    #[error("{0}")]
    NullParameter(String),
    /// Kill Bill's "XxxJson body should be specified".
    #[error("{0} body should be specified")]
    MissingBody(&'static str),
    #[error("{0}")]
    MalformedJson(String),
    /// A body Jackson would refuse to read, with the exception it would throw.
    #[error("{1}")]
    InvalidJson(JsonException, String),
    /// A body of another media type than the operation reads (the given one, the expected).
    #[error("Unsupported media type {0}: expected {1}")]
    UnsupportedMediaType(String, &'static str),
    #[error("Request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// An unknown route, or a path or query id that is not a UUID (JAX-RS answers 404 there).
    #[error("{0}")]
    NotFound(String),
    #[error("HTTP 405 Method Not Allowed")]
    MethodNotAllowed,
    /// Admission control refused the request: too many in flight and waiting.
    #[error(
        "Server overloaded: {in_flight} requests in flight and {waiting} waiting; retry later"
    )]
    Overloaded { in_flight: usize, waiting: usize },
    #[error("Request did not complete within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("Internal error: the request handler panicked")]
    Panic,
    /// A payment operation recorded with a failed or unknown outcome: Kill Bill answers 402,
    /// 502 or 503 with the payment's Location and this message.
    #[error("{message}")]
    PaymentNotSucceeded {
        status: StatusCode,
        message: String,
        location: String,
    },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The Jackson exception Kill Bill answers for a body it cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonException {
    /// A body or field of another JSON type than expected (an array for an object).
    MismatchedInput,
    /// A field the body type does not have.
    UnrecognizedProperty,
    /// A value of the right JSON type that does not parse (an unknown enum constant, a UUID).
    InvalidFormat,
    /// Anything else Jackson refuses (a number out of range, an unreadable date).
    Mapping,
}

impl JsonException {
    fn class_name(self) -> &'static str {
        match self {
            JsonException::MismatchedInput => {
                "com.fasterxml.jackson.databind.exc.MismatchedInputException"
            }
            JsonException::UnrecognizedProperty => {
                "com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException"
            }
            JsonException::InvalidFormat => {
                "com.fasterxml.jackson.databind.exc.InvalidFormatException"
            }
            JsonException::Mapping => "com.fasterxml.jackson.databind.JsonMappingException",
        }
    }
}

/// Whole seconds, rounded up so a client that waits that long is let through.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Kill Bill's BillingExceptionJson.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BillingExceptionJson {
    class_name: String,
    code: Option<i32>,
    message: String,
    cause_class_name: Option<String>,
    cause_message: Option<String>,
    stack_trace: Vec<serde_json::Value>,
}

struct Mapped {
    status: StatusCode,
    class_name: &'static str,
    code: Option<i32>,
    cause: Option<(&'static str, Option<String>)>,
}

fn mapped(status: StatusCode, class_name: &'static str, code: Option<i32>) -> Mapped {
    Mapped {
        status,
        class_name,
        code,
        cause: None,
    }
}

impl Mapped {
    /// The same answer with Kill Bill's `causeClassName` and `causeMessage`.
    fn caused_by(self, class_name: &'static str, message: Option<String>) -> Mapped {
        Mapped {
            cause: Some((class_name, message)),
            ..self
        }
    }
}

impl ApiError {
    /// Nothing is served at `path`: an unknown route, or a path whose parameters cannot be
    /// read (JAX-RS matches no resource then).
    pub fn no_resource(path: &str) -> ApiError {
        ApiError::NotFound(format!("No resource at {path}"))
    }

    fn map(&self) -> Mapped {
        use ApiError::*;
        match self {
            Unauthenticated(_) | TenantNotAuthenticated => mapped(
                StatusCode::UNAUTHORIZED,
                "org.apache.shiro.authc.AuthenticationException",
                None,
            ),
            TooManyAuthFailures(_) => mapped(
                StatusCode::TOO_MANY_REQUESTS,
                "org.apache.shiro.authc.ExcessiveAttemptsException",
                None,
            ),
            NotPermitted { operation, .. } => mapped(
                StatusCode::UNAUTHORIZED,
                "org.apache.shiro.authz.UnauthorizedException",
                None,
            )
            .caused_by(
                "org.apache.shiro.authz.AuthorizationException",
                Some(format!("Not authorized to invoke {operation}")),
            ),
            MissingHeader(_) | BadHeader(_) | InvalidParameter(_) | MissingBody(_) => {
                mapped(StatusCode::BAD_REQUEST, ILLEGAL_ARGUMENT, None)
            }
            NullParameter(_) => mapped(
                StatusCode::BAD_REQUEST,
                "java.lang.NullPointerException",
                None,
            ),
            MalformedJson(_) => mapped(
                StatusCode::BAD_REQUEST,
                "com.fasterxml.jackson.core.JsonParseException",
                None,
            ),
            InvalidJson(exception, message) => {
                let answer = mapped(StatusCode::BAD_REQUEST, exception.class_name(), None);
                match (exception, mapping_cause(message)) {
                    (JsonException::Mapping, Some(cause)) => {
                        answer.caused_by(cause, Some(message.clone()))
                    }
                    _ => answer,
                }
            }
            UnsupportedMediaType(..) => mapped(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "javax.ws.rs.NotSupportedException",
                None,
            ),
            PayloadTooLarge(_) => mapped(
                StatusCode::PAYLOAD_TOO_LARGE,
                "javax.ws.rs.ClientErrorException",
                None,
            ),
            NotFound(_) => mapped(StatusCode::NOT_FOUND, "javax.ws.rs.NotFoundException", None),
            MethodNotAllowed => mapped(
                StatusCode::METHOD_NOT_ALLOWED,
                "javax.ws.rs.NotAllowedException",
                None,
            ),
            Overloaded { .. } | Timeout(_) => mapped(
                StatusCode::SERVICE_UNAVAILABLE,
                "javax.ws.rs.ServiceUnavailableException",
                None,
            ),
            Panic => mapped(
                StatusCode::INTERNAL_SERVER_ERROR,
                "java.lang.IllegalStateException",
                None,
            ),
            PaymentNotSucceeded { status, .. } => mapped(*status, PAYMENT_API_EXCEPTION, None),
            Service(error) => map_service_error(error),
        }
    }

    fn message(&self) -> String {
        match self {
            // The pool error's own words, which operators grep for, after the pool's name.
            ApiError::Service(error) => match error.storage_failure() {
                Some(StorageFailure::PoolTimeout { pool } | StorageFailure::Pool { pool }) => {
                    format!("{pool} pool: {error}")
                }
                Some(StorageFailure::Database) => INTERNAL_MESSAGE.to_string(),
                _ if matches!(error, ServiceError::Internal(_)) => INTERNAL_MESSAGE.to_string(),
                _ => error.to_string(),
            },
            other => other.to_string(),
        }
    }
}

/// The cause Kill Bill shows under a Jackson mapping failure, told by its message: Joda's parse
/// failure (wrapped by Jackson, the cause is the parser's) and a number out of its type's range
/// (Jackson's coercion failure); other mapping failures show none.
fn mapping_cause(message: &str) -> Option<&'static str> {
    if message.starts_with("Invalid format") {
        Some(ILLEGAL_ARGUMENT)
    } else if message.starts_with("Numeric value") {
        Some("com.fasterxml.jackson.core.exc.InputCoercionException")
    } else {
        None
    }
}

fn map_service_error(error: &ServiceError) -> Mapped {
    // Kill Bill's API exceptions: the class, the status its mapper answers, the error code.
    let account = |status, code| mapped(status, ACCOUNT_API_EXCEPTION, Some(code));
    let tenant = |status, code| mapped(status, TENANT_API_EXCEPTION, Some(code));
    let payment = |status, code| mapped(status, PAYMENT_API_EXCEPTION, Some(code));
    let tag_definition = |status, code| mapped(status, TAG_DEFINITION_API_EXCEPTION, Some(code));
    // TagApiExceptionMapper answers 400 for every tag code but 3950.
    let tag = |status, code| mapped(status, TAG_API_EXCEPTION, Some(code));
    // CustomFieldApiExceptionMapper and SecurityApiExceptionMapper answer 400 for every code.
    let custom_field = |code| {
        mapped(
            StatusCode::BAD_REQUEST,
            CUSTOM_FIELD_API_EXCEPTION,
            Some(code),
        )
    };
    let security = |code| mapped(StatusCode::BAD_REQUEST, SECURITY_API_EXCEPTION, Some(code));
    match error {
        ServiceError::InvalidArgument(_) => mapped(StatusCode::BAD_REQUEST, ILLEGAL_ARGUMENT, None),
        ServiceError::AccountAlreadyExists { .. } => account(StatusCode::CONFLICT, 3000),
        ServiceError::AccountNotFoundForId { .. } => account(StatusCode::NOT_FOUND, 3002),
        ServiceError::AccountNotFoundForKey { .. } => account(StatusCode::NOT_FOUND, 3003),
        ServiceError::AccountNotFound { .. } | ServiceError::ObjectNotFound { .. } => {
            mapped(StatusCode::NOT_FOUND, OBJECT_DOES_NOT_EXIST, None)
        }
        ServiceError::ExternalKeyTooLong => account(StatusCode::BAD_REQUEST, 5),
        ServiceError::TenantAlreadyExists { .. } => tenant(StatusCode::CONFLICT, 20000),
        ServiceError::TenantNotFoundForId { .. } => tenant(StatusCode::NOT_FOUND, 20001),
        ServiceError::TenantNotFoundForApiKey { .. } => tenant(StatusCode::NOT_FOUND, 20003),
        ServiceError::PaymentMethodNotFound { .. } => payment(StatusCode::NOT_FOUND, 7000),
        // Kill Bill answers 500 (7019 wrapping 7022); a refused request is the caller's 400
        // here (docs/compatibility.md).
        ServiceError::CannotDeleteDefaultPaymentMethod { .. } => {
            payment(StatusCode::BAD_REQUEST, 7022)
        }
        ServiceError::ExternalPaymentMethodAlreadyExists { .. } => {
            payment(StatusCode::BAD_REQUEST, 7023)
        }
        ServiceError::PaymentPluginNotRegistered { .. } => payment(StatusCode::BAD_REQUEST, 7028),
        ServiceError::PaymentMethodKeyAlreadyExists { .. } => mapped(
            StatusCode::CONFLICT,
            "java.sql.SQLIntegrityConstraintViolationException",
            None,
        ),
        // The gateway, not the caller, failed: 502 as Kill Bill's PLUGIN_FAILURE payments.
        ServiceError::PaymentPlugin(_) => payment(StatusCode::BAD_GATEWAY, 7199),
        ServiceError::PaymentNotFound { .. } => payment(StatusCode::NOT_FOUND, 7020),
        ServiceError::PaymentNotSucceeded { .. } => payment(StatusCode::NOT_FOUND, 7024),
        // Kill Bill answers 500; the request names no single transaction, so 400 here.
        ServiceError::PaymentCompletionAmbiguous { .. } => payment(StatusCode::BAD_REQUEST, 7019),
        ServiceError::PaymentTransitionInvalid { .. } => payment(StatusCode::BAD_REQUEST, 7032),
        ServiceError::PaymentTransactionKeyExists { .. } => payment(StatusCode::BAD_REQUEST, 7030),
        ServiceError::PaymentDifferentAccount { .. } => payment(StatusCode::BAD_REQUEST, 7034),
        ServiceError::PaymentInvalidParameter { .. } => payment(StatusCode::BAD_REQUEST, 7031),
        ServiceError::PaymentPluginTimeout { .. } => payment(StatusCode::GATEWAY_TIMEOUT, 7100),
        // Kill Bill's mapper falls back to 400 for a PaymentPluginApiException, whose own
        // message is null (its text is in the error message).
        ServiceError::PaymentPluginException(_) => {
            mapped(StatusCode::BAD_REQUEST, PAYMENT_API_EXCEPTION, Some(7199)).caused_by(
                "org.killbill.billing.payment.plugin.api.PaymentPluginApiException",
                None,
            )
        }
        // Kill Bill answers 500; a lock another node holds is a retryable overload (503).
        ServiceError::PaymentLockFailed { .. } => payment(StatusCode::SERVICE_UNAVAILABLE, 7019),
        ServiceError::TransactionTypeNotAllowed(_) => {
            mapped(StatusCode::PRECONDITION_FAILED, ILLEGAL_ARGUMENT, None)
        }
        ServiceError::TagDefinitionNotFound { .. } => tag_definition(StatusCode::NOT_FOUND, 3902),
        ServiceError::TagDefinitionAlreadyExists { .. } => {
            tag_definition(StatusCode::CONFLICT, 3901)
        }
        ServiceError::TagDefinitionInUse { .. } => tag_definition(StatusCode::BAD_REQUEST, 3903),
        ServiceError::TagDefinitionHasUppercase { .. } => {
            tag_definition(StatusCode::BAD_REQUEST, 3904)
        }
        ServiceError::TagDefinitionUnknown { .. } => tag(StatusCode::BAD_REQUEST, 3902),
        ServiceError::TagNotFound { .. } => tag(StatusCode::NOT_FOUND, 3950),
        ServiceError::TagCannotBeRemoved { .. } => tag(StatusCode::BAD_REQUEST, 3951),
        ServiceError::TagIsSystem { .. } => tag(StatusCode::BAD_REQUEST, 3953),
        // Kill Bill answers 500 (an IllegalStateException); the request is at fault, so 400
        // here, with Kill Bill's class name and message (docs/compatibility.md).
        ServiceError::ControlTagNotApplicable { .. } => mapped(
            StatusCode::BAD_REQUEST,
            "java.lang.IllegalStateException",
            None,
        ),
        ServiceError::CustomFieldAlreadyExists { .. } => custom_field(9000),
        ServiceError::CustomFieldNotFound { .. } => custom_field(9001),
        ServiceError::CustomFieldInvalidUpdate { .. } => custom_field(9002),
        ServiceError::SecurityUserNotFound { .. } => security(40001),
        ServiceError::SecurityUserAlreadyExists { .. } => security(40002),
        ServiceError::SecurityRoleAlreadyExists { .. } => security(40004),
        ServiceError::SecurityInvalidPermission { .. } => security(40005),
        ServiceError::CacheNotFound { .. } => {
            mapped(StatusCode::BAD_REQUEST, ILLEGAL_ARGUMENT, None)
        }
        ServiceError::Storage(storage) => map_storage_failure(storage.into()),
        ServiceError::Internal(_) => mapped(
            StatusCode::INTERNAL_SERVER_ERROR,
            "java.lang.IllegalStateException",
            None,
        ),
    }
}

fn map_storage_failure(failure: StorageFailure) -> Mapped {
    match failure {
        // An exhausted pool or an unreachable database is a temporary overload, not a bug:
        // 503 tells load balancers and clients to retry (Kill Bill answers 500 here).
        StorageFailure::PoolTimeout { pool } => {
            mapped(StatusCode::SERVICE_UNAVAILABLE, CONNECTION_EXCEPTION, None)
                .caused_by("PoolTimeout", Some(format!("the {pool} pool is exhausted")))
        }
        StorageFailure::Pool { .. } | StorageFailure::Unavailable => {
            mapped(StatusCode::SERVICE_UNAVAILABLE, CONNECTION_EXCEPTION, None)
        }
        StorageFailure::UniqueViolation => mapped(
            StatusCode::CONFLICT,
            "java.sql.SQLIntegrityConstraintViolationException",
            None,
        ),
        StorageFailure::InvalidValue => mapped(StatusCode::BAD_REQUEST, ILLEGAL_ARGUMENT, None),
        StorageFailure::Database => mapped(
            StatusCode::INTERNAL_SERVER_ERROR,
            "java.sql.SQLException",
            None,
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mapped = self.map();
        // Kill Bill's resource answers this refusal with the bare message as its body (still
        // labelled JSON by its response filter), not its error JSON.
        if let ApiError::Service(ServiceError::TransactionTypeNotAllowed(_)) = &self {
            return (
                mapped.status,
                [(header::CONTENT_TYPE, "application/json")],
                self.message(),
            )
                .into_response();
        }
        if mapped.status.is_server_error() && mapped.status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = ?self, "request failed with an internal error");
        } else if mapped.status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "request refused: service unavailable");
        }
        let (cause_class_name, cause_message) = match mapped.cause {
            Some((class, message)) => (Some(class.to_string()), message),
            None => (None, None),
        };
        let body = BillingExceptionJson {
            class_name: mapped.class_name.to_string(),
            code: mapped.code,
            message: self.message(),
            cause_class_name,
            cause_message,
            stack_trace: Vec::new(),
        };
        let mut response = (mapped.status, axum::Json(body)).into_response();
        if let ApiError::PaymentNotSucceeded { location, .. } = &self {
            if let Ok(value) = HeaderValue::from_str(location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
        }
        if let ApiError::TooManyAuthFailures(wait) = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(*wait)),
            );
        }
        if matches!(self, ApiError::Unauthenticated(_)) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("BASIC realm=\"application\""),
            );
        }
        response
    }
}
