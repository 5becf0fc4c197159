//! `GET /1.0/kb/admin/queues`: a tenant's bus entries, history first, in Kill Bill's shape,
//! never another tenant's.

use std::time::Duration;

use ferrobill::bus::{BusEvent, SearchKeys};
use ferrobill::config::Config;
use ferrobill::db::pool::DbPool;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bus::post;
use crate::harness::{expect_kb_error, expect_status, header, wait_until, TestApp};

#[derive(Debug, Serialize, Deserialize)]
struct TenantEvent {
    tenant_record_id: i64,
    n: u64,
}

impl BusEvent for TenantEvent {
    const CLASS_NAME: &'static str = "org.ferrobill.test.TenantEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys {
            account_record_id: Some(7),
            tenant_record_id: self.tenant_record_id,
        }
    }
}

async fn queues(app: &TestApp, query: &str) -> Value {
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/admin/queues{query}"))
        .send()
        .await
        .expect("GET");
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "content-type"),
        "application/octet-stream"
    );
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn lists_this_tenants_bus_entries_in_kill_bills_shape() {
    let mut app = TestApp::spawn_with(&[("org.killbill.persistent.bus.main.sleep", "20")]).await;
    app.create_tenant("other", "other-secret").await;
    app.use_new_tenant("mine").await;
    let db = app.db.client().await;
    let record_id = |key: &'static str| {
        let db = &db;
        async move {
            db.query_one("select record_id from tenants where api_key = $1", &[&key])
                .await
                .expect("tenant")
                .get::<_, i64>(0)
        }
    };
    let (mine, other) = (record_id("mine").await, record_id("other").await);

    let config = Config::from_properties(&[]).expect("defaults");
    let pool = ferrobill::db::work::Db::new(
        DbPool::new("main", &config.main_pool, app.db.config.clone()).expect("pool"),
    );
    let bus = app.app().main_bus().clone();
    for (tenant_record_id, n) in [(mine, 1), (other, 2), (mine, 3)] {
        post(
            &pool,
            &bus,
            &TenantEvent {
                tenant_record_id,
                n,
            },
            true,
        )
        .await;
    }
    wait_until(
        "the events to reach history",
        Duration::from_secs(30),
        || {
            let db = &db;
            async move {
                db.query_one("select count(*) from bus_events_history", &[])
                    .await
                    .map(|row| row.get::<_, i64>(0) == 3)
                    .unwrap_or(false)
            }
        },
    )
    .await;

    let listing = queues(&app, "").await;
    let keys: Vec<&String> = listing.as_object().expect("object").keys().collect();
    assert_eq!(keys, vec!["busEvents", "notifications"]);
    let events = listing["busEvents"].as_array().expect("busEvents");
    assert_eq!(events.len(), 2, "only this tenant's events: {listing}");
    for (entry, n) in events.iter().zip([1, 3]) {
        assert_eq!(entry["className"], TenantEvent::CLASS_NAME);
        assert_eq!(entry["event"]["n"], n);
        assert_eq!(entry["searchKey1"], 7);
        assert_eq!(entry["searchKey2"], mine);
        assert!(entry["recordId"].is_i64());
        assert!(entry["createdDate"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z')));
        assert!(entry.get("userToken").is_some());
    }
    assert_eq!(listing["notifications"], serde_json::json!([]));

    // Without history nothing is left (everything was dispatched); sections can be left out.
    let live = queues(&app, "?withHistory=false&withNotifications=false").await;
    assert_eq!(live, serde_json::json!({ "busEvents": [] }));
    let none = queues(&app, "?withBusEvents=false&withNotifications=false").await;
    assert_eq!(none, serde_json::json!({}));
    // A window that ends before the events were created excludes them from history.
    let old = queues(&app, "?minDate=2999-01-01&withNotifications=false").await;
    assert_eq!(old, serde_json::json!({ "busEvents": [] }));

    // Joda refuses a date with its own message; JAX-RS cannot convert a UUID: 404.
    for (bad, status) in [
        ("?minDate=yesterday", StatusCode::BAD_REQUEST),
        ("?accountId=not-a-uuid", StatusCode::NOT_FOUND),
    ] {
        let response = app
            .kb(Method::GET, &format!("/1.0/kb/admin/queues{bad}"))
            .send()
            .await
            .expect("GET");
        let error = expect_kb_error(response, status).await;
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(error["message"], "Invalid format: \"yesterday\"");
        }
    }
    app.stop().await;
}
