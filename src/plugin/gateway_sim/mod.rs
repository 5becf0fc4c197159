//! The simulated card gateway: a payment plugin registered as `ferrobill-gateway` and as
//! `killbill-stripe`, so load scenarios written for Kill Bill's Stripe plugin run unchanged.
//!
//! It behaves like a JDBC plugin in front of a remote gateway: every payment call takes a
//! plugin-pool connection first and holds it for the simulated round trip (the configured
//! latency), so a plugin pool smaller than the plugin thread pool starves as in seed 001 and
//! the pool's own "could not obtain a database connection" error comes back as a plugin
//! exception. It keeps its own rows (cards reduced to last four digits and a fingerprint,
//! payments with running totals, every transaction's answer) in the `gateway_*` tables, and
//! enforces what a gateway enforces: captures within the authorization, refunds within what
//! was captured, no capture after a void and no void after a capture, checked under a row lock
//! on the payment. Test card numbers and configured rates decide declines, processing errors
//! and hangs (docs/gateway.md).
//!
//! A tenant may upload its own settings for the plugin (`/1.0/kb/tenants/uploadPluginConfig/
//! <plugin name>`, `ferrobill.gateway.*` lines), as a Stripe plugin reads its keys there: they
//! override the node's `ferrobill.gateway.*` for that tenant's payment calls.
//!
//! It must never store, log or return a full card number or a verification value, and never
//! touch ferrobill's own tables; the main pool it reaches only through the tenant
//! configuration source, before taking its own connection.

mod card;
mod hosted;
mod simulation;
mod storage;

use std::sync::Arc;

use futures_util::future::FutureExt;
use rust_decimal::Decimal;
use uuid::Uuid;

use self::card::{Card, CardClass, CC_LAST4, CC_NUMBER, KEPT_PROPERTIES};
use self::simulation::Fate;
use self::storage::{Answer, PaymentRecord, TransactionRecord};
use super::{
    answered, FormDescriptor, GatewayNotification, HostedPageCall, PaymentCall, PaymentMethodCall,
    PaymentMethodInfo, PaymentMethodMatch, PaymentMethodPlugin, PaymentPluginApi,
    PaymentPluginStatus, PaymentTransactionInfo, PluginError, PluginHealth, PluginProperty,
    PluginResult, TenantConfigSource, TransactionType,
};
use crate::config::{gateway_with_overrides, GatewayConfig};
use crate::db::work::{Db, Work};

/// ferrobill's own name for the plugin.
pub const GATEWAY_PLUGIN_NAME: &str = "ferrobill-gateway";
/// The name of Kill Bill's Stripe plugin, which the seed load tests add payment methods with.
pub const STRIPE_PLUGIN_NAME: &str = "killbill-stripe";

/// A refusal under the amount rules: recorded as a decline (ERROR) with this code and message.
struct Refusal {
    code: &'static str,
    message: String,
}

pub struct GatewaySimPlugin {
    /// The plugin pool (`org.killbill.billing.osgi.dao.*`).
    db: Db,
    config: GatewayConfig,
    /// The name this instance is registered under: whose per-tenant configuration it reads.
    name: &'static str,
    tenant_configs: Arc<dyn TenantConfigSource>,
}

impl GatewaySimPlugin {
    /// A gateway registered as `name`, keeping its rows through `db` (the plugin pool;
    /// migration 0008's tables must exist there) and behaving as `config` says, or as a
    /// tenant's configuration in `tenant_configs` says for that tenant.
    pub fn new(
        db: Db,
        config: GatewayConfig,
        name: &'static str,
        tenant_configs: Arc<dyn TenantConfigSource>,
    ) -> GatewaySimPlugin {
        GatewaySimPlugin {
            db,
            config,
            name,
            tenant_configs,
        }
    }

    /// The settings for a call of `tenant_id`: the node's, with the tenant's uploaded
    /// `ferrobill.gateway.*` lines over them. An unreadable upload fails the call, as a real
    /// plugin fails with a broken configuration.
    async fn settings_for(&self, tenant_id: uuid::Uuid) -> Result<GatewayConfig, PluginError> {
        let Some(text) = self
            .tenant_configs
            .plugin_config(tenant_id, self.name)
            .await?
        else {
            return Ok(self.config.clone());
        };
        gateway_with_overrides(&self.config, &properties(&text)).map_err(|problem| {
            PluginError(format!(
                "the tenant's configuration of {} is invalid: {problem}",
                self.name
            ))
        })
    }

    /// A plugin-pool connection, or the pool's own error as the plugin's failure.
    async fn connection(&self) -> Result<Work, PluginError> {
        self.db
            .read()
            .await
            .map_err(|error| PluginError(error.to_string()))
    }

    /// The card a payment call charges: `ccNumber` among the call's properties wins over the
    /// card stored with the payment method, as in Kill Bill's card plugins.
    async fn card_for(
        &self,
        connection: &deadpool_postgres::Object,
        call: &PaymentCall,
    ) -> Result<(CardClass, String), PluginError> {
        if let Some(number) = card::property(&call.properties, CC_NUMBER) {
            let card = Card::parse(number).map_err(|error| PluginError(error.to_string()))?;
            return Ok((card.class, card.last4));
        }
        let method =
            storage::find_payment_method(connection, call.tenant_id, call.payment_method_id)
                .await
                .map_err(storage_error)?;
        match method {
            Some(storage::MethodRecord {
                card_class: Some(class),
                card_last4: Some(last4),
                ..
            }) => CardClass::parse(&class)
                .map(|class| (class, last4))
                .ok_or_else(|| PluginError(format!("unknown card class {class}"))),
            _ => Err(PluginError(format!(
                "payment method {} has no card with the gateway: add it with ccNumber in \
                 pluginInfo.properties, or pass the pluginProperty ccNumber",
                call.payment_method_id
            ))),
        }
    }

    async fn pay(
        &self,
        call: &PaymentCall,
        transaction_type: TransactionType,
    ) -> Result<PaymentTransactionInfo, PluginError> {
        // Read before the connection is taken: the source may need a connection of its own.
        let settings = self.settings_for(call.tenant_id).await?;
        // Taken first and held to the end, around the simulated round trip, as a JDBC plugin
        // holds its connection around the HTTP call to the gateway.
        let mut work = self.connection().await?;
        let (class, last4) = self.card_for(work.client(), call).await?;
        // ThreadRng is not Send: drawn and dropped before the first await below.
        let (fate, latency) = {
            let mut rng = rand::thread_rng();
            (
                simulation::draw_fate(class, &settings, &mut rng),
                simulation::sample_latency(&settings.latency, &mut rng),
            )
        };
        let charge_id = gateway_id("ch", call.payment_id);
        let reference_id = transaction_reference(transaction_type, call.transaction_id);
        if fate == Fate::Hang {
            // Recorded before hanging, so the janitor's get_payment_info sees the transaction
            // (UNDEFINED) while the caller has already timed out.
            storage::ensure_payment(work.client(), call, &charge_id)
                .await
                .map_err(storage_error)?;
            storage::insert_undefined_transaction(
                work.client(),
                call,
                transaction_type,
                &reference_id,
                &last4,
            )
            .await
            .map_err(storage_error)?;
            tracing::info!(payment_id = %call.payment_id, transaction_id = %call.transaction_id,
                card_last4 = %last4, hang_ms = settings.hang_time.as_millis() as u64,
                "simulated gateway call hangs");
            tokio::time::sleep(settings.hang_time).await;
        } else {
            tokio::time::sleep(latency).await;
        }

        work.start_transaction();
        let transaction = work.client();
        storage::ensure_payment(transaction, call, &charge_id)
            .await
            .map_err(storage_error)?;
        let Some(mut payment) = storage::lock_payment(transaction, call.tenant_id, call.payment_id)
            .await
            .map_err(storage_error)?
        else {
            return Err(PluginError(format!(
                "payment {} belongs to another tenant at the gateway",
                call.payment_id
            )));
        };
        // A repeated call gets the recorded answer, not a second charge (an idempotency key).
        if let Some(recorded) = storage::find_transaction(transaction, call.transaction_id)
            .await
            .map_err(storage_error)?
            .filter(|recorded| recorded.status != PaymentPluginStatus::Undefined)
        {
            work.commit().await.map_err(storage_error)?;
            return Ok(transaction_info(recorded));
        }
        let refusal = match fate {
            Fate::Approve | Fate::Hang | Fate::LostAnswer | Fate::Pending => {
                apply(&mut payment, transaction_type, call.amount).err()
            }
            Fate::Decline => Some(Refusal {
                code: "card_declined",
                message: "Your card was declined.".to_string(),
            }),
            Fate::Error => None,
        };
        let answer = match (fate, &refusal) {
            (Fate::Error, _) => Answer {
                processed_amount: Some(Decimal::ZERO),
                status: PaymentPluginStatus::Canceled,
                gateway_error_code: Some("processing_error"),
                gateway_error: Some("An error occurred while processing your card. Try again."),
            },
            (_, Some(refusal)) => Answer {
                processed_amount: Some(Decimal::ZERO),
                status: PaymentPluginStatus::Error,
                gateway_error_code: Some(refusal.code),
                gateway_error: Some(&refusal.message),
            },
            // Nothing moves until the notification: the totals are applied then.
            (Fate::Pending, None) => Answer {
                processed_amount: call.amount,
                status: PaymentPluginStatus::Pending,
                gateway_error_code: None,
                gateway_error: None,
            },
            (_, None) => Answer {
                processed_amount: call.amount,
                status: PaymentPluginStatus::Processed,
                gateway_error_code: None,
                gateway_error: None,
            },
        };
        if answer.status == PaymentPluginStatus::Processed {
            storage::update_payment_totals(transaction, call.payment_id, &payment)
                .await
                .map_err(storage_error)?;
        }
        let (created_date, effective_date) = storage::save_transaction(
            transaction,
            call,
            transaction_type,
            &reference_id,
            &last4,
            &answer,
        )
        .await
        .map_err(storage_error)?;
        work.commit().await.map_err(storage_error)?;
        tracing::debug!(payment_id = %call.payment_id, transaction_id = %call.transaction_id,
            transaction_type = transaction_type.as_str(), card_last4 = %last4,
            status = ?answer.status, code = answer.gateway_error_code, "simulated gateway call");
        // The gateway did the work; only its answer is lost on the way back.
        let answered_status = if fate == Fate::LostAnswer {
            PaymentPluginStatus::Undefined
        } else {
            answer.status
        };
        Ok(PaymentTransactionInfo {
            amount: answer.processed_amount,
            created_date,
            effective_date,
            gateway_error: answer.gateway_error.map(str::to_string),
            gateway_error_code: answer.gateway_error_code.map(str::to_string),
            first_payment_reference_id: Some(payment.charge_id),
            second_payment_reference_id: Some(reference_id),
            ..PaymentTransactionInfo::for_call(call, transaction_type, answered_status)
        })
    }

    async fn add_method(
        &self,
        call: PaymentMethodCall<'_>,
        detail: Option<&PaymentMethodPlugin>,
        set_default: bool,
    ) -> Result<(), PluginError> {
        let given = detail
            .map(|detail| detail.properties.as_slice())
            .unwrap_or(&[]);
        // The method's own details first, then the request's pluginProperty parameters, as
        // Kill Bill's plugins merge them.
        let lookup =
            |key: &str| card::property(given, key).or_else(|| card::property(call.properties, key));
        let card = lookup(CC_NUMBER)
            .map(Card::parse)
            .transpose()
            .map_err(|error| PluginError(error.to_string()))?;
        let details: serde_json::Map<String, serde_json::Value> = KEPT_PROPERTIES
            .iter()
            .filter_map(|key| lookup(key).map(|value| (key.to_string(), value.into())))
            .collect();
        let external_id = detail
            .and_then(|detail| detail.external_payment_method_id.clone())
            .unwrap_or_else(|| gateway_id("pm", call.payment_method_id));
        let mut work = self.connection().await?;
        work.start_transaction();
        let transaction = work.client();
        storage::insert_payment_method(
            transaction,
            &storage::NewMethod {
                tenant_id: call.tenant_id,
                account_id: call.account_id,
                payment_method_id: call.payment_method_id,
                external_id: &external_id,
                card_class: card.as_ref().map(|card| card.class.as_str()),
                card_last4: card.as_ref().map(|card| card.last4.as_str()),
                card_fingerprint: card.as_ref().map(|card| card.fingerprint.as_str()),
                details: serde_json::Value::Object(details),
                is_default: false,
            },
        )
        .await
        .map_err(storage_error)?;
        if set_default {
            storage::set_default_payment_method(
                transaction,
                call.tenant_id,
                call.account_id,
                call.payment_method_id,
            )
            .await
            .map_err(storage_error)?;
        }
        work.commit().await.map_err(storage_error)
    }

    async fn method_detail(
        &self,
        call: PaymentMethodCall<'_>,
    ) -> Result<PaymentMethodPlugin, PluginError> {
        let work = self.connection().await?;
        let connection = work.client();
        let method =
            storage::find_payment_method(connection, call.tenant_id, call.payment_method_id)
                .await
                .map_err(storage_error)?
                .ok_or_else(|| {
                    PluginError(format!(
                        "payment method {} is not known to the gateway",
                        call.payment_method_id
                    ))
                })?;
        Ok(method_detail(method))
    }
}

/// What the gateway tells Kill Bill about one of its methods: its id, whether it is the
/// account's default with the gateway, and the card's masked number and kept properties.
fn method_detail(method: storage::MethodRecord) -> PaymentMethodPlugin {
    let property = |key: &str, value: String| PluginProperty {
        key: key.to_string(),
        value: Some(value),
        is_updatable: false,
    };
    let mut properties = Vec::new();
    if let Some(last4) = method.card_last4 {
        properties.push(property(CC_NUMBER, card::masked(&last4)));
        properties.push(property(CC_LAST4, last4));
    }
    for key in KEPT_PROPERTIES {
        if let Some(value) = method.details.get(*key).and_then(|value| value.as_str()) {
            properties.push(property(key, value.to_string()));
        }
    }
    PaymentMethodPlugin {
        external_payment_method_id: Some(method.external_id),
        is_default_payment_method: method.is_default,
        properties,
    }
}

/// The `name=value` (or `name: value`) lines of a properties text, comments (`#`, `!`) and
/// blank lines skipped, as Kill Bill's plugins read their configuration.
fn properties(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .filter_map(|line| {
            let at = line.find(['=', ':'])?;
            Some((line[..at].trim(), line[at + 1..].trim()))
        })
        .collect()
}

/// Applies a processed call to the payment's totals, or says why the gateway refuses it.
fn apply(
    payment: &mut PaymentRecord,
    transaction_type: TransactionType,
    amount: Option<Decimal>,
) -> Result<(), Refusal> {
    let amount = amount.unwrap_or(Decimal::ZERO);
    // A negative capture or refund would widen what is left instead of using it up.
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(Refusal {
            code: "invalid_amount",
            message: format!("amount {amount} is negative"),
        });
    }
    let voided = || Refusal {
        code: "charge_voided",
        message: format!("charge {} was voided", payment.charge_id),
    };
    match transaction_type {
        TransactionType::Authorize if payment.voided => return Err(voided()),
        TransactionType::Authorize => payment.authorized += amount,
        TransactionType::Capture if payment.voided => return Err(voided()),
        TransactionType::Capture => {
            let remaining = payment.authorized - payment.captured;
            if amount > remaining {
                return Err(Refusal {
                    code: "amount_too_large",
                    message: format!(
                        "capture of {amount} exceeds the {remaining} left of the authorization"
                    ),
                });
            }
            payment.captured += amount;
        }
        TransactionType::Purchase if payment.voided => return Err(voided()),
        TransactionType::Purchase => payment.captured += amount,
        TransactionType::Void if payment.captured > Decimal::ZERO => {
            return Err(Refusal {
                code: "charge_already_captured",
                message: format!(
                    "charge {} has {} captured; refund it instead of voiding",
                    payment.charge_id, payment.captured
                ),
            })
        }
        TransactionType::Void if payment.voided => return Err(voided()),
        TransactionType::Void => payment.voided = true,
        TransactionType::Refund => {
            let refundable = payment.captured - payment.refunded;
            if amount > refundable {
                return Err(Refusal {
                    code: "amount_too_large",
                    message: format!("refund of {amount} exceeds the {refundable} left to refund"),
                });
            }
            payment.refunded += amount;
        }
        // Credits pay out to the card without a prior charge; chargebacks never reach a plugin.
        TransactionType::Credit | TransactionType::Chargeback => {}
    }
    Ok(())
}

/// A gateway id in Stripe's shape (`ch_…`, `pm_…`), derived from Kill Bill's id so that it is
/// stable across calls.
fn gateway_id(prefix: &str, id: Uuid) -> String {
    format!("{prefix}_{}", &id.simple().to_string()[..24])
}

/// The gateway's id of one transaction: charges for money taken, refunds and voids their own.
fn transaction_reference(transaction_type: TransactionType, transaction_id: Uuid) -> String {
    let prefix = match transaction_type {
        TransactionType::Refund | TransactionType::Credit => "re",
        TransactionType::Void => "vo",
        _ => "ch",
    };
    gateway_id(prefix, transaction_id)
}

fn transaction_info(record: TransactionRecord) -> PaymentTransactionInfo {
    PaymentTransactionInfo {
        payment_id: record.payment_id,
        transaction_id: record.transaction_id,
        transaction_type: record.transaction_type,
        amount: record.processed_amount,
        currency: record.currency,
        created_date: record.created_date,
        effective_date: record.updated_date,
        status: record.status,
        gateway_error: record.gateway_error,
        gateway_error_code: record.gateway_error_code,
        first_payment_reference_id: Some(record.charge_id),
        second_payment_reference_id: Some(record.reference_id),
        properties: Vec::new(),
    }
}

fn storage_error(error: tokio_postgres::Error) -> PluginError {
    PluginError(format!("gateway storage failed: {error}"))
}

impl PaymentPluginApi for GatewaySimPlugin {
    fn add_payment_method<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
        detail: Option<&'a PaymentMethodPlugin>,
        set_default: bool,
    ) -> PluginResult<'a, ()> {
        self.add_method(call, detail, set_default).boxed()
    }

    fn delete_payment_method<'a>(&'a self, call: PaymentMethodCall<'a>) -> PluginResult<'a, ()> {
        async move {
            let work = self.connection().await?;
            let connection = work.client();
            storage::delete_payment_method(connection, call.tenant_id, call.payment_method_id)
                .await
                .map_err(storage_error)
        }
        .boxed()
    }

    fn get_payment_method_detail<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, PaymentMethodPlugin> {
        self.method_detail(call).boxed()
    }

    fn get_payment_methods<'a>(
        &'a self,
        tenant_id: Uuid,
        account_id: Uuid,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, Vec<PaymentMethodInfo>> {
        async move {
            let work = self.connection().await?;
            let methods = storage::find_account_methods(work.client(), tenant_id, account_id)
                .await
                .map_err(storage_error)?;
            Ok(methods
                .into_iter()
                .map(|method| PaymentMethodInfo {
                    payment_method_id: Some(method.kb_payment_method_id),
                    external_payment_method_id: Some(method.external_id),
                    is_default: method.is_default,
                })
                .collect())
        }
        .boxed()
    }

    fn search_payment_methods<'a>(
        &'a self,
        tenant_id: Uuid,
        search_key: &'a str,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, Vec<PaymentMethodMatch>> {
        async move {
            let work = self.connection().await?;
            let methods = storage::search_methods(work.client(), tenant_id, search_key)
                .await
                .map_err(storage_error)?;
            Ok(methods
                .into_iter()
                .map(|method| PaymentMethodMatch {
                    payment_method_id: method.kb_payment_method_id,
                    detail: method_detail(method),
                })
                .collect())
        }
        .boxed()
    }

    fn set_default_payment_method<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, ()> {
        async move {
            let work = self.connection().await?;
            let connection = work.client();
            storage::set_default_payment_method(
                connection,
                call.tenant_id,
                call.account_id,
                call.payment_method_id,
            )
            .await
            .map_err(storage_error)
        }
        .boxed()
    }

    fn process_payment<'a>(
        &'a self,
        transaction_type: TransactionType,
        call: &'a PaymentCall,
    ) -> PluginResult<'a, PaymentTransactionInfo> {
        self.pay(call, transaction_type).boxed()
    }

    /// Every transaction the gateway recorded for the payment, a hang still in progress as
    /// UNDEFINED. Takes a plugin-pool connection but never waits the simulated latency: the
    /// janitor's question is answered from the gateway's own rows.
    fn get_payment_info<'a>(
        &'a self,
        tenant_id: Uuid,
        _account_id: Uuid,
        payment_id: Uuid,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, Vec<PaymentTransactionInfo>> {
        async move {
            let work = self.connection().await?;
            let connection = work.client();
            let records = storage::find_transactions_by_payment(connection, tenant_id, payment_id)
                .await
                .map_err(storage_error)?;
            Ok(records.into_iter().map(transaction_info).collect())
        }
        .boxed()
    }

    /// A form sending the customer to the simulated checkout page (docs/gateway.md).
    fn build_form_descriptor<'a>(
        &'a self,
        call: HostedPageCall<'a>,
    ) -> PluginResult<'a, FormDescriptor> {
        answered(hosted::form_descriptor(&call))
    }

    /// The checkout page's word on a PENDING transaction (docs/gateway.md).
    fn process_notification<'a>(
        &'a self,
        tenant_id: Uuid,
        notification: &'a str,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, GatewayNotification> {
        self.notification(tenant_id, notification).boxed()
    }

    fn health(&self) -> PluginHealth {
        if self.config.healthy {
            PluginHealth {
                healthy: true,
                message: None,
            }
        } else {
            PluginHealth {
                healthy: false,
                message: Some(
                    "the simulated gateway is configured unhealthy (ferrobill.gateway.health)"
                        .to_string(),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A source where every tenant uploaded `text`.
    struct Uploaded(Option<&'static str>);

    impl TenantConfigSource for Uploaded {
        fn plugin_config<'a>(
            &'a self,
            _tenant_id: Uuid,
            _plugin_name: &'a str,
        ) -> futures_util::future::BoxFuture<'a, Result<Option<String>, PluginError>> {
            Box::pin(std::future::ready(Ok(self.0.map(str::to_string))))
        }
    }

    fn plugin_with(pairs: &[(&str, &str)], uploaded: Option<&'static str>) -> GatewaySimPlugin {
        let config = Config::from_properties(pairs).expect("a valid configuration");
        // Building a pool opens no connection; health never takes one.
        let pool = crate::db::pool::DbPool::new(
            "osgi",
            &config.plugin_pool,
            tokio_postgres::Config::new(),
        )
        .expect("a pool");
        GatewaySimPlugin::new(
            Db::new(pool),
            config.gateway,
            GATEWAY_PLUGIN_NAME,
            Arc::new(Uploaded(uploaded)),
        )
    }

    fn plugin(pairs: &[(&str, &str)]) -> GatewaySimPlugin {
        plugin_with(pairs, None)
    }

    #[tokio::test]
    async fn a_tenants_upload_overrides_the_nodes_settings() {
        let node = plugin(&[("ferrobill.gateway.declineRate", "0.1")]);
        let settings = node.settings_for(Uuid::new_v4()).await.expect("settings");
        assert_eq!(settings, node.config);
        let upload = "# a tenant's keys\norg.killbill.billing.plugin.stripe.apiKey=sk_test_1\n\
                      ferrobill.gateway.declineRate = 1\nferrobill.gateway.latency: 5ms\n";
        let tenant = plugin_with(&[("ferrobill.gateway.declineRate", "0.1")], Some(upload));
        let settings = tenant.settings_for(Uuid::new_v4()).await.expect("settings");
        assert_eq!(settings.decline_rate.probability(), 1.0);
        assert_eq!(
            settings.latency,
            crate::config::Latency::Fixed(std::time::Duration::from_millis(5))
        );
        let broken = plugin_with(&[], Some("ferrobill.gateway.errorRate=lots"));
        let refused = broken
            .settings_for(Uuid::new_v4())
            .await
            .expect_err("refused");
        assert!(
            refused.0.contains("ferrobill.gateway.errorRate=lots"),
            "{refused}"
        );
    }

    fn payment() -> PaymentRecord {
        PaymentRecord {
            charge_id: "ch_test".to_string(),
            authorized: Decimal::ZERO,
            captured: Decimal::ZERO,
            refunded: Decimal::ZERO,
            voided: false,
        }
    }

    fn code(result: Result<(), Refusal>) -> Option<&'static str> {
        result.err().map(|refusal| refusal.code)
    }

    fn amount(text: &str) -> Option<Decimal> {
        Some(text.parse().expect("an amount"))
    }

    #[test]
    fn health_is_what_the_configuration_says() {
        assert!(plugin(&[]).health().healthy);
        let unhealthy = plugin(&[("ferrobill.gateway.health", "unhealthy")]).health();
        assert!(!unhealthy.healthy);
        assert!(unhealthy
            .message
            .is_some_and(|message| message.contains("ferrobill.gateway.health")));
    }

    /// Applies `steps` to `charge` in order, each with the refusal code it must get (or none).
    fn apply_steps(
        charge: &mut PaymentRecord,
        steps: &[(TransactionType, Option<&str>, Option<&str>)],
    ) {
        for &(kind, value, expected) in steps {
            let value = value.and_then(amount);
            assert_eq!(
                code(apply(charge, kind, value)),
                expected,
                "{kind:?} {value:?}"
            );
        }
    }

    #[test]
    fn captures_and_refunds_stay_within_what_came_before() {
        let mut charge = payment();
        apply_steps(
            &mut charge,
            &[
                (
                    TransactionType::Capture,
                    Some("1"),
                    Some("amount_too_large"),
                ),
                (TransactionType::Authorize, Some("10"), None),
                (TransactionType::Capture, Some("6"), None),
                (
                    TransactionType::Capture,
                    Some("4.01"),
                    Some("amount_too_large"),
                ),
                (TransactionType::Capture, Some("-1"), Some("invalid_amount")),
                (TransactionType::Capture, Some("4"), None),
                (TransactionType::Void, None, Some("charge_already_captured")),
                (
                    TransactionType::Refund,
                    Some("10.01"),
                    Some("amount_too_large"),
                ),
                (TransactionType::Refund, Some("10"), None),
            ],
        );
        assert_eq!(
            (charge.authorized, charge.captured, charge.refunded),
            (Decimal::from(10), Decimal::from(10), Decimal::from(10))
        );
    }

    #[test]
    fn a_void_ends_the_charge() {
        let voided = Some("charge_voided");
        apply_steps(
            &mut payment(),
            &[
                (TransactionType::Authorize, Some("5"), None),
                (TransactionType::Void, None, None),
                (TransactionType::Capture, Some("1"), voided),
                (TransactionType::Purchase, Some("1"), voided),
                (TransactionType::Authorize, Some("1"), voided),
                (TransactionType::Void, None, voided),
                (TransactionType::Credit, Some("3"), None),
            ],
        );
    }

    #[test]
    fn gateway_ids_are_stable_and_shaped_like_stripes() {
        let id = Uuid::new_v4();
        assert_eq!(gateway_id("ch", id), gateway_id("ch", id));
        assert_eq!(gateway_id("ch", id).len(), 3 + 24);
        assert!(transaction_reference(TransactionType::Refund, id).starts_with("re_"));
        assert!(transaction_reference(TransactionType::Void, id).starts_with("vo_"));
        assert!(transaction_reference(TransactionType::Capture, id).starts_with("ch_"));
    }
}
