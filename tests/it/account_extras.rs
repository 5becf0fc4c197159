//! The account's parts that need no invoice: its additional emails (added once, listed,
//! removed, with history and audit rows, concurrent additions of one address stored once), its
//! children (Kill Bill's `parentAccountId` rules), and the export of its rows; unknown accounts
//! and another tenant's answer as Kill Bill does for an unknown one, and bad input stores
//! nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, TestApp};

const UNKNOWN: &str = "11111111-2222-3333-4444-555555555555";

fn addresses(emails: &Value) -> Vec<&str> {
    emails
        .as_array()
        .expect("an array")
        .iter()
        .map(|email| email["email"].as_str().expect("an email"))
        .collect()
}

#[tokio::test]
async fn emails_are_added_once_listed_and_removed_with_history_and_audit_rows() {
    let mut app = TestApp::spawn_with_tenant().await;
    let account = app
        .create_account(json!({ "externalKey": "mailed", "email": "main@example.com" }))
        .await;
    let emails = format!("/1.0/kb/accounts/{account}/emails");
    for body in [
        json!({ "accountId": account, "email": "ada@example.com" }),
        // Again, and with the account left out of the body: the path names it.
        json!({ "email": "ada@example.com" }),
        json!({ "accountId": UNKNOWN, "email": "lovelace@example.com" }),
    ] {
        let response = app.send(Method::POST, &emails, Some(body)).await;
        let response = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(
            header(&response, "location"),
            format!("{}{emails}", app.address)
        );
    }
    let listed = app.get_json(&emails).await;
    assert_eq!(
        addresses(&listed),
        ["ada@example.com", "lovelace@example.com"]
    );
    assert_eq!(
        listed[0],
        json!({ "accountId": account, "email": "ada@example.com", "auditLogs": [] })
    );

    for (body, status, message) in [
        (
            json!({ "email": "" }),
            StatusCode::BAD_REQUEST,
            "AccountEmailJson email needs to be set",
        ),
        (
            Value::Null,
            StatusCode::BAD_REQUEST,
            "AccountEmailJson body should be specified",
        ),
        (
            json!({ "email": format!("{}@example.com", "a".repeat(120)) }),
            StatusCode::BAD_REQUEST,
            "character varying(128)",
        ),
    ] {
        let error =
            expect_kb_error(app.send(Method::POST, &emails, Some(body)).await, status).await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|text| text.contains(message)),
            "{error}"
        );
    }
    let error = expect_kb_error(
        app.send(
            Method::POST,
            &format!("/1.0/kb/accounts/{UNKNOWN}/emails"),
            Some(json!({ "email": "x@example.com" })),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        error["className"],
        "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist"
    );
    assert_eq!(
        app.get_json(&format!("/1.0/kb/accounts/{UNKNOWN}/emails"))
            .await,
        json!([])
    );
    assert_eq!(app.count("select count(*) from account_emails").await, 2);

    // Removing one, then again, then from an unknown account: 204 every time.
    for path in [
        format!("{emails}/lovelace@example.com"),
        format!("{emails}/lovelace@example.com"),
        format!("/1.0/kb/accounts/{UNKNOWN}/emails/ada@example.com"),
    ] {
        expect_status(
            app.send(Method::DELETE, &path, None).await,
            StatusCode::NO_CONTENT,
        )
        .await;
    }
    assert_eq!(addresses(&app.get_json(&emails).await), ["ada@example.com"]);

    // Each change has its history row and audit row; the account's trail shows them first
    // (ACCOUNT_EMAIL_HISTORY sorts first), which is where a client finds an email's id.
    assert_eq!(
        app.count("select count(*) from account_email_history")
            .await,
        3
    );
    let trail = app
        .get_json(&format!("/1.0/kb/accounts/{account}/auditLogs"))
        .await;
    let removed = trail
        .as_array()
        .expect("an array")
        .iter()
        .find(|entry| entry["objectType"] == "ACCOUNT_EMAIL" && entry["changeType"] == "DELETE")
        .expect("the removal in the account's trail")["objectId"]
        .as_str()
        .expect("an id")
        .to_string();
    let history = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account}/emails/{removed}/auditLogsWithHistory"
        ))
        .await;
    let history = history.as_array().expect("an array");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["changeType"], "DELETE");
    assert_eq!(history[1]["objectType"], "ACCOUNT_EMAIL");
    assert_eq!(history[1]["history"]["email"], "lovelace@example.com");
    assert_eq!(history[1]["history"]["isActive"], false);
    assert_eq!(history[1]["history"]["tableName"], "ACCOUNT_EMAIL");
    let error = expect_kb_error(
        app.send(
            Method::GET,
            &format!("/1.0/kb/accounts/{account}/emails/{UNKNOWN}/auditLogsWithHistory"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        error["message"],
        format!("Object id={UNKNOWN} type=ACCOUNT_EMAIL doesn't exist!")
    );

    // Another tenant sees none of it and cannot add to it.
    app.use_new_tenant("other").await;
    assert_eq!(app.get_json(&emails).await, json!([]));
    for (method, path, body) in [
        (
            Method::POST,
            emails.clone(),
            Some(json!({ "email": "x@example.com" })),
        ),
        (
            Method::GET,
            format!("{emails}/{removed}/auditLogsWithHistory"),
            None,
        ),
    ] {
        expect_kb_error(app.send(method, &path, body).await, StatusCode::NOT_FOUND).await;
    }
    expect_status(
        app.send(Method::DELETE, &format!("{emails}/ada@example.com"), None)
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.count("select count(*) from account_emails where is_active")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_additions_of_one_address_store_it_once() {
    let app = TestApp::spawn_with_tenant().await;
    let account = app.create_account(json!({ "externalKey": "raced" })).await;
    let emails = format!("/1.0/kb/accounts/{account}/emails");
    let additions = (0..8).map(|_| {
        let request = app
            .kb(Method::POST, &emails)
            .json(&json!({ "email": "same@example.com" }));
        async move { request.send().await.expect("POST").status() }
    });
    let statuses = futures_util::future::join_all(additions).await;
    assert!(
        statuses.iter().all(|status| *status == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(app.count("select count(*) from account_emails").await, 1);
    assert_eq!(
        app.count("select count(*) from account_email_history")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn children_are_the_accounts_naming_the_parent() {
    let mut app = TestApp::spawn_with_tenant().await;
    let parent = app.create_account(json!({ "externalKey": "parent" })).await;
    let mut children = Vec::new();
    for key in ["first", "second"] {
        children.push(
            app.create_account(json!({ "externalKey": key, "parentAccountId": parent }))
                .await,
        );
    }
    app.create_account(json!({ "externalKey": "unrelated" }))
        .await;
    let listed = app
        .get_json(&format!(
            "/1.0/kb/accounts/{parent}/children?audit=MINIMAL&accountWithBalance=true"
        ))
        .await;
    let ids: Vec<&str> = listed
        .as_array()
        .expect("an array")
        .iter()
        .map(|account| account["accountId"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids, children.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(listed[0]["parentAccountId"], parent.as_str());
    assert_eq!(listed[0]["accountBalance"], 0);
    assert_eq!(listed[0]["accountCBA"], Value::Null);
    assert_eq!(listed[0]["auditLogs"][0]["changeType"], "INSERT");
    // A child names an existing parent (3002), and has no children of its own.
    let error = expect_kb_error(
        app.send(
            Method::POST,
            "/1.0/kb/accounts",
            Some(json!({ "externalKey": "orphan", "parentAccountId": UNKNOWN })),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], 3002);
    assert_eq!(
        app.get_json(&format!("/1.0/kb/accounts/{}/children", children[0]))
            .await,
        json!([])
    );
    assert_eq!(
        app.get_json(&format!("/1.0/kb/accounts/{UNKNOWN}/children"))
            .await,
        json!([])
    );
    expect_kb_error(
        app.send(
            Method::GET,
            &format!("/1.0/kb/accounts/{parent}/children?audit=bogus"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.use_new_tenant("other").await;
    assert_eq!(
        app.get_json(&format!("/1.0/kb/accounts/{parent}/children"))
            .await,
        json!([])
    );
    app.stop().await;
}

#[tokio::test]
async fn the_export_is_kill_bills_csv_of_the_accounts_rows() {
    let mut app = TestApp::spawn_with_tenant().await;
    let (account, _) = app.account_with_external_method("exported").await;
    let other = app
        .create_account(json!({ "externalKey": "not-exported" }))
        .await;
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/customFields"),
            Some(json!([{ "name": "note", "value": "a|b\nc" }])),
        )
        .await;
    expect_status(response, StatusCode::CREATED).await;
    let response = app
        .send(Method::GET, &format!("/1.0/kb/export/{account}"), None)
        .await;
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "content-type"),
        "application/octet-stream"
    );
    let csv = response.text().await.expect("the export");
    let tables: Vec<&str> = csv
        .lines()
        .filter_map(|line| line.strip_prefix("-- "))
        .map(|header| header.split(' ').next().unwrap_or_default())
        .collect();
    let mut sorted = tables.clone();
    sorted.sort();
    assert_eq!(tables, sorted, "tables in name order");
    for table in [
        "account_history",
        "accounts",
        "audit_log",
        "custom_field_history",
        "custom_fields",
        "payment_method_history",
        "payment_methods",
    ] {
        assert!(tables.contains(&table), "{table} in {tables:?}");
    }
    let accounts_section: Vec<&str> = csv
        .lines()
        .skip_while(|line| !line.starts_with("-- accounts "))
        .take_while(|line| !line.starts_with("-- audit_log"))
        .collect();
    assert!(accounts_section[0].starts_with("-- accounts record_id|id|external_key|"));
    assert_eq!(accounts_section.len(), 2, "one row: {accounts_section:?}");
    assert!(accounts_section[1].contains(&format!("|{account}|exported|")));
    assert!(
        !csv.contains(&other),
        "another account's rows are not exported"
    );
    assert!(csv.contains("|a\\N{VERTICAL LINE}b\\N{LINE FEED}c|"));
    assert!(csv.contains("|true|"));

    // Kill Bill wants the audit headers of a write; an unknown account is ObjectDoesNotExist.
    let error = expect_kb_error(
        app.admin(Method::GET, &format!("/1.0/kb/export/{account}"))
            .header("X-Killbill-ApiKey", "tenant-key")
            .header("X-Killbill-ApiSecret", "tenant-secret")
            .send()
            .await
            .expect("GET export"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Header X-Killbill-CreatedBy needs to be set"
    );
    expect_kb_error(
        app.send(Method::GET, &format!("/1.0/kb/export/{UNKNOWN}"), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.use_new_tenant("other").await;
    expect_kb_error(
        app.send(Method::GET, &format!("/1.0/kb/export/{account}"), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}
