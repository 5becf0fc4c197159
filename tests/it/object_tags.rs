//! Tags beyond the account's own: on payments and transactions (added, listed and removed with
//! TagJson, history and audit rows, TAG_CREATION and TAG_DELETION notifications naming the
//! object's account), an account's tags and its objects' (`allTags`), TagResource's paging,
//! search and audit logs with history, Kill Bill's refusals (no control tag applies to a
//! payment, unknown objects are ObjectDoesNotExist), and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, last_segment, Callback, TestApp};
use crate::tags::create_definition;

const AUTO_PAY_OFF: &str = "00000000-0000-0000-0000-000000000001";
const UNKNOWN: &str = "11111111-2222-3333-4444-555555555555";

async fn spawn() -> TestApp {
    let mut app =
        TestApp::spawn_with(&[("org.killbill.persistent.bus.external.nbThreads", "1")]).await;
    app.use_new_tenant("tagger").await;
    app
}

async fn definition(app: &TestApp, name: &str) -> String {
    let response = create_definition(
        app,
        json!({ "name": name, "description": format!("the {name} tag"), "applicableObjectTypes": ["PAYMENT"] }),
    )
    .await;
    last_segment(&header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    ))
}

#[tokio::test]
async fn payment_and_transaction_tags_are_added_listed_and_removed_with_events() {
    let app = spawn().await;
    let mut callback = Callback::start().await;
    app.register_callback(&callback.url).await;
    let vip = definition(&app, "vip").await;
    let (account, _) = app.account_with_external_method("tagged").await;
    let (payment, transaction) = app.purchase(&account, "5").await;
    let payment_tags = format!("/1.0/kb/payments/{payment}/tags");
    let transaction_tags = format!("/1.0/kb/paymentTransactions/{transaction}/tags");

    for path in [&payment_tags, &transaction_tags] {
        let response = app.send(Method::POST, path, Some(json!([vip]))).await;
        let response = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(
            header(&response, "location"),
            format!("{}{path}", app.address)
        );
        // Adding it again is a no-op, still 201.
        let again = app.send(Method::POST, path, Some(json!([vip]))).await;
        expect_status(again, StatusCode::CREATED).await;
    }
    let tags = app.get_json(&format!("{payment_tags}?audit=FULL")).await;
    assert_eq!(tags.as_array().map(Vec::len), Some(1));
    assert_eq!(tags[0]["objectType"], "PAYMENT");
    assert_eq!(tags[0]["objectId"], payment.as_str());
    assert_eq!(tags[0]["tagDefinitionName"], "vip");
    assert_eq!(tags[0]["auditLogs"][0]["objectType"], "TAG");
    let transaction_tag = app.get_json(&transaction_tags).await[0].clone();
    assert_eq!(transaction_tag["objectType"], "TRANSACTION");

    let created = callback.next_of("TAG_CREATION", 2).await;
    for notification in &created {
        assert_eq!(notification["objectType"], "TAG");
        assert_eq!(notification["accountId"], account.as_str());
        assert_eq!(notification["metaData"], r#"{"tagDefinitionName":"vip"}"#);
    }

    // No control tag applies to a payment.
    let error = expect_kb_error(
        app.send(Method::POST, &payment_tags, Some(json!([AUTO_PAY_OFF])))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Invalid control tag 'AUTO_PAY_OFF' for object type 'PAYMENT'"
    );

    let response = app
        .send(
            Method::DELETE,
            &format!("{transaction_tags}?tagDef={vip}"),
            None,
        )
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(app.get_json(&transaction_tags).await, json!([]));
    let error = expect_kb_error(
        app.send(
            Method::DELETE,
            &format!("{transaction_tags}?tagDef={vip}"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], 3950);
    let deleted = callback.next_of("TAG_DELETION", 1).await;
    assert_eq!(deleted[0]["objectId"], transaction_tag["tagId"]);

    // The account's own tags and its objects': the removed one only with includedDeleted.
    let tagged_account = format!("/1.0/kb/accounts/{account}/tags");
    let response = app
        .send(Method::POST, &tagged_account, Some(json!([AUTO_PAY_OFF])))
        .await;
    expect_status(response, StatusCode::CREATED).await;
    let all = app
        .get_json(&format!("/1.0/kb/accounts/{account}/allTags"))
        .await;
    let types: Vec<&str> = all
        .as_array()
        .expect("an array")
        .iter()
        .map(|tag| tag["objectType"].as_str().expect("a type"))
        .collect();
    assert_eq!(types, ["PAYMENT", "ACCOUNT"]);
    let removed = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account}/allTags?objectType=TRANSACTION&includedDeleted=true&audit=FULL"
        ))
        .await;
    let trail: Vec<&Value> = removed[0]["auditLogs"]
        .as_array()
        .expect("auditLogs")
        .iter()
        .map(|log| &log["changeType"])
        .collect();
    assert_eq!(trail, [&json!("INSERT"), &json!("DELETE")]);

    let history = app
        .get_json(&format!(
            "/1.0/kb/tags/{}/auditLogsWithHistory",
            transaction_tag["tagId"].as_str().expect("an id")
        ))
        .await;
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    assert_eq!(history[1]["history"]["isActive"], false);
    assert_eq!(history[1]["history"]["objectType"], "TRANSACTION");
    assert_eq!(history[1]["history"]["tableName"], "TAG");
    assert_eq!(history[1]["history"]["historyTableName"], "TAG_HISTORY");

    // History and audit rows: three tags added, one removed.
    assert_eq!(app.count("select count(*) from tag_history").await, 4);
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'TAG_HISTORY'")
            .await,
        4
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_objects_and_another_tenants_are_not_found_and_nothing_is_stored() {
    let mut app = spawn().await;
    let vip = definition(&app, "vip").await;
    let (account, _) = app.account_with_external_method("mine").await;
    let (payment, transaction) = app.purchase(&account, "5").await;
    let payment_tags = format!("/1.0/kb/payments/{payment}/tags");
    expect_status(
        app.send(Method::POST, &payment_tags, Some(json!([vip])))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let tag_id = app.get_json(&payment_tags).await[0]["tagId"]
        .as_str()
        .expect("an id")
        .to_string();
    for (path, object_type) in [
        (format!("/1.0/kb/payments/{UNKNOWN}/tags"), "PAYMENT"),
        (
            format!("/1.0/kb/paymentTransactions/{UNKNOWN}/tags"),
            "TRANSACTION",
        ),
    ] {
        for (method, body) in [
            (Method::GET, None),
            (Method::POST, Some(json!([vip]))),
            (Method::DELETE, None),
        ] {
            let path = if method == Method::DELETE {
                format!("{path}?tagDef={vip}")
            } else {
                path.clone()
            };
            let error = expect_kb_error(
                app.send(method.clone(), &path, body).await,
                StatusCode::NOT_FOUND,
            )
            .await;
            assert_eq!(
                error["message"],
                format!("Object id={UNKNOWN} type={object_type} doesn't exist!"),
                "{method} {path}"
            );
        }
    }
    let error = expect_kb_error(
        app.send(
            Method::GET,
            &format!("/1.0/kb/tags/{UNKNOWN}/auditLogsWithHistory"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], Value::Null);

    app.use_new_tenant("other").await;
    for path in [
        payment_tags.clone(),
        format!("/1.0/kb/paymentTransactions/{transaction}/tags"),
        format!("/1.0/kb/tags/{tag_id}/auditLogsWithHistory"),
        format!("/1.0/kb/accounts/{account}/allTags"),
    ] {
        expect_kb_error(
            app.send(Method::GET, &path, None).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    expect_kb_error(
        app.send(Method::POST, &payment_tags, Some(json!([vip])))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    for path in ["/1.0/kb/tags/pagination", "/1.0/kb/tags/search/vip"] {
        assert_eq!(app.get_json(path).await, json!([]), "{path}");
    }
    assert_eq!(app.count("select count(*) from tags").await, 1);
    assert_eq!(app.count("select count(*) from tag_history").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn tags_are_paged_and_searched_with_kill_bills_headers() {
    let app = spawn().await;
    let vip = definition(&app, "vip").await;
    let gold = definition(&app, "gold").await;
    let (account, _) = app.account_with_external_method("paged").await;
    let (payment, transaction) = app.purchase(&account, "5").await;
    for (path, ids) in [
        (
            format!("/1.0/kb/payments/{payment}/tags"),
            json!([vip, gold]),
        ),
        (
            format!("/1.0/kb/paymentTransactions/{transaction}/tags"),
            json!([vip]),
        ),
        (
            format!("/1.0/kb/accounts/{account}/tags"),
            json!([AUTO_PAY_OFF]),
        ),
    ] {
        expect_status(
            app.send(Method::POST, &path, Some(ids)).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let response = app
        .send(Method::GET, "/1.0/kb/tags/pagination?limit=3", None)
        .await;
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "x-killbill-pagination-totalnbrecords"),
        "4"
    );
    assert_eq!(header(&response, "x-killbill-pagination-maxnbrecords"), "4");
    assert_eq!(header(&response, "x-killbill-pagination-nextoffset"), "3");
    assert_eq!(
        header(&response, "x-killbill-pagination-nextpageuri"),
        "/1.0/kb/tags/pagination?offset=3&limit=3&audit=NONE"
    );
    let page: Value = response.json().await.expect("JSON");
    assert_eq!(page.as_array().map(Vec::len), Some(3));

    // By definition name, by the object's type, by a control tag's description.
    for (key, expected) in [("vi", 2), ("TRANSACTION", 1), ("Suspends%20payments", 1)] {
        let response = app
            .send(Method::GET, &format!("/1.0/kb/tags/search/{key}"), None)
            .await;
        let response = expect_status(response, StatusCode::OK).await;
        assert_eq!(
            header(&response, "x-killbill-pagination-totalnbrecords"),
            expected.to_string(),
            "{key}"
        );
        assert_eq!(header(&response, "x-killbill-pagination-maxnbrecords"), "4");
    }
    // Backwards with a negative limit: the newest first.
    let newest = app.get_json("/1.0/kb/tags/pagination?limit=-1").await;
    assert_eq!(newest[0]["tagDefinitionName"], "AUTO_PAY_OFF");
    app.stop().await;
}
