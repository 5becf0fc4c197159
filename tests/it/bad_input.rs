//! Bad input is answered with a 4xx and Kill Bill's error JSON: never a 500, a panic or a
//! hang, and nothing already stored is lost.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{expect_kb_error, expect_status, TestApp};

async fn tenant_count(app: &TestApp) -> i64 {
    app.db
        .client()
        .await
        .query_one("select count(*) from tenants", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn malformed_bodies_are_4xx_and_change_nothing() {
    let app = TestApp::spawn_with(&[("ferrobill.server.maxBodySize", "4096")]).await;
    app.create_tenant("kept", "kept-secret").await;

    let post = |body: Vec<u8>, content_type: &'static str| {
        app.admin(Method::POST, "/1.0/kb/tenants")
            .header("X-Killbill-CreatedBy", "fuzz")
            .header("content-type", content_type)
            .body(body)
    };
    let cases: Vec<(Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            b"{\"apiKey\": ".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "com.fasterxml.jackson.core.JsonParseException",
        ),
        (
            b"not json".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "com.fasterxml.jackson.core.JsonParseException",
        ),
        (
            b"".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "java.lang.IllegalArgumentException",
        ),
        (
            b"{\"apiKey\": [12], \"apiSecret\": {}}".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "com.fasterxml.jackson.databind.exc.MismatchedInputException",
        ),
        (
            b"[1,2,3]".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "com.fasterxml.jackson.databind.exc.MismatchedInputException",
        ),
        (
            b"null".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "java.lang.IllegalArgumentException",
        ),
        (
            b"{\"apiKey\":\"x\",\"apiSecret\":\"y\",\"bogus\":1}".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException",
        ),
        (
            b"{\"apiSecret\":\"y\"}".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "java.lang.IllegalArgumentException",
        ),
        (
            b"{\"apiKey\":\"kept\",\"apiSecret\":\"y\"}".to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "javax.ws.rs.NotSupportedException",
        ),
        (
            b"apiKey=x&apiSecret=y".to_vec(),
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "javax.ws.rs.NotSupportedException",
        ),
        (
            vec![b'x'; 10_000],
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "javax.ws.rs.ClientErrorException",
        ),
        (
            vec![0xff, 0xfe, 0x00],
            "application/json",
            StatusCode::BAD_REQUEST,
            "com.fasterxml.jackson.core.JsonParseException",
        ),
    ];
    for (body, content_type, status, class_name) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).to_string();
        let response = post(body, content_type).send().await.expect("POST");
        let error = expect_kb_error(response, status).await;
        assert_eq!(error["className"], class_name, "body {shown:?}: {error}");
    }
    assert_eq!(
        tenant_count(&app).await,
        1,
        "the stored tenant is untouched"
    );
    expect_status(
        app.admin(Method::GET, "/1.0/kb/tenants?apiKey=kept")
            .send()
            .await
            .expect("GET"),
        StatusCode::OK,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn invalid_ids_unknown_routes_and_methods_are_4xx() {
    let app = TestApp::spawn_with_tenant().await;
    for path in [
        "/1.0/kb/tenants/not-a-uuid",
        "/1.0/kb/tenants/a-b-c-d-e",
        "/1.0/kb/tenants/00000000-0000-0000-0000-00000000000g",
        "/1.0/kb/tenants/%00%ff",
        "/1.0/kb/nothing-here",
        "/1.0/nothing",
        "/",
    ] {
        let response = app.kb(Method::GET, path).send().await.expect("GET");
        expect_kb_error(response, StatusCode::NOT_FOUND).await;
    }
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=%ff%fe")
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;

    let response = app
        .kb(Method::PATCH, "/1.0/kb/tenants")
        .json(&json!({}))
        .send()
        .await
        .expect("PATCH");
    expect_kb_error(response, StatusCode::METHOD_NOT_ALLOWED).await;

    // Headers that are not text are refused cleanly.
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header(
            "X-Killbill-CreatedBy",
            reqwest::header::HeaderValue::from_bytes(b"\xff\xfe").expect("bytes"),
        )
        .json(&json!({ "apiKey": "bin", "apiSecret": "s" }))
        .send()
        .await
        .expect("POST");
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    app.stop().await;
}

/// Found by schemathesis: `limit=Long.MIN_VALUE` overflowed negating it (a panic, 500), and a
/// negative offset reached PostgreSQL. Extreme paging values page normally.
#[tokio::test]
async fn extreme_paging_values_are_answered_normally() {
    let app = TestApp::spawn_with_tenant().await;
    for path in [
        "/1.0/kb/payments/pagination",
        "/1.0/kb/payments/search/0",
        "/1.0/kb/accounts/pagination",
        "/1.0/kb/accounts/search/0",
    ] {
        for query in [
            "offset=0&limit=-9223372036854775808",
            "offset=-9223372036854775808&limit=9223372036854775807",
            "offset=9223372036854775807&limit=-1",
        ] {
            let response = app
                .kb(Method::GET, &format!("{path}?{query}"))
                .send()
                .await
                .expect("GET a page");
            expect_status(response, StatusCode::OK).await;
        }
    }
    app.stop().await;
}
