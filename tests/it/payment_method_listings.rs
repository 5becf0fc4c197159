//! The tenant's payment methods paged and searched (the database's search, and the plugins'
//! with `withPluginInfo` or `pluginName`) with Kill Bill's headers, and an account's methods
//! refreshed from its plugins as Kill Bill's refreshPaymentMethods does: `__EXTERNAL_PAYMENT__`
//! holds none, the simulated gateway reports what it holds (methods added or removed outside
//! Kill Bill, its default), with history and audit rows; unknown and other tenants' accounts
//! are not found.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{
    expect_kb_error, expect_status, header, last_segment, TestApp, APPROVED_CARD,
};

const UNKNOWN: &str = "11111111-2222-3333-4444-555555555555";

/// An account with an `__EXTERNAL_PAYMENT__` method under `method_key`: (account, method).
async fn account_with_keyed_method(app: &TestApp, method_key: &str) -> (String, String) {
    let account = app
        .create_account(json!({ "externalKey": format!("owner-{method_key}"), "currency": "USD" }))
        .await;
    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/paymentMethods?isDefault=true"),
        )
        .json(&json!({ "pluginName": "__EXTERNAL_PAYMENT__", "externalKey": method_key }))
        .send()
        .await
        .expect("POST paymentMethods");
    let method = last_segment(&header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    ));
    (account, method)
}

fn pagination(response: &Response) -> [String; 2] {
    [
        header(response, "x-killbill-pagination-totalnbrecords"),
        header(response, "x-killbill-pagination-maxnbrecords"),
    ]
}

/// The page's JSON and its TotalNbRecords and MaxNbRecords.
async fn page(app: &TestApp, path: &str) -> (Value, [String; 2]) {
    let response = expect_status(app.send(Method::GET, path, None).await, StatusCode::OK).await;
    let counts = pagination(&response);
    (response.json().await.expect("JSON"), counts)
}

fn counts(total: i64, max: i64) -> [String; 2] {
    [total.to_string(), max.to_string()]
}

#[tokio::test]
async fn methods_are_paged_and_searched_in_the_database_and_through_the_plugins() {
    let mut app = TestApp::spawn_with_tenant().await;
    let mut external = Vec::new();
    for key in ["pm-a", "pm-b", "pm-c"] {
        external.push(account_with_keyed_method(&app, key).await);
    }
    let card_account = app.account_with_card("carded", APPROVED_CARD).await;

    let response = expect_status(
        app.send(
            Method::GET,
            "/1.0/kb/paymentMethods/pagination?limit=2",
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pagination(&response), counts(4, 4));
    assert_eq!(header(&response, "x-killbill-pagination-nextoffset"), "2");
    assert_eq!(
        header(&response, "x-killbill-pagination-nextpageuri"),
        "/1.0/kb/paymentMethods/pagination?offset=2&limit=2&pluginName=&audit=NONE"
    );
    let first: Value = response.json().await.expect("JSON");
    assert_eq!(first[0]["externalKey"], "pm-a");
    assert_eq!(first[0]["isDefault"], true);
    assert_eq!(first[0]["pluginInfo"], Value::Null);

    let (external_only, totals) = page(
        &app,
        "/1.0/kb/paymentMethods/pagination?pluginName=__EXTERNAL_PAYMENT__&audit=MINIMAL",
    )
    .await;
    assert_eq!(totals, counts(3, 4));
    assert_eq!(external_only[2]["auditLogs"][0]["changeType"], "INSERT");
    let (cards, _) = page(
        &app,
        "/1.0/kb/paymentMethods/pagination?pluginName=killbill-stripe&withPluginInfo=true",
    )
    .await;
    assert_eq!(cards[0]["accountId"], card_account.as_str());
    assert!(cards[0]["pluginInfo"]["externalPaymentMethodId"]
        .as_str()
        .is_some_and(|id| id.starts_with("pm_")));
    let (nothing, totals) = page(&app, "/1.0/kb/paymentMethods/pagination?pluginName=nope").await;
    assert_eq!((nothing, totals), (json!([]), counts(0, 4)));
    let error = expect_kb_error(
        app.send(
            Method::GET,
            "/1.0/kb/paymentMethods/pagination?pluginName=nope&withPluginInfo=true",
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7028);

    // The database's search: keys, plugin names, account ids.
    let (found, totals) = page(&app, "/1.0/kb/paymentMethods/search/pm-").await;
    assert_eq!(totals, counts(3, 4));
    assert_eq!(found.as_array().map(Vec::len), Some(3));
    let (by_account, totals) = page(
        &app,
        &format!("/1.0/kb/paymentMethods/search/{}", external[1].0),
    )
    .await;
    assert_eq!(totals, counts(1, 4));
    assert_eq!(by_account[0]["paymentMethodId"], external[1].1.as_str());

    // The plugins' own search: the gateway finds its card by last four digits;
    // __EXTERNAL_PAYMENT__ finds nothing, as in Kill Bill.
    let (through_plugins, totals) = page(
        &app,
        "/1.0/kb/paymentMethods/search/4242?withPluginInfo=true",
    )
    .await;
    assert_eq!(totals, counts(1, 1));
    assert_eq!(through_plugins[0]["pluginName"], "killbill-stripe");
    assert_eq!(through_plugins[0]["isDefault"], true);
    assert!(through_plugins[0]["pluginInfo"]["properties"].is_array());
    let (none, totals) = page(
        &app,
        "/1.0/kb/paymentMethods/search/pm-?pluginName=__EXTERNAL_PAYMENT__",
    )
    .await;
    assert_eq!((none, totals), (json!([]), counts(0, 0)));
    let error = expect_kb_error(
        app.send(
            Method::GET,
            "/1.0/kb/paymentMethods/search/pm-?pluginName=nope",
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["message"], "Payment plugin nope is not registered");

    app.use_new_tenant("other").await;
    for path in [
        "/1.0/kb/paymentMethods/pagination",
        "/1.0/kb/paymentMethods/search/pm-",
        "/1.0/kb/paymentMethods/search/4242?withPluginInfo=true",
    ] {
        let (listed, totals) = page(&app, path).await;
        assert_eq!((listed, totals), (json!([]), counts(0, 0)), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_of_the_external_plugin_deletes_its_method_and_clears_the_default() {
    let mut app = TestApp::spawn_with_tenant().await;
    let (account, method) = app.account_with_external_method("refreshed").await;
    let refresh = format!("/1.0/kb/accounts/{account}/paymentMethods/refresh");
    for (path, status, code) in [
        (
            format!("{refresh}?pluginName=nope"),
            StatusCode::BAD_REQUEST,
            Some(7028),
        ),
        (
            format!("/1.0/kb/accounts/{UNKNOWN}/paymentMethods/refresh"),
            StatusCode::NOT_FOUND,
            None,
        ),
    ] {
        let error = expect_kb_error(app.send(Method::PUT, &path, None).await, status).await;
        assert_eq!(error["code"], json!(code), "{path}");
    }
    assert_eq!(
        app.count("select count(*) from payment_methods where is_active")
            .await,
        1
    );

    expect_status(
        app.send(Method::PUT, &refresh, None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let methods = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account}/paymentMethods?includedDeleted=true"
        ))
        .await;
    assert_eq!(methods[0]["paymentMethodId"], method.as_str());
    assert_eq!(methods[0]["isDefault"], false);
    assert_eq!(
        app.get_json(&format!("/1.0/kb/accounts/{account}/paymentMethods"))
            .await,
        json!([])
    );
    let account_json = app.get_json(&format!("/1.0/kb/accounts/{account}")).await;
    assert_eq!(account_json["paymentMethodId"], Value::Null);
    let history = app
        .get_json(&format!(
            "/1.0/kb/paymentMethods/{method}/auditLogsWithHistory"
        ))
        .await;
    let changes: Vec<&Value> = history
        .as_array()
        .expect("an array")
        .iter()
        .map(|entry| &entry["changeType"])
        .collect();
    assert_eq!(changes, [&json!("INSERT"), &json!("DELETE")]);
    // Refreshing again changes nothing.
    let audit_rows = app.count("select count(*) from audit_log").await;
    expect_status(
        app.send(Method::PUT, &refresh, None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.count("select count(*) from audit_log").await,
        audit_rows
    );

    app.use_new_tenant("other").await;
    expect_kb_error(
        app.send(Method::PUT, &refresh, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_reconciles_the_gateways_methods_and_default() {
    let app = TestApp::spawn_with_tenant().await;
    let account = app.account_with_card("reconciled", APPROVED_CARD).await;
    let card = app.get_json(&format!("/1.0/kb/accounts/{account}")).await["paymentMethodId"]
        .as_str()
        .expect("a default")
        .to_string();
    let tenant_id = Uuid::parse_str(&app.tenant.as_ref().expect("a tenant").id).expect("a uuid");
    let account_id = Uuid::parse_str(&account).expect("a uuid");
    let card_id = Uuid::parse_str(&card).expect("a uuid");
    let outside = Uuid::new_v4();
    let client = app.db.client().await;
    // A card added at the gateway outside Kill Bill, now the gateway's default.
    client
        .execute(
            "update gateway_payment_methods set is_default = false where kb_payment_method_id = $1",
            &[&card_id],
        )
        .await
        .expect("the old default");
    client
        .execute(
            "insert into gateway_payment_methods (kb_payment_method_id, kb_account_id,
                 kb_tenant_id, external_id, is_default)
             values ($1, $2, $3, 'pm_outside', true)",
            &[&outside, &account_id, &tenant_id],
        )
        .await
        .expect("a method added outside Kill Bill");
    let refresh = format!("/1.0/kb/accounts/{account}/paymentMethods/refresh");
    expect_status(
        app.send(
            Method::PUT,
            &format!("{refresh}?pluginName=killbill-stripe"),
            None,
        )
        .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let added = app
        .get_json(&format!("/1.0/kb/paymentMethods/{outside}"))
        .await;
    assert_eq!(added["externalKey"], "pm_outside");
    assert_eq!(added["pluginName"], "killbill-stripe");
    assert_eq!(added["isDefault"], true);

    // Removed at the gateway: deleted here. Deleted here but still at the gateway: undeleted.
    client
        .execute(
            "update gateway_payment_methods set is_deleted = true where kb_payment_method_id = $1",
            &[&card_id],
        )
        .await
        .expect("the card removed at the gateway");
    client
        .execute(
            "update payment_methods set is_active = false where id = $1",
            &[&outside],
        )
        .await
        .expect("the new method deleted here");
    // Every plugin: the gateway answers under both its names, and only the name a method is
    // registered under reconciles it.
    expect_status(
        app.send(Method::PUT, &refresh, None).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let active: Vec<String> = app
        .get_json(&format!("/1.0/kb/accounts/{account}/paymentMethods"))
        .await
        .as_array()
        .expect("an array")
        .iter()
        .map(|method| {
            method["paymentMethodId"]
                .as_str()
                .expect("an id")
                .to_string()
        })
        .collect();
    assert_eq!(active, [outside.to_string()]);
    assert_eq!(
        app.count("select count(*) from payment_methods where plugin_name = 'ferrobill-gateway'")
            .await,
        0
    );
    let changes: Vec<String> = client
        .query(
            "select h.change_type from payment_method_history h
                 join audit_log a on a.table_name = 'PAYMENT_METHOD_HISTORY'
                     and a.target_record_id = h.record_id
             where h.id = $1 order by h.record_id",
            &[&outside],
        )
        .await
        .expect("the history")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(changes, ["INSERT", "UPDATE"]);
    let card_changes = app
        .count(&format!(
            "select count(*) from payment_method_history where id = '{card_id}' and change_type = 'DELETE'"
        ))
        .await;
    assert_eq!(card_changes, 1);
    app.stop().await;
}
