//! The nodes sharing the database (`/1.0/kb/nodesInfo`), the plugins a node runs
//! (`/1.0/kb/pluginsInfo`), node commands, and clearing the in-memory caches
//! (`/1.0/kb/admin/cache…`) on every node, over real HTTP.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    expect_kb_error, expect_status, json_of, node_name, send, wait_until, TestApp, TestCluster,
};

async fn nodes_info(node: &TestApp) -> Vec<Value> {
    let nodes = json_of(send(node.admin(Method::GET, "/1.0/kb/nodesInfo")).await).await;
    nodes.as_array().expect("a list").clone()
}

fn plugin_names(plugins: &Value) -> Vec<&str> {
    plugins
        .as_array()
        .expect("a list of plugins")
        .iter()
        .filter_map(|plugin| plugin["pluginName"].as_str())
        .collect()
}

#[tokio::test]
async fn every_node_of_a_cluster_is_listed_with_its_versions_and_plugins_until_it_stops() {
    let mut cluster = TestCluster::spawn_with(&[]).await;
    let nodes = nodes_info(&cluster.nodes[1]).await;
    let names: Vec<&str> = nodes
        .iter()
        .filter_map(|node| node["nodeName"].as_str())
        .collect();
    let expected: Vec<String> = (1..=cluster.nodes.len()).map(node_name).collect();
    assert_eq!(names, expected, "in the order they booted");
    for node in &nodes {
        assert_eq!(node["kbVersion"], "0.24.16");
        assert_eq!(node["apiVersion"], "0.54.0");
        assert!(
            node["bootTime"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{node}"
        );
        assert_eq!(node["bootTime"], node["lastUpdatedDate"]);
        assert_eq!(
            plugin_names(&node["pluginsInfo"]),
            ["ferrobill-gateway", "killbill-stripe"]
        );
    }
    // A node that stops is no longer listed by the others.
    // (Its database is the cluster's: only the server stops.)
    let mut stopped = cluster.nodes.pop().expect("a node");
    stopped
        .take_app()
        .shutdown()
        .await
        .expect("a clean shutdown");
    let names: Vec<String> = nodes_info(&cluster.nodes[0])
        .await
        .iter()
        .filter_map(|node| node["nodeName"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names, [node_name(1), node_name(2)]);
    cluster.stop().await;
}

#[tokio::test]
async fn plugins_info_and_node_commands_answer_as_kill_bill() {
    let app = TestApp::spawn_with_tenant().await;
    let plugins = json_of(send(app.kb(Method::GET, "/1.0/kb/pluginsInfo")).await).await;
    assert_eq!(
        plugins[1],
        json!({
            "bundleSymbolicName": "org.ferrobill.plugin.killbill-stripe",
            "pluginKey": "killbill-stripe",
            "pluginName": "killbill-stripe",
            "version": env!("CARGO_PKG_VERSION"),
            "state": "RUNNING",
            "isSelectedForStart": true,
            "services": [{
                "serviceTypeName": "org.killbill.billing.payment.plugin.api.PaymentPluginApi",
                "registrationName": "killbill-stripe"
            }]
        })
    );
    // Plugins are per tenant request, as in Kill Bill; nodes are not.
    let response = send(app.admin(Method::GET, "/1.0/kb/pluginsInfo")).await;
    expect_kb_error(response, StatusCode::UNAUTHORIZED).await;

    let command = json!({
        "isSystemCommandType": true,
        "nodeCommandType": "INSTALL_PLUGIN",
        "nodeCommandProperties": [{ "key": "pluginKey", "value": "stripe" }]
    });
    let response = send(
        app.admin(Method::POST, "/1.0/kb/nodesInfo?localNodeOnly=true")
            .json(&command),
    )
    .await;
    expect_status(response, StatusCode::ACCEPTED).await;
    let response = send(
        app.admin(Method::POST, "/1.0/kb/nodesInfo")
            .json(&json!({ "isSystemCommandType": true, "nodeCommandType": "X" })),
    )
    .await;
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    app.stop().await;
}

#[tokio::test]
async fn clearing_the_caches_forgets_what_every_node_remembered() {
    let mut cluster = TestCluster::spawn_with(&[]).await;
    cluster.create_tenant("caches", "caches-secret").await;
    let first = &cluster.nodes[0];
    // gina is written behind the API's back: a user created through it is announced to every
    // node, and an announcement reaching a node after its first answer below would make it
    // forget what this test needs it to remember.
    let operator = cluster.db.client().await;
    operator
        .execute(
            "insert into users (username, password, created_date, created_by)
             values ('gina', $1, now(), 'caches-test')",
            &[&password_hash("old-pw")],
        )
        .await
        .expect("an operator's insert");
    let subject = |node: &TestApp, password: &str| {
        node.bare(Method::GET, "/1.0/kb/security/subject")
            .basic_auth("gina", Some(password))
            .send()
    };
    // A node serves only once its cache listeners listen (their first forgetting is behind
    // them), so what it remembers now stays remembered until a change is announced.
    for node in &cluster.nodes {
        expect_status(subject(node, "old-pw").await.expect("GET"), StatusCode::OK).await;
    }
    // A change behind the API's back (an operator's SQL giving gina a new password) is not
    // seen while the old one is remembered…
    operator
        .execute(
            "update users set password = $1 where username = 'gina'",
            &[&password_hash("new-pw")],
        )
        .await
        .expect("an operator's update");
    for node in &cluster.nodes {
        expect_status(subject(node, "old-pw").await.expect("GET"), StatusCode::OK).await;
    }
    // …until an administrator clears the caches on one node: every node forgets.
    for (path, status) in [
        (
            "/1.0/kb/admin/cache?cacheName=nope",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/1.0/kb/admin/cache?cacheName=tenant-kv",
            StatusCode::NO_CONTENT,
        ),
        ("/1.0/kb/admin/cache/tenants", StatusCode::NO_CONTENT),
        (
            "/1.0/kb/admin/cache/accounts/8f4b0a52-3a3e-4d47-9a57-3d0f0c8f1b2a",
            StatusCode::NOT_FOUND,
        ),
        (
            "/1.0/kb/admin/cache/accounts/not-an-id",
            StatusCode::NOT_FOUND,
        ),
        ("/1.0/kb/admin/cache", StatusCode::NO_CONTENT),
    ] {
        let response = send(first.kb(Method::DELETE, path)).await;
        assert_eq!(response.status(), status, "{path}");
    }
    for node in &cluster.nodes {
        wait_until(
            "the cache to be cleared",
            Duration::from_secs(10),
            || async {
                subject(node, "old-pw").await.expect("GET").status() == StatusCode::UNAUTHORIZED
            },
        )
        .await;
        expect_status(subject(node, "new-pw").await.expect("GET"), StatusCode::OK).await;
    }
    // The tenant is verified again, not lost; an account of its own is found, another
    // tenant's is not.
    let account = first
        .create_account(json!({ "externalKey": "after-clearing" }))
        .await;
    let response = send(first.kb(
        Method::DELETE,
        &format!("/1.0/kb/admin/cache/accounts/{account}"),
    ))
    .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let other = first
        .create_tenant("caches-other", "caches-other-secret")
        .await;
    let response = send(
        first
            .admin(
                Method::DELETE,
                &format!("/1.0/kb/admin/cache/accounts/{account}"),
            )
            .header("X-Killbill-ApiKey", &other.api_key)
            .header("X-Killbill-ApiSecret", &other.api_secret),
    )
    .await;
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    cluster.stop().await;
}

/// An argon2id hash in the PHC form ferrobill stores, for a user written with SQL.
fn password_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::from_b64("Y2FjaGVzLXRlc3Q").expect("a base64 salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("an argon2id hash")
        .to_string()
}
