//! Payment methods as api.md §3 describes Kill Bill's: adding one (default or not) through
//! `__EXTERNAL_PAYMENT__`, the error codes (7000, 7022, 7023, 7028), the soft delete and the
//! account default it clears, tenant isolation, and the history and audit rows every write
//! leaves, the AUTO_PAY_OFF tag a default deletion may add, audit levels on reads, the trail
//! with history, and `pluginInfo` on every read that asks for it.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, TestApp, PAYMENT_METHOD_FIELDS};

const EXTERNAL: &str = "__EXTERNAL_PAYMENT__";

/// Adds a payment method with the query `query`; returns the response.
async fn add(app: &TestApp, account_id: &str, query: &str, body: Value) -> reqwest::Response {
    app.kb(
        Method::POST,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods{query}"),
    )
    .json(&body)
    .send()
    .await
    .expect("POST paymentMethods")
}

async fn add_ok(app: &TestApp, account_id: &str, query: &str, body: Value) -> String {
    let response =
        expect_status(add(app, account_id, query, body).await, StatusCode::CREATED).await;
    let location = header(&response, "location");
    assert!(
        location.starts_with("http://") && location.contains("/1.0/kb/paymentMethods/"),
        "{location}"
    );
    location.rsplit('/').next().expect("an id").to_string()
}

#[tokio::test]
async fn a_default_method_is_added_read_and_deleted_only_when_forced() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("pm-account").await;
    let pm_id = add_ok(
        &app,
        &account_id,
        "?isDefault=true",
        json!({ "pluginName": EXTERNAL, "isDefault": false }),
    )
    .await;

    let account = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}"))
        .await;
    assert_eq!(account["paymentMethodId"], json!(pm_id));
    let method = app
        .get_json(&format!("/1.0/kb/paymentMethods/{pm_id}"))
        .await;
    let fields: BTreeSet<&str> = method
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        PAYMENT_METHOD_FIELDS
            .iter()
            .copied()
            .collect::<BTreeSet<&str>>()
    );
    assert_eq!(method["isDefault"], json!(true));
    assert_eq!(method["accountId"], json!(account_id));
    assert_eq!(method["pluginName"], json!(EXTERNAL));
    assert_eq!(method["pluginInfo"], Value::Null);
    // The first external method without a key takes the plugin's id, "unknown".
    assert_eq!(method["externalKey"], json!("unknown"));
    let with_info = app
        .get_json(&format!(
            "/1.0/kb/paymentMethods/{pm_id}?withPluginInfo=true"
        ))
        .await;
    assert_eq!(
        with_info["pluginInfo"],
        json!({ "externalPaymentMethodId": "unknown", "isDefaultPaymentMethod": false, "properties": [] })
    );
    let by_key = app
        .get_json("/1.0/kb/paymentMethods?externalKey=unknown")
        .await;
    assert_eq!(by_key["paymentMethodId"], json!(pm_id));

    // The default cannot be deleted without a flag: 400 (Kill Bill: 500), nothing changes.
    let response = app
        .kb(Method::DELETE, &format!("/1.0/kb/paymentMethods/{pm_id}"))
        .send()
        .await
        .expect("DELETE");
    let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], json!(7022));
    assert_eq!(
        error["message"],
        json!(format!(
            "Cannot delete default payment method for account {account_id}"
        ))
    );
    let account = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}"))
        .await;
    assert_eq!(account["paymentMethodId"], json!(pm_id));
    let listed = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/paymentMethods"))
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    // Forced: a soft delete that clears the account's default.
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/paymentMethods/{pm_id}?forceDefaultPmDeletion=true"),
        )
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let account = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}"))
        .await;
    assert_eq!(account["paymentMethodId"], Value::Null);
    let listed = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/paymentMethods"))
        .await;
    assert_eq!(listed, json!([]));
    let listed = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/paymentMethods?includedDeleted=true"
        ))
        .await;
    assert_eq!(listed[0]["paymentMethodId"], json!(pm_id));
    assert_eq!(listed[0]["isDefault"], json!(false));
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/paymentMethods/{pm_id}"))
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));

    // One INSERT and one DELETE history row, each audited; the account's default changed
    // twice, each an audited account_history row.
    assert_eq!(
        app.count("select count(*) from payment_method_history")
            .await,
        2
    );
    assert_eq!(
        app.count(
            "select count(*) from audit_log where table_name = 'PAYMENT_METHOD_HISTORY'
             and account_record_id is not null"
        )
        .await,
        2
    );
    assert_eq!(
        app.count(
            "select count(*) from payment_method_history h join audit_log l
             on l.target_record_id = h.record_id and l.table_name = 'PAYMENT_METHOD_HISTORY'
             where h.change_type = l.change_type"
        )
        .await,
        2
    );
    assert_eq!(
        app.count(
            "select count(*) from audit_log where table_name = 'ACCOUNT_HISTORY'
             and change_type = 'UPDATE'"
        )
        .await,
        2
    );
    assert_eq!(
        app.count("select count(*) from payment_methods where not is_active")
            .await,
        1
    );
}

#[tokio::test]
async fn refusals_carry_kill_bills_codes() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("refusals").await;
    let first = add_ok(
        &app,
        &account_id,
        "",
        json!({ "pluginName": EXTERNAL, "externalKey": "cheque" }),
    )
    .await;
    let listed = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/paymentMethods"))
        .await;
    assert_eq!(listed[0]["isDefault"], json!(false));
    assert_eq!(listed[0]["externalKey"], json!("cheque"));

    let error = expect_kb_error(
        add(&app, &account_id, "", json!({ "pluginName": EXTERNAL })).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(7023));

    let error = expect_kb_error(
        add(&app, &account_id, "", json!({ "pluginName": "stripe" })).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(7028));
    assert_eq!(
        error["message"],
        json!("Payment plugin stripe is not registered")
    );

    expect_kb_error(
        add(&app, &account_id, "", json!({ "externalKey": "x" })).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let unknown = uuid::Uuid::new_v4();
    expect_kb_error(
        add(
            &app,
            &unknown.to_string(),
            "",
            json!({ "pluginName": EXTERNAL }),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let response = app
        .kb(Method::GET, "/1.0/kb/paymentMethods?externalKey=nope")
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));

    // setDefault with another account's method: 404 7000 (Kill Bill: 500).
    let other_account = app.usd_account("other").await;
    let response = app
        .kb(
            Method::PUT,
            &format!("/1.0/kb/accounts/{other_account}/paymentMethods/{first}/setDefault"),
        )
        .send()
        .await
        .expect("PUT");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));
    let response = app
        .kb(
            Method::PUT,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods/{first}/setDefault"),
        )
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let method = app
        .get_json(&format!("/1.0/kb/paymentMethods/{first}"))
        .await;
    assert_eq!(method["isDefault"], json!(true));

    // Nothing was written by the refusals.
    assert_eq!(app.count("select count(*) from payment_methods").await, 1);
}

#[tokio::test]
async fn another_tenants_methods_are_unknown() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("mine").await;
    let pm_id = add_ok(&app, &account_id, "", json!({ "pluginName": EXTERNAL })).await;
    let other = app.create_tenant("other-key", "other-secret").await;
    let as_other = |method: Method, path: &str| {
        app.admin(method, path)
            .header("X-Killbill-ApiKey", &other.api_key)
            .header("X-Killbill-ApiSecret", &other.api_secret)
            .header("X-Killbill-CreatedBy", "intruder")
    };
    for (method, path) in [
        (Method::GET, format!("/1.0/kb/paymentMethods/{pm_id}")),
        (Method::DELETE, format!("/1.0/kb/paymentMethods/{pm_id}")),
        (
            Method::GET,
            "/1.0/kb/paymentMethods?externalKey=unknown".to_string(),
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        ),
    ] {
        let response = as_other(method, &path).send().await.expect("request");
        expect_kb_error(response, StatusCode::NOT_FOUND).await;
    }
    let response = as_other(
        Method::POST,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
    )
    .json(&json!({ "pluginName": EXTERNAL }))
    .send()
    .await
    .expect("POST");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        app.count("select count(*) from payment_methods where is_active")
            .await,
        1
    );
}

#[tokio::test]
async fn auto_pay_off_deletion_clears_the_default_and_a_second_delete_is_unknown() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("auto-pay-off").await;
    let pm_id = add_ok(
        &app,
        &account_id,
        "?isDefault=true&pluginProperty=a=b",
        json!({ "pluginName": EXTERNAL, "externalKey": "wire" }),
    )
    .await;

    // setDefault on an unknown account is the account's 404.
    let response = app
        .kb(
            Method::PUT,
            &format!(
                "/1.0/kb/accounts/{}/paymentMethods/{pm_id}/setDefault",
                uuid::Uuid::new_v4()
            ),
        )
        .send()
        .await
        .expect("PUT");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;

    let delete = |query: &'static str| {
        app.kb(
            Method::DELETE,
            &format!("/1.0/kb/paymentMethods/{pm_id}{query}"),
        )
        .send()
    };
    let response = delete("?deleteDefaultPmWithAutoPayOff=true")
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let account = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}"))
        .await;
    assert_eq!(account["paymentMethodId"], Value::Null);
    let error = expect_kb_error(delete("").await.expect("DELETE"), StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));

    // The deleted method still holds its key, and with it a second external method may exist.
    let deleted = app
        .get_json("/1.0/kb/paymentMethods?externalKey=wire&includedDeleted=true")
        .await;
    assert_eq!(deleted["paymentMethodId"], json!(pm_id));
    add_ok(&app, &account_id, "", json!({ "pluginName": EXTERNAL })).await;

    // No body at all is Kill Bill's "PaymentMethodJson body should be specified".
    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        )
        .header("Content-Type", "application/json")
        .send()
        .await
        .expect("POST");
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;
}

const AUTO_PAY_OFF: &str = "00000000-0000-0000-0000-000000000001";

/// The account's active tags, as names.
async fn tag_names(app: &TestApp, account_id: &str) -> Vec<String> {
    app.get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await
        .as_array()
        .expect("an array")
        .iter()
        .map(|tag| {
            tag["tagDefinitionName"]
                .as_str()
                .expect("a name")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn deleting_the_default_with_auto_pay_off_tags_the_account_once() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("auto-pay-off-tag").await;
    let first = add_ok(
        &app,
        &account_id,
        "?isDefault=true",
        json!({ "pluginName": EXTERNAL, "externalKey": "first" }),
    )
    .await;
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/paymentMethods/{first}?deleteDefaultPmWithAutoPayOff=true"),
        )
        .header("X-Killbill-Reason", "card expired")
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;

    let tags = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags?audit=FULL"))
        .await;
    assert_eq!(tags.as_array().map(Vec::len), Some(1), "{tags}");
    assert_eq!(tags[0]["tagDefinitionId"], json!(AUTO_PAY_OFF));
    assert_eq!(tags[0]["tagDefinitionName"], json!("AUTO_PAY_OFF"));
    assert_eq!(tags[0]["objectId"], json!(account_id));
    let logs = tags[0]["auditLogs"].as_array().expect("auditLogs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["changeType"], json!("INSERT"));
    assert_eq!(logs[0]["reasonCode"], json!("card expired"));
    assert_eq!(
        app.count(
            "select count(*) from tag_history h join audit_log l
             on l.target_record_id = h.record_id and l.table_name = 'TAG_HISTORY'
             where h.change_type = 'INSERT' and l.change_type = 'INSERT'"
        )
        .await,
        1
    );

    // Without a default method the tag cannot be removed (3951).
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/accounts/{account_id}/tags?tagDef={AUTO_PAY_OFF}"),
        )
        .send()
        .await
        .expect("DELETE");
    let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], json!(3951));

    // A second default deleted the same way leaves the one tag the account already carries.
    let second = add_ok(
        &app,
        &account_id,
        "?isDefault=true",
        json!({ "pluginName": EXTERNAL, "externalKey": "second" }),
    )
    .await;
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/paymentMethods/{second}?deleteDefaultPmWithAutoPayOff=true"),
        )
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(tag_names(&app, &account_id).await, ["AUTO_PAY_OFF"]);
    assert_eq!(app.count("select count(*) from tag_history").await, 1);

    // The account's trail: its own changes, its methods', then its tag, by table name.
    let trail = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/auditLogs"))
        .await;
    let object_types: Vec<&str> = trail
        .as_array()
        .expect("an array")
        .iter()
        .map(|log| log["objectType"].as_str().expect("an objectType"))
        .collect();
    // Account: creation and four default changes; methods: two added, two deleted; one tag.
    assert_eq!(
        object_types,
        [
            "ACCOUNT",
            "ACCOUNT",
            "ACCOUNT",
            "ACCOUNT",
            "ACCOUNT",
            "PAYMENT_METHOD",
            "PAYMENT_METHOD",
            "PAYMENT_METHOD",
            "PAYMENT_METHOD",
            "TAG",
        ]
    );
    assert_eq!(trail[5]["objectId"], json!(first));
    assert_eq!(trail[9]["objectId"], tags[0]["tagId"]);

    // With a default method again, the tag can be removed.
    add_ok(
        &app,
        &account_id,
        "?isDefault=true",
        json!({ "pluginName": EXTERNAL, "externalKey": "third" }),
    )
    .await;
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/accounts/{account_id}/tags?tagDef={AUTO_PAY_OFF}"),
        )
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert!(tag_names(&app, &account_id).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn only_the_auto_pay_off_flag_on_the_default_tags_the_account() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("no-tag").await;
    let default = add_ok(
        &app,
        &account_id,
        "?isDefault=true",
        json!({ "pluginName": EXTERNAL, "externalKey": "default" }),
    )
    .await;
    let other_account = app.usd_account("other-no-tag").await;
    let not_default = add_ok(
        &app,
        &other_account,
        "",
        json!({ "pluginName": EXTERNAL, "externalKey": "plain" }),
    )
    .await;
    for (id, query) in [
        (&default, "?forceDefaultPmDeletion=true"),
        (&not_default, "?deleteDefaultPmWithAutoPayOff=true"),
    ] {
        let response = app
            .kb(
                Method::DELETE,
                &format!("/1.0/kb/paymentMethods/{id}{query}"),
            )
            .send()
            .await
            .expect("DELETE");
        expect_status(response, StatusCode::NO_CONTENT).await;
    }
    assert!(tag_names(&app, &account_id).await.is_empty());
    assert!(tag_names(&app, &other_account).await.is_empty());
    assert_eq!(app.count("select count(*) from tags").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn audit_levels_fill_audit_logs_on_payment_method_reads() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("pm-audit").await;
    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        )
        .header("X-Killbill-Reason", "signup")
        .header("X-Killbill-Comment", "first card")
        .json(&json!({ "pluginName": EXTERNAL, "externalKey": "audited" }))
        .send()
        .await
        .expect("POST");
    let response = expect_status(response, StatusCode::CREATED).await;
    let pm_id = header(&response, "location")
        .rsplit('/')
        .next()
        .expect("an id")
        .to_string();

    let none = app
        .get_json(&format!("/1.0/kb/paymentMethods/{pm_id}?audit=NONE"))
        .await;
    assert_eq!(none["auditLogs"], json!([]));
    let minimal = app
        .get_json(&format!("/1.0/kb/paymentMethods/{pm_id}?audit=minimal"))
        .await;
    let logs = minimal["auditLogs"].as_array().expect("auditLogs");
    assert_eq!(logs.len(), 1, "{minimal}");
    let log = &logs[0];
    let fields: BTreeSet<&str> = log
        .as_object()
        .expect("an AuditLogJson object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "changeType",
            "changeDate",
            "objectType",
            "objectId",
            "changedBy",
            "reasonCode",
            "comments",
            "userToken",
            "history"
        ])
    );
    assert_eq!(log["changeType"], json!("INSERT"));
    assert_eq!(log["objectType"], json!("PAYMENT_METHOD"));
    assert_eq!(log["objectId"], json!(pm_id));
    assert_eq!(log["changedBy"], json!("integration-test"));
    assert_eq!(log["reasonCode"], json!("signup"));
    assert_eq!(log["comments"], json!("first card"));
    assert_eq!(log["history"], Value::Null);

    let by_key = app
        .get_json("/1.0/kb/paymentMethods?externalKey=audited&audit=FULL")
        .await;
    assert_eq!(by_key["auditLogs"], minimal["auditLogs"]);
    let listed = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/paymentMethods?audit=FULL"
        ))
        .await;
    assert_eq!(listed[0]["auditLogs"], minimal["auditLogs"]);
    let listed = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/paymentMethods"))
        .await;
    assert_eq!(listed[0]["auditLogs"], json!([]));

    let response = app
        .kb(Method::DELETE, &format!("/1.0/kb/paymentMethods/{pm_id}"))
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let deleted = app
        .get_json(&format!(
            "/1.0/kb/paymentMethods/{pm_id}?includedDeleted=true&audit=FULL"
        ))
        .await;
    let changes: Vec<&Value> = deleted["auditLogs"]
        .as_array()
        .expect("auditLogs")
        .iter()
        .map(|log| &log["changeType"])
        .collect();
    assert_eq!(changes, [&json!("INSERT"), &json!("DELETE")]);

    // The trail with history: the method's state after each change.
    let trail = app
        .get_json(&format!(
            "/1.0/kb/paymentMethods/{pm_id}/auditLogsWithHistory"
        ))
        .await;
    let trail = trail.as_array().expect("an array");
    assert_eq!(trail.len(), 2);
    for (entry, (change, active)) in trail.iter().zip([("INSERT", true), ("DELETE", false)]) {
        assert_eq!(entry["changeType"], json!(change));
        assert_eq!(entry["objectType"], json!("PAYMENT_METHOD"));
        assert_eq!(entry["objectId"], json!(pm_id));
        let history = &entry["history"];
        assert_eq!(history["id"], Value::Null, "{history}");
        assert_eq!(history["active"], json!(active));
        assert_eq!(history["accountId"], json!(account_id));
        assert_eq!(history["externalKey"], json!("audited"));
        assert_eq!(history["pluginName"], json!(EXTERNAL));
        assert_eq!(history["isActive"], json!(active));
        assert!(history.get("targetRecordId").is_none(), "{history}");
        let created = history["createdDate"].as_str().expect("a createdDate");
        assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    }

    for path in [
        format!("/1.0/kb/paymentMethods/{pm_id}?includedDeleted=true&audit=ALL"),
        format!(
            "/1.0/kb/paymentMethods/{}/auditLogsWithHistory",
            uuid::Uuid::new_v4()
        ),
    ] {
        let response = app.kb(Method::GET, &path).send().await.expect("GET");
        expect_kb_error(response, StatusCode::NOT_FOUND).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn plugin_info_is_asked_of_the_plugin_on_every_read_with_plugin_info() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("plugin-info").await;
    let pm_id = add_ok(
        &app,
        &account_id,
        "",
        json!({ "pluginName": EXTERNAL, "externalKey": "detailed" }),
    )
    .await;
    // __EXTERNAL_PAYMENT__'s detail, as PaymentMethodJson carries it (PaymentMethodPluginDetailJson).
    let detail = json!({
        "externalPaymentMethodId": "unknown",
        "isDefaultPaymentMethod": false,
        "properties": [],
    });
    for path in [
        format!("/1.0/kb/paymentMethods/{pm_id}?withPluginInfo=true"),
        "/1.0/kb/paymentMethods?externalKey=detailed&withPluginInfo=true".to_string(),
    ] {
        let method = app.get_json(&path).await;
        assert_eq!(method["pluginInfo"], detail, "{path}");
    }
    let listed = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/paymentMethods?withPluginInfo=true&pluginProperty=a=b"
        ))
        .await;
    assert_eq!(listed[0]["pluginInfo"], detail);
    for path in [
        format!("/1.0/kb/paymentMethods/{pm_id}"),
        "/1.0/kb/paymentMethods?externalKey=detailed&withPluginInfo=false".to_string(),
        format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
    ] {
        let body = app.get_json(&path).await;
        let method = if body.is_array() { &body[0] } else { &body };
        assert_eq!(method["pluginInfo"], Value::Null, "{path}");
    }
    app.stop().await;
}
