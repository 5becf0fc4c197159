//! Extractors that turn Kill Bill's request conventions into typed values: the audit headers
//! (`X-Killbill-CreatedBy`, `-Reason`, `-Comment`, `-Encoding`, `X-Request-Id`), the
//! authenticated tenant (and both, a tenant's write), JSON bodies read as Kill Bill's Jackson
//! reads them (shapes, exception classes; the field coercions are `lenient.rs`'s), path ids and
//! the object a tags or custom fields path names, query parameters, and the base URL that
//! `Location` headers are built from. Extractors reject with [`ApiError`] only.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::{ApiError, JsonException};
use crate::plugin::PluginProperty;
use crate::service::tenants::Tenant;
use crate::service::{CallContext, ObjectKind, ObjectRef};

const CREATED_BY: &str = "X-Killbill-CreatedBy";
const JSON: &str = "application/json";
const REASON: &str = "X-Killbill-Reason";
const COMMENT: &str = "X-Killbill-Comment";
const ENCODING: &str = "X-Killbill-Encoding";
const REQUEST_ID: &str = "X-Request-Id";
const LEGACY_REQUEST_ID: &str = "X-Killbill-Request-Id-Req";

/// The audit context of a write. Rejects with 400 when `X-Killbill-CreatedBy` is missing, as
/// Kill Bill does on every write.
pub struct WriteContext(pub CallContext);

impl<S: Send + Sync> FromRequestParts<S> for WriteContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        let base64 = header_text(headers, ENCODING)?
            .is_some_and(|encoding| encoding.eq_ignore_ascii_case("base64"));
        // Kill Bill's RequestDataFilter: a value that is not base64 after all is kept as sent.
        let decoded = |name: &'static str| -> Result<Option<String>, ApiError> {
            let Some(value) = header_text(headers, name)? else {
                return Ok(None);
            };
            if !base64 {
                return Ok(Some(value));
            }
            Ok(Some(
                match base64::engine::general_purpose::STANDARD.decode(&value) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(_) => value,
                },
            ))
        };
        let created_by = decoded(CREATED_BY)?
            .filter(|value| !value.is_empty())
            .ok_or(ApiError::MissingHeader(CREATED_BY))?;
        // Context.getOrCreateUserToken: the request id when it is a UUID, else a fresh one.
        let request_id = match header_text(headers, REQUEST_ID)? {
            Some(value) => Some(value),
            None => header_text(headers, LEGACY_REQUEST_ID)?,
        };
        let user_token = Some(
            request_id
                .and_then(|value| Uuid::parse_str(value.trim()).ok())
                .unwrap_or_else(Uuid::new_v4),
        );
        Ok(WriteContext(CallContext {
            created_by,
            reason: decoded(REASON)?,
            comment: decoded(COMMENT)?,
            user_token,
        }))
    }
}

fn header_text(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|text| Some(text.to_string()))
            .map_err(|_| ApiError::BadHeader(format!("Header {name} is not valid text"))),
    }
}

/// The tenant the auth middleware verified for this request.
#[derive(Clone)]
pub struct CurrentTenant(pub Tenant);

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<CurrentTenant>()
            .cloned()
            .ok_or(ApiError::TenantNotAuthenticated)
    }
}

/// A write on behalf of the authenticated tenant: the tenant and the audit context, both of
/// which Kill Bill's CallContext carries. Extracted as [`CurrentTenant`] then [`WriteContext`]
/// are, with their rejections in that order.
pub struct TenantWrite {
    pub tenant: Tenant,
    pub context: CallContext,
}

impl<S: Send + Sync> FromRequestParts<S> for TenantWrite {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let CurrentTenant(tenant) = CurrentTenant::from_request_parts(parts, state).await?;
        let WriteContext(context) = WriteContext::from_request_parts(parts, state).await?;
        Ok(TenantWrite { tenant, context })
    }
}

/// A JSON body type, with the name Kill Bill uses in "XxxJson body should be specified".
pub trait JsonBody: DeserializeOwned {
    const NAME: &'static str;
    /// Whether the body is a JSON array (a list of ids) rather than an object.
    const ARRAY: bool = false;
    /// The Java type Jackson reads the body into, for its messages.
    const JAVA_TYPE: &'static str;
}

/// Makes `$body` a [`JsonBody`] read as Kill Bill's class `$name` of
/// `org.killbill.billing.jaxrs.json`, so the name in its messages and the Java type Jackson
/// names cannot disagree. Bodies that are lists (of ids, of objects) name no such class and
/// implement [`JsonBody`] by hand.
macro_rules! kill_bill_json_body {
    ($body:ty, $name:literal) => {
        impl $crate::http::extract::JsonBody for $body {
            const NAME: &'static str = $name;
            const JAVA_TYPE: &'static str = concat!("org.killbill.billing.jaxrs.json.", $name);
        }
    };
}
pub(super) use kill_bill_json_body;

/// A Kill Bill JSON body: empty or `null` → 400 "… body should be specified", wrong content
/// type → 415, syntax error → 400 JsonParseException, another shape than the body's (an array
/// for an object, a string, a number) → 400 MismatchedInputException, a field that cannot be
/// read → 400 with the Jackson exception Kill Bill answers (see [`parse_body`]), too large →
/// 413.
pub struct KbJson<T>(pub T);

impl<S: Send + Sync, T: JsonBody> FromRequest<S> for KbJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::MissingBody(T::NAME));
        }
        match content_type {
            Some(value) if is_json(&value) => {}
            Some(value) => return Err(ApiError::UnsupportedMediaType(value, JSON)),
            None => return Err(ApiError::UnsupportedMediaType("(none)".to_string(), JSON)),
        }
        parse_body::<T>(&bytes)?
            .map(KbJson)
            .ok_or(ApiError::MissingBody(T::NAME))
    }
}

/// A `text/plain` body, as Kill Bill's resources that consume text read it (plugin and
/// per-tenant configurations, user key-values): any text, empty included; no Content-Type is
/// taken as text, another one is 415; too large → 413. Bytes that are not UTF-8 are replaced.
pub struct KbText(pub String);

impl<S: Send + Sync> FromRequest<S> for KbText {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or_default().to_string());
        if let Some(value) = content_type.filter(|value| !value.trim().is_empty()) {
            if media_type(&value) != "text/plain" {
                return Err(ApiError::UnsupportedMediaType(value, "text/plain"));
            }
        }
        let bytes = read_body(request, state).await?;
        Ok(KbText(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// An optional Kill Bill JSON body (a void's): empty or `null` is `None`; anything else is read
/// as [`KbJson`] reads it, whatever its Content-Type.
pub struct OptionalKbJson<T>(pub Option<T>);

impl<S: Send + Sync, T: JsonBody> FromRequest<S> for OptionalKbJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalKbJson(None));
        }
        parse_body::<T>(&bytes).map(OptionalKbJson)
    }
}

/// The body's bytes, or 413 when it is larger than `ferrobill.server.maxBodySize`.
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map(|limit| limit.0)
        .unwrap_or_default();
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(limit)
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })
}

/// `ferrobill.server.maxBodySize`, put in the request's extensions by the router so the 413
/// can say what the limit is.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A non-empty JSON body read as Kill Bill's Jackson reads it; `None` for a JSON `null` (Kill
/// Bill's "no body"). Syntax errors are JsonParseException; a body of another shape than `T`
/// is MismatchedInputException, checked on the first character before anything is parsed (so
/// an array nested deeper than any parser goes is refused the same way); an unknown field is
/// UnrecognizedPropertyException; a field of the wrong JSON type MismatchedInputException; a
/// value that does not parse InvalidFormatException (see `lenient.rs`).
pub fn parse_body<T: JsonBody>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    let first = bytes
        .iter()
        .copied()
        .find(|byte| !byte.is_ascii_whitespace());
    match (first, T::ARRAY) {
        (Some(b'['), false) => return Err(top_level_mismatch::<T>(&serde_json::json!([]))),
        (Some(b'{'), true) => return Err(top_level_mismatch::<T>(&serde_json::json!({}))),
        _ => {}
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::MalformedJson(format!("Malformed JSON: {error}")))?;
    match (&value, T::ARRAY) {
        (serde_json::Value::Null, _) => return Ok(None),
        (serde_json::Value::Object(_), false) | (serde_json::Value::Array(_), true) => {}
        (other, _) => return Err(top_level_mismatch::<T>(other)),
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|error| json_error::<T>(&error.to_string()))
}

fn top_level_mismatch<T: JsonBody>(found: &serde_json::Value) -> ApiError {
    let error: serde_json::Error = super::lenient::mismatched(T::JAVA_TYPE, found);
    json_error::<T>(&error.to_string())
}

/// A deserialization error as the Jackson exception Kill Bill answers for it.
fn json_error<T: JsonBody>(message: &str) -> ApiError {
    use super::lenient::{INVALID_FORMAT, MAPPING, MISMATCHED};
    let tagged = [
        (INVALID_FORMAT, JsonException::InvalidFormat),
        (MISMATCHED, JsonException::MismatchedInput),
        (MAPPING, JsonException::Mapping),
    ];
    for (tag, exception) in tagged {
        if let Some(rest) = message.strip_prefix(tag) {
            return ApiError::InvalidJson(exception, rest.to_string());
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return ApiError::InvalidJson(
            JsonException::UnrecognizedProperty,
            format!(
                "Unrecognized field \"{field}\" (class {}), not marked as ignorable",
                T::JAVA_TYPE
            ),
        );
    }
    let exception = if message.starts_with("invalid type") {
        JsonException::MismatchedInput
    } else {
        JsonException::Mapping
    };
    ApiError::InvalidJson(exception, format!("{message} (reading {})", T::JAVA_TYPE))
}

/// The media type of a Content-Type value, lower case, without its parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json(content_type: &str) -> bool {
    let essence = media_type(content_type);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Path parameters. A path that cannot be decoded (bad percent-encoding, invalid UTF-8) is
/// answered 404 with Kill Bill's error JSON, as an unmatched JAX-RS path is.
pub struct KbPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for KbPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| KbPath(value))
            .map_err(|_| ApiError::no_resource(parts.uri.path()))
    }
}

/// The one path parameter of a resource Kill Bill serves twice, by the path's id and by a key
/// in the query or body (`/payments/{paymentId}/refunds` and `/payments/refunds`): `None` on
/// the route without it. Like [`KbPath`], a path that cannot be decoded is a 404. The id is
/// left as text so that handlers parse it where Kill Bill does, after the body.
pub struct OptionalKbPath(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalKbPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<Vec<String>>::from_request_parts(parts, state).await {
            Ok(Path(values)) => Ok(OptionalKbPath(values.into_iter().next())),
            Err(PathRejection::MissingPathParams(_)) => Ok(OptionalKbPath(None)),
            Err(_) => Err(ApiError::no_resource(parts.uri.path())),
        }
    }
}

impl OptionalKbPath {
    /// The path's id, parsed as [`parse_id`] does; `None` on the route without one.
    pub fn id(&self) -> Result<Option<Uuid>, ApiError> {
        self.0.as_deref().map(parse_id).transpose()
    }
}

/// The object whose tags or custom fields a `…/{id}/tags` or `…/{id}/customFields` route
/// serves: its kind, which the route gives as an `Extension<ObjectKind>`, and the path's id.
/// Like [`OptionalKbPath`], the id is left as text for the handler to parse where Kill Bill
/// does, after the body.
pub struct ObjectPath {
    kind: ObjectKind,
    raw_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ObjectPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let KbPath(raw_id) = KbPath::from_request_parts(parts, state).await?;
        // Only the object routes give a kind; elsewhere the path names no object.
        let kind = parts
            .extensions
            .get::<ObjectKind>()
            .copied()
            .ok_or_else(|| ApiError::no_resource(parts.uri.path()))?;
        Ok(ObjectPath { kind, raw_id })
    }
}

impl ObjectPath {
    /// The object the path names (404 when the id is no UUID).
    pub fn object(&self) -> Result<ObjectRef, ApiError> {
        Ok(ObjectRef {
            kind: self.kind,
            id: parse_id(&self.raw_id)?,
        })
    }
}

/// A path id. Anything that is not a UUID is answered 404, as JAX-RS does when the
/// `\w+-\w+-\w+-\w+-\w+` path pattern or the UUID conversion fails.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("No resource for id {raw}")))
}

/// `scheme://host[:port]` of the request as the client saw it, honouring `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `X-Forwarded-Port`, for absolute `Location` headers.
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        let first = |name: &'static str| -> Result<Option<String>, ApiError> {
            Ok(header_text(headers, name)?
                .and_then(|value| value.split(',').next().map(|v| v.trim().to_string()))
                .filter(|value| !value.is_empty()))
        };
        let scheme = first("X-Forwarded-Proto")?.unwrap_or_else(|| "http".to_string());
        let host = match first("X-Forwarded-Host")? {
            Some(host) => host,
            None => first("Host")?
                .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                .unwrap_or_else(|| "localhost".to_string()),
        };
        let host = match first("X-Forwarded-Port")? {
            Some(port) if port.chars().all(|c| c.is_ascii_digit()) => {
                format!("{}:{port}", strip_port(&host))
            }
            _ => host,
        };
        let valid = |text: &str| {
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c))
        };
        if !valid(&scheme) || !valid(&host) {
            return Err(ApiError::BadHeader(
                "Host or X-Forwarded-* header is not a valid host".to_string(),
            ));
        }
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080 → [::1]
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Percent-encodes a path segment or a query value the way a URI builder does: everything
/// but RFC 3986's unreserved characters.
pub fn encode_uri_component(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A query string as ordered pairs, for resources whose parameters repeat (`pluginProperty`,
/// `controlPluginName`, `tagDef`), which a struct cannot hold: the query parser of every
/// resource but the accounts' (serde structs) and the dashboard's (strict). An unreadable
/// query is read as empty, as the account endpoints do.
pub struct QueryPairs(pub(super) Vec<(String, String)>);

/// What a handler takes to build [`QueryPairs`]: the query, or why axum could not read it.
pub type RawQueryPairs =
    Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// A JAX-RS boolean query parameter: anything other than `true` (any case) is false.
pub fn flag(raw: Option<&str>) -> bool {
    raw.is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

/// A JAX-RS `Long` query parameter: `default` when absent, 404 when unparsable (the
/// conversion fails before the resource method runs).
pub fn long(name: &str, raw: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::NotFound(format!("Invalid {name} {text}"))),
    }
}

/// Never rejects: an unreadable query is read as empty.
impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(QueryPairs::from(
            Query::from_request_parts(parts, state).await,
        ))
    }
}

impl QueryPairs {
    pub fn from(query: RawQueryPairs) -> QueryPairs {
        QueryPairs(query.map(|Query(pairs)| pairs).unwrap_or_default())
    }

    /// The first value of `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A JAX-RS boolean: anything other than `true` is false.
    pub fn flag(&self, name: &str) -> bool {
        flag(self.value(name))
    }

    /// A JAX-RS `Long`: `default` when absent, 404 when unparsable.
    pub fn long(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        long(name, self.value(name), default)
    }

    /// Every value of the repeatable UUID parameter `name`; one that is not a UUID fails
    /// JAX-RS's `List<UUID>` conversion: 404.
    pub fn uuids(&self, name: &str) -> Result<Vec<Uuid>, ApiError> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| {
                Uuid::parse_str(value)
                    .map_err(|_| ApiError::NotFound(format!("Invalid {name} {value}")))
            })
            .collect()
    }

    /// `objectType`: JAX-RS converts it to an ObjectType before the resource runs, so a name
    /// that is none is a 404.
    pub fn object_type(&self) -> Result<Option<&str>, ApiError> {
        match self.value("objectType") {
            None => Ok(None),
            Some(name) if crate::domain::object_types::is_object_type(name) => Ok(Some(name)),
            Some(name) => Err(ApiError::NotFound(format!("Invalid objectType {name}"))),
        }
    }

    /// `audit` as Kill Bill's AuditMode reads it (404 when it names no AuditLevel).
    pub fn audit(&self) -> Result<crate::service::AuditLevel, ApiError> {
        super::audit::parse_audit_level(self.value("audit"))
    }

    /// `pluginProperty=k=v`, split at the first `=` (Kill Bill's extractPluginProperties).
    pub fn plugin_properties(&self) -> Vec<PluginProperty> {
        self.0
            .iter()
            .filter(|(key, _)| key == "pluginProperty")
            .map(|(_, property)| {
                let (key, value) = match property.split_once('=') {
                    Some((key, value)) => (key, Some(value.to_string())),
                    None => (property.as_str(), None),
                };
                PluginProperty {
                    key: key.to_string(),
                    value,
                    is_updatable: false,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/vnd.killbill+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
    }
}
