//! Security over real HTTP: failed authentications rate-limited per address and user (429 with
//! Retry-After) without ever refusing known right credentials, the admin role on
//! `/1.0/kb/admin/*` and user management, tenant isolation on every tenant route,
//! nothing about tenants on the unauthenticated ops pages, no card number or secret in the
//! request logs of the real binary, and the served API description.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, wait_until, TestApp};
use crate::process::{ferrobill, fresh_workdir, ServerProcess};

const CARD: &str = "4242424242424242";

async fn tenants_by_key(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    app.bare(Method::GET, "/1.0/kb/tenants?apiKey=none")
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("GET /1.0/kb/tenants")
}

/// What `GET /1.0/kb/tenants?apiKey=none` answers `user`: 404 once authenticated.
async fn answered(app: &TestApp, user: &str, password: &str) -> StatusCode {
    tenants_by_key(app, user, password).await.status()
}

const SERVED: StatusCode = StatusCode::NOT_FOUND;

#[tokio::test]
async fn failed_logins_are_limited_per_address_and_user_and_never_refuse_right_credentials() {
    let app = TestApp::spawn_with(&[
        (
            "ferrobill.security.users",
            "admin:password,clerk:clerk-pw,ops:ops-pw",
        ),
        ("ferrobill.security.authFailures.max", "3"),
        ("ferrobill.security.authFailures.window", "8s"),
    ])
    .await;
    // Successes never count; they make the credentials known to this node.
    for _ in 0..5 {
        assert_eq!(answered(&app, "admin", "password").await, SERVED);
    }
    assert_eq!(answered(&app, "clerk", "clerk-pw").await, SERVED);
    for _ in 0..3 {
        let response = tenants_by_key(&app, "admin", "guess").await;
        expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
    }
    // The guesser is refused from now on, without its guesses being checked…
    let blocked = tenants_by_key(&app, "admin", "another-guess").await;
    let retry_after: u64 = header(&blocked, "retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=8).contains(&retry_after), "{retry_after}");
    let body = expect_kb_error(blocked, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        body["className"],
        "org.apache.shiro.authc.ExcessiveAttemptsException"
    );
    // X-Forwarded-For from an untrusted peer changes nothing.
    let response = app
        .bare(Method::GET, "/1.0/kb/tenants?apiKey=none")
        .basic_auth("admin", Some("guess"))
        .header("X-Forwarded-For", "10.1.2.3")
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::TOO_MANY_REQUESTS).await;
    // …while the right password of the same user, from the same address, is served, and so
    // is every other user behind that address; another user's failures are their own.
    assert_eq!(answered(&app, "admin", "password").await, SERVED);
    assert_eq!(answered(&app, "clerk", "clerk-pw").await, SERVED);
    assert_eq!(
        answered(&app, "clerk", "guess").await,
        StatusCode::UNAUTHORIZED
    );
    // A right password never verified before is not checked while its pair is blocked: a
    // guess that happens to be right is refused like any other.
    for _ in 0..3 {
        assert_eq!(
            answered(&app, "ops", "guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        answered(&app, "ops", "ops-pw").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Wrong tenant secrets count per API key, and spare the right secret.
    let tenant = app.create_tenant("limited", "right-secret").await;
    let signed_in = &app;
    let with_secret = |secret: &'static str| async move {
        signed_in
            .admin(Method::GET, "/1.0/kb/accounts/pagination")
            .header("X-Killbill-ApiKey", "limited")
            .header("X-Killbill-ApiSecret", secret)
            .send()
            .await
            .expect("GET")
            .status()
    };
    assert_eq!(tenant.api_key, "limited");
    assert_eq!(with_secret("right-secret").await, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(with_secret("wrong-secret").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        with_secret("wrong-secret").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(with_secret("right-secret").await, StatusCode::OK);
    // The ops endpoints are not authenticated, so not limited.
    let response = app.bare(Method::GET, "/1.0/healthcheck").send().await;
    expect_status(response.expect("healthcheck"), StatusCode::OK).await;

    wait_until("the window to pass", Duration::from_secs(20), || async {
        answered(&app, "ops", "ops-pw").await == SERVED
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited() {
    let app = TestApp::spawn_with(&[
        ("ferrobill.security.authFailures.max", "2"),
        ("ferrobill.security.trustedProxies", "127.0.0.1, ::1"),
    ])
    .await;
    let from = |client: &str, password: &str| {
        app.bare(Method::GET, "/1.0/kb/tenants?apiKey=none")
            .basic_auth("admin", Some(password))
            .header("X-Forwarded-For", format!("{client}, 127.0.0.1"))
            .send()
    };
    for _ in 0..2 {
        let response = from("203.0.113.7", "wrong").await.expect("GET");
        expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
    }
    // Not yet verified on this node: not checked while blocked.
    let response = from("203.0.113.7", "password").await.expect("GET");
    expect_kb_error(response, StatusCode::TOO_MANY_REQUESTS).await;
    // Another client behind the same proxy, and the proxy itself, are not limited…
    let response = from("203.0.113.8", "password").await.expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=none")
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    // …and once the password is known, the blocked client is served with it too.
    let response = from("203.0.113.7", "password").await.expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    let response = from("203.0.113.7", "wrong").await.expect("GET");
    expect_kb_error(response, StatusCode::TOO_MANY_REQUESTS).await;
    app.stop().await;
}

#[tokio::test]
async fn admin_routes_need_the_admin_role() {
    let app = TestApp::spawn_with(&[
        (
            "ferrobill.security.users",
            "admin:password,clerk:clerk-pw,ops:ops-pw",
        ),
        ("ferrobill.security.adminUsers", "admin, ops"),
    ])
    .await;
    let tenant = app.create_tenant("admins", "admins-secret").await;
    let as_user = |method: Method, path: &str, user: &str, password: &str| {
        app.bare(method, path)
            .basic_auth(user, Some(password))
            .header("X-Killbill-ApiKey", &tenant.api_key)
            .header("X-Killbill-ApiSecret", &tenant.api_secret)
            .header("X-Killbill-CreatedBy", "test")
    };
    for (method, path) in [
        (Method::GET, "/1.0/kb/admin/queues"),
        (Method::PUT, "/1.0/kb/admin/healthcheck"),
        (Method::DELETE, "/1.0/kb/admin/healthcheck"),
        (Method::DELETE, "/1.0/kb/admin/cache"),
        (Method::DELETE, "/1.0/kb/admin/cache/tenants"),
    ] {
        let response = as_user(method.clone(), path, "clerk", "clerk-pw")
            .send()
            .await
            .expect("admin route as clerk");
        let body = expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(
            body["className"], "org.apache.shiro.authz.UnauthorizedException",
            "{method} {path}: {body}"
        );
        assert_eq!(
            body["message"],
            "Subject does not have permission [admin:*]"
        );
    }
    // Managing users is the administrators' too: a clerk could otherwise grant itself anything.
    let response = as_user(Method::POST, "/1.0/kb/security/roles", "clerk", "clerk-pw")
        .json(&json!({ "role": "everything", "permissions": ["*"] }))
        .send()
        .await
        .expect("POST role as clerk");
    let body = expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        body["message"],
        "Subject does not have permission [user:create]"
    );
    // The admin role answers normally; the clerk keeps every other route.
    let response = as_user(Method::GET, "/1.0/kb/admin/queues", "ops", "ops-pw")
        .send()
        .await
        .expect("admin route as ops");
    expect_status(response, StatusCode::OK).await;
    let response = app
        .bare(Method::POST, "/1.0/kb/tenants")
        .basic_auth("clerk", Some("clerk-pw"))
        .header("X-Killbill-CreatedBy", "test")
        .json(&json!({ "apiKey": "clerks", "apiSecret": "clerks-secret" }))
        .send()
        .await
        .expect("POST tenant as clerk");
    expect_status(response, StatusCode::CREATED).await;
    app.stop().await;
}

/// What tenant A owns, created through the API.
struct Owned {
    account: String,
    account_key: &'static str,
    payment_method: String,
    payment_method_key: &'static str,
    payment: String,
    payment_key: &'static str,
    tag_definition: String,
}

fn id_of(response: &reqwest::Response) -> String {
    header(response, "location")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("an id")
        .to_string()
}

async fn create(app: &TestApp, path: &str, body: Value) -> String {
    let response = app
        .kb(Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("POST");
    id_of(&expect_status(response, StatusCode::CREATED).await)
}

async fn populate(app: &TestApp) -> Owned {
    let account = create(
        app,
        "/1.0/kb/accounts",
        json!({ "externalKey": "a-account", "currency": "USD", "name": "Alice A" }),
    )
    .await;
    let payment_method = create(
        app,
        &format!("/1.0/kb/accounts/{account}/paymentMethods?isDefault=true"),
        json!({
            "externalKey": "a-card",
            "pluginName": "killbill-stripe",
            "pluginInfo": { "properties": [
                { "key": "ccNumber", "value": CARD },
                { "key": "ccExpirationMonth", "value": 12 },
                { "key": "ccExpirationYear", "value": 2030 }
            ]}
        }),
    )
    .await;
    let payment = create(
        app,
        &format!("/1.0/kb/accounts/{account}/payments"),
        json!({
            "transactionType": "AUTHORIZE", "amount": 10, "currency": "USD",
            "paymentExternalKey": "a-payment", "transactionExternalKey": "a-auth"
        }),
    )
    .await;
    let tag_definition = create(
        app,
        "/1.0/kb/tagDefinitions",
        json!({ "name": "a_tag", "description": "tenant A's", "applicableObjectTypes": ["ACCOUNT"] }),
    )
    .await;
    let response = app
        .kb(Method::POST, &format!("/1.0/kb/accounts/{account}/tags"))
        .json(&json!([tag_definition]))
        .send()
        .await
        .expect("POST tags");
    expect_status(response, StatusCode::CREATED).await;
    Owned {
        account,
        account_key: "a-account",
        payment_method,
        payment_method_key: "a-card",
        payment,
        payment_key: "a-payment",
        tag_definition,
    }
}

#[tokio::test]
async fn no_route_shows_another_tenants_data() {
    let mut app = TestApp::spawn().await;
    let tenant_a = app.create_tenant("tenant-a", "secret-a").await;
    let tenant_b = app.create_tenant("tenant-b", "secret-b").await;
    app.tenant = Some(tenant_a.clone());
    let a = populate(&app).await;
    app.tenant = Some(tenant_b);

    let Owned {
        account,
        account_key,
        payment_method,
        payment_method_key,
        payment,
        payment_key,
        tag_definition,
    } = &a;
    let amount = json!({ "amount": 1, "currency": "USD", "transactionType": "PURCHASE" });
    let by_key = json!({ "paymentExternalKey": payment_key, "amount": 1, "currency": "USD" });
    // Every route that names one of A's objects, as tenant B: 404, never A's data.
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/1.0/kb/accounts/{account}"), None),
        (
            Method::GET,
            format!("/1.0/kb/accounts?externalKey={account_key}"),
            None,
        ),
        (
            Method::PUT,
            format!("/1.0/kb/accounts/{account}"),
            Some(json!({ "name": "B" })),
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{account}/auditLogs"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{account}/auditLogsWithHistory"),
            None,
        ),
        (
            Method::POST,
            format!("/1.0/kb/accounts/{account}/tags"),
            Some(json!([tag_definition])),
        ),
        (
            Method::DELETE,
            format!("/1.0/kb/accounts/{account}/tags?tagDef={tag_definition}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{account}/paymentMethods"),
            None,
        ),
        (
            Method::POST,
            format!("/1.0/kb/accounts/{account}/paymentMethods"),
            Some(json!({ "pluginName": "__EXTERNAL_PAYMENT__" })),
        ),
        (
            Method::PUT,
            format!("/1.0/kb/accounts/{account}/paymentMethods/{payment_method}/setDefault"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentMethods/{payment_method}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentMethods?externalKey={payment_method_key}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentMethods/{payment_method}/auditLogsWithHistory"),
            None,
        ),
        (
            Method::DELETE,
            format!("/1.0/kb/paymentMethods/{payment_method}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{account}/payments"),
            None,
        ),
        (
            Method::POST,
            format!("/1.0/kb/accounts/{account}/payments"),
            Some(amount.clone()),
        ),
        (
            Method::POST,
            format!("/1.0/kb/accounts/payments?externalKey={account_key}"),
            Some(amount),
        ),
        (Method::GET, format!("/1.0/kb/payments/{payment}"), None),
        (
            Method::GET,
            format!("/1.0/kb/payments?externalKey={payment_key}"),
            None,
        ),
        (
            Method::POST,
            format!("/1.0/kb/payments/{payment}"),
            Some(json!({ "amount": 1 })),
        ),
        (
            Method::POST,
            "/1.0/kb/payments".to_string(),
            Some(by_key.clone()),
        ),
        (
            Method::POST,
            format!("/1.0/kb/payments/{payment}/refunds"),
            Some(json!({ "amount": 1 })),
        ),
        (
            Method::POST,
            "/1.0/kb/payments/refunds".to_string(),
            Some(by_key.clone()),
        ),
        (Method::DELETE, format!("/1.0/kb/payments/{payment}"), None),
        (Method::DELETE, "/1.0/kb/payments".to_string(), Some(by_key)),
        (
            Method::GET,
            format!("/1.0/kb/tagDefinitions/{tag_definition}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/tagDefinitions/{tag_definition}/auditLogsWithHistory"),
            None,
        ),
        (
            Method::DELETE,
            format!("/1.0/kb/tagDefinitions/{tag_definition}"),
            None,
        ),
    ];
    for (method, path, body) in &requests {
        let mut request = app.kb(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request as tenant B");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {text}");
        assert!(
            !text.contains("Alice A"),
            "{method} {path} leaks A's data: {text}"
        );
    }
    // Lists and searches as B show nothing of A's.
    // (An account's tags are looked up by its id alone, as in Kill Bill: as B, A's account
    // has none.)
    for path in [
        "/1.0/kb/accounts/pagination".to_string(),
        format!("/1.0/kb/accounts/search/{account_key}"),
        format!("/1.0/kb/accounts/{account}/tags"),
        "/1.0/kb/payments/pagination".to_string(),
        format!("/1.0/kb/payments/search/{payment_key}"),
        "/1.0/kb/tagDefinitions".to_string(),
    ] {
        let response = app.kb(Method::GET, &path).send().await.expect("list as B");
        let text = expect_status(response, StatusCode::OK)
            .await
            .text()
            .await
            .unwrap_or_default();
        for secret in [account, payment, payment_method, tag_definition] {
            assert!(
                !text.contains(secret.as_str()),
                "{path} shows A's {secret}: {text}"
            );
        }
    }
    // A's objects are all still there for A.
    app.tenant = Some(tenant_a);
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/accounts/{account}"))
        .send()
        .await
        .expect("GET as A");
    expect_status(response, StatusCode::OK).await;
    let response = app
        .kb(
            Method::GET,
            &format!("/1.0/kb/paymentMethods/{payment_method}"),
        )
        .send()
        .await
        .expect("GET as A");
    expect_status(response, StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn ops_pages_reveal_no_tenant_data() {
    let mut app = TestApp::spawn().await;
    let tenant = app
        .create_tenant("ops-key-visible?", "ops-secret-visible?")
        .await;
    app.tenant = Some(tenant.clone());
    let a = populate(&app).await;
    // A request still in flight while the pages are read: a lock holds it inside the database.
    let lock = app.lock_table("accounts").await;
    let slow = {
        let request = app
            .kb(Method::PUT, &format!("/1.0/kb/accounts/{}", a.account))
            .json(&json!({ "name": "Alice B" }));
        tokio::spawn(async move { request.send().await })
    };
    app.wait_for_lock_waiters(1).await;
    let mut pages = Vec::new();
    for path in [
        "/1.0/healthcheck",
        "/1.0/metrics",
        "/metrics",
        "/1.0/threads",
        "/swagger.json",
    ] {
        let response = app.bare(Method::GET, path).send().await.expect("ops page");
        pages.push((path, response.text().await.unwrap_or_default()));
    }
    lock.release().await;
    let _ = slow.await;
    let (_, threads) = pages
        .iter()
        .find(|(path, _)| *path == "/1.0/threads")
        .expect("threads page");
    assert!(threads.contains("tenant="), "{threads}");
    for (path, page) in &pages {
        for secret in [
            tenant.api_key.as_str(),
            tenant.api_secret.as_str(),
            tenant.id.as_str(),
            a.account.as_str(),
            a.account_key,
            a.payment.as_str(),
            a.payment_key,
            a.payment_method.as_str(),
            a.payment_method_key,
            CARD,
        ] {
            assert!(!page.contains(secret), "{path} shows {secret}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn swagger_json_is_served_without_auth() {
    let app = TestApp::spawn().await;
    let response = app
        .bare(Method::GET, "/swagger.json")
        .send()
        .await
        .expect("GET");
    let response = expect_status(response, StatusCode::OK).await;
    assert!(header(&response, "content-type").starts_with("application/json"));
    let document: Value = response.json().await.expect("JSON");
    assert_eq!(document["swagger"], "2.0");
    let added = &document["paths"]["/1.0/kb/accounts/{accountId}"]["get"]["responses"]["401"];
    assert_eq!(added["schema"]["$ref"], "#/definitions/BillingException");
    app.stop().await;
}

/// The real binary's stdout after requests carrying a card number and secrets in the query
/// string, the body and the headers: none of them appears.
#[tokio::test]
async fn request_logs_hold_no_card_number_or_secret() {
    let db = crate::harness::TestDatabase::create().await;
    let workdir = fresh_workdir("security-logs");
    let mut command = ferrobill(&workdir);
    command.env("KB_org_killbill_dao_url", db.url()).env(
        "KB_ferrobill_security_users",
        "admin:admin-password-in-logs?",
    );
    let server = ServerProcess::start(command);
    let http = crate::harness::http_client();
    let send = |method: Method, path: &str| {
        http.request(method, format!("{}{path}", server.address))
            .basic_auth("admin", Some("admin-password-in-logs?"))
            .header("X-Killbill-CreatedBy", "logs")
    };
    let response = send(Method::POST, "/1.0/kb/tenants")
        .json(&json!({ "apiKey": "logs", "apiSecret": "tenant-secret-in-logs?" }))
        .send()
        .await
        .expect("POST tenant");
    expect_status(response, StatusCode::CREATED).await;
    let tenant = |method: Method, path: &str| {
        send(method, path)
            .header("X-Killbill-ApiKey", "logs")
            .header("X-Killbill-ApiSecret", "tenant-secret-in-logs?")
            .header("X-Request-Id", format!("req-{CARD}"))
    };
    let response = tenant(Method::POST, "/1.0/kb/accounts")
        .json(&json!({ "externalKey": "logs", "currency": "USD" }))
        .send()
        .await
        .expect("POST account");
    let account = id_of(&expect_status(response, StatusCode::CREATED).await);
    let response = tenant(
        Method::POST,
        &format!(
            "/1.0/kb/accounts/{account}/paymentMethods?isDefault=true&pluginProperty=ccNumber={CARD}&pluginProperty=ccVerificationValue=123"
        ),
    )
    .json(&json!({
        "pluginName": "killbill-stripe",
        "pluginInfo": { "properties": [{ "key": "ccNumber", "value": CARD }] }
    }))
    .send()
    .await
    .expect("POST payment method");
    expect_status(response, StatusCode::CREATED).await;
    let response = tenant(
        Method::POST,
        &format!("/1.0/kb/accounts/{account}/payments?pluginProperty=ccNumber={CARD}"),
    )
    .json(&json!({
        "transactionType": "PURCHASE", "amount": 5, "currency": "USD",
        "properties": [{ "key": "ccNumber", "value": CARD }]
    }))
    .send()
    .await
    .expect("POST payment");
    assert!(response.status().is_success(), "{response:?}");
    // A card number in an unmatched path and a wrong secret.
    let _ = tenant(Method::GET, &format!("/1.0/kb/nothing/{CARD}"))
        .send()
        .await;
    let _ = send(Method::GET, "/1.0/kb/accounts/pagination")
        .header("X-Killbill-ApiKey", "logs")
        .header("X-Killbill-ApiSecret", "wrong-secret-in-logs?")
        .send()
        .await;

    wait_until("the request log lines", Duration::from_secs(10), || async {
        server
            .output()
            .iter()
            .filter(|line| line.contains("ferrobill::request"))
            .count()
            >= 6
    })
    .await;
    let output = server.output().join("\n");
    for secret in [
        CARD,
        "admin-password-in-logs",
        "tenant-secret-in-logs",
        "wrong-secret-in-logs",
        "Basic ",
    ] {
        assert!(
            !output.contains(secret),
            "the log shows {secret}:\n{output}"
        );
    }
    assert!(output.contains("****4242"), "{output}");
    drop(server);
    drop(db);
}
