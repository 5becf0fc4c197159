//! Tags as Kill Bill serves them: the fixed tag definitions (ControlTagType and `__PARK__`), a
//! tenant's own definitions (3901, 3903, 3904), adding, listing and removing an account's tags
//! with TagJson and Kill Bill's error codes (3902, 3950, 3951), idempotent additions, tenant
//! isolation, and the history and `audit_log` rows every write leaves.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, TestApp};

const AUTO_PAY_OFF: &str = "00000000-0000-0000-0000-000000000001";
const AUTO_INVOICING_OFF: &str = "00000000-0000-0000-0000-000000000002";
const WRITTEN_OFF: &str = "00000000-0000-0000-0000-000000000004";
const TEST: &str = "00000000-0000-0000-0000-000000000006";
const PARK: &str = "00000000-0000-0001-0000-000000000001";

/// The property names of kbswagger.yaml's `Tag` definition.
const TAG_FIELDS: [&str; 6] = [
    "tagId",
    "objectType",
    "objectId",
    "tagDefinitionId",
    "tagDefinitionName",
    "auditLogs",
];

async fn add_tags(app: &TestApp, account_id: &str, body: Value) -> reqwest::Response {
    app.kb(Method::POST, &format!("/1.0/kb/accounts/{account_id}/tags"))
        .json(&body)
        .send()
        .await
        .expect("POST tags")
}

async fn remove_tags(app: &TestApp, account_id: &str, query: &str) -> reqwest::Response {
    app.kb(
        Method::DELETE,
        &format!("/1.0/kb/accounts/{account_id}/tags{query}"),
    )
    .send()
    .await
    .expect("DELETE tags")
}

fn names(tags: &Value) -> Vec<&str> {
    tags.as_array()
        .expect("an array")
        .iter()
        .map(|tag| tag["tagDefinitionName"].as_str().expect("a name"))
        .collect()
}

#[tokio::test]
async fn account_tags_are_added_listed_and_removed_with_history_and_audit_rows() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.create_account(json!({ "externalKey": "tagged" })).await;

    // A JSON array of definition ids; a null entry counts as absent.
    let response = expect_status(
        add_tags(&app, &account_id, json!([AUTO_INVOICING_OFF, null, TEST])).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        header(&response, "location"),
        format!("{}/1.0/kb/accounts/{account_id}/tags", app.address)
    );
    assert!(response.text().await.expect("a body").is_empty());

    let tags = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await;
    assert_eq!(names(&tags), ["AUTO_INVOICING_OFF", "TEST"], "{tags}");
    let first = &tags[0];
    let fields: BTreeSet<&str> = first
        .as_object()
        .expect("a TagJson object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, TAG_FIELDS.into_iter().collect());
    assert_eq!(first["objectType"], json!("ACCOUNT"));
    assert_eq!(first["objectId"], json!(account_id));
    assert_eq!(first["tagDefinitionId"], json!(AUTO_INVOICING_OFF));
    assert_eq!(first["auditLogs"], json!([]));
    assert!(uuid::Uuid::parse_str(first["tagId"].as_str().expect("a tagId")).is_ok());

    // Adding a tag the account carries is a no-op, still 201 (Kill Bill's addTag is lenient).
    expect_status(
        add_tags(&app, &account_id, json!([TEST, TEST])).await,
        StatusCode::CREATED,
    )
    .await;
    let again = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await;
    assert_eq!(again, tags);

    let audited = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags?audit=FULL"))
        .await;
    for tag in audited.as_array().expect("an array") {
        let logs = tag["auditLogs"].as_array().expect("auditLogs");
        assert_eq!(logs.len(), 1, "{tag}");
        assert_eq!(logs[0]["changeType"], json!("INSERT"));
        assert_eq!(logs[0]["objectType"], json!("TAG"));
        assert_eq!(logs[0]["objectId"], tag["tagId"]);
        assert_eq!(logs[0]["changedBy"], json!("integration-test"));
        assert_eq!(logs[0]["history"], Value::Null);
    }

    let test_tag_id = tags[1]["tagId"].clone();
    expect_status(
        remove_tags(&app, &account_id, &format!("?tagDef={TEST}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let left = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await;
    assert_eq!(names(&left), ["AUTO_INVOICING_OFF"]);
    let all = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/tags?includedDeleted=true&audit=full"
        ))
        .await;
    assert_eq!(names(&all), ["AUTO_INVOICING_OFF", "TEST"]);
    assert_eq!(all[1]["tagId"], test_tag_id);
    let removed_trail: Vec<&Value> = all[1]["auditLogs"]
        .as_array()
        .expect("auditLogs")
        .iter()
        .map(|log| &log["changeType"])
        .collect();
    assert_eq!(removed_trail, [&json!("INSERT"), &json!("DELETE")]);
    let minimal = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/tags?includedDeleted=true&audit=MINIMAL"
        ))
        .await;
    assert_eq!(minimal[1]["auditLogs"].as_array().map(Vec::len), Some(1));

    // A removed tag is gone: removing it again is TAG_DOES_NOT_EXIST.
    let error = expect_kb_error(
        remove_tags(&app, &account_id, &format!("?tagDef={TEST}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], json!(3950));
    assert_eq!(
        error["className"],
        json!("org.killbill.billing.util.api.TagApiException")
    );
    assert_eq!(
        error["message"],
        json!("The tag does not exist (name: TEST)")
    );

    // And it can be added again, as a new tag.
    expect_status(
        add_tags(&app, &account_id, json!([TEST])).await,
        StatusCode::CREATED,
    )
    .await;
    let readded = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await;
    assert_eq!(names(&readded), ["AUTO_INVOICING_OFF", "TEST"]);
    assert_ne!(readded[1]["tagId"], test_tag_id);

    // The account's trail holds its own entries, then its tags', as Kill Bill orders it (by
    // table name, then oldest first).
    let trail = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/auditLogs"))
        .await;
    let entries: Vec<(&str, &str)> = trail
        .as_array()
        .expect("an array")
        .iter()
        .map(|log| {
            (
                log["objectType"].as_str().expect("an objectType"),
                log["changeType"].as_str().expect("a changeType"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("ACCOUNT", "INSERT"),
            ("TAG", "INSERT"),
            ("TAG", "INSERT"),
            ("TAG", "DELETE"),
            ("TAG", "INSERT"),
        ]
    );
    assert_eq!(trail[0]["objectId"], json!(account_id));
    assert_eq!(trail[1]["objectId"], tags[0]["tagId"]);
    assert_eq!(trail[3]["objectId"], test_tag_id);
    assert_eq!(trail[4]["objectId"], readded[1]["tagId"]);

    // Three insertions and one removal: one history row each, one audit row pointing at each
    // with the same change type and the account's record id.
    assert_eq!(app.count("select count(*) from tags").await, 3);
    assert_eq!(app.count("select count(*) from tag_history").await, 4);
    assert_eq!(
        app.count(
            "select count(*) from tag_history h join audit_log l
             on l.target_record_id = h.record_id and l.table_name = 'TAG_HISTORY'
             where h.change_type = l.change_type
               and l.account_record_id = h.account_record_id
               and l.created_by = 'integration-test'"
        )
        .await,
        4
    );
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'TAG_HISTORY'")
            .await,
        4
    );
    assert_eq!(
        app.count(
            "select count(*) from tag_history where change_type = 'DELETE' and not is_active"
        )
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn refusals_carry_kill_bills_codes_and_write_nothing() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app
        .create_account(json!({ "externalKey": "refused" }))
        .await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let error = expect_kb_error(
        add_tags(&app, &account_id, json!([unknown])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(3902));
    assert_eq!(
        error["className"],
        json!("org.killbill.billing.util.api.TagApiException")
    );
    assert_eq!(
        error["message"],
        json!(format!("The tag definition {unknown} does not exist"))
    );

    // One refusal refuses the whole list.
    expect_kb_error(
        add_tags(&app, &account_id, json!([TEST, WRITTEN_OFF])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let error = expect_kb_error(
        add_tags(&app, &account_id, json!([WRITTEN_OFF])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["className"], json!("java.lang.IllegalStateException"));
    assert_eq!(
        error["message"],
        json!("Invalid control tag 'WRITTEN_OFF' for object type 'ACCOUNT'")
    );
    let error = expect_kb_error(
        add_tags(&app, &account_id, json!([PARK])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["className"],
        json!("org.killbill.billing.util.api.TagApiException")
    );

    // AUTO_PAY_OFF cannot be removed from an account without a default payment method; the
    // check comes before the tag lookup, as in AccountResource.
    let error = expect_kb_error(
        remove_tags(&app, &account_id, &format!("?tagDef={AUTO_PAY_OFF}")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(3951));
    assert_eq!(
        error["message"],
        json!(
            "The tag AUTO_PAY_OFF cannot be removed because  the account does not have a default payment method"
        )
    );
    let error = expect_kb_error(
        remove_tags(&app, &account_id, &format!("?tagDef={unknown}")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(3902));
    expect_kb_error(
        remove_tags(&app, &account_id, "?tagDef=not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // No tagDef at all removes nothing.
    expect_status(
        remove_tags(&app, &account_id, "").await,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Bodies that are not an array of ids.
    let post_raw = |body: &'static str| {
        app.kb(Method::POST, &format!("/1.0/kb/accounts/{account_id}/tags"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, class_name) in [
        (
            "[\"not-a-uuid\"]",
            "com.fasterxml.jackson.databind.exc.InvalidFormatException",
        ),
        (
            "{\"tagDefinitionId\": null}",
            "com.fasterxml.jackson.databind.exc.MismatchedInputException",
        ),
        ("[", "com.fasterxml.jackson.core.JsonParseException"),
        ("null", "java.lang.IllegalArgumentException"),
        ("", "java.lang.IllegalArgumentException"),
    ] {
        let error =
            expect_kb_error(post_raw(body).await.expect("POST"), StatusCode::BAD_REQUEST).await;
        assert_eq!(error["className"], json!(class_name), "{body}: {error}");
    }
    let response = app
        .bare(Method::POST, &format!("/1.0/kb/accounts/{account_id}/tags"))
        .basic_auth("admin", Some("password"))
        .header(
            "X-Killbill-ApiKey",
            &app.tenant.as_ref().expect("a tenant").api_key,
        )
        .header(
            "X-Killbill-ApiSecret",
            &app.tenant.as_ref().expect("a tenant").api_secret,
        )
        .json(&json!([TEST]))
        .send()
        .await
        .expect("POST");
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;

    // Unknown accounts, unknown audit levels.
    let nobody = uuid::Uuid::new_v4();
    expect_kb_error(
        add_tags(&app, &nobody.to_string(), json!([TEST])).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_kb_error(
        remove_tags(&app, &nobody.to_string(), &format!("?tagDef={TEST}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Listing looks tags up by object id only: an unknown account has none (as Kill Bill).
    let listed = app
        .get_json(&format!("/1.0/kb/accounts/{nobody}/tags"))
        .await;
    assert_eq!(listed, json!([]));
    for path in [
        format!("/1.0/kb/accounts/{account_id}/tags?audit=EVERYTHING"),
        "/1.0/kb/accounts/not-a-uuid/tags".to_string(),
    ] {
        let response = app.kb(Method::GET, &path).send().await.expect("GET");
        expect_kb_error(response, StatusCode::NOT_FOUND).await;
    }

    assert_eq!(app.count("select count(*) from tags").await, 0);
    assert_eq!(app.count("select count(*) from tag_history").await, 0);
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'TAG_HISTORY'")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn tag_definitions_are_kill_bills_system_and_control_tags() {
    let app = TestApp::spawn_with_tenant().await;
    let definitions = app.get_json("/1.0/kb/tagDefinitions").await;
    let listed: Vec<&str> = definitions
        .as_array()
        .expect("an array")
        .iter()
        .map(|definition| definition["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        listed,
        [
            "__PARK__",
            "AUTO_PAY_OFF",
            "AUTO_INVOICING_OFF",
            "OVERDUE_ENFORCEMENT_OFF",
            "WRITTEN_OFF",
            "MANUAL_PAY",
            "TEST",
            "PARTNER",
            "AUTO_INVOICING_DRAFT",
            "AUTO_INVOICING_REUSE_DRAFT",
        ]
    );
    assert_eq!(
        definitions[1],
        json!({
            "id": AUTO_PAY_OFF,
            "isControlTag": true,
            "name": "AUTO_PAY_OFF",
            "description": "Suspends payments until removed.",
            "applicableObjectTypes": ["ACCOUNT"],
            "auditLogs": [],
        })
    );
    assert_eq!(definitions[0]["id"], json!(PARK));
    assert_eq!(definitions[0]["isControlTag"], json!(false));
    assert_eq!(definitions[4]["applicableObjectTypes"], json!(["INVOICE"]));
    for (n, definition) in definitions.as_array().expect("an array")[1..]
        .iter()
        .enumerate()
    {
        assert_eq!(
            definition["id"],
            json!(format!("00000000-0000-0000-0000-{:012}", n + 1))
        );
    }

    let one = app
        .get_json(&format!("/1.0/kb/tagDefinitions/{WRITTEN_OFF}?audit=FULL"))
        .await;
    assert_eq!(one, definitions[4]);
    let unknown = uuid::Uuid::new_v4();
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/tagDefinitions/{unknown}"))
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(3902));
    assert_eq!(
        error["className"],
        json!("org.killbill.billing.util.api.TagDefinitionApiException")
    );
    let response = app
        .kb(Method::GET, "/1.0/kb/tagDefinitions?audit=bogus")
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_account_tags_are_unknown() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.create_account(json!({ "externalKey": "mine" })).await;
    expect_status(
        add_tags(&app, &account_id, json!([TEST])).await,
        StatusCode::CREATED,
    )
    .await;
    let other = app.create_tenant("other-key", "other-secret").await;
    let as_other = |method: Method| {
        app.admin(method, &format!("/1.0/kb/accounts/{account_id}/tags"))
            .header("X-Killbill-ApiKey", &other.api_key)
            .header("X-Killbill-ApiSecret", &other.api_secret)
            .header("X-Killbill-CreatedBy", "intruder")
    };
    // Kill Bill looks tags up by object id without resolving the account: an account it does
    // not know (here: another tenant's) has none, 200 `[]`.
    let listed = expect_status(
        as_other(Method::GET).send().await.expect("GET"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.json::<Value>().await.expect("JSON"), json!([]));
    expect_kb_error(
        as_other(Method::POST)
            .json(&json!([AUTO_INVOICING_OFF]))
            .send()
            .await
            .expect("POST"),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_kb_error(
        as_other(Method::DELETE)
            .query(&[("tagDef", TEST)])
            .send()
            .await
            .expect("DELETE"),
        StatusCode::NOT_FOUND,
    )
    .await;
    let tags = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await;
    assert_eq!(names(&tags), ["TEST"]);
    assert_eq!(app.count("select count(*) from tag_history").await, 1);
    app.stop().await;
}

pub(crate) async fn create_definition(app: &TestApp, body: Value) -> reqwest::Response {
    app.kb(Method::POST, "/1.0/kb/tagDefinitions")
        .json(&body)
        .send()
        .await
        .expect("POST tagDefinitions")
}

#[tokio::test]
async fn a_tenants_own_definitions_are_created_used_and_deleted() {
    let app = TestApp::spawn_with_tenant().await;
    let response = expect_status(
        create_definition(
            &app,
            json!({
                "id": null,
                "isControlTag": null,
                "name": "vip",
                "description": "very important",
                "applicableObjectTypes": ["ACCOUNT", "INVOICE", "ACCOUNT"],
                "auditLogs": null,
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let location = header(&response, "location");
    assert!(
        location.starts_with(&format!("{}/1.0/kb/tagDefinitions/", app.address)),
        "{location}"
    );
    let id = location.rsplit('/').next().expect("an id").to_string();

    let definition = app
        .get_json(&format!("/1.0/kb/tagDefinitions/{id}?audit=FULL"))
        .await;
    assert_eq!(definition["id"], json!(id));
    assert_eq!(definition["isControlTag"], json!(false));
    assert_eq!(definition["name"], json!("vip"));
    assert_eq!(definition["description"], json!("very important"));
    assert_eq!(
        definition["applicableObjectTypes"],
        json!(["ACCOUNT", "INVOICE"])
    );
    let logs = definition["auditLogs"].as_array().expect("auditLogs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["changeType"], json!("INSERT"));
    assert_eq!(logs[0]["objectType"], json!("TAG_DEFINITION"));
    assert_eq!(logs[0]["objectId"], json!(id));

    // The tenant's own definitions come first, then the fixed ones.
    let all = app.get_json("/1.0/kb/tagDefinitions").await;
    assert_eq!(all.as_array().map(Vec::len), Some(11));
    assert_eq!(all[0]["name"], json!("vip"));
    assert_eq!(all[0]["auditLogs"], json!([]));
    assert_eq!(all[1]["name"], json!("__PARK__"));

    // Names are lowercase and unique among live definitions.
    let error = expect_kb_error(
        create_definition(
            &app,
            json!({ "name": "vip", "description": "again", "applicableObjectTypes": ["ACCOUNT"] }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(error["code"], json!(3901));
    assert_eq!(
        error["className"],
        json!("org.killbill.billing.util.api.TagDefinitionApiException")
    );
    let error = expect_kb_error(
        create_definition(
            &app,
            json!({ "name": "Vip", "description": "x", "applicableObjectTypes": ["ACCOUNT"] }),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(3904));
    for (body, message) in [
        (
            json!({ "description": "x", "applicableObjectTypes": ["ACCOUNT"] }),
            "TagDefinition name needs to be set",
        ),
        (
            json!({ "name": "x", "description": "", "applicableObjectTypes": ["ACCOUNT"] }),
            "TagDefinition description needs to be set",
        ),
        (
            json!({ "name": "x", "description": "x", "applicableObjectTypes": [] }),
            "Applicable object types must be set",
        ),
    ] {
        let error =
            expect_kb_error(create_definition(&app, body).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["message"], json!(message));
        assert_eq!(
            error["className"],
            json!("java.lang.IllegalArgumentException")
        );
    }
    // An object type Kill Bill does not have fails in Jackson, before the API.
    let error = expect_kb_error(
        create_definition(
            &app,
            json!({ "name": "x", "description": "x", "applicableObjectTypes": ["PLANET"] }),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["className"],
        json!("com.fasterxml.jackson.databind.exc.InvalidFormatException")
    );

    // It tags an account like a control tag.
    let account_id = app
        .create_account(json!({ "externalKey": "vip-account" }))
        .await;
    expect_status(
        add_tags(&app, &account_id, json!([id, TEST])).await,
        StatusCode::CREATED,
    )
    .await;
    let tags = app
        .get_json(&format!("/1.0/kb/accounts/{account_id}/tags"))
        .await;
    assert_eq!(names(&tags), ["vip", "TEST"]);
    assert_eq!(tags[0]["tagDefinitionId"], json!(id));

    // In use: it cannot be deleted (3903); once the tag is removed, it can.
    let delete = || {
        app.kb(Method::DELETE, &format!("/1.0/kb/tagDefinitions/{id}"))
            .send()
    };
    let error = expect_kb_error(delete().await.expect("DELETE"), StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], json!(3903));
    expect_status(
        remove_tags(&app, &account_id, &format!("?tagDef={id}")).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(delete().await.expect("DELETE"), StatusCode::NO_CONTENT).await;
    let error = expect_kb_error(delete().await.expect("DELETE"), StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(3902));
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/tagDefinitions/{id}"))
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    let error = expect_kb_error(
        add_tags(&app, &account_id, json!([id])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(3902));
    // The removed tag still shows its (deleted) definition.
    let all_tags = app
        .get_json(&format!(
            "/1.0/kb/accounts/{account_id}/tags?includedDeleted=true"
        ))
        .await;
    assert_eq!(names(&all_tags), ["vip", "TEST"]);
    // The fixed definitions cannot be deleted.
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/tagDefinitions/{AUTO_PAY_OFF}"),
        )
        .send()
        .await
        .expect("DELETE");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;

    // The name is free again; the trail with history shows both states of the first one.
    expect_status(
        create_definition(
            &app,
            json!({ "name": "vip", "description": "again", "applicableObjectTypes": ["ACCOUNT"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let trail = app
        .get_json(&format!("/1.0/kb/tagDefinitions/{id}/auditLogsWithHistory"))
        .await;
    let trail = trail.as_array().expect("an array");
    assert_eq!(trail.len(), 2);
    for (entry, (change, active)) in trail.iter().zip([("INSERT", true), ("DELETE", false)]) {
        assert_eq!(entry["changeType"], json!(change));
        assert_eq!(entry["objectType"], json!("TAG_DEFINITION"));
        assert_eq!(entry["history"]["name"], json!("vip"));
        assert_eq!(entry["history"]["isActive"], json!(active));
        assert_eq!(
            entry["history"]["applicableObjectTypes"],
            json!("ACCOUNT,INVOICE")
        );
    }

    // Two creations and one deletion, each with its history and audit row; no account.
    assert_eq!(
        app.count("select count(*) from tag_definition_history")
            .await,
        3
    );
    assert_eq!(
        app.count(
            "select count(*) from tag_definition_history h join audit_log l
             on l.target_record_id = h.record_id and l.table_name = 'TAG_DEFINITION_HISTORY'
             where h.change_type = l.change_type and l.account_record_id is null"
        )
        .await,
        3
    );

    // Another tenant sees none of it.
    let other = app.create_tenant("other-key", "other-secret").await;
    let response = app
        .admin(Method::GET, "/1.0/kb/tagDefinitions")
        .header("X-Killbill-ApiKey", &other.api_key)
        .header("X-Killbill-ApiSecret", &other.api_secret)
        .send()
        .await
        .expect("GET");
    let theirs: Value = expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(theirs.as_array().map(Vec::len), Some(10));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_additions_make_one_tag_and_one_definition() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.create_account(json!({ "externalKey": "raced" })).await;
    let additions = (0..8).map(|_| add_tags(&app, &account_id, json!([TEST, AUTO_INVOICING_OFF])));
    for response in futures_util::future::join_all(additions).await {
        expect_status(response, StatusCode::CREATED).await;
    }
    assert_eq!(
        app.count("select count(*) from tags where is_active").await,
        2
    );
    assert_eq!(app.count("select count(*) from tag_history").await, 2);
    assert_eq!(
        app.count("select count(*) from audit_log where table_name = 'TAG_HISTORY'")
            .await,
        2
    );

    let creations = (0..8).map(|_| {
        create_definition(
            &app,
            json!({ "name": "raced", "description": "one wins", "applicableObjectTypes": ["ACCOUNT"] }),
        )
    });
    let mut statuses: Vec<StatusCode> = futures_util::future::join_all(creations)
        .await
        .into_iter()
        .map(|response| response.status())
        .collect();
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::CREATED, "{statuses:?}");
    assert!(
        statuses[1..]
            .iter()
            .all(|status| *status == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(app.count("select count(*) from tag_definitions").await, 1);
    assert_eq!(
        app.count("select count(*) from tag_definition_history")
            .await,
        1
    );
    app.stop().await;
}
