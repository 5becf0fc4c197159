//! Tenants and authentication, as api.md §1.1, §1.2 and §1.6 describe Kill Bill's.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, TestApp};

#[tokio::test]
async fn a_tenant_is_created_read_back_and_never_shows_its_secret() {
    let app = TestApp::spawn().await;
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-CreatedBy", "alice")
        .header("X-Killbill-Reason", "onboarding")
        .header("X-Killbill-Comment", "first tenant")
        .header("X-Request-Id", "0c4c8a5e-8a2c-4a55-b6c4-6a1a2e1f0b7d")
        .json(&json!({ "apiKey": "acme", "apiSecret": "acme-secret", "externalKey": "acme-ext" }))
        .send()
        .await
        .expect("POST");
    let response = expect_status(response, StatusCode::CREATED).await;
    let location = header(&response, "location");
    assert_eq!(header(&response, "content-type"), "application/json");
    assert!(
        location.starts_with(&format!("{}/1.0/kb/tenants/", app.address)),
        "absolute Location: {location}"
    );
    assert!(response.text().await.expect("body").is_empty());

    // Following the Location needs the new tenant's own headers, as in Kill Bill.
    let read = app
        .http
        .get(&location)
        .basic_auth("admin", Some("password"))
        .header("X-Killbill-ApiKey", "acme")
        .header("X-Killbill-ApiSecret", "acme-secret")
        .send()
        .await
        .expect("GET Location");
    let tenant: Value = expect_status(read, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(tenant["apiKey"], "acme");
    assert_eq!(tenant["externalKey"], "acme-ext");
    assert_eq!(tenant["apiSecret"], Value::Null);
    assert_eq!(tenant["auditLogs"], json!([]));
    let id = tenant["tenantId"].as_str().expect("tenantId");
    assert!(location.ends_with(id));

    // By API key, with Basic auth only.
    let by_key = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=acme")
        .send()
        .await
        .expect("GET by apiKey");
    let by_key: Value = expect_status(by_key, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(by_key, tenant);

    // The secret is stored hashed and the audit row carries the call context.
    let db = app.db.client().await;
    let stored: String = db
        .query_one("select api_secret from tenants where api_key = 'acme'", &[])
        .await
        .expect("tenant row")
        .get(0);
    assert!(
        !stored.contains("acme-secret") && stored.starts_with("$argon2"),
        "{stored}"
    );
    let audit = db
        .query_one(
            "select created_by, reason_code, comments, user_token::text, change_type
             from audit_log where table_name = 'TENANT'",
            &[],
        )
        .await
        .expect("one audit row");
    assert_eq!(audit.get::<_, String>(0), "alice");
    assert_eq!(
        audit.get::<_, Option<String>>(1).as_deref(),
        Some("onboarding")
    );
    assert_eq!(
        audit.get::<_, Option<String>>(2).as_deref(),
        Some("first tenant")
    );
    assert_eq!(
        audit.get::<_, Option<String>>(3).as_deref(),
        Some("0c4c8a5e-8a2c-4a55-b6c4-6a1a2e1f0b7d")
    );
    assert_eq!(audit.get::<_, String>(4), "INSERT");
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_api_key_is_409_with_code_20000() {
    let app = TestApp::spawn().await;
    app.create_tenant("dup", "one").await;
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-CreatedBy", "test")
        .json(&json!({ "apiKey": "dup", "apiSecret": "two" }))
        .send()
        .await
        .expect("POST");
    let error = expect_kb_error(response, StatusCode::CONFLICT).await;
    assert_eq!(error["code"], 20000);
    assert_eq!(
        error["className"],
        "org.killbill.billing.tenant.api.TenantApiException"
    );
    // Kill Bill names the new tenant's external key, not the API key that collided.
    assert_eq!(error["message"], "Tenant already exists for key null");
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-CreatedBy", "test")
        .json(&json!({ "apiKey": "dup", "apiSecret": "three", "externalKey": "third" }))
        .send()
        .await
        .expect("POST");
    let error = expect_kb_error(response, StatusCode::CONFLICT).await;
    assert_eq!(error["message"], "Tenant already exists for key third");
    app.stop().await;
}

#[tokio::test]
async fn credentials_are_enforced_as_kill_bill_does() {
    let app = TestApp::spawn_with_tenant().await;
    let tenant = app.tenant.clone().expect("tenant");
    let path = format!("/1.0/kb/tenants/{}", tenant.id);

    // The right credentials work.
    expect_status(
        app.kb(Method::GET, &path).send().await.expect("GET"),
        StatusCode::OK,
    )
    .await;

    // No Basic auth: 401 with Shiro's challenge.
    let response = app
        .bare(Method::GET, &path)
        .header("X-Killbill-ApiKey", &tenant.api_key)
        .header("X-Killbill-ApiSecret", &tenant.api_secret)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        header(&response, "www-authenticate"),
        "BASIC realm=\"application\""
    );
    expect_kb_error(response, StatusCode::UNAUTHORIZED).await;

    // Wrong Basic password.
    let response = app
        .bare(Method::GET, &path)
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::UNAUTHORIZED).await;

    // Missing tenant headers.
    let response = app.admin(Method::GET, &path).send().await.expect("GET");
    let error = expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        error["message"],
        "Make sure to set the X-Killbill-ApiKey and X-Killbill-ApiSecret headers"
    );

    // Wrong secret, then an unknown key.
    for (key, secret) in [(tenant.api_key.as_str(), "wrong"), ("unknown", "whatever")] {
        let response = app
            .admin(Method::GET, &path)
            .header("X-Killbill-ApiKey", key)
            .header("X-Killbill-ApiSecret", secret)
            .send()
            .await
            .expect("GET");
        expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
    }

    // The right secret still works after wrong ones (nothing wrong was cached).
    expect_status(
        app.kb(Method::GET, &path).send().await.expect("GET"),
        StatusCode::OK,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn writes_need_created_by() {
    let app = TestApp::spawn().await;
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .json(&json!({ "apiKey": "k", "apiSecret": "s" }))
        .send()
        .await
        .expect("POST");
    let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["className"], "java.lang.IllegalArgumentException");
    assert_eq!(
        error["message"],
        "Header X-Killbill-CreatedBy needs to be set"
    );
    // Nothing was stored.
    let count: i64 = app
        .db
        .client()
        .await
        .query_one("select count(*) from tenants", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0);
    app.stop().await;
}

#[tokio::test]
async fn base64_audit_headers_are_decoded() {
    let app = TestApp::spawn().await;
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-Encoding", "base64")
        .header("X-Killbill-CreatedBy", "w6lsw6huZXtl") // "élène{e", UTF-8 in base64
        .json(&json!({ "apiKey": "b64", "apiSecret": "s" }))
        .send()
        .await
        .expect("POST");
    expect_status(response, StatusCode::CREATED).await;
    let created_by: String = app
        .db
        .client()
        .await
        .query_one("select created_by from tenants where api_key = 'b64'", &[])
        .await
        .expect("row")
        .get(0);
    assert_eq!(created_by, "élène{e");
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_id_and_unknown_keys_are_404() {
    let mut app = TestApp::spawn().await;
    let other = app.create_tenant("other", "other-secret").await;
    app.use_new_tenant("mine").await;

    let response = app
        .kb(Method::GET, &format!("/1.0/kb/tenants/{}", other.id))
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], 20001);

    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=nope")
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], 20003);
    assert_eq!(error["message"], "Tenant does not exist for api key nope");
    app.stop().await;
}

#[tokio::test]
async fn locations_honour_forwarded_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-CreatedBy", "test")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "billing.example.com")
        .header("X-Forwarded-Port", "8443")
        .json(&json!({ "apiKey": "fwd", "apiSecret": "s" }))
        .send()
        .await
        .expect("POST");
    let response = expect_status(response, StatusCode::CREATED).await;
    let location = header(&response, "location");
    assert!(
        location.starts_with("https://billing.example.com:8443/1.0/kb/tenants/"),
        "{location}"
    );
    app.stop().await;
}
