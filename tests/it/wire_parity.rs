//! Answers the differential run against the real Kill Bill 0.24 (`ferrobill-diff`, issue 13)
//! showed ferrobill giving differently, each pinned here as Kill Bill gives it: how JSON bodies
//! are read (shapes, Jackson's exception classes and coercions), ids resolved before any API
//! (ObjectDoesNotExist), the payment and transaction JSON, audit rows and user tokens, and the
//! small wordings clients branch on.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, last_segment, TestApp};

const OBJECT_DOES_NOT_EXIST: &str =
    "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist";

async fn post_raw(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.kb(Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST")
}

/// A payment operation answered 201: the payment id from its Location.
async fn paid(response: reqwest::Response) -> String {
    last_segment(&header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    ))
}

/// The error JSON of a request answered `status`.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    expect_kb_error(app.send(method, path, body).await, status).await
}

const MISMATCHED: &str = "com.fasterxml.jackson.databind.exc.MismatchedInputException";
const UNRECOGNIZED: &str = "com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException";
const INVALID_FORMAT: &str = "com.fasterxml.jackson.databind.exc.InvalidFormatException";
const MAPPING: &str = "com.fasterxml.jackson.databind.JsonMappingException";
const ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";

#[tokio::test]
async fn bodies_of_another_shape_are_refused_with_jacksons_exceptions_and_store_nothing() {
    let app = TestApp::spawn_with_tenant().await;
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let accounts: Vec<(&str, &str)> = vec![
        ("[]", MISMATCHED),
        ("[[1]]", MISMATCHED),
        (&nested, MISMATCHED),
        ("\"account\"", MISMATCHED),
        ("1", MISMATCHED),
        ("null", ILLEGAL_ARGUMENT),
        (r#"{"colour":"blue"}"#, UNRECOGNIZED),
        (r#"{"currency":"XXX"}"#, INVALID_FORMAT),
        (r#"{"billCycleDayLocal":"x"}"#, INVALID_FORMAT),
        (r#"{"billCycleDayLocal":true}"#, MISMATCHED),
        (r#"{"name":{"a":1}}"#, MISMATCHED),
        (r#"{"parentAccountId":"nope"}"#, INVALID_FORMAT),
        (r#"{"isMigrated":"perhaps"}"#, INVALID_FORMAT),
        (r#"{"billCycleDayLocal":99999999999}"#, MAPPING),
        (r#"{"referenceTime":"yesterday"}"#, MAPPING),
    ];
    let cases = accounts
        .into_iter()
        .map(|(body, class_name)| ("/1.0/kb/accounts", body, class_name))
        .chain([
            ("/1.0/kb/tagDefinitions", "[]", MISMATCHED),
            ("/1.0/kb/tenants", "[]", MISMATCHED),
        ]);
    for (path, body, class_name) in cases {
        let error =
            expect_kb_error(post_raw(&app, path, body).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["className"], class_name, "{body}: {error}");
    }
    let error = expect_kb_error(
        post_raw(&app, "/1.0/kb/accounts", "[]").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        error["message"].as_str().is_some_and(|message| message
            .contains("`org.killbill.billing.jaxrs.json.AccountJson` from Array value")),
        "{error}"
    );
    let error = expect_kb_error(
        post_raw(&app, "/1.0/kb/accounts", r#"{"referenceTime":"yesterday"}"#).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["causeClassName"],
        "java.lang.IllegalArgumentException"
    );
    assert_eq!(error["causeMessage"], "Invalid format: \"yesterday\"");
    assert_eq!(app.count("select count(*) from accounts").await, 0);

    // The same rules for a payment's body: an unknown currency or type is refused by the JSON
    // layer, and no payment is made in it.
    let (account, _) = app.account_with_external_method("payer").await;
    for body in [
        r#"{"transactionType":"PURCHASE","amount":1,"currency":"XXX"}"#,
        r#"{"transactionType":"STEAL","amount":1}"#,
        r#"{"transactionType":"PURCHASE","amount":"lots"}"#,
    ] {
        let error = expect_kb_error(
            post_raw(&app, &format!("/1.0/kb/accounts/{account}/payments"), body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["className"], INVALID_FORMAT, "{body}: {error}");
    }
    let error = expect_kb_error(
        post_raw(&app, &format!("/1.0/kb/accounts/{account}/payments"), "[]").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["className"], MISMATCHED);
    assert_eq!(app.count("select count(*) from payments").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn scalars_are_coerced_as_jackson_coerces_them() {
    let app = TestApp::spawn_with_tenant().await;
    let id = app
        .create_account(json!({
            "name": 5,
            "company": true,
            "externalKey": "coerced",
            "billCycleDayLocal": "7",
            "firstNameLength": 4.9,
            "isMigrated": 1,
            "isPaymentDelegatedToParent": "False",
            "parentAccountId": "",
            "timeZone": "",
            "referenceTime": "2024-05-01"
        }))
        .await;
    let account = app.get_json(&format!("/1.0/kb/accounts/{id}")).await;
    assert_eq!(account["name"], "5");
    assert_eq!(account["company"], "true");
    assert_eq!(account["billCycleDayLocal"], 7);
    assert_eq!(account["firstNameLength"], 4);
    assert_eq!(account["isMigrated"], true);
    assert_eq!(account["isPaymentDelegatedToParent"], false);
    assert_eq!(account["parentAccountId"], Value::Null);
    assert_eq!(account["timeZone"], "UTC");
    assert_eq!(account["referenceTime"], "2024-05-01T00:00:00.000Z");
    let id = app
        .create_account(json!({ "externalKey": "epoch", "referenceTime": 1_714_557_600_000_i64 }))
        .await;
    let account = app.get_json(&format!("/1.0/kb/accounts/{id}")).await;
    assert_eq!(account["referenceTime"], "2024-05-01T10:00:00.000Z");
    // A tenant's API key may be a number too.
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-CreatedBy", "test")
        .json(&json!({ "apiKey": 12, "apiSecret": true }))
        .send()
        .await
        .expect("POST");
    expect_status(response, StatusCode::CREATED).await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_object_does_not_exist_before_any_api() {
    let app = TestApp::spawn_with_tenant().await;
    let (account, _) = app.account_with_external_method("ids").await;
    let unknown = uuid::Uuid::new_v4();
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::GET,
            format!("/1.0/kb/payments/{unknown}"),
            None,
            "PAYMENT",
        ),
        (
            Method::POST,
            format!("/1.0/kb/payments/{unknown}"),
            Some(json!({ "amount": 1 })),
            "PAYMENT",
        ),
        (
            Method::POST,
            format!("/1.0/kb/payments/{unknown}/refunds"),
            Some(json!({ "amount": 1 })),
            "PAYMENT",
        ),
        (
            Method::DELETE,
            format!("/1.0/kb/payments/{unknown}"),
            None,
            "PAYMENT",
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentMethods/{unknown}"),
            None,
            "PAYMENT_METHOD",
        ),
        (
            Method::DELETE,
            format!("/1.0/kb/paymentMethods/{unknown}"),
            None,
            "PAYMENT_METHOD",
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentMethods/{unknown}/auditLogsWithHistory"),
            None,
            "PAYMENT_METHOD",
        ),
        (
            Method::POST,
            format!("/1.0/kb/accounts/{account}/payments?paymentMethodId={unknown}"),
            Some(json!({ "transactionType": "PURCHASE", "amount": 1 })),
            "PAYMENT_METHOD",
        ),
        (
            Method::GET,
            format!("/1.0/kb/tagDefinitions/{unknown}/auditLogsWithHistory"),
            None,
            "TAG_DEFINITION",
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{unknown}"),
            None,
            "ACCOUNT",
        ),
    ];
    for (method, path, body, object_type) in cases {
        let error = refused(&app, method.clone(), &path, body, StatusCode::NOT_FOUND).await;
        assert_eq!(error["className"], OBJECT_DOES_NOT_EXIST, "{method} {path}");
        assert_eq!(error["code"], Value::Null, "{method} {path}");
        assert_eq!(
            error["message"],
            format!("Object id={unknown} type={object_type} doesn't exist!"),
            "{method} {path}"
        );
    }
    // By key, the API's own codes stay.
    let by_key = "/1.0/kb/payments?externalKey=nothing";
    let error = refused(&app, Method::GET, by_key, None, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], 7020);
    assert_eq!(app.count("select count(*) from payments").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn payment_json_and_refusals_read_as_kill_bills() {
    let app = TestApp::spawn_with_tenant().await;
    let (account, _) = app.account_with_external_method("payer").await;
    let pay = |body: Value| {
        app.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/payments"),
        )
        .json(&body)
        .send()
    };

    // A VOID has no amount and no currency; a negative purchase totals zero; a plugin that
    // says nothing about a transaction leaves its properties null.
    let authorized = paid(
        pay(json!({ "transactionType": "AUTHORIZE", "amount": 5 }))
            .await
            .expect("POST"),
    )
    .await;
    let void_path = format!("/1.0/kb/payments/{authorized}");
    expect_status(
        app.send(Method::DELETE, &void_path, None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let payment = app
        .get_json(&format!(
            "/1.0/kb/payments/{authorized}?withPluginInfo=true"
        ))
        .await;
    let void = &payment["transactions"][1];
    assert_eq!(void["transactionType"], "VOID");
    assert_eq!(void["amount"], Value::Null);
    assert_eq!(void["currency"], Value::Null);
    assert_eq!(void["processedCurrency"], Value::Null);
    assert_eq!(void["processedAmount"], json!(0.0));
    assert_eq!(void["properties"], Value::Null);
    let negative = paid(
        pay(json!({ "transactionType": "PURCHASE", "amount": -5 }))
            .await
            .expect("POST"),
    )
    .await;
    let payment = app.get_json(&format!("/1.0/kb/payments/{negative}")).await;
    assert_eq!(payment["purchasedAmount"], json!(0.0));
    assert_eq!(payment["transactions"][0]["amount"], json!(-5.0));

    // A capture in another currency, a follow-up by key without a key, a read by key without
    // one, the wrong type on an account (a bare text body), another account's payment key.
    let error = refused(
        &app,
        Method::POST,
        &format!("/1.0/kb/payments/{negative}/refunds"),
        Some(json!({ "amount": 1, "currency": "EUR" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Invalid parameter currency:  should be USD to match other existing transactions"
    );
    let error = refused(
        &app,
        Method::POST,
        "/1.0/kb/payments/refunds",
        Some(json!({ "amount": 1 })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Need to set either paymentId or payment externalKey"
    );
    let error = refused(
        &app,
        Method::GET,
        "/1.0/kb/payments",
        None,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Payment externalKey needs to be specified"
    );
    let response = pay(json!({ "transactionType": "CAPTURE", "amount": 1 }))
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(
        response.text().await.expect("a body"),
        "TransactionType CAPTURE is not allowed for an account"
    );
    let (other, _) = app.account_with_external_method("other").await;
    let theirs_body =
        json!({ "transactionType": "PURCHASE", "amount": 1, "paymentExternalKey": "theirs" });
    let theirs_path = format!("/1.0/kb/accounts/{other}/payments");
    let theirs = paid(
        app.send(Method::POST, &theirs_path, Some(theirs_body.clone()))
            .await,
    )
    .await;
    let error = expect_kb_error(
        pay(theirs_body).await.expect("POST"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7034);
    assert_eq!(
        error["message"],
        format!("Payment {theirs} has a different account id")
    );
    // An account by an absent external key is looked up as "null".
    let error = refused(
        &app,
        Method::POST,
        "/1.0/kb/accounts/payments",
        Some(json!({ "transactionType": "PURCHASE", "amount": 1 })),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], 3003);
    assert_eq!(error["message"], "Account does not exist for key null");
    // No payment method is refused before no currency.
    let bare = app.create_account(json!({ "externalKey": "bare" })).await;
    let error = refused(
        &app,
        Method::POST,
        &format!("/1.0/kb/accounts/{bare}/payments"),
        Some(json!({ "transactionType": "PURCHASE", "amount": 1 })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Invalid parameter paymentMethodId: should not be null"
    );
    // The plugin's exception: Kill Bill's external plugin text, no cause message.
    let error = refused(&app, Method::POST,
            &format!(
                "/1.0/kb/accounts/{account}/payments?pluginProperty=killbill.external.payment.fail.exception=true"
            ), Some(json!({ "transactionType": "PURCHASE", "amount": 1 })), StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error["message"],
        "Plugin exception Triggered from killbill.external.payment.fail.cancellation"
    );
    assert_eq!(error["causeMessage"], Value::Null);

    // The next page of payments carries the plugin filter and the audit level only.
    let response = app
        .kb(
            Method::GET,
            "/1.0/kb/payments/pagination?limit=1&withPluginInfo=true&audit=MINIMAL",
        )
        .send()
        .await
        .expect("GET");
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "X-Killbill-Pagination-NextPageUri"),
        "/1.0/kb/payments/pagination?offset=1&limit=1&pluginName=&audit=MINIMAL"
    );
    app.stop().await;
}

#[tokio::test]
async fn audit_rows_and_user_tokens_are_kill_bills() {
    let app = TestApp::spawn_with_tenant().await;
    let (account, _) = app.account_with_external_method("audited").await;
    // Without X-Request-Id each request gets its own token; the legacy header names one too.
    let token = uuid::Uuid::new_v4();
    let response = app
        .kb(Method::PUT, &format!("/1.0/kb/accounts/{account}"))
        .header("X-Killbill-Request-Id-Req", token.to_string())
        .header("X-Killbill-Encoding", "base64")
        // Not base64 after all: kept as sent, as Kill Bill's RequestDataFilter does.
        .header("X-Killbill-Reason", "not base64!")
        .header("X-Killbill-Comment", "Y29tbWVudA==")
        .json(&json!({ "notes": "noted" }))
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let purchase = paid(
        app.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/payments"),
        )
        .json(&json!({ "transactionType": "PURCHASE", "amount": 10 }))
        .send()
        .await
        .expect("POST"),
    )
    .await;
    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/payments/{purchase}/refunds"),
        )
        .json(&json!({ "amount": 1 }))
        .send()
        .await
        .expect("POST");
    expect_status(response, StatusCode::CREATED).await;

    let trail = app
        .get_json(&format!("/1.0/kb/accounts/{account}/auditLogs"))
        .await;
    let trail = trail.as_array().expect("an array");
    let kinds: Vec<(&str, &str)> = trail
        .iter()
        .map(|entry| {
            (
                entry["objectType"].as_str().unwrap_or_default(),
                entry["changeType"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    // By table name (ACCOUNT_HISTORY, PAYMENT_HISTORY, PAYMENT_METHOD_HISTORY,
    // PAYMENT_TRANSACTION_HISTORY), then oldest first; a follow-up updates the payment twice.
    assert_eq!(
        kinds,
        [
            ("ACCOUNT", "INSERT"),
            ("ACCOUNT", "UPDATE"),
            ("ACCOUNT", "UPDATE"),
            ("PAYMENT", "INSERT"),
            ("PAYMENT", "UPDATE"),
            ("PAYMENT", "UPDATE"),
            ("PAYMENT", "UPDATE"),
            ("PAYMENT_METHOD", "INSERT"),
            ("TRANSACTION", "INSERT"),
            ("TRANSACTION", "UPDATE"),
            ("TRANSACTION", "INSERT"),
            ("TRANSACTION", "UPDATE"),
        ]
    );
    let tokens: Vec<&Value> = trail.iter().map(|entry| &entry["userToken"]).collect();
    assert!(tokens.iter().all(|token| token.is_string()), "{trail:?}");
    assert_ne!(tokens[0], tokens[1], "each request has its own token");
    let noted = &trail[2];
    assert_eq!(noted["userToken"], json!(token));
    assert_eq!(noted["reasonCode"], "not base64!");
    assert_eq!(noted["comments"], "comment");
    app.stop().await;
}

#[tokio::test]
async fn small_wordings_and_shapes_clients_read() {
    let app = TestApp::spawn_with_tenant().await;
    let account = app.create_account(json!({ "externalKey": "tagged" })).await;
    // TAG_IS_SYSTEM has its code; messages are killbill-api's.
    let park = "00000000-0000-0001-0000-000000000001";
    let error = refused(
        &app,
        Method::POST,
        &format!("/1.0/kb/accounts/{account}/tags"),
        Some(json!([park])),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 3953);
    assert_eq!(
        error["message"],
        format!("Cannot add the system tag {park} (reserved to Kill Bill internal system)")
    );
    let definition =
        json!({ "name": "vip", "description": "v", "applicableObjectTypes": ["ACCOUNT"] });
    for expected in [StatusCode::CREATED, StatusCode::CONFLICT] {
        let response = app
            .kb(Method::POST, "/1.0/kb/tagDefinitions")
            .json(&definition)
            .send()
            .await
            .expect("POST");
        if expected == StatusCode::CONFLICT {
            let error = expect_kb_error(response, expected).await;
            assert_eq!(error["message"], "The tag definition vip already exists ");
        } else {
            expect_status(response, expected).await;
        }
    }
    let error = refused(
        &app,
        Method::POST,
        &format!("/1.0/kb/accounts/{account}/paymentMethods"),
        Some(json!({})),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "PaymentMethodJson pluginName should be specified"
    );

    // The thread page is plain text without a charset.
    let response = app
        .bare(Method::GET, "/1.0/threads")
        .send()
        .await
        .expect("GET");
    assert_eq!(header(&response, "content-type"), "text/plain");
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_naming_the_limit() {
    let mut app = TestApp::spawn_with(&[("ferrobill.server.maxBodySize", "4096")]).await;
    app.use_new_tenant("big").await;
    let body = format!("{{\"notes\":\"{}\"}}", "x".repeat(8192));
    let error = expect_kb_error(
        post_raw(&app, "/1.0/kb/accounts", &body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(
        error["message"],
        "Request body is larger than the limit of 4096 bytes"
    );
    assert_eq!(app.count("select count(*) from accounts").await, 0);
    app.stop().await;
}
