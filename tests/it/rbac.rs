//! Kill Bill's RBAC over real HTTP: role definitions and users stored in PostgreSQL, every
//! route checking its permission (401 UnauthorizedException naming the one missing), wildcard
//! permissions, changes taking effect at once on every node, and the caller's permissions and
//! subject.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    expect_kb_error, expect_status, json_of, send, wait_until, TestApp, TestCluster,
};

const UNAUTHORIZED: &str = "org.apache.shiro.authz.UnauthorizedException";
const SECURITY_API_EXCEPTION: &str = "org.killbill.billing.security.SecurityApiException";

/// A request as the test tenant, signed in as `user`.
fn as_user(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    let tenant = app.tenant.as_ref().expect("spawn_with_tenant() first");
    app.bare(method, path)
        .basic_auth(user, Some(password))
        .header("X-Killbill-ApiKey", &tenant.api_key)
        .header("X-Killbill-ApiSecret", &tenant.api_secret)
        .header("X-Killbill-CreatedBy", "rbac-test")
}

/// Defines `role` holding `permissions`, as the admin.
async fn define_role(app: &TestApp, role: &str, permissions: &[&str]) {
    let response = send(
        app.admin(Method::POST, "/1.0/kb/security/roles")
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&json!({ "role": role, "permissions": permissions })),
    )
    .await;
    let response = expect_status(response, StatusCode::CREATED).await;
    assert!(
        crate::harness::header(&response, "location")
            .ends_with(&format!("/1.0/kb/security/roles/{role}")),
        "{response:?}"
    );
}

/// Creates `user` with `password` and `roles`, as the admin.
async fn add_user(app: &TestApp, user: &str, password: &str, roles: &[&str]) {
    let response = send(
        app.admin(Method::POST, "/1.0/kb/security/users")
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&json!({ "username": user, "password": password, "roles": roles })),
    )
    .await;
    let response = expect_status(response, StatusCode::CREATED).await;
    assert!(
        crate::harness::header(&response, "location")
            .ends_with(&format!("/1.0/kb/security/users/{user}/roles")),
        "{response:?}"
    );
}

/// Kill Bill's refusal of a permission.
async fn refused_for(response: reqwest::Response, permission: &str) {
    let body = expect_kb_error(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["className"], UNAUTHORIZED, "{body}");
    assert_eq!(
        body["message"],
        format!("Subject does not have permission [{permission}]")
    );
}

#[tokio::test]
async fn a_user_with_account_star_reads_accounts_and_is_refused_a_purchase() {
    let app = TestApp::spawn_with_tenant().await;
    let (account, _) = app.account_with_external_method("rbac-payer").await;
    define_role(&app, "accountant", &["account:*"]).await;
    add_user(&app, "alice", "alice-pw", &["accountant"]).await;

    let read = send(as_user(
        &app,
        Method::GET,
        &format!("/1.0/kb/accounts/{account}"),
        "alice",
        "alice-pw",
    ))
    .await;
    assert_eq!(json_of(read).await["accountId"], account.as_str());
    let created = send(
        as_user(&app, Method::POST, "/1.0/kb/accounts", "alice", "alice-pw")
            .json(&json!({ "externalKey": "alices", "currency": "USD" })),
    )
    .await;
    expect_status(created, StatusCode::CREATED).await;

    let purchase = send(
        as_user(
            &app,
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/payments"),
            "alice",
            "alice-pw",
        )
        .json(&json!({ "transactionType": "PURCHASE", "amount": 10, "currency": "USD" })),
    )
    .await;
    let body = expect_kb_error(purchase, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["className"], UNAUTHORIZED);
    assert_eq!(
        body["message"],
        "Subject does not have permission [payment:trigger]"
    );
    assert_eq!(
        body["causeClassName"],
        "org.apache.shiro.authz.AuthorizationException"
    );
    assert_eq!(app.count("select count(*) from payments").await, 0);
    // Nor may it add a payment method, tag, or manage tenant keys.
    refused_for(
        send(
            as_user(
                &app,
                Method::POST,
                &format!("/1.0/kb/accounts/{account}/paymentMethods"),
                "alice",
                "alice-pw",
            )
            .json(&json!({ "pluginName": "__EXTERNAL_PAYMENT__" })),
        )
        .await,
        "payment_method:create",
    )
    .await;
    refused_for(
        send(
            as_user(
                &app,
                Method::POST,
                "/1.0/kb/tenants/userKeyValue/k",
                "alice",
                "alice-pw",
            )
            .header("Content-Type", "text/plain")
            .body("v"),
        )
        .await,
        "tenant_kvs:add",
    )
    .await;
    assert_eq!(app.count("select count(*) from payment_methods").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn users_and_roles_live_in_the_database_and_every_change_takes_effect_at_once() {
    let app = TestApp::spawn_with_tenant().await;
    define_role(&app, "tagger", &["tag:create_tag_definition"]).await;
    define_role(&app, "reader", &[]).await;
    add_user(&app, "bob", "first-pw", &["reader"]).await;
    let definition = |name: &str| {
        as_user(
            &app,
            Method::POST,
            "/1.0/kb/tagDefinitions",
            "bob",
            "second-pw",
        )
        .json(&json!({ "name": name, "description": "d", "applicableObjectTypes": ["ACCOUNT"] }))
    };
    expect_status(
        send(as_user(
            &app,
            Method::GET,
            "/1.0/kb/security/subject",
            "bob",
            "first-pw",
        ))
        .await,
        StatusCode::OK,
    )
    .await;

    // A new password: the old one is refused from the next request on.
    let response = send(
        app.admin(Method::PUT, "/1.0/kb/security/users/bob/password")
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&json!({ "password": "second-pw" })),
    )
    .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let old = send(as_user(
        &app,
        Method::GET,
        "/1.0/kb/security/subject",
        "bob",
        "first-pw",
    ))
    .await;
    expect_kb_error(old, StatusCode::UNAUTHORIZED).await;
    refused_for(send(definition("first")).await, "tag:create_tag_definition").await;

    // New roles apply to the next request.
    let response = send(
        app.admin(Method::PUT, "/1.0/kb/security/users/bob/roles")
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&json!({ "roles": ["tagger", "reader"] })),
    )
    .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    expect_status(send(definition("second")).await, StatusCode::CREATED).await;
    let roles =
        json_of(send(app.admin(Method::GET, "/1.0/kb/security/users/bob/roles")).await).await;
    assert_eq!(
        roles,
        json!({ "username": "bob", "password": null, "roles": ["reader", "tagger"] })
    );

    // So does a new definition of a role the user holds (Kill Bill waits for its cache).
    let response = send(
        app.admin(Method::PUT, "/1.0/kb/security/roles")
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&json!({ "role": "tagger", "permissions": ["tag:add"] })),
    )
    .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    refused_for(send(definition("third")).await, "tag:create_tag_definition").await;
    let role = json_of(send(app.admin(Method::GET, "/1.0/kb/security/roles/tagger")).await).await;
    assert_eq!(
        role,
        json!({ "role": "tagger", "permissions": ["tag:add"] })
    );

    // Deleted: refused, and the name can be given again.
    let response = send(
        app.admin(Method::DELETE, "/1.0/kb/security/users/bob")
            .header("X-Killbill-CreatedBy", "rbac-test"),
    )
    .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let gone = send(as_user(
        &app,
        Method::GET,
        "/1.0/kb/security/subject",
        "bob",
        "second-pw",
    ))
    .await;
    expect_kb_error(gone, StatusCode::UNAUTHORIZED).await;
    let error = expect_kb_error(
        send(app.admin(Method::GET, "/1.0/kb/security/users/bob/roles")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["className"], SECURITY_API_EXCEPTION);
    assert_eq!(error["code"], 40001);
    assert_eq!(
        error["message"],
        "The user bob does not exist or has been inactivated"
    );
    add_user(&app, "bob", "third-pw", &[]).await;
    let roles =
        json_of(send(app.admin(Method::GET, "/1.0/kb/security/users/bob/roles")).await).await;
    assert_eq!(roles["roles"], json!([]));
    // Passwords are stored as argon2id hashes only.
    let stored: Vec<String> = app
        .db
        .client()
        .await
        .query("select password from users", &[])
        .await
        .expect("users")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(stored.len(), 2);
    assert!(
        stored.iter().all(|hash| hash.starts_with("$argon2id$")
            && ["first-pw", "second-pw", "third-pw"]
                .iter()
                .all(|password| !hash.contains(password))),
        "{stored:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_security_input_gets_kill_bills_errors_and_stores_nothing() {
    let app = TestApp::spawn_with_tenant().await;
    define_role(&app, "existing", &["account:create"]).await;
    add_user(&app, "carol", "carol-pw", &["existing"]).await;
    let post = |path: &str, body: Value| {
        app.admin(Method::POST, path)
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&body)
    };
    let cases = [
        (
            post(
                "/1.0/kb/security/roles",
                json!({ "role": "existing", "permissions": ["tag:add"] }),
            ),
            Some(40004),
            "The role existing already exists",
        ),
        (
            post(
                "/1.0/kb/security/roles",
                json!({ "role": "bad", "permissions": ["a:b:c"] }),
            ),
            Some(40005),
            "The permission a:b:c is invalid",
        ),
        (
            post(
                "/1.0/kb/security/users",
                json!({ "username": "carol", "password": "x", "roles": [] }),
            ),
            Some(40002),
            "The user carol already exists",
        ),
        (
            post(
                "/1.0/kb/security/users",
                json!({ "username": "admin", "password": "x", "roles": [] }),
            ),
            Some(40002),
            "The user admin already exists",
        ),
        (
            post(
                "/1.0/kb/security/users",
                json!({ "username": "dave", "roles": [] }),
            ),
            None,
            "UserRolesJson password needs to be set",
        ),
        (
            post(
                "/1.0/kb/security/users",
                json!({ "username": "dave", "password": "x" }),
            ),
            None,
            "UserRolesJson roles needs to be set",
        ),
        (
            post(
                "/1.0/kb/security/roles",
                json!({ "permissions": ["account:*"] }),
            ),
            None,
            "The template variable 'role' has no value",
        ),
        (
            app.admin(Method::PUT, "/1.0/kb/security/users/nobody/password")
                .header("X-Killbill-CreatedBy", "rbac-test")
                .json(&json!({ "password": "x" })),
            Some(40001),
            "The user nobody does not exist or has been inactivated",
        ),
        (
            app.admin(Method::DELETE, "/1.0/kb/security/users/nobody")
                .header("X-Killbill-CreatedBy", "rbac-test"),
            Some(40001),
            "The user nobody does not exist or has been inactivated",
        ),
    ];
    for (request, code, message) in cases {
        let error = expect_kb_error(send(request).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["message"], message, "{error}");
        assert_eq!(error["code"], json!(code), "{error}");
    }
    let unknown = expect_kb_error(
        send(post(
            "/1.0/kb/security/roles",
            json!({ "role": "x", "permissions": ["a"], "colour": 1 }),
        ))
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        unknown["className"],
        "com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException"
    );
    let no_created_by = send(
        app.admin(Method::POST, "/1.0/kb/security/roles")
            .json(&json!({ "role": "x", "permissions": ["a"] })),
    )
    .await;
    expect_kb_error(no_created_by, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.count("select count(*) from users").await, 1);
    assert_eq!(app.count("select count(*) from roles_permissions").await, 1);
    assert_eq!(app.count("select count(*) from user_roles").await, 1);
    // An unknown role reads as one without permissions, as in Kill Bill.
    let role = json_of(send(app.admin(Method::GET, "/1.0/kb/security/roles/nothing")).await).await;
    assert_eq!(role, json!({ "role": "nothing", "permissions": [] }));
    app.stop().await;
}

#[tokio::test]
async fn permissions_and_subject_describe_the_caller() {
    let app =
        TestApp::spawn_with(&[("ferrobill.security.users", "admin:password,clerk:clerk-pw")]).await;
    define_role(
        &app,
        "payer",
        &["payment:trigger,refund", "ACCOUNT:CREATE", "tag"],
    )
    .await;
    define_role(&app, "viewer", &["account:*"]).await;
    add_user(&app, "erin", "erin-pw", &["viewer", "payer"]).await;
    let get = |path: &str, user: &str, password: &str| {
        app.bare(Method::GET, path)
            .basic_auth(user, Some(password))
            .send()
    };
    let admin = json_of(
        get("/1.0/kb/security/permissions", "admin", "password")
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(admin, json!(["*:*"]));
    // Kill Bill's order: its HashSet of the roles' permissions, roles by name.
    let erin = json_of(
        get("/1.0/kb/security/permissions", "erin", "erin-pw")
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(
        erin,
        json!([
            "payment:trigger,refund",
            "ACCOUNT:CREATE",
            "account:*",
            "tag:*"
        ])
    );
    let clerk = json_of(
        get("/1.0/kb/security/permissions", "clerk", "clerk-pw")
            .await
            .expect("GET"),
    )
    .await;
    let clerk: Vec<&str> = clerk
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(clerk.len(), 12, "{clerk:?}");
    assert!(
        clerk.contains(&"payment:*")
            && !clerk
                .iter()
                .any(|p| p.starts_with("admin") || p.starts_with("user"))
    );
    let subject = json_of(
        get("/1.0/kb/security/subject", "erin", "erin-pw")
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(
        subject,
        json!({ "principal": "erin", "isAuthenticated": true, "isRemembered": false, "session": null })
    );
    // Reads need no permission; a wildcard subpart grants what it lists.
    let response = get("/1.0/kb/security/roles/payer", "erin", "erin-pw")
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_reaches_every_node_at_once() {
    let mut cluster = TestCluster::spawn_with(&[]).await;
    cluster
        .create_tenant("rbac-cluster", "rbac-cluster-secret")
        .await;
    define_role(&cluster.nodes[0], "nothing", &[]).await;
    add_user(&cluster.nodes[0], "frank", "old-pw", &["nothing"]).await;
    // Every node verifies, and remembers, the old password.
    for node in &cluster.nodes {
        let response = send(as_user(
            node,
            Method::GET,
            "/1.0/kb/security/subject",
            "frank",
            "old-pw",
        ))
        .await;
        expect_status(response, StatusCode::OK).await;
    }
    let response = send(
        cluster.nodes[0]
            .admin(Method::PUT, "/1.0/kb/security/users/frank/password")
            .header("X-Killbill-CreatedBy", "rbac-test")
            .json(&json!({ "password": "new-pw" })),
    )
    .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    for node in &cluster.nodes {
        wait_until(
            "the old password to be forgotten",
            Duration::from_secs(10),
            || async {
                send(as_user(
                    node,
                    Method::GET,
                    "/1.0/kb/security/subject",
                    "frank",
                    "old-pw",
                ))
                .await
                .status()
                    == StatusCode::UNAUTHORIZED
            },
        )
        .await;
        let response = send(as_user(
            node,
            Method::GET,
            "/1.0/kb/security/subject",
            "frank",
            "new-pw",
        ))
        .await;
        expect_status(response, StatusCode::OK).await;
    }
    cluster.stop().await;
}
