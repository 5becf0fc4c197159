//! Custom fields as Kill Bill serves them: added, changed and removed on accounts, payment
//! methods, payments and transactions with CustomFieldJson, their history and audit rows and the
//! CUSTOM_FIELD_CREATION and CUSTOM_FIELD_DELETION notifications; an account's fields and its
//! objects'; paging and both searches with Kill Bill's headers; Kill Bill's refusals (9000, 9001,
//! 9002, its IllegalArgumentExceptions, ObjectDoesNotExist) storing nothing; tenant isolation;
//! and concurrent additions of one field.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, Callback, TestApp};

/// Buses with one worker each, so notifications arrive in the order posted.
const ORDERED: [(&str, &str); 2] = [
    ("org.killbill.persistent.bus.main.nbThreads", "1"),
    ("org.killbill.persistent.bus.external.nbThreads", "1"),
];

async fn spawn() -> TestApp {
    let mut app = TestApp::spawn_with(&ORDERED).await;
    app.use_new_tenant("fields").await;
    app
}

fn fields(path: &str) -> String {
    format!("{path}/customFields")
}

/// An account with an external default method and a purchase: the four objects fields go on,
/// as their resource paths (account, payment method, payment, transaction).
async fn objects(app: &TestApp, key: &str) -> [String; 4] {
    let (account, method) = app.account_with_external_method(key).await;
    let (payment, transaction) = app.purchase(&account, "10").await;
    [
        format!("/1.0/kb/accounts/{account}"),
        format!("/1.0/kb/paymentMethods/{method}"),
        format!("/1.0/kb/payments/{payment}"),
        format!("/1.0/kb/paymentTransactions/{transaction}"),
    ]
}

#[tokio::test]
async fn fields_on_every_object_are_added_changed_and_removed_with_history_audit_and_events() {
    let app = spawn().await;
    let mut callback = Callback::start().await;
    app.register_callback(&callback.url).await;
    let objects = objects(&app, "fielded").await;
    let account_id = objects[0].rsplit('/').next().expect("an id").to_string();
    let object_types = ["ACCOUNT", "PAYMENT_METHOD", "PAYMENT", "TRANSACTION"];

    for (path, object_type) in objects.iter().zip(object_types) {
        let response = app.send(Method::POST,
            &fields(path),
            Some(json!([{"name": "color", "value": object_type}, {"name": "size", "value": "L"}])),
        )
        .await;
        let response = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(
            header(&response, "location"),
            format!("{}{}", app.address, fields(path))
        );
        let listed = app.get_json(&fields(path)).await;
        let listed = listed.as_array().expect("an array");
        assert_eq!(listed.len(), 2, "{listed:?}");
        let object_id = path.rsplit('/').next().expect("an id");
        assert_eq!(listed[0]["objectType"], object_type);
        assert_eq!(listed[0]["objectId"], object_id);
        assert_eq!(listed[0]["name"], "color");
        assert_eq!(listed[0]["value"], object_type);
        assert_eq!(listed[0]["auditLogs"], json!([]));
        let keys: Vec<&str> = listed[0]
            .as_object()
            .expect("CustomFieldJson")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "auditLogs",
                "customFieldId",
                "name",
                "objectId",
                "objectType",
                "value"
            ]
        );
    }
    // Each addition is announced, on the field, with the account of its object.
    let created = callback.next_of("CUSTOM_FIELD_CREATION", 8).await;
    for notification in &created {
        assert_eq!(notification["objectType"], "CUSTOM_FIELD");
        assert_eq!(notification["accountId"], account_id.as_str());
        assert_eq!(notification["metaData"], Value::Null);
    }

    let all = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/allCustomFields"))
        .await;
    let all_types: Vec<&str> = all
        .as_array()
        .expect("an array")
        .iter()
        .map(|field| field["objectType"].as_str().expect("a type"))
        .collect();
    assert_eq!(
        all_types,
        [
            "ACCOUNT",
            "ACCOUNT",
            "PAYMENT_METHOD",
            "PAYMENT_METHOD",
            "PAYMENT",
            "PAYMENT",
            "TRANSACTION",
            "TRANSACTION"
        ]
    );
    let payments_only = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/allCustomFields?objectType=PAYMENT&audit=FULL"
        ))
        .await;
    assert_eq!(payments_only.as_array().map(Vec::len), Some(2));
    assert_eq!(payments_only[0]["auditLogs"][0]["changeType"], "INSERT");
    assert_eq!(
        payments_only[0]["auditLogs"][0]["objectType"],
        "CUSTOM_FIELD"
    );

    // A value changes; the field keeps its id; no event.
    let transaction_fields = fields(&objects[3]);
    let field = app.get_json(&transaction_fields).await[0].clone();
    let field_id = field["customFieldId"].as_str().expect("an id").to_string();
    let response = app
        .send(
            Method::PUT,
            &transaction_fields,
            Some(json!([{"customFieldId": field_id, "name": "color", "value": "teal"}])),
        )
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let changed = app
        .get_json(&format!("{transaction_fields}?audit=FULL"))
        .await;
    assert_eq!(changed[0]["customFieldId"], field_id.as_str());
    assert_eq!(changed[0]["value"], "teal");
    let trail: Vec<&Value> = changed[0]["auditLogs"]
        .as_array()
        .expect("auditLogs")
        .iter()
        .map(|log| &log["changeType"])
        .collect();
    assert_eq!(trail, [&json!("INSERT"), &json!("UPDATE")]);

    // One field of the account, then every field of the payment.
    let account_field = app.get_json(&fields(&objects[0])).await[1]["customFieldId"].clone();
    let response = app
        .send(
            Method::DELETE,
            &format!(
                "{}?customField={}",
                fields(&objects[0]),
                account_field.as_str().expect("an id")
            ),
            None,
        )
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(
        app.get_json(&fields(&objects[0]))
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let response = app.send(Method::DELETE, &fields(&objects[2]), None).await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(app.get_json(&fields(&objects[2])).await, json!([]));
    // The value change in between was not announced: the next notifications are the removals.
    let mut deleted = Vec::new();
    for _ in 0..3 {
        deleted.push(callback.next().await);
    }
    let kinds: Vec<&Value> = deleted.iter().map(|event| &event["eventType"]).collect();
    assert_eq!(kinds, [&json!("CUSTOM_FIELD_DELETION"); 3]);
    assert_eq!(deleted[0]["objectId"], account_field);
    assert!(callback.is_quiet_for(Duration::from_millis(500)).await);

    // The change history, with Kill Bill's history objects.
    let history = app
        .get_json(&format!(
            "/1.0/kb/customFields/{field_id}/auditLogsWithHistory"
        ))
        .await;
    let history = history.as_array().expect("an array");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["changeType"], "UPDATE");
    assert_eq!(history[1]["objectType"], "CUSTOM_FIELD");
    assert_eq!(history[1]["history"]["fieldValue"], "teal");
    assert_eq!(history[1]["history"]["fieldName"], "color");
    assert_eq!(history[1]["history"]["objectType"], "TRANSACTION");
    assert_eq!(history[1]["history"]["tableName"], "CUSTOM_FIELD");
    assert_eq!(
        history[1]["history"]["historyTableName"],
        "CUSTOM_FIELD_HISTORY"
    );
    assert_eq!(history[1]["history"]["id"], Value::Null);

    // Rows: 8 fields, 3 removed; a history row and an audit row per change (8 + 1 + 3).
    assert_eq!(app.count("select count(*) from custom_fields").await, 8);
    assert_eq!(
        app.count("select count(*) from custom_fields where not is_active")
            .await,
        3
    );
    assert_eq!(
        app.count("select count(*) from custom_field_history").await,
        12
    );
    assert_eq!(
        app.count(
            "select count(*) from audit_log a join custom_field_history h
                 on a.table_name = 'CUSTOM_FIELD_HISTORY' and a.target_record_id = h.record_id
                 and a.change_type = h.change_type and a.account_record_id = h.account_record_id"
        )
        .await,
        12
    );
    // The account's audit trail names the fields too, under their own object type.
    let trail = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/auditLogs"))
        .await;
    let field_entries = trail
        .as_array()
        .expect("an array")
        .iter()
        .filter(|entry| entry["objectType"] == "CUSTOM_FIELD")
        .count();
    assert_eq!(field_entries, 12);
    app.stop().await;
}

/// A request Kill Bill refuses, and how.
struct Refusal {
    method: Method,
    path: String,
    body: Value,
    status: StatusCode,
    class_name: &'static str,
    code: Option<i64>,
    message: &'static str,
}

#[tokio::test]
async fn refusals_carry_kill_bills_codes_and_store_nothing() {
    let app = spawn().await;
    let objects = objects(&app, "refused").await;
    let account_fields = fields(&objects[0]);
    let response = app
        .send(
            Method::POST,
            &account_fields,
            Some(json!([{"name": "color", "value": "red"}])),
        )
        .await;
    expect_status(response, StatusCode::CREATED).await;
    let field_id = app.get_json(&account_fields).await[0]["customFieldId"].clone();
    let unknown = "11111111-2222-3333-4444-555555555555";
    let cases = vec![
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: json!([{"name": "color", "value": "red"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "org.killbill.billing.util.api.CustomFieldApiException",
            code: Some(9000),
            message: "already exists",
        },
        // The second entry is refused and the first, valid one is not stored either.
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: json!([{"name": "new", "value": "1"}, {"name": "color", "value": "red"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "org.killbill.billing.util.api.CustomFieldApiException",
            code: Some(9000),
            message: "already exists",
        },
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: json!([{"name": "twice", "value": "1"}, {"name": "twice", "value": "1"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "org.killbill.billing.util.api.CustomFieldApiException",
            code: Some(9000),
            message: "already exists",
        },
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: json!([{"name": "n", "value": "v"}, {"value": "v"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "java.lang.IllegalArgumentException",
            code: None,
            message: "CustomFieldJson name needs to be set",
        },
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: json!([{"name": "n", "value": ""}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "java.lang.IllegalArgumentException",
            code: None,
            message: "CustomFieldJson value needs to be set",
        },
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: json!([{"name": "n".repeat(65), "value": "v"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "java.lang.IllegalArgumentException",
            code: None,
            message: "character varying(64)",
        },
        Refusal {
            method: Method::POST,
            path: format!("/1.0/kb/payments/{unknown}/customFields"),
            body: json!([{"name": "n", "value": "v"}]),
            status: StatusCode::NOT_FOUND,
            class_name: "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist",
            code: None,
            message: "type=PAYMENT doesn't exist!",
        },
        Refusal {
            method: Method::PUT,
            path: account_fields.clone(),
            body: json!([{"customFieldId": field_id, "name": "renamed", "value": "v"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "org.killbill.billing.util.api.CustomFieldApiException",
            code: Some(9002),
            message: "Invalid value renamed for field FieldName",
        },
        Refusal {
            method: Method::PUT,
            path: fields(&objects[2]),
            body: json!([{"customFieldId": field_id, "value": "v"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "org.killbill.billing.util.api.CustomFieldApiException",
            code: Some(9002),
            message: "for field ObjectId",
        },
        Refusal {
            method: Method::PUT,
            path: account_fields.clone(),
            body: json!([{"customFieldId": unknown, "value": "v"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "org.killbill.billing.util.api.CustomFieldApiException",
            code: Some(9001),
            message: "The custom field does not exists for id",
        },
        Refusal {
            method: Method::PUT,
            path: account_fields.clone(),
            body: json!([{"value": "v"}]),
            status: StatusCode::BAD_REQUEST,
            class_name: "java.lang.IllegalArgumentException",
            code: None,
            message: "CustomFieldJson id needs to be set",
        },
        Refusal {
            method: Method::PUT,
            path: format!("/1.0/kb/accounts/{unknown}/customFields"),
            body: json!([{"customFieldId": field_id, "value": "v"}]),
            status: StatusCode::NOT_FOUND,
            class_name: "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist",
            code: None,
            message: "type=ACCOUNT doesn't exist!",
        },
        Refusal {
            method: Method::POST,
            path: account_fields.clone(),
            body: Value::Null,
            status: StatusCode::BAD_REQUEST,
            class_name: "java.lang.IllegalArgumentException",
            code: None,
            message: "CustomFieldJson list body should be specified",
        },
        ];
    for Refusal {
        method,
        path,
        body,
        status,
        class_name,
        code,
        message,
    } in cases
    {
        let error =
            expect_kb_error(app.send(method.clone(), &path, Some(body)).await, status).await;
        assert_eq!(error["className"], class_name, "{method} {path}: {error}");
        assert_eq!(error["code"], json!(code), "{method} {path}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|text| text.contains(message)),
            "{method} {path}: {error}"
        );
    }
    // Only the first field, with its one history and audit row.
    assert_eq!(app.count("select count(*) from custom_fields").await, 1);
    assert_eq!(
        app.count("select count(*) from custom_field_history").await,
        1
    );
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'CUSTOM_FIELD_HISTORY'")
            .await,
        1
    );
    assert_eq!(
        app.get_json(&account_fields).await[0]["value"],
        "red",
        "the refused change left the value alone"
    );
    // Removing what the object lacks, or from an unknown object, is a no-op.
    for path in [
        format!("{account_fields}?customField={unknown}"),
        format!("/1.0/kb/accounts/{unknown}/customFields"),
    ] {
        expect_status(
            app.send(Method::DELETE, &path, None).await,
            StatusCode::NO_CONTENT,
        )
        .await;
    }
    expect_kb_error(
        app.send(
            Method::DELETE,
            &format!("{account_fields}?customField=nope"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.count("select count(*) from custom_fields where is_active")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn paging_and_searches_answer_with_kill_bills_headers() {
    let app = spawn().await;
    let objects = objects(&app, "paged").await;
    for (path, value) in [
        (&objects[0], "red"),
        (&objects[0], "blue"),
        (&objects[2], "red"),
    ] {
        let response = app
            .send(
                Method::POST,
                &fields(path),
                Some(json!([{"name": "color", "value": value}])),
            )
            .await;
        expect_status(response, StatusCode::CREATED).await;
    }
    let response = app
        .send(
            Method::GET,
            "/1.0/kb/customFields/pagination?offset=0&limit=2",
            None,
        )
        .await;
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "x-killbill-pagination-currentoffset"),
        "0"
    );
    assert_eq!(header(&response, "x-killbill-pagination-nextoffset"), "2");
    assert_eq!(
        header(&response, "x-killbill-pagination-totalnbrecords"),
        "3"
    );
    assert_eq!(header(&response, "x-killbill-pagination-maxnbrecords"), "3");
    assert_eq!(
        header(&response, "x-killbill-pagination-nextpageuri"),
        "/1.0/kb/customFields/pagination?offset=2&limit=2&audit=NONE"
    );
    let page: Value = response.json().await.expect("JSON");
    assert_eq!(page.as_array().map(Vec::len), Some(2));

    let response = app
        .send(
            Method::GET,
            "/1.0/kb/customFields/search/blu?audit=FULL",
            None,
        )
        .await;
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "x-killbill-pagination-totalnbrecords"),
        "1"
    );
    assert_eq!(header(&response, "x-killbill-pagination-maxnbrecords"), "3");
    assert!(response
        .headers()
        .get("x-killbill-pagination-nextoffset")
        .is_none());
    let found: Value = response.json().await.expect("JSON");
    assert_eq!(found[0]["value"], "blue");
    assert_eq!(found[0]["auditLogs"][0]["changeType"], "INSERT");

    let by_name = app
        .get_json("/1.0/kb/customFields/search?objectType=ACCOUNT&fieldName=color")
        .await;
    assert_eq!(by_name.as_array().map(Vec::len), Some(2));
    let by_value = app
        .get_json("/1.0/kb/customFields/search?objectType=PAYMENT&fieldName=color&fieldValue=red")
        .await;
    assert_eq!(by_value.as_array().map(Vec::len), Some(1));
    assert_eq!(by_value[0]["objectType"], "PAYMENT");
    let error = expect_kb_error(
        app.send(
            Method::GET,
            "/1.0/kb/customFields/search?fieldName=color",
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["className"], "java.lang.NullPointerException");
    assert_eq!(
        error["message"],
        "objectType in searchCustomFieldsByTypeName() is null"
    );
    let error = expect_kb_error(
        app.send(
            Method::GET,
            "/1.0/kb/customFields/search?objectType=SPACESHIP&fieldName=color",
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "No enum constant org.killbill.billing.ObjectType.SPACESHIP"
    );
    expect_kb_error(
        app.send(Method::GET, "/1.0/kb/customFields/pagination?limit=x", None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_objects_and_fields_are_unknown() {
    let mut app = spawn().await;
    let objects = objects(&app, "isolated").await;
    let account_fields = fields(&objects[0]);
    let response = app
        .send(
            Method::POST,
            &account_fields,
            Some(json!([{"name": "secret", "value": "1"}])),
        )
        .await;
    expect_status(response, StatusCode::CREATED).await;
    let field_id = app.get_json(&account_fields).await[0]["customFieldId"]
        .as_str()
        .expect("an id")
        .to_string();
    let account_id = objects[0].rsplit('/').next().expect("an id").to_string();

    app.use_new_tenant("intruder").await;
    assert_eq!(app.get_json(&account_fields).await, json!([]));
    for path in &objects {
        let error = expect_kb_error(
            app.send(
                Method::POST,
                &fields(path),
                Some(json!([{"name": "n", "value": "v"}])),
            )
            .await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert!(error["message"]
            .as_str()
            .is_some_and(|message| message.ends_with("doesn't exist!")));
    }
    expect_kb_error(
        app.send(
            Method::PUT,
            &account_fields,
            Some(json!([{"customFieldId": field_id, "value": "2"}])),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.send(Method::DELETE, &account_fields, None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    for path in [
        format!("/1.0/kb/customFields/{field_id}/auditLogsWithHistory"),
        format!("/1.0/kb/accounts/{account_id}/allCustomFields"),
    ] {
        expect_kb_error(
            app.send(Method::GET, &path, None).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    for path in [
        "/1.0/kb/customFields/pagination",
        "/1.0/kb/customFields/search/secret",
        "/1.0/kb/customFields/search?objectType=ACCOUNT&fieldName=secret",
    ] {
        assert_eq!(app.get_json(path).await, json!([]), "{path}");
    }
    // The first tenant's field is untouched.
    assert_eq!(
        app.count("select count(*) from custom_fields where is_active and field_value = '1'")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn concurrent_additions_of_one_field_store_it_once() {
    let app = spawn().await;
    let objects = objects(&app, "raced").await;
    let account_fields = fields(&objects[0]);
    let additions = (0..8).map(|_| {
        let request = app
            .kb(Method::POST, &account_fields)
            .json(&json!([{"name": "color", "value": "red"}]));
        async move { request.send().await.expect("POST").status() }
    });
    let statuses = futures_util::future::join_all(additions).await;
    let created = statuses
        .iter()
        .filter(|status| **status == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|status| **status == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!((created, refused), (1, 7), "{statuses:?}");
    assert_eq!(app.count("select count(*) from custom_fields").await, 1);
    assert_eq!(
        app.count("select count(*) from custom_field_history").await,
        1
    );
    app.stop().await;
}
