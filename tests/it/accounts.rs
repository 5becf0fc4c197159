//! Accounts as api.md §2 describes Kill Bill's: create, read by id and external key, update,
//! the error codes, tenant isolation, and the rows every write leaves (account_history,
//! audit_log, the bus).

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, wait_until, TestApp, ACCOUNT_FIELDS};

fn assert_account_shape(account: &Value) {
    let object = account.as_object().expect("an AccountJson object");
    let expected: BTreeSet<&str> = ACCOUNT_FIELDS.iter().copied().collect();
    let actual: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(actual, expected, "AccountJson fields: {account}");
}

fn is_kill_bill_date(value: &Value) -> bool {
    // 2024-05-01T12:00:00.000Z
    value.as_str().is_some_and(|text| {
        text.len() == 24
            && text.ends_with('Z')
            && text.as_bytes()[19] == b'.'
            && chrono::DateTime::parse_from_rfc3339(text).is_ok()
    })
}

/// Creates an account and returns its Location.
async fn create(app: &TestApp, body: Value) -> String {
    let response = app.create_account_answer(body).await;
    let location = header(&response, "location");
    assert!(response.text().await.expect("body").is_empty());
    location
}

async fn get_json(app: &TestApp, path_or_url: &str) -> Value {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_string()
    } else {
        app.url(path_or_url)
    };
    let tenant = app.tenant.as_ref().expect("a tenant");
    let response = app
        .http
        .get(&url)
        .basic_auth("admin", Some("password"))
        .header("X-Killbill-ApiKey", &tenant.api_key)
        .header("X-Killbill-ApiSecret", &tenant.api_secret)
        .send()
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn an_account_is_created_read_and_updated_with_kill_bills_json() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(
        &app,
        json!({
            "name": "Ann Smith",
            "firstNameLength": 3,
            "externalKey": "ann",
            "email": "ann@example.com",
            "currency": "USD",
            "timeZone": "Europe/Paris",
            "company": "Acme",
            "state": "CA",
            "notes": null,
        }),
    )
    .await;
    assert!(
        location.starts_with(&format!("{}/1.0/kb/accounts/", app.address)),
        "absolute Location: {location}"
    );

    // Following the absolute Location, as Kill Bill's clients do.
    let account = get_json(&app, &location).await;
    assert_account_shape(&account);
    let id = account["accountId"]
        .as_str()
        .expect("accountId")
        .to_string();
    assert!(location.ends_with(&id));
    assert_eq!(account["name"], "Ann Smith");
    assert_eq!(account["firstNameLength"], 3);
    assert_eq!(account["externalKey"], "ann");
    assert_eq!(account["email"], "ann@example.com");
    assert_eq!(account["currency"], "USD");
    assert_eq!(account["timeZone"], "Europe/Paris");
    assert_eq!(account["company"], "Acme");
    assert_eq!(account["state"], "CA");
    assert_eq!(account["billCycleDayLocal"], 0);
    assert_eq!(account["isPaymentDelegatedToParent"], false);
    assert!(is_kill_bill_date(&account["referenceTime"]), "{account}");
    for unset in [
        "parentAccountId",
        "paymentMethodId",
        "address1",
        "address2",
        "postalCode",
        "city",
        "country",
        "locale",
        "phone",
        "notes",
        "isMigrated",
        "accountBalance",
        "accountCBA",
    ] {
        assert_eq!(account[unset], Value::Null, "{unset} in {account}");
    }
    assert_eq!(account["auditLogs"], json!([]));

    // By external key; with balances requested they are zero (no invoices yet).
    let by_key = get_json(&app, "/1.0/kb/accounts?externalKey=ann").await;
    assert_eq!(by_key, account);
    let with_balance = get_json(
        &app,
        &format!("/1.0/kb/accounts/{id}?accountWithBalanceAndCBA=true"),
    )
    .await;
    assert_eq!(with_balance["accountBalance"], 0);
    assert_eq!(with_balance["accountCBA"], 0);
    let balance_only = get_json(
        &app,
        &format!("/1.0/kb/accounts/{id}?accountWithBalance=true"),
    )
    .await;
    assert_eq!(balance_only["accountBalance"], 0);
    assert_eq!(balance_only["accountCBA"], Value::Null);

    // Update: given fields change, null and absent fields keep their values.
    let response = app
        .kb(Method::PUT, &format!("/1.0/kb/accounts/{id}"))
        .header("X-Killbill-Reason", "moved")
        .json(&json!({ "city": "Paris", "email": null, "billCycleDayLocal": 12 }))
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let updated = get_json(&app, &format!("/1.0/kb/accounts/{id}")).await;
    assert_account_shape(&updated);
    assert_eq!(updated["city"], "Paris");
    assert_eq!(updated["email"], "ann@example.com");
    assert_eq!(updated["billCycleDayLocal"], 12);
    assert_eq!(updated["referenceTime"], account["referenceTime"]);

    // Each write left its history row, an audit row pointing at it, and creation its event.
    let db = app.db.client().await;
    let history = db
        .query(
            "select h.record_id, h.change_type, h.city, a.record_id
             from account_history h join accounts a on a.record_id = h.target_record_id
             order by h.record_id",
            &[],
        )
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].get::<_, String>(1), "INSERT");
    assert_eq!(history[1].get::<_, String>(1), "UPDATE");
    assert_eq!(
        history[1].get::<_, Option<String>>(2).as_deref(),
        Some("Paris")
    );
    for row in &history {
        let audit = db
            .query_one(
                "select change_type, account_record_id, created_by from audit_log
                 where table_name = 'ACCOUNT_HISTORY' and target_record_id = $1",
                &[&row.get::<_, i64>(0)],
            )
            .await
            .expect("one audit row per history row");
        assert_eq!(audit.get::<_, String>(0), row.get::<_, String>(1));
        assert_eq!(audit.get::<_, Option<i64>>(1), Some(row.get::<_, i64>(3)));
        assert_eq!(audit.get::<_, String>(2), "integration-test");
    }
    wait_until("the creation event is dispatched", Duration::from_secs(30), || {
        let db = &db;
        async move {
            db.query_one(
                "select count(*) from bus_events_history
                 where class_name = 'org.killbill.billing.account.api.user.DefaultAccountCreationEvent'",
                &[],
            )
            .await
            .map(|row| row.get::<_, i64>(0) == 1)
            .unwrap_or(false)
        }
    })
    .await;
    let event: String = db
        .query_one(
            "select event_json from bus_events_history
             where class_name like '%DefaultAccountCreationEvent'",
            &[],
        )
        .await
        .expect("the event")
        .get(0);
    let event: Value = serde_json::from_str(&event).expect("event JSON");
    assert_eq!(event["id"], json!(id));
    assert_eq!(
        app.count("select count(*) from bus_events where class_name like '%AccountCreation%'")
            .await,
        0,
        "the live entry moved to history"
    );
    app.stop().await;
}

#[tokio::test]
async fn defaults_apply_when_the_body_is_empty_json() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(&app, json!({})).await;
    let account = get_json(&app, &location).await;
    assert_account_shape(&account);
    assert_eq!(account["externalKey"], account["accountId"]);
    assert_eq!(account["timeZone"], "UTC");
    assert_eq!(account["billCycleDayLocal"], 0);
    assert_eq!(account["isPaymentDelegatedToParent"], false);
    assert_eq!(account["currency"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn kill_bills_errors_for_bad_input_and_unknown_accounts() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(&app, json!({ "externalKey": "taken", "currency": "EUR" })).await;
    let id = location.rsplit('/').next().expect("an id").to_string();
    let post = |body: Value| app.kb(Method::POST, "/1.0/kb/accounts").json(&body).send();

    let error = expect_kb_error(
        post(json!({ "externalKey": "taken" })).await.expect("POST"),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(error["code"], 3000);
    assert_eq!(
        error["className"],
        "org.killbill.billing.account.api.AccountApiException"
    );
    assert_eq!(error["message"], "Account already exists for key taken");

    for bad in [
        json!({ "currency": "XYZ" }),
        json!({ "timeZone": "Mars/Olympus" }),
        json!({ "unknownField": 1 }),
        json!({ "parentAccountId": "not-a-uuid" }),
    ] {
        expect_kb_error(post(bad).await.expect("POST"), StatusCode::BAD_REQUEST).await;
    }
    let error = expect_kb_error(
        post(json!({ "externalKey": "k".repeat(256) }))
            .await
            .expect("POST"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 5);
    let error = expect_kb_error(
        post(json!({ "parentAccountId": uuid::Uuid::new_v4() }))
            .await
            .expect("POST"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], 3002);

    // Immutable fields.
    for change in [
        json!({ "currency": "USD" }),
        json!({ "externalKey": "other" }),
        json!({ "timeZone": "Europe/Paris" }),
    ] {
        let response = app
            .kb(Method::PUT, &format!("/1.0/kb/accounts/{id}"))
            .json(&change)
            .send()
            .await
            .expect("PUT");
        let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Killbill doesn't support updating the account")),
            "{error}"
        );
    }

    // Unknown id and key.
    let unknown = uuid::Uuid::new_v4();
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/accounts/{unknown}"))
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        error["className"],
        "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist"
    );
    assert_eq!(
        error["message"],
        format!("Object id={unknown} type=ACCOUNT doesn't exist!")
    );
    let response = app
        .kb(Method::PUT, &format!("/1.0/kb/accounts/{unknown}"))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .expect("PUT");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    let response = app
        .kb(Method::GET, "/1.0/kb/accounts?externalKey=nobody")
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], 3003);
    assert_eq!(error["message"], "Account does not exist for key nobody");

    // Values longer than their column are the caller's error, not the server's.
    for body in [
        json!({ "name": "n".repeat(101) }),
        json!({ "email": "e".repeat(129) }),
        json!({ "notes": "x".repeat(5000) }),
    ] {
        let error = expect_kb_error(post(body).await.expect("POST"), StatusCode::BAD_REQUEST).await;
        assert_eq!(
            error["className"], "java.lang.IllegalArgumentException",
            "{error}"
        );
    }

    // Nothing but the first creation was written.
    assert_eq!(app.count("select count(*) from accounts").await, 1);
    assert_eq!(app.count("select count(*) from account_history").await, 1);
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'ACCOUNT_HISTORY'")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_account_is_not_found() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(&app, json!({ "externalKey": "mine" })).await;
    let id = location.rsplit('/').next().expect("an id").to_string();
    let other = app.create_tenant("other-key", "other-secret").await;
    let as_other = |method: Method, path: &str| {
        app.admin(method, path)
            .header("X-Killbill-ApiKey", &other.api_key)
            .header("X-Killbill-ApiSecret", &other.api_secret)
            .header("X-Killbill-CreatedBy", "intruder")
    };
    let response = as_other(Method::GET, &format!("/1.0/kb/accounts/{id}"))
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        error["message"],
        format!("Object id={id} type=ACCOUNT doesn't exist!")
    );
    let response = as_other(Method::GET, "/1.0/kb/accounts?externalKey=mine")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        expect_kb_error(response, StatusCode::NOT_FOUND).await["code"],
        3003
    );
    let response = as_other(Method::PUT, &format!("/1.0/kb/accounts/{id}"))
        .json(&json!({ "name": "stolen" }))
        .send()
        .await
        .expect("PUT");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    // The same external key is free in the other tenant.
    let response = as_other(Method::POST, "/1.0/kb/accounts")
        .json(&json!({ "externalKey": "mine" }))
        .send()
        .await
        .expect("POST");
    expect_status(response, StatusCode::CREATED).await;
    let name: Option<String> = app
        .db
        .client()
        .await
        .query_one(
            "select name from accounts where id = $1",
            &[&uuid::Uuid::parse_str(&id).expect("uuid")],
        )
        .await
        .expect("the account")
        .get(0);
    assert_eq!(name, None);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creations_with_shared_keys_make_one_account_per_key() {
    let app = TestApp::spawn_with_tenant().await;
    let requests = (0..200).map(|i| {
        app.kb(Method::POST, "/1.0/kb/accounts")
            .json(&json!({ "externalKey": format!("key-{}", i % 100) }))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut created = 0;
    let mut conflicts = 0;
    for response in responses {
        let response = response.expect("a response");
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let error: Value = response.json().await.expect("error JSON");
                assert_eq!(error["code"], 3000);
                conflicts += 1;
            }
            other => panic!(
                "unexpected {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    assert_eq!((created, conflicts), (100, 100));
    assert_eq!(app.count("select count(*) from accounts").await, 100);
    assert_eq!(
        app.count("select count(distinct external_key) from accounts")
            .await,
        100
    );
    assert_eq!(app.count("select count(*) from account_history").await, 100);
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'ACCOUNT_HISTORY'")
            .await,
        100
    );
    assert_eq!(
        app.count("select (select count(*) from bus_events where class_name like '%AccountCreation%')
                  + (select count(*) from bus_events_history where class_name like '%AccountCreation%')"
        )
        .await,
        100
    );
    app.stop().await;
}

/// AccountModelDao.mergeWithDelegate keeps the stored currency on an update without reset,
/// even a null one: only `treatNullAsReset=true` sets a currency later (Kill Bill 0.24 answers
/// 204 and keeps null, as checked against the real server).
#[tokio::test]
async fn a_currency_is_set_later_only_by_a_reset_update_which_clears_absent_fields() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(
        &app,
        json!({ "externalKey": "later", "name": "Lee", "city": "Oslo" }),
    )
    .await;
    let id = location.rsplit('/').next().expect("an id").to_string();
    let put = |query: &'static str, body: Value| {
        app.kb(Method::PUT, &format!("/1.0/kb/accounts/{id}{query}"))
            .json(&body)
            .send()
    };
    // Without reset a given currency is accepted and dropped: the account keeps none.
    expect_status(
        put("", json!({ "currency": "GBP" })).await.expect("PUT"),
        StatusCode::NO_CONTENT,
    )
    .await;
    let account = get_json(&app, &location).await;
    assert_eq!(account["currency"], Value::Null);
    assert_eq!(account["city"], "Oslo");

    // With treatNullAsReset=true, absent fields are cleared; immutable ones must be repeated.
    let error = expect_kb_error(
        put("?treatNullAsReset=true", json!({ "name": "Lee" }))
            .await
            .expect("PUT"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Killbill doesn't support updating the account external key: new=null, current=later"
    );
    expect_status(
        put(
            "?treatNullAsReset=true",
            json!({ "externalKey": "later", "currency": "GBP", "timeZone": "UTC", "name": "Lee" }),
        )
        .await
        .expect("PUT"),
        StatusCode::NO_CONTENT,
    )
    .await;
    let account = get_json(&app, &location).await;
    assert_account_shape(&account);
    assert_eq!(account["name"], "Lee");
    assert_eq!(account["city"], Value::Null);
    assert_eq!(account["currency"], "GBP");
    assert_eq!(
        app.count("select count(*) from account_history where change_type = 'UPDATE'")
            .await,
        2
    );
    app.stop().await;
}

/// A GET as the test tenant, returning the response after checking its status.
async fn get_page(app: &TestApp, path: &str) -> reqwest::Response {
    let response = app.kb(Method::GET, path).send().await.expect("GET");
    expect_status(response, StatusCode::OK).await
}

fn optional_header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

fn external_keys(page: &Value) -> Vec<String> {
    page.as_array()
        .expect("a JSON array")
        .iter()
        .map(|account| {
            assert_account_shape(account);
            account["externalKey"]
                .as_str()
                .expect("externalKey")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn accounts_are_paged_with_kill_bills_headers() {
    let app = TestApp::spawn_with_tenant().await;
    for index in 0..7 {
        create(&app, json!({ "externalKey": format!("page-{index}") })).await;
    }
    // Another tenant's accounts are neither listed nor counted.
    let other = app.create_tenant("other-key", "other-secret").await;
    let response = app
        .admin(Method::POST, "/1.0/kb/accounts")
        .header("X-Killbill-ApiKey", &other.api_key)
        .header("X-Killbill-ApiSecret", &other.api_secret)
        .header("X-Killbill-CreatedBy", "other")
        .json(&json!({ "externalKey": "page-other" }))
        .send()
        .await
        .expect("POST");
    expect_status(response, StatusCode::CREATED).await;

    let mut path = "/1.0/kb/accounts/pagination?offset=0&limit=3".to_string();
    let mut seen = Vec::new();
    for (offset, next) in [(0, Some(3)), (3, Some(6)), (6, None)] {
        let response = get_page(&app, &path).await;
        assert_eq!(
            header(&response, "X-Killbill-Pagination-CurrentOffset"),
            offset.to_string()
        );
        assert_eq!(
            header(&response, "X-Killbill-Pagination-TotalNbRecords"),
            "7"
        );
        assert_eq!(header(&response, "X-Killbill-Pagination-MaxNbRecords"), "7");
        assert_eq!(
            optional_header(&response, "X-Killbill-Pagination-NextOffset"),
            next.map(|next: i64| next.to_string())
        );
        let next_uri = optional_header(&response, "X-Killbill-Pagination-NextPageUri");
        match next {
            Some(next) => assert_eq!(
                next_uri.as_deref(),
                Some(
                    format!(
                        "/1.0/kb/accounts/pagination?offset={next}&limit=3&accountWithBalanceAndCBA=false&accountWithBalance=false&audit=NONE"
                    )
                    .as_str()
                )
            ),
            None => assert_eq!(next_uri, None),
        }
        let page: Value = response.json().await.expect("JSON");
        seen.extend(external_keys(&page));
        if let Some(uri) = next_uri {
            path = uri;
        }
    }
    let expected: Vec<String> = (0..7).map(|index| format!("page-{index}")).collect();
    assert_eq!(seen, expected, "every account once, in record_id order");

    // Defaults: offset 0, limit 100; the read parameters are honoured and echoed.
    let response = get_page(
        &app,
        "/1.0/kb/accounts/pagination?limit=1&accountWithBalance=true&audit=minimal",
    )
    .await;
    assert_eq!(
        header(&response, "X-Killbill-Pagination-NextPageUri"),
        "/1.0/kb/accounts/pagination?offset=1&limit=1&accountWithBalanceAndCBA=false&accountWithBalance=true&audit=MINIMAL"
    );
    let page: Value = response.json().await.expect("JSON");
    assert_eq!(page[0]["accountBalance"], 0);
    app.stop().await;
}

#[tokio::test]
async fn accounts_are_searched_as_kill_bill_does() {
    let app = TestApp::spawn_with_tenant().await;
    let ann = create(
        &app,
        json!({ "externalKey": "key-ann", "name": "Ann Smith", "email": "ann@example.com" }),
    )
    .await;
    create(
        &app,
        json!({ "externalKey": "key-bob", "name": "Bob Jones", "company": "Initech" }),
    )
    .await;
    create(
        &app,
        json!({ "externalKey": "zed", "email": "zed@corp.test", "company": "Acme" }),
    )
    .await;
    let other = app.create_tenant("other-key", "other-secret").await;
    let response = app
        .admin(Method::POST, "/1.0/kb/accounts")
        .header("X-Killbill-ApiKey", &other.api_key)
        .header("X-Killbill-ApiSecret", &other.api_secret)
        .header("X-Killbill-CreatedBy", "other")
        .json(&json!({ "externalKey": "key-other", "name": "Ann Other" }))
        .send()
        .await
        .expect("POST");
    expect_status(response, StatusCode::CREATED).await;

    let search = |key: String| {
        let app = &app;
        async move {
            let response = get_page(app, &format!("/1.0/kb/accounts/search/{key}")).await;
            let total = header(&response, "X-Killbill-Pagination-TotalNbRecords");
            assert_eq!(header(&response, "X-Killbill-Pagination-MaxNbRecords"), "3");
            let page: Value = response.json().await.expect("JSON");
            let keys = external_keys(&page);
            assert_eq!(total, keys.len().to_string());
            keys
        }
    };
    // Partial name, email, external key, company; the other tenant's "Ann" never appears.
    assert_eq!(search("Ann".into()).await, ["key-ann"]);
    assert_eq!(search("example.com".into()).await, ["key-ann"]);
    assert_eq!(search("key-".into()).await, ["key-ann", "key-bob"]);
    assert_eq!(search("nitec".into()).await, ["key-bob"]);
    assert_eq!(search("Acme".into()).await, ["zed"]);
    // Like Kill Bill's LIKE on PostgreSQL, the match is case-sensitive.
    assert!(search("acme".into()).await.is_empty());
    // The exact id matches; a part of it does not.
    let id = ann.rsplit('/').next().expect("an id").to_string();
    assert_eq!(search(id.clone()).await, ["key-ann"]);
    assert!(search(id[..8].to_string()).await.is_empty());

    // Paging a search carries the key in NextPageUri.
    let response = get_page(&app, "/1.0/kb/accounts/search/key-?limit=1").await;
    assert_eq!(header(&response, "X-Killbill-Pagination-NextOffset"), "1");
    assert_eq!(
        header(&response, "X-Killbill-Pagination-NextPageUri"),
        "/1.0/kb/accounts/search/key-?offset=1&limit=1&accountWithBalanceAndCBA=false&accountWithBalance=false&audit=NONE"
    );
    app.stop().await;
}

#[tokio::test]
async fn unparsable_paging_and_audit_parameters_are_404() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(&app, json!({ "externalKey": "bad-params" })).await;
    let id = location.rsplit('/').next().expect("an id").to_string();
    for path in [
        "/1.0/kb/accounts/pagination?offset=x".to_string(),
        "/1.0/kb/accounts/pagination?limit=1.5".to_string(),
        "/1.0/kb/accounts/pagination?audit=SOME".to_string(),
        "/1.0/kb/accounts/search/bad?audit=all".to_string(),
        format!("/1.0/kb/accounts/{id}?audit=nope"),
        "/1.0/kb/accounts?externalKey=bad-params&audit=nope".to_string(),
    ] {
        let response = app.kb(Method::GET, &path).send().await.expect("GET");
        expect_kb_error(response, StatusCode::NOT_FOUND).await;
    }
    // Case-insensitive levels are accepted.
    for level in ["none", "Minimal", "FULL"] {
        get_page(&app, &format!("/1.0/kb/accounts/{id}?audit={level}")).await;
    }
    app.stop().await;
}

/// The property names of kbswagger.yaml's `AuditLog` definition.
const AUDIT_LOG_FIELDS: [&str; 9] = [
    "changeType",
    "changeDate",
    "objectType",
    "objectId",
    "changedBy",
    "reasonCode",
    "comments",
    "userToken",
    "history",
];

fn assert_audit_log(log: &Value, change_type: &str, id: &str) {
    let object = log.as_object().expect("an AuditLogJson object");
    let expected: BTreeSet<&str> = AUDIT_LOG_FIELDS.into_iter().collect();
    let actual: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(actual, expected, "AuditLogJson fields: {log}");
    assert_eq!(log["changeType"], change_type, "{log}");
    assert!(is_kill_bill_date(&log["changeDate"]), "{log}");
    assert_eq!(log["objectType"], "ACCOUNT");
    assert_eq!(log["objectId"], id);
    assert_eq!(log["changedBy"], "integration-test");
    assert_eq!(log["history"], Value::Null);
}

#[tokio::test]
async fn audit_levels_fill_audit_logs_on_account_reads() {
    let app = TestApp::spawn_with_tenant().await;
    let response = app
        .kb(Method::POST, "/1.0/kb/accounts")
        .header("X-Killbill-Reason", "signup")
        .header("X-Killbill-Comment", "from the web")
        .json(&json!({ "externalKey": "audited" }))
        .send()
        .await
        .expect("POST");
    let response = expect_status(response, StatusCode::CREATED).await;
    let id = header(&response, "location")
        .rsplit('/')
        .next()
        .expect("an id")
        .to_string();
    let response = app
        .kb(Method::PUT, &format!("/1.0/kb/accounts/{id}"))
        .json(&json!({ "city": "Lyon" }))
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;

    let none = get_json(&app, &format!("/1.0/kb/accounts/{id}?audit=NONE")).await;
    assert_eq!(none["auditLogs"], json!([]));

    let minimal = get_json(&app, &format!("/1.0/kb/accounts/{id}?audit=minimal")).await;
    let logs = minimal["auditLogs"].as_array().expect("auditLogs");
    assert_eq!(logs.len(), 1, "{minimal}");
    assert_audit_log(&logs[0], "INSERT", &id);
    assert_eq!(logs[0]["reasonCode"], "signup");
    assert_eq!(logs[0]["comments"], "from the web");

    let full = get_json(&app, "/1.0/kb/accounts?externalKey=audited&audit=FULL").await;
    let logs = full["auditLogs"].as_array().expect("auditLogs");
    assert_eq!(logs.len(), 2, "{full}");
    assert_audit_log(&logs[0], "INSERT", &id);
    assert_audit_log(&logs[1], "UPDATE", &id);
    assert_eq!(logs[1]["reasonCode"], Value::Null);

    // The same trail on its own endpoint and on a listed page.
    let trail = get_json(&app, &format!("/1.0/kb/accounts/{id}/auditLogs")).await;
    assert_eq!(&trail, &full["auditLogs"]);
    let page = get_json(&app, "/1.0/kb/accounts/pagination?audit=FULL").await;
    assert_eq!(page[0]["auditLogs"], full["auditLogs"]);

    let unknown = uuid::Uuid::new_v4();
    let response = app
        .kb(
            Method::GET,
            &format!("/1.0/kb/accounts/{unknown}/auditLogs"),
        )
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

#[tokio::test]
async fn audit_logs_with_history_carry_each_state_of_the_account() {
    let app = TestApp::spawn_with_tenant().await;
    let location = create(&app, json!({ "externalKey": "storied", "name": "Ann" })).await;
    let id = location.rsplit('/').next().expect("an id").to_string();
    let response = app
        .kb(Method::PUT, &format!("/1.0/kb/accounts/{id}"))
        .json(&json!({ "name": "Zoe" }))
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;

    let trail = get_json(&app, &format!("/1.0/kb/accounts/{id}/auditLogsWithHistory")).await;
    let trail = trail.as_array().expect("an array");
    assert_eq!(trail.len(), 2);
    for (entry, (change, name)) in trail.iter().zip([("INSERT", "Ann"), ("UPDATE", "Zoe")]) {
        let object = entry.as_object().expect("an AuditLogJson object");
        let fields: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(fields, AUDIT_LOG_FIELDS.into_iter().collect());
        assert_eq!(entry["changeType"], change);
        assert_eq!(entry["objectType"], "ACCOUNT");
        assert_eq!(entry["objectId"], json!(id));
        let history = &entry["history"];
        assert_eq!(history["externalKey"], "storied", "{history}");
        assert_eq!(history["name"], name);
        // Kill Bill leaves the id of its history objects unset, and names their tables.
        assert_eq!(history["id"], Value::Null);
        assert_eq!(history["tableName"], "ACCOUNT");
        assert_eq!(history["historyTableName"], "ACCOUNT_HISTORY");
        assert!(is_kill_bill_date(&history["referenceTime"]), "{history}");
        assert!(is_kill_bill_date(&history["updatedDate"]), "{history}");
    }

    let response = app
        .kb(
            Method::GET,
            &format!(
                "/1.0/kb/accounts/{}/auditLogsWithHistory",
                uuid::Uuid::new_v4()
            ),
        )
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    app.stop().await;
}
