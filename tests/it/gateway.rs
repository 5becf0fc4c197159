//! The simulated card gateway (`ferrobill-gateway`, also `killbill-stripe`): its amount rules
//! under concurrent calls, the test card numbers, the hang the janitor learns about, plugin
//! pool starvation with the pool's own message, and cards that never leave it unmasked.
//!
//! The payment endpoints are not built yet, so payment calls go to the plugin directly, built
//! on the test database as the app builds it on the plugin pool; payment methods also go
//! through HTTP.

use std::sync::Arc;
use std::time::Duration;

use ferrobill::config::Config;
use ferrobill::db::pool::DbPool;
use ferrobill::db::work::Db;
use ferrobill::domain::payments::TransactionType;
use ferrobill::plugin::{
    GatewaySimPlugin, PaymentCall, PaymentMethodCall, PaymentMethodPlugin, PaymentPluginApi,
    PaymentPluginStatus, PaymentTransactionInfo, PluginError, PluginProperty, TenantConfigSource,
    GATEWAY_PLUGIN_NAME,
};
use futures_util::future::BoxFuture;
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{expect_status, header, wait_until, TestApp, TestDatabase};

/// The plugin on `db`'s plugin pool, configured by `properties` over the defaults.
fn gateway(db: &TestDatabase, properties: &[(&str, &str)]) -> Arc<GatewaySimPlugin> {
    let url = db.url();
    let mut pairs = vec![("org.killbill.dao.url", url.as_str())];
    pairs.extend_from_slice(properties);
    let config = Config::from_properties(&pairs).expect("a valid configuration");
    let pool = DbPool::new("osgi", &config.plugin_pool, db.config.clone()).expect("a plugin pool");
    Arc::new(GatewaySimPlugin::new(
        Db::new(pool),
        config.gateway,
        GATEWAY_PLUGIN_NAME,
        Arc::new(NoTenantUploads),
    ))
}

/// No tenant uploaded a configuration: the node's settings apply to every call.
struct NoTenantUploads;

impl TenantConfigSource for NoTenantUploads {
    fn plugin_config<'a>(
        &'a self,
        _tenant_id: Uuid,
        _plugin_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PluginError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

fn property(key: &str, value: &str) -> PluginProperty {
    PluginProperty {
        key: key.to_string(),
        value: Some(value.to_string()),
        is_updatable: false,
    }
}

/// One account's ids, and the payment method the calls charge.
#[derive(Clone, Copy)]
struct Customer {
    tenant_id: Uuid,
    account_id: Uuid,
    payment_method_id: Uuid,
}

impl Customer {
    fn new() -> Customer {
        Customer {
            tenant_id: Uuid::new_v4(),
            account_id: Uuid::new_v4(),
            payment_method_id: Uuid::new_v4(),
        }
    }

    fn method_call<'a>(&self, properties: &'a [PluginProperty]) -> PaymentMethodCall<'a> {
        PaymentMethodCall {
            account_id: self.account_id,
            payment_method_id: self.payment_method_id,
            tenant_id: self.tenant_id,
            properties,
        }
    }

    /// A new transaction on `payment_id`; `amount` in dollars, `None` for a void.
    fn call(&self, payment_id: Uuid, amount: Option<&str>) -> PaymentCall {
        PaymentCall {
            tenant_id: self.tenant_id,
            account_id: self.account_id,
            payment_id,
            transaction_id: Uuid::new_v4(),
            payment_method_id: self.payment_method_id,
            amount: amount.map(|amount| amount.parse().expect("an amount")),
            currency: Some("USD".to_string()),
            properties: Vec::new(),
        }
    }
}

/// A customer whose payment method holds `number`.
async fn customer_with_card(plugin: &GatewaySimPlugin, number: &str) -> Customer {
    let customer = Customer::new();
    let detail = PaymentMethodPlugin {
        external_payment_method_id: None,
        is_default_payment_method: false,
        properties: vec![
            property("ccNumber", number),
            property("ccExpirationMonth", "12"),
            property("ccExpirationYear", "2030"),
            property("ccVerificationValue", "987"),
            property("ccFirstName", "Ada"),
            property("zip", "94110"),
        ],
    };
    plugin
        .add_payment_method(customer.method_call(&[]), Some(&detail), true)
        .await
        .expect("the card is added");
    customer
}

fn dollars(amount: &str) -> Option<Decimal> {
    Some(amount.parse().expect("an amount"))
}

fn assert_declined(info: &PaymentTransactionInfo, code: &str) {
    assert_eq!(info.status, PaymentPluginStatus::Error, "{info:?}");
    assert_eq!(info.gateway_error_code.as_deref(), Some(code), "{info:?}");
    assert!(info.gateway_error.is_some(), "{info:?}");
    assert_eq!(info.amount, Some(Decimal::ZERO));
}

#[tokio::test]
async fn fifty_concurrent_captures_take_exactly_the_authorized_amount() {
    let db = TestDatabase::create().await;
    let plugin = gateway(&db, &[]);
    let customer = customer_with_card(&plugin, "4242424242424242").await;
    let payment_id = Uuid::new_v4();
    let authorization = plugin
        .process_payment(
            TransactionType::Authorize,
            &customer.call(payment_id, Some("10.00")),
        )
        .await
        .expect("an answer");
    assert_eq!(authorization.status, PaymentPluginStatus::Processed);
    let charge_id = authorization
        .first_payment_reference_id
        .clone()
        .expect("a charge id");
    assert!(charge_id.starts_with("ch_"), "{charge_id}");

    let captures: Vec<_> = (0..50)
        .map(|_| {
            let plugin = plugin.clone();
            let call = customer.call(payment_id, Some("1.00"));
            tokio::spawn(async move {
                plugin
                    .process_payment(TransactionType::Capture, &call)
                    .await
            })
        })
        .collect();
    let mut processed = 0;
    for capture in captures {
        let info = capture.await.expect("the task ran").expect("an answer");
        match info.status {
            PaymentPluginStatus::Processed => processed += 1,
            _ => assert_declined(&info, "amount_too_large"),
        }
    }
    assert_eq!(processed, 10);

    // Refunds stop at what was captured; a captured charge cannot be voided.
    let refund = plugin
        .process_payment(
            TransactionType::Refund,
            &customer.call(payment_id, Some("10.00")),
        )
        .await
        .expect("an answer");
    assert_eq!(refund.status, PaymentPluginStatus::Processed);
    assert!(refund
        .second_payment_reference_id
        .as_deref()
        .is_some_and(|id| id.starts_with("re_")));
    let over_refund = plugin
        .process_payment(
            TransactionType::Refund,
            &customer.call(payment_id, Some("0.01")),
        )
        .await
        .expect("an answer");
    assert_declined(&over_refund, "amount_too_large");
    let void = plugin
        .process_payment(TransactionType::Void, &customer.call(payment_id, None))
        .await
        .expect("an answer");
    assert_declined(&void, "charge_already_captured");

    let info = plugin
        .get_payment_info(customer.tenant_id, customer.account_id, payment_id, &[])
        .await
        .expect("the payment's transactions");
    assert_eq!(info.len(), 1 + 50 + 3);
    assert_eq!(info[0].transaction_id, authorization.transaction_id);
    assert_eq!(info[0].transaction_type, TransactionType::Authorize);
    let captured: Decimal = info
        .iter()
        .filter(|transaction| transaction.transaction_type == TransactionType::Capture)
        .filter_map(|transaction| transaction.amount)
        .sum();
    assert_eq!(captured, Decimal::new(1000, 2));
    assert!(info.iter().all(
        |transaction| transaction.first_payment_reference_id.as_deref() == Some(charge_id.as_str())
    ));
    // Another tenant sees nothing of it.
    let foreign = plugin
        .get_payment_info(Uuid::new_v4(), customer.account_id, payment_id, &[])
        .await
        .expect("an answer");
    assert!(foreign.is_empty());
}

#[tokio::test]
async fn a_voided_authorization_cannot_be_captured_and_a_repeated_call_is_not_charged_twice() {
    let db = TestDatabase::create().await;
    let plugin = gateway(&db, &[]);
    let customer = customer_with_card(&plugin, "4242424242424242").await;
    let payment_id = Uuid::new_v4();
    let authorize = customer.call(payment_id, Some("5.00"));
    let first = plugin
        .process_payment(TransactionType::Authorize, &authorize)
        .await
        .expect("an answer");
    let again = plugin
        .process_payment(TransactionType::Authorize, &authorize)
        .await
        .expect("an answer");
    assert_eq!(first.status, PaymentPluginStatus::Processed);
    assert_eq!(again.status, PaymentPluginStatus::Processed);
    assert_eq!(
        again.second_payment_reference_id,
        first.second_payment_reference_id
    );

    let void = plugin
        .process_payment(TransactionType::Void, &customer.call(payment_id, None))
        .await
        .expect("an answer");
    assert_eq!(void.status, PaymentPluginStatus::Processed);
    let capture = plugin
        .process_payment(
            TransactionType::Capture,
            &customer.call(payment_id, Some("1.00")),
        )
        .await
        .expect("an answer");
    assert_declined(&capture, "charge_voided");
    let info = plugin
        .get_payment_info(customer.tenant_id, customer.account_id, payment_id, &[])
        .await
        .expect("an answer");
    assert_eq!(
        info.len(),
        3,
        "the repeated authorization is one transaction"
    );
}

#[tokio::test]
async fn test_card_numbers_decline_and_fail_deterministically() {
    let db = TestDatabase::create().await;
    // Rates of 0 and test cards: the same answer every time.
    let plugin = gateway(&db, &[]);

    let declining = customer_with_card(&plugin, "4000000000000002").await;
    for _ in 0..3 {
        let info = plugin
            .process_payment(
                TransactionType::Purchase,
                &declining.call(Uuid::new_v4(), Some("20.00")),
            )
            .await
            .expect("an answer");
        assert_declined(&info, "card_declined");
    }

    // ccNumber among the call's properties wins over the stored card.
    let mut call = declining.call(Uuid::new_v4(), Some("20.00"));
    call.properties = vec![property("ccNumber", "4000000000000119")];
    let info = plugin
        .process_payment(TransactionType::Authorize, &call)
        .await
        .expect("an answer");
    assert_eq!(info.status, PaymentPluginStatus::Canceled);
    assert_eq!(info.gateway_error_code.as_deref(), Some("processing_error"));
    let recorded = plugin
        .get_payment_info(
            declining.tenant_id,
            declining.account_id,
            call.payment_id,
            &[],
        )
        .await
        .expect("an answer");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, PaymentPluginStatus::Canceled);

    call.properties = vec![property("ccNumber", "4242424242424242")];
    call.transaction_id = Uuid::new_v4();
    let info = plugin
        .process_payment(TransactionType::Purchase, &call)
        .await
        .expect("an answer");
    assert_eq!(info.status, PaymentPluginStatus::Processed);
    assert_eq!(info.amount, dollars("20.00"));

    // A mistyped number and a method without a card are the plugin's failures.
    call.properties = vec![property("ccNumber", "4242424242424241")];
    call.transaction_id = Uuid::new_v4();
    let PluginError(message) = plugin
        .process_payment(TransactionType::Purchase, &call)
        .await
        .expect_err("refused");
    assert!(
        message.contains("Luhn") && message.contains("4241"),
        "{message}"
    );
    let stranger = Customer::new();
    let PluginError(message) = plugin
        .process_payment(
            TransactionType::Purchase,
            &stranger.call(Uuid::new_v4(), Some("1.00")),
        )
        .await
        .expect_err("no card");
    assert!(message.contains("no card with the gateway"), "{message}");
}

#[tokio::test]
async fn a_hanging_call_is_recorded_as_undefined_then_processed_for_the_janitor() {
    let db = TestDatabase::create().await;
    let plugin = gateway(&db, &[("ferrobill.gateway.hangTime", "2s")]);
    let customer = customer_with_card(&plugin, "4000000000000341").await;
    let payment_id = Uuid::new_v4();
    let call = customer.call(payment_id, Some("7.50"));
    let mut hanging = {
        let plugin = plugin.clone();
        let call = call.clone();
        tokio::spawn(async move {
            plugin
                .process_payment(TransactionType::Purchase, &call)
                .await
        })
    };
    // What a plugin timeout shorter than the hang sees: no answer yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut hanging)
            .await
            .is_err()
    );

    let status_of_payment = || {
        let plugin = plugin.clone();
        async move {
            plugin
                .get_payment_info(customer.tenant_id, customer.account_id, payment_id, &[])
                .await
                .expect("an answer")
                .first()
                .map(|info| info.status)
        }
    };
    wait_until(
        "the hanging call to be recorded",
        Duration::from_secs(5),
        || {
            let status = status_of_payment();
            async move { status.await.is_some() }
        },
    )
    .await;
    assert_eq!(
        status_of_payment().await,
        Some(PaymentPluginStatus::Undefined)
    );

    let answer = hanging
        .await
        .expect("the task ran")
        .expect("an answer once the hang ends");
    assert_eq!(answer.status, PaymentPluginStatus::Processed);
    let info = plugin
        .get_payment_info(customer.tenant_id, customer.account_id, payment_id, &[])
        .await
        .expect("an answer");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].transaction_id, call.transaction_id);
    assert_eq!(info[0].status, PaymentPluginStatus::Processed);
    assert_eq!(info[0].amount, dollars("7.50"));
}

#[tokio::test]
async fn a_plugin_pool_smaller_than_the_callers_fails_with_the_pools_message() {
    let db = TestDatabase::create().await;
    let plugin = gateway(
        &db,
        &[
            ("org.killbill.billing.osgi.dao.maxActive", "2"),
            ("org.killbill.billing.osgi.dao.minIdle", "0"),
            ("org.killbill.billing.osgi.dao.connectionTimeout", "1s"),
            ("ferrobill.gateway.latency", "1500ms"),
        ],
    );
    let customer = Customer::new();
    let purchases: Vec<_> = (0..6)
        .map(|_| {
            let plugin = plugin.clone();
            let mut call = customer.call(Uuid::new_v4(), Some("3.00"));
            call.properties = vec![property("ccNumber", "4242424242424242")];
            tokio::spawn(async move {
                plugin
                    .process_payment(TransactionType::Purchase, &call)
                    .await
            })
        })
        .collect();
    let (mut processed, mut starved) = (0, 0);
    for purchase in purchases {
        match purchase.await.expect("the task ran") {
            Ok(info) => {
                assert_eq!(info.status, PaymentPluginStatus::Processed);
                processed += 1;
            }
            Err(PluginError(message)) => {
                assert!(
                    message.contains("could not obtain a database connection within 1.000 seconds"),
                    "{message}"
                );
                starved += 1;
            }
        }
    }
    // Two connections, each held 1.5 s: the other four give up after 1 s.
    assert_eq!((processed, starved), (2, 4));
}

#[tokio::test]
async fn only_the_last_four_digits_are_kept_and_returned() {
    let db = TestDatabase::create().await;
    let plugin = gateway(&db, &[]);
    let customer = customer_with_card(&plugin, "4242 4242 4242 4242").await;
    let detail = plugin
        .get_payment_method_detail(customer.method_call(&[]))
        .await
        .expect("a detail");
    assert!(detail.is_default_payment_method);
    assert!(detail
        .external_payment_method_id
        .as_deref()
        .is_some_and(|id| id.starts_with("pm_")));
    let value = |key: &str| {
        detail
            .properties
            .iter()
            .find(|property| property.key == key)
            .and_then(|property| property.value.clone())
    };
    assert_eq!(value("ccNumber").as_deref(), Some("************4242"));
    assert_eq!(value("ccLast4").as_deref(), Some("4242"));
    assert_eq!(value("ccExpirationMonth").as_deref(), Some("12"));
    assert_eq!(value("zip").as_deref(), Some("94110"));
    assert_eq!(value("ccVerificationValue"), None);

    let client = db.client().await;
    let rows = client
        .query(
            "select gateway_payment_methods::text from gateway_payment_methods",
            &[],
        )
        .await
        .expect("the gateway's rows");
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].get(0);
    assert!(!stored.contains("424242424242"), "{stored}");
    assert!(!stored.contains("ccVerificationValue"), "{stored}");
}

/// Kill Bill clients send `pluginName: "killbill-stripe"` and card numbers as JSON numbers.
#[tokio::test]
async fn a_stripe_card_added_over_http_shows_only_its_last_four_digits() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = app.usd_account("gateway-account").await;

    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods?isDefault=true"),
        )
        .json(&json!({
            "pluginName": "killbill-stripe",
            "pluginInfo": { "properties": [
                { "key": "ccNumber", "value": 4242424242424242u64 },
                { "key": "ccExpirationMonth", "value": 12 },
                { "key": "ccExpirationYear", "value": 2030 },
                { "key": "ccVerificationValue", "value": "123" },
                { "key": "ccFirstName", "value": "Ada" }
            ]}
        }))
        .send()
        .await
        .expect("POST paymentMethods");
    let response = expect_status(response, StatusCode::CREATED).await;
    let location = header(&response, "location");
    let pm_id = location.rsplit('/').next().expect("an id").to_string();

    let response = app
        .kb(
            Method::GET,
            &format!("/1.0/kb/paymentMethods/{pm_id}?withPluginInfo=true"),
        )
        .send()
        .await
        .expect("GET paymentMethods");
    let body = expect_status(response, StatusCode::OK)
        .await
        .text()
        .await
        .expect("a body");
    assert!(!body.contains("424242424242"), "{body}");
    assert!(!body.contains("ccVerificationValue"), "{body}");
    let method: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(method["pluginName"], json!("killbill-stripe"));
    assert!(method["externalKey"]
        .as_str()
        .is_some_and(|key| key.starts_with("pm_")));
    let properties = method["pluginInfo"]["properties"]
        .as_array()
        .expect("properties");
    let value = |key: &str| {
        properties
            .iter()
            .find(|property| property["key"] == json!(key))
            .map(|property| property["value"].clone())
    };
    assert_eq!(value("ccLast4"), Some(json!("4242")));
    assert_eq!(value("ccNumber"), Some(json!("************4242")));
    assert_eq!(value("ccExpirationMonth"), Some(json!("12")));
    assert_eq!(value("ccFirstName"), Some(json!("Ada")));

    // The same gateway answers to ferrobill's name; a mistyped number is its refusal (7199).
    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        )
        .json(&json!({
            "pluginName": "ferrobill-gateway",
            "pluginInfo": { "properties": [{ "key": "ccNumber", "value": "4242424242424241" }] }
        }))
        .send()
        .await
        .expect("POST paymentMethods");
    assert!(!response.status().is_success());
    let error: Value = response.json().await.expect("Kill Bill's error JSON");
    assert_eq!(error["code"], json!(7199), "{error}");
    assert!(!error.to_string().contains("4242424242424241"), "{error}");
}

#[tokio::test]
async fn rates_of_one_decide_every_call_on_an_approving_card() {
    let db = TestDatabase::create().await;
    for (rate, status, code) in [
        (
            "ferrobill.gateway.declineRate",
            PaymentPluginStatus::Error,
            "card_declined",
        ),
        (
            "ferrobill.gateway.errorRate",
            PaymentPluginStatus::Canceled,
            "processing_error",
        ),
    ] {
        let plugin = gateway(&db, &[(rate, "100%")]);
        let customer = customer_with_card(&plugin, "4242424242424242").await;
        let info = plugin
            .process_payment(
                TransactionType::Purchase,
                &customer.call(Uuid::new_v4(), Some("2.00")),
            )
            .await
            .expect("an answer");
        assert_eq!(info.status, status, "{rate}");
        assert_eq!(info.gateway_error_code.as_deref(), Some(code), "{rate}");
        assert_eq!(info.amount, Some(Decimal::ZERO), "{rate}");
    }
}
