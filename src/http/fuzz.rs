//! Property-test helpers shared by the resources' tests: strategies for arbitrary bodies and
//! query strings, and the one property every parser must hold: it never panics and answers
//! either a value or an [`ApiError`] that maps to a 4xx.
//!
//! Test-only; case counts stay small (see [`CASES`]) so the whole set runs in seconds.

use axum::body::Body;
use axum::extract::{FromRequest, Query};
use axum::http::{header, Request, Uri};
use axum::response::IntoResponse;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::extract::{JsonBody, KbJson};

/// Cases per property: enough to hit every branch of these small parsers, few enough to run in
/// well under a second each.
pub const CASES: u32 = 256;

/// Any JSON value, nested a few levels, with object keys drawn from `fields` (the body's own
/// field names, so the deserializer gets past the unknown-field check) or arbitrary.
pub fn json_value(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
        prop::sample::select(vec!["USD", "UTC", "2024-02-30", "-1", "1e400", "true", ""])
            .prop_map(|text| Value::String(text.to_string())),
    ];
    let key = prop_oneof![
        3 => prop::sample::select(fields).prop_map(str::to_string),
        1 => "[a-zA-Z]{0,12}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..10)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body: arbitrary bytes, or the text of an arbitrary JSON value.
pub fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value(fields).prop_map(|value| value.to_string().into_bytes()),
    ]
}

/// A query string of `names` (and arbitrary ones) with arbitrary, possibly percent-encoded,
/// values.
pub fn query(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => prop::sample::select(names).prop_map(str::to_string),
        1 => "[a-zA-Z]{0,8}",
    ];
    let value = prop_oneof![
        "[ -~]{0,30}".prop_map(|text| { text.replace(['#', ' '], "+") }),
        prop::sample::select(vec![
            "true",
            "FALSE",
            "-1",
            "9223372036854775808",
            "full",
            "%ff",
            "%",
            "a=b=c",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// The query of `query` as axum's `Query<T>` reads it, or `None` when `query` cannot even be a
/// URI (hyper would refuse such a request before any handler).
pub fn parse_query<T: DeserializeOwned>(
    query: &str,
) -> Option<Result<Query<T>, axum::extract::rejection::QueryRejection>> {
    let uri: Uri = format!("/?{query}").parse().ok()?;
    Some(Query::try_from_uri(&uri))
}

/// Runs `KbJson<T>` over `bytes` sent as JSON and checks the property.
pub fn check_body<T: JsonBody + Send + 'static>(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    match runtime.block_on(KbJson::<T>::from_request(request, &())) {
        Ok(_) => Ok(()),
        Err(error) => client_error(error),
    }
}

/// The property for a parser's error: a 4xx.
pub fn client_error(error: ApiError) -> Result<(), TestCaseError> {
    let text = error.to_string();
    let status = error.into_response().status();
    prop_assert!(status.is_client_error(), "{status} for {text}");
    Ok(())
}

mod tests {
    use super::*;
    use crate::http::accounts::AccountInputJson;
    use crate::http::payment_methods::PaymentMethodInputJson;
    use crate::http::payments::PaymentTransactionInputJson;
    use crate::http::tenants::TenantInputJson;

    const ACCOUNT_FIELDS: &[&str] = &[
        "accountId",
        "name",
        "firstNameLength",
        "externalKey",
        "email",
        "billCycleDayLocal",
        "currency",
        "parentAccountId",
        "isPaymentDelegatedToParent",
        "paymentMethodId",
        "referenceTime",
        "timeZone",
        "postalCode",
        "company",
        "city",
        "state",
        "country",
        "locale",
        "phone",
        "notes",
        "isMigrated",
        "accountBalance",
        "accountCBA",
        "auditLogs",
    ];
    const PAYMENT_METHOD_FIELDS: &[&str] = &[
        "paymentMethodId",
        "externalKey",
        "accountId",
        "isDefault",
        "pluginName",
        "pluginInfo",
        "properties",
        "key",
        "value",
        "isUpdatable",
        "auditLogs",
    ];
    const TRANSACTION_FIELDS: &[&str] = &[
        "transactionId",
        "transactionExternalKey",
        "paymentId",
        "paymentExternalKey",
        "transactionType",
        "amount",
        "currency",
        "effectiveDate",
        "processedAmount",
        "processedCurrency",
        "status",
        "gatewayErrorCode",
        "gatewayErrorMsg",
        "firstPaymentReferenceId",
        "secondPaymentReferenceId",
        "properties",
        "key",
        "value",
        "auditLogs",
    ];
    const TENANT_FIELDS: &[&str] = &[
        "tenantId",
        "externalKey",
        "apiKey",
        "apiSecret",
        "auditLogs",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn account_bodies_parse_or_are_refused_with_a_4xx(bytes in body(ACCOUNT_FIELDS)) {
            check_body::<AccountInputJson>(bytes)?;
        }

        #[test]
        fn payment_method_bodies_parse_or_are_refused_with_a_4xx(
            bytes in body(PAYMENT_METHOD_FIELDS)
        ) {
            check_body::<PaymentMethodInputJson>(bytes)?;
        }

        #[test]
        fn transaction_bodies_parse_or_are_refused_with_a_4xx(bytes in body(TRANSACTION_FIELDS)) {
            check_body::<PaymentTransactionInputJson>(bytes)?;
        }

        #[test]
        fn tenant_bodies_parse_or_are_refused_with_a_4xx(bytes in body(TENANT_FIELDS)) {
            check_body::<TenantInputJson>(bytes)?;
        }

        #[test]
        fn audit_levels_parse_or_are_refused_with_a_4xx(raw in proptest::option::of("\\PC{0,12}")) {
            if let Err(error) = super::super::audit::parse_audit_level(raw.as_deref()) {
                client_error(error)?;
            }
        }
    }
}
