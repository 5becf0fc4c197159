//! Push notifications end to end: a callback registered over the API receives Kill Bill's
//! NotificationJson for the internal events posted on the main bus (through the external bus),
//! in order; a failing callback is retried on the notification queue until it answers 2xx;
//! the register/GET/DELETE round trip speaks Kill Bill's JSON; tenants never see each other's
//! events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use axum::Router;
use ferrobill::bus::internal_events::{
    AccountCreationInternalEvent, PaymentErrorInternalEvent, PaymentEventData,
    PaymentInfoInternalEvent,
};
use ferrobill::bus::BusEvent;
use ferrobill::config::Config;
use ferrobill::db::pool::DbPool;
use ferrobill::db::work::Db;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::harness::{expect_kb_error, expect_status, header, wait_until, TestApp};

const WAIT: Duration = Duration::from_secs(60);
const CALLBACK_PATH: &str = "/1.0/kb/tenants/registerNotificationCallback";

/// One notification as the callback server received it.
#[derive(Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

struct CallbackState {
    received: mpsc::UnboundedSender<Received>,
    /// ACCOUNT_CREATION notifications received so far.
    account_creations: AtomicUsize,
    /// The first this many ACCOUNT_CREATION notifications answer 500 (or never answer).
    failures: usize,
    /// Fail by never answering instead of answering 500.
    hang: bool,
}

/// A callback server on 127.0.0.1:0; returns its URL and what it receives.
pub async fn start_callback_server(failures: usize) -> (String, mpsc::UnboundedReceiver<Received>) {
    start_callback_server_failing(failures, false).await
}

async fn start_callback_server_failing(
    failures: usize,
    hang: bool,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (received, receiver) = mpsc::unbounded_channel();
    let state = Arc::new(CallbackState {
        received,
        account_creations: AtomicUsize::new(0),
        failures,
        hang,
    });
    let router = Router::new()
        .route("/callmeback", post(callback))
        .with_state(state);
    let address = crate::harness::serve_on_loopback(router).await;
    (format!("http://{address}/callmeback"), receiver)
}

async fn callback(
    State(state): State<Arc<CallbackState>>,
    headers: HeaderMap,
    body: String,
) -> AxumStatus {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let fails = body["eventType"] == "ACCOUNT_CREATION"
        && state.account_creations.fetch_add(1, Ordering::SeqCst) < state.failures;
    let _ = state.received.send(Received { headers, body });
    if fails && state.hang {
        std::future::pending::<()>().await;
    }
    if fails {
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::OK
    }
}

pub async fn next(receiver: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, receiver.recv())
        .await
        .expect("a push notification in time")
        .expect("the callback server is running")
}

/// Buses with one worker each, so events are handled (and pushed) in the order posted.
fn ordered_properties() -> Vec<(&'static str, &'static str)> {
    vec![
        ("org.killbill.persistent.bus.main.nbThreads", "1"),
        ("org.killbill.persistent.bus.external.nbThreads", "1"),
        ("org.killbill.notificationq.main.sleep", "50"),
        (
            "org.killbill.billing.server.notifications.retries",
            "100ms,100ms,100ms",
        ),
    ]
}

async fn spawn_with_tenant(properties: &[(&str, &str)]) -> TestApp {
    let mut app = TestApp::spawn_with(properties).await;
    app.tenant = Some(app.create_tenant("push-tenant", "push-secret").await);
    app
}

/// Kill Bill announces a registration to the new callback: TENANT_CONFIG_CHANGE on TENANT_KVS,
/// no account, the key in its TenantConfigMetadata as metaData.
pub async fn expect_registration_notice(receiver: &mut mpsc::UnboundedReceiver<Received>) -> Value {
    let notice = next(receiver).await;
    assert_eq!(
        notice.body["eventType"], "TENANT_CONFIG_CHANGE",
        "{:?}",
        notice.body
    );
    assert_eq!(notice.body["objectType"], "TENANT_KVS");
    assert!(notice.body["objectId"].is_string());
    assert_eq!(notice.body["accountId"], Value::Null);
    assert_eq!(notice.body["metaData"], r#"{"key":"PUSH_NOTIFICATION_CB"}"#);
    notice.body["objectId"].clone()
}

/// The id of the tenant's active PUSH_NOTIFICATION_CB row.
async fn callback_kv_id(app: &TestApp, tenant_record_id: i64) -> Value {
    let id: Uuid = app
        .db
        .client()
        .await
        .query_one(
            "select id from tenant_kvs
             where tenant_record_id = $1 and tenant_key = 'PUSH_NOTIFICATION_CB' and is_active",
            &[&tenant_record_id],
        )
        .await
        .expect("the callback row")
        .get(0);
    json!(id)
}

pub async fn register(app: &TestApp, url: &str) {
    let response = app
        .kb(Method::POST, CALLBACK_PATH)
        .query(&[("cb", url)])
        .send()
        .await
        .expect("POST registerNotificationCallback");
    let response = expect_status(response, StatusCode::CREATED).await;
    assert!(header(&response, "location").ends_with(CALLBACK_PATH));
}

async fn tenant_record_id(app: &TestApp, tenant_id: &str) -> i64 {
    let id = Uuid::parse_str(tenant_id).expect("a tenant id");
    app.db
        .client()
        .await
        .query_one("select record_id from tenants where id = $1", &[&id])
        .await
        .expect("the tenant row")
        .get(0)
}

fn pool(app: &TestApp) -> Db {
    let config = Config::from_properties(&[]).expect("defaults");
    Db::new(DbPool::new("main", &config.main_pool, app.db.config.clone()).expect("a pool"))
}

fn payment(account_id: Uuid, tenant_record_id: i64, status: &str) -> PaymentEventData {
    PaymentEventData {
        account_id,
        payment_id: Uuid::new_v4(),
        payment_transaction_id: Uuid::new_v4(),
        amount: "10.00".into(),
        currency: "USD".into(),
        status: status.into(),
        transaction_type: "PURCHASE".into(),
        effective_date: "2024-05-01T12:00:00.123Z".parse().ok(),
        account_record_id: 1,
        tenant_record_id,
    }
}

/// Posts `events` on the main bus in one transaction, in order.
async fn post_in_one_transaction(app: &TestApp, pool: &Db, events: &[&dyn PostOne]) {
    let work = pool.begin().await.expect("a connection");
    let mut posted = app.app().main_bus().posted();
    for event in events {
        event.post(&mut posted, &work).await;
    }
    work.commit().await.expect("commit");
    drop(work);
    posted.committed().await;
}

/// Object-safe posting, so one transaction can carry events of several types.
trait PostOne: Sync {
    fn post<'a>(
        &'a self,
        posted: &'a mut ferrobill::bus::PostedEvents,
        work: &'a ferrobill::db::work::Work,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

impl<E: BusEvent + Sync> PostOne for E {
    fn post<'a>(
        &'a self,
        posted: &'a mut ferrobill::bus::PostedEvents,
        work: &'a ferrobill::db::work::Work,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            posted
                .post(work, self, None)
                .await
                .expect("the event is posted");
        })
    }
}

fn assert_notification(
    received: &Received,
    event_type: &str,
    object_type: &str,
    object_id: Uuid,
    account_id: Uuid,
) {
    assert_notification_with(
        received,
        event_type,
        object_type,
        object_id,
        account_id,
        None,
    );
}

fn assert_notification_with(
    received: &Received,
    event_type: &str,
    object_type: &str,
    object_id: Uuid,
    account_id: Uuid,
    meta_data: Option<&str>,
) {
    assert_eq!(
        received.body,
        json!({
            "eventType": event_type,
            "accountId": account_id,
            "objectType": object_type,
            "objectId": object_id,
            "metaData": meta_data,
        })
    );
}

/// BeatrixListener's PaymentMetadata of a payment event, as the JSON text Kill Bill sends.
fn payment_meta_data(payment: &PaymentEventData) -> String {
    format!(
        r#"{{"paymentTransactionId":"{}","amount":10.0,"currency":"USD","status":"{}","transactionType":"PURCHASE","effectiveDate":"2024-05-01T12:00:00.123Z"}}"#,
        payment.payment_transaction_id, payment.status
    )
}

#[tokio::test]
async fn internal_events_reach_the_callback_as_kill_bills_json_in_order() {
    let app = spawn_with_tenant(&ordered_properties()).await;
    let tenant = app.tenant.clone().expect("a tenant");
    let tenant_record_id = tenant_record_id(&app, &tenant.id).await;
    let (url, mut received) = start_callback_server(0).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;
    let pool = pool(&app);

    let account_id = Uuid::new_v4();
    let created = AccountCreationInternalEvent {
        id: account_id,
        account_record_id: 1,
        tenant_record_id,
    };
    let paid = PaymentInfoInternalEvent(payment(account_id, tenant_record_id, "SUCCESS"));
    let declined =
        PaymentErrorInternalEvent(payment(account_id, tenant_record_id, "PAYMENT_FAILURE"));
    post_in_one_transaction(&app, &pool, &[&created, &paid, &declined]).await;

    let first = next(&mut received).await;
    assert_notification(
        &first,
        "ACCOUNT_CREATION",
        "ACCOUNT",
        account_id,
        account_id,
    );
    assert_eq!(first.headers["user-agent"], "KillBill/1.0");
    assert_eq!(
        first.headers["content-type"],
        "application/json; charset=UTF-8"
    );
    let second = next(&mut received).await;
    assert_notification_with(
        &second,
        "PAYMENT_SUCCESS",
        "PAYMENT",
        paid.0.payment_id,
        account_id,
        Some(&payment_meta_data(&paid.0)),
    );
    let third = next(&mut received).await;
    assert_notification_with(
        &third,
        "PAYMENT_FAILED",
        "PAYMENT",
        declined.0.payment_id,
        account_id,
        Some(&payment_meta_data(&declined.0)),
    );

    // The external events are on record with Kill Bill's class name and the tenant's id.
    let client = app.db.client().await;
    wait_until("four external events in history", WAIT, || async {
        client
            .query_one("select count(*) from bus_ext_events_history", &[])
            .await
            .map(|row| row.get::<_, i64>(0) == 4)
            .unwrap_or(false)
    })
    .await;
    let row = client
        .query_one(
            "select class_name, event_json from bus_ext_events_history
             where event_json like '%ACCOUNT_CREATION%'",
            &[],
        )
        .await
        .expect("an external event");
    assert_eq!(
        row.get::<_, String>(0),
        "org.killbill.billing.beatrix.extbus.DefaultBusExternalEvent"
    );
    let event: Value = serde_json::from_str(&row.get::<_, String>(1)).expect("JSON");
    assert_eq!(event["tenantId"], json!(tenant.id));
    assert_eq!(event["eventType"], "ACCOUNT_CREATION");
    assert!(received.try_recv().is_err(), "nothing else was pushed");
    app.stop().await;
}

#[tokio::test]
async fn a_failing_callback_is_retried_until_it_answers_2xx() {
    let app = spawn_with_tenant(&ordered_properties()).await;
    let tenant = app.tenant.clone().expect("a tenant");
    let tenant_record_id = tenant_record_id(&app, &tenant.id).await;
    // 500, 500, then 200: the first delivery and the first retry fail, the second retry works.
    let (url, mut received) = start_callback_server(2).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;
    let pool = pool(&app);

    let account_id = Uuid::new_v4();
    let created = AccountCreationInternalEvent {
        id: account_id,
        account_record_id: 1,
        tenant_record_id,
    };
    post_in_one_transaction(&app, &pool, &[&created]).await;
    for _ in 0..3 {
        let call = next(&mut received).await;
        assert_notification(&call, "ACCOUNT_CREATION", "ACCOUNT", account_id, account_id);
    }
    // Both retries went through the notification queue and are finished there.
    let client = app.db.client().await;
    wait_until("both retries processed", WAIT, || async {
        client
            .query_one(
                "select count(*) from notifications_history
                 where queue_name = 'server-service:push-notification-queue'
                   and class_name = 'org.killbill.billing.server.notifications.PushNotificationKey'
                   and processing_state = 'PROCESSED'",
                &[],
            )
            .await
            .map(|row| row.get::<_, i64>(0) == 2)
            .unwrap_or(false)
    })
    .await;
    let live: i64 = client
        .query_one("select count(*) from notifications", &[])
        .await
        .expect("a count")
        .get(0);
    assert_eq!(live, 0, "no further retry was scheduled after the 200");
    assert!(received.try_recv().is_err(), "no call after the 200");
    app.stop().await;
}

#[tokio::test]
async fn register_get_and_delete_a_callback_with_kill_bills_json() {
    let app = spawn_with_tenant(&[]).await;
    let get = || async {
        let response = app
            .kb(Method::GET, CALLBACK_PATH)
            .send()
            .await
            .expect("GET registerNotificationCallback");
        expect_status(response, StatusCode::OK)
            .await
            .json::<Value>()
            .await
            .expect("TenantKeyValueJson")
    };
    assert_eq!(
        get().await,
        json!({"key": "PUSH_NOTIFICATION_CB", "values": [], "auditLogs": []})
    );

    register(&app, "http://127.0.0.1:9/first").await;
    assert_eq!(
        get().await,
        json!({"key": "PUSH_NOTIFICATION_CB", "values": ["http://127.0.0.1:9/first"], "auditLogs": []})
    );
    // One callback per tenant, as in Kill Bill: a second registration replaces the first.
    register(&app, "https://example.com/second").await;
    assert_eq!(
        get().await,
        json!({"key": "PUSH_NOTIFICATION_CB", "values": ["https://example.com/second"], "auditLogs": []})
    );

    let response = app
        .kb(Method::DELETE, CALLBACK_PATH)
        .send()
        .await
        .expect("DELETE registerNotificationCallback");
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(
        get().await,
        json!({"key": "PUSH_NOTIFICATION_CB", "values": [], "auditLogs": []})
    );

    for bad in ["not a url", "ftp://example.com/cb", "/relative"] {
        let response = app
            .kb(Method::POST, CALLBACK_PATH)
            .query(&[("cb", bad)])
            .send()
            .await
            .expect("POST");
        expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    }
    let response = app
        .kb(Method::POST, CALLBACK_PATH)
        .send()
        .await
        .expect("POST");
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;

    // Tenant-scoped: Basic auth alone is not enough on this path.
    let response = app
        .admin(Method::GET, CALLBACK_PATH)
        .send()
        .await
        .expect("GET without tenant headers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Writes are audited as Kill Bill's TENANT_KVS: two inserts, two deletes.
    let client = app.db.client().await;
    let audited: Vec<(String, i64)> = client
        .query(
            "select change_type, count(*) from audit_log where table_name = 'TENANT_KVS'
             group by change_type order by change_type",
            &[],
        )
        .await
        .expect("audit rows")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        audited,
        vec![("DELETE".to_string(), 2), ("INSERT".to_string(), 2)]
    );
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_callback_never_receives_this_tenants_events() {
    let mut app = spawn_with_tenant(&ordered_properties()).await;
    let tenant_a = app.tenant.clone().expect("a tenant");
    let tenant_b = app.create_tenant("other-tenant", "other-secret").await;
    let (url_a, mut received_a) = start_callback_server(0).await;
    let (url_b, mut received_b) = start_callback_server(0).await;
    register(&app, &url_a).await;
    app.tenant = Some(tenant_b.clone());
    register(&app, &url_b).await;
    let record_a = tenant_record_id(&app, &tenant_a.id).await;
    let record_b = tenant_record_id(&app, &tenant_b.id).await;
    let pool = pool(&app);

    let account_a = Uuid::new_v4();
    let account_b = Uuid::new_v4();
    let created_a = AccountCreationInternalEvent {
        id: account_a,
        account_record_id: 1,
        tenant_record_id: record_a,
    };
    let created_b = AccountCreationInternalEvent {
        id: account_b,
        account_record_id: 2,
        tenant_record_id: record_b,
    };
    // A's event first: with one worker per bus, B's callback would get A's event before its
    // own if events leaked across tenants.
    post_in_one_transaction(&app, &pool, &[&created_a, &created_b]).await;
    // Each callback first gets its own registration notice; B would get A's first if
    // notifications leaked across tenants.
    let notice_a = expect_registration_notice(&mut received_a).await;
    let notice_b = expect_registration_notice(&mut received_b).await;
    assert_eq!(notice_a, callback_kv_id(&app, record_a).await);
    assert_eq!(notice_b, callback_kv_id(&app, record_b).await);
    let to_a = next(&mut received_a).await;
    assert_notification(&to_a, "ACCOUNT_CREATION", "ACCOUNT", account_a, account_a);
    let to_b = next(&mut received_b).await;
    assert_notification(&to_b, "ACCOUNT_CREATION", "ACCOUNT", account_b, account_b);
    assert!(received_a.try_recv().is_err(), "A got only its own event");
    assert!(received_b.try_recv().is_err(), "B got only its own event");
    app.stop().await;
}

#[tokio::test]
async fn a_callback_that_never_answers_is_abandoned_after_the_timeout_and_retried() {
    let mut properties = ordered_properties();
    properties.push(("ferrobill.notifications.timeout", "1s"));
    let app = spawn_with_tenant(&properties).await;
    let tenant = app.tenant.clone().expect("a tenant");
    let tenant_record_id = tenant_record_id(&app, &tenant.id).await;
    let (url, mut received) = start_callback_server_failing(1, true).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;
    let pool = pool(&app);

    let account_id = Uuid::new_v4();
    let created = AccountCreationInternalEvent {
        id: account_id,
        account_record_id: 1,
        tenant_record_id,
    };
    post_in_one_transaction(&app, &pool, &[&created]).await;
    let hung = next(&mut received).await;
    let hung_at = std::time::Instant::now();
    assert_notification(&hung, "ACCOUNT_CREATION", "ACCOUNT", account_id, account_id);
    // The POST is given up after 1 s, the retry is due 100 ms later and answered 200.
    let retried = next(&mut received).await;
    assert_notification(
        &retried,
        "ACCOUNT_CREATION",
        "ACCOUNT",
        account_id,
        account_id,
    );
    let waited = hung_at.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(20),
        "retried after {waited:?}"
    );
    // The bus worker was freed by the timeout: a later event is pushed too.
    let paid = PaymentInfoInternalEvent(payment(account_id, tenant_record_id, "SUCCESS"));
    post_in_one_transaction(&app, &pool, &[&paid]).await;
    let pushed = next(&mut received).await;
    assert_notification_with(
        &pushed,
        "PAYMENT_SUCCESS",
        "PAYMENT",
        paid.0.payment_id,
        account_id,
        Some(&payment_meta_data(&paid.0)),
    );
    app.stop().await;
}

#[tokio::test]
async fn an_account_created_over_the_api_is_pushed_as_account_creation() {
    let app = spawn_with_tenant(&ordered_properties()).await;
    let (url, mut received) = start_callback_server(0).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;

    let account_id = Uuid::parse_str(&app.create_account(json!({ "externalKey": "pushed" })).await)
        .expect("a Location ending in the account id");

    let call = next(&mut received).await;
    assert_notification(&call, "ACCOUNT_CREATION", "ACCOUNT", account_id, account_id);
    assert!(received.try_recv().is_err(), "one notification per account");
    app.stop().await;
}

#[tokio::test]
async fn an_account_update_is_posted_and_pushed_as_account_change() {
    let app = spawn_with_tenant(&ordered_properties()).await;
    let (url, mut received) = start_callback_server(0).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;

    let account_id = Uuid::parse_str(
        &app.create_account(json!({ "externalKey": "changed", "city": "Paris" }))
            .await,
    )
    .expect("a Location ending in the account id");
    let call = next(&mut received).await;
    assert_notification(&call, "ACCOUNT_CREATION", "ACCOUNT", account_id, account_id);

    // Kill Bill's DefaultAccountDao posts a change event on every update, even one that
    // changes nothing (checked against Kill Bill 0.24: both are pushed as ACCOUNT_CHANGE).
    for body in [
        json!({ "city": "Paris" }),
        json!({ "city": "Lyon", "name": "Ann" }),
    ] {
        let response = app
            .kb(Method::PUT, &format!("/1.0/kb/accounts/{account_id}"))
            .json(&body)
            .send()
            .await
            .expect("PUT");
        expect_status(response, StatusCode::NO_CONTENT).await;
    }
    for _ in 0..2 {
        let call = next(&mut received).await;
        assert_notification(&call, "ACCOUNT_CHANGE", "ACCOUNT", account_id, account_id);
    }

    let client = app.db.client().await;
    let rows = client
        .query(
            "select class_name, event_json, record_id from bus_events
              where class_name like '%AccountChange%'
             union all
             select class_name, event_json, record_id from bus_events_history
              where class_name like '%AccountChange%'
             order by record_id",
            &[],
        )
        .await
        .expect("the change events");
    assert_eq!(rows.len(), 2, "one change event per update");
    assert_eq!(
        rows[1].get::<_, String>(0),
        "org.killbill.billing.account.api.user.DefaultAccountChangeEvent"
    );
    let unchanged: Value = serde_json::from_str(&rows[0].get::<_, String>(1)).expect("JSON");
    assert_eq!(unchanged["changedFields"], json!([]));
    let event: Value = serde_json::from_str(&rows[1].get::<_, String>(1)).expect("JSON");
    assert_eq!(event["accountId"], json!(account_id));
    let changed: Vec<(Value, Value, Value)> = event["changedFields"]
        .as_array()
        .expect("changedFields")
        .iter()
        .map(|field| {
            (
                field["fieldName"].clone(),
                field["oldValue"].clone(),
                field["newValue"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            (json!("firstName"), Value::Null, json!("Ann")),
            (json!("city"), json!("Paris"), json!("Lyon")),
        ]
    );
    assert!(received.try_recv().is_err(), "nothing else was pushed");
    app.stop().await;
}

/// What Kill Bill 0.24 pushes for a payment method made the default (ACCOUNT_CHANGE), a
/// payment and its void (PaymentMetadata: the void without currency), and tags added and
/// removed (TagMetadata), as the differential run against the real server showed.
#[tokio::test]
async fn defaults_payments_and_tags_are_pushed_with_kill_bills_meta_data() {
    let app = spawn_with_tenant(&ordered_properties()).await;
    let (url, mut received) = start_callback_server(0).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;

    let (account_id, _) = app.account_with_external_method("meta").await;
    let account_id: Uuid = account_id.parse().expect("an account id");
    let created = next(&mut received).await;
    assert_eq!(created.body["eventType"], "ACCOUNT_CREATION");
    // Making the new method the default changes the account.
    let changed = next(&mut received).await;
    assert_notification(
        &changed,
        "ACCOUNT_CHANGE",
        "ACCOUNT",
        account_id,
        account_id,
    );

    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/payments"),
        )
        .json(&json!({ "transactionType": "AUTHORIZE", "amount": 10.5 }))
        .send()
        .await
        .expect("POST payments");
    let location = header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    );
    let authorized = next(&mut received).await;
    assert_eq!(authorized.body["eventType"], "PAYMENT_SUCCESS");
    let meta: Value = serde_json::from_str(
        authorized.body["metaData"]
            .as_str()
            .expect("metaData is a JSON text"),
    )
    .expect("metaData JSON");
    let keys: Vec<&String> = meta.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        [
            "amount",
            "currency",
            "effectiveDate",
            "paymentTransactionId",
            "status",
            "transactionType"
        ]
    );
    assert_eq!(meta["amount"], json!(10.5));
    assert_eq!(meta["currency"], "USD");
    assert_eq!(meta["status"], "SUCCESS");
    assert_eq!(meta["transactionType"], "AUTHORIZE");
    // `kb` takes a path: the Location is absolute.
    let path = location
        .split_once("/1.0/")
        .map(|(_, rest)| format!("/1.0/{}", rest.trim_end_matches('/')))
        .expect("a payment path");
    let response = app.kb(Method::DELETE, &path).send().await.expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let voided = next(&mut received).await;
    let meta: Value = serde_json::from_str(voided.body["metaData"].as_str().expect("metaData"))
        .expect("metaData JSON");
    assert_eq!(meta["transactionType"], "VOID");
    assert_eq!(meta["currency"], Value::Null);

    let auto_pay_off = "00000000-0000-0000-0000-000000000001";
    for method in [Method::POST, Method::DELETE] {
        let request = app.kb(
            method.clone(),
            &format!("/1.0/kb/accounts/{account_id}/tags"),
        );
        let request = if method == Method::POST {
            request.json(&json!([auto_pay_off]))
        } else {
            request.query(&[("tagDef", auto_pay_off)])
        };
        let response = request.send().await.expect("tags");
        assert!(response.status().is_success(), "{method}: {response:?}");
        let pushed = next(&mut received).await;
        let expected = if method == Method::POST {
            "TAG_CREATION"
        } else {
            "TAG_DELETION"
        };
        assert_eq!(pushed.body["eventType"], expected);
        assert_eq!(pushed.body["objectType"], "TAG");
        assert_eq!(pushed.body["accountId"], json!(account_id));
        assert_eq!(
            pushed.body["metaData"],
            r#"{"tagDefinitionName":"AUTO_PAY_OFF"}"#
        );
    }
    assert!(received.try_recv().is_err(), "nothing else was pushed");
    app.stop().await;
}
