//! Push notifications (Kill Bill's PushNotificationListener and PushNotificationRetryService):
//! the callback URL a tenant registers under the tenant key `PUSH_NOTIFICATION_CB`, and the
//! delivery of every external bus event of that tenant to it as Kill Bill's NotificationJson.
//!
//! A delivery is one HTTP POST bounded by `ferrobill.notifications.timeout`; a 2xx is success.
//! Anything else (another status, a transport error, the timeout) records a retry on the
//! notification queue `server-service:push-notification-queue`, due after the next delay of
//! `org.killbill.billing.server.notifications.retries`, so retries survive a restart; after
//! the last delay the notification is dropped with a warning, as in Kill Bill. A tenant's
//! per-tenant configuration may set its own schedule, as in Kill Bill.
//!
//! This file owns those rules. It must never write SQL (storage does) and never hold a bus
//! worker longer than one bounded delivery: a tenant's callbacks are called concurrently.
//!
//! Delivery is at least once: an external event handled twice (see `external_events`), or a
//! retry whose outcome could not be recorded, reaches the callback twice.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::per_tenant_config::{self, NOTIFICATION_RETRIES};
use super::tenant_key_values::TenantKeyValues;
use super::tenants::Tenant;
use super::{CallContext, ServiceError};
use crate::bus::internal_events::ExternalBusEvent;
use crate::bus::notifications::NotificationEntry;
use crate::bus::{
    Bus, BusEntry, BusEvent, HandlerError, NotificationEvent, NotificationQueueService, SearchKeys,
};
use crate::config::PushNotificationConfig;
use crate::db::work::Db;
use crate::service::tenant_values::TenantValues;

/// Kill Bill's TenantKey for push notification callbacks.
pub const PUSH_NOTIFICATION_CB: &str = "PUSH_NOTIFICATION_CB";
/// Kill Bill's `DefaultServerService.SERVER_SERVICE + ":" + PushNotificationRetryService.QUEUE_NAME`.
pub const RETRY_QUEUE: &str = "server-service:push-notification-queue";
/// The headers Kill Bill sends with every notification.
const USER_AGENT: &str = "KillBill/1.0";
const CONTENT_TYPE_JSON: &str = "application/json; charset=UTF-8";

/// Registering, reading and deleting a tenant's callback: the tenant key-value
/// `PUSH_NOTIFICATION_CB`, with Kill Bill's rules (`tenant_key_values.rs`).
#[derive(Clone)]
pub struct PushNotificationCallbacks {
    key_values: TenantKeyValues,
}

impl PushNotificationCallbacks {
    pub fn new(key_values: TenantKeyValues) -> Self {
        PushNotificationCallbacks { key_values }
    }

    /// Registers `url` as the tenant's callback. `PUSH_NOTIFICATION_CB` holds one value in
    /// Kill Bill (`TenantKey.PUSH_NOTIFICATION_CB(true)`): a new registration replaces the
    /// old one, and announces itself as TENANT_CONFIG_CHANGE, which reaches the new callback.
    pub async fn register(
        &self,
        tenant: &Tenant,
        url: Option<&str>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let url = validate_callback_url(url)?;
        self.key_values
            .add(tenant, PUSH_NOTIFICATION_CB, &url, context)
            .await
    }

    /// The tenant's registered callbacks (none or one).
    pub async fn list(&self, tenant: &Tenant) -> Result<Vec<String>, ServiceError> {
        self.key_values.values(tenant, PUSH_NOTIFICATION_CB).await
    }

    /// Removes the tenant's callback; nothing registered is not an error, as in Kill Bill.
    /// Retries already scheduled still go to the URL they were scheduled for.
    pub async fn delete(&self, tenant: &Tenant, context: &CallContext) -> Result<(), ServiceError> {
        self.key_values
            .delete(tenant, PUSH_NOTIFICATION_CB, context)
            .await
    }
}

/// An absolute http or https URL with a host, else a 400. Kill Bill stores any string and
/// only fails when it posts; ferrobill refuses what it could never post to.
pub fn validate_callback_url(raw: Option<&str>) -> Result<String, ServiceError> {
    let raw = raw
        .map(str::trim)
        .filter(|raw| !raw.is_empty())
        .ok_or_else(|| {
            ServiceError::InvalidArgument("Notification callback (cb) needs to be set".into())
        })?;
    let invalid = || {
        ServiceError::InvalidArgument(format!(
            "Invalid notification callback {raw}: expected an absolute http or https URL"
        ))
    };
    let url = reqwest::Url::parse(raw).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid());
    }
    Ok(raw.to_string())
}

/// Kill Bill's NotificationJson: the body of every push notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationJson {
    pub event_type: String,
    pub account_id: Option<Uuid>,
    pub object_type: String,
    pub object_id: Option<Uuid>,
    pub meta_data: Option<String>,
}

/// Kill Bill's PushNotificationKey: a retry waiting on the notification queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushNotificationKey {
    pub tenant_id: Uuid,
    pub account_id: Option<Uuid>,
    pub event_type: String,
    pub object_type: String,
    pub object_id: Option<Uuid>,
    /// 1 for the first retry.
    pub attempt_number: u32,
    pub meta_data: Option<String>,
    pub url: String,
}

impl NotificationEvent for PushNotificationKey {
    const CLASS_NAME: &'static str =
        "org.killbill.billing.server.notifications.PushNotificationKey";
}

impl PushNotificationKey {
    fn notification(&self) -> NotificationJson {
        NotificationJson {
            event_type: self.event_type.clone(),
            account_id: self.account_id,
            object_type: self.object_type.clone(),
            object_id: self.object_id,
            meta_data: self.meta_data.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushNotificationError {
    #[error("cannot build the push notification HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Delivers external bus events to callbacks and runs the retries.
struct Sender {
    db: Db,
    values: TenantValues,
    queue: NotificationQueueService,
    http: reqwest::Client,
    config: PushNotificationConfig,
}

/// Subscribes delivery on `external_bus` and registers the retry queue's handler; call before
/// either starts.
pub fn subscribe(
    external_bus: &Bus,
    queue: &NotificationQueueService,
    db: &Db,
    values: &TenantValues,
    config: PushNotificationConfig,
) -> Result<(), PushNotificationError> {
    // No proxy from the environment: Kill Bill's AsyncHttpClient posts directly too.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(config.timeout)
        .build()
        .map_err(PushNotificationError::Client)?;
    let sender = Arc::new(Sender {
        db: db.clone(),
        values: values.clone(),
        queue: queue.clone(),
        http,
        config,
    });
    {
        let sender = sender.clone();
        external_bus.subscribe(ExternalBusEvent::CLASS_NAME, move |entry| {
            let sender = sender.clone();
            async move { sender.deliver_event(&entry).await }
        });
    }
    queue.register(RETRY_QUEUE, move |entry| {
        let sender = sender.clone();
        async move { sender.redeliver(&entry).await }
    });
    Ok(())
}

impl Sender {
    /// Posts the event to every callback of its tenant at once; schedules a retry for each
    /// failed one. Fails (so the bus retries the event) only when a retry could not be
    /// recorded.
    async fn deliver_event(&self, entry: &BusEntry) -> Result<(), HandlerError> {
        let event: ExternalBusEvent = entry.decode()?;
        let callbacks = self
            .values
            .get(entry.search_keys.tenant_record_id, PUSH_NOTIFICATION_CB)
            .await?;
        if callbacks.is_empty() {
            return Ok(());
        }
        let key = |url: String| PushNotificationKey {
            tenant_id: event.tenant_id,
            account_id: event.account_id,
            event_type: event.event_type.clone(),
            object_type: event.object_type.clone(),
            object_id: event.object_id,
            attempt_number: 0,
            meta_data: event.meta_data.clone(),
            url,
        };
        let mut posts = JoinSet::new();
        for url in callbacks {
            let key = key(url);
            let http = self.http.clone();
            let timeout = self.config.timeout;
            posts.spawn(async move {
                let result = post(&http, timeout, &key.url, &key.notification(), 0).await;
                (key, result)
            });
        }
        while let Some(joined) = posts.join_next().await {
            let (key, result) =
                joined.map_err(|error| format!("push notification task: {error}"))?;
            if let Err(reason) = result {
                self.schedule_retry(key, entry.search_keys, &reason).await?;
            }
        }
        Ok(())
    }

    /// The retry queue's handler: posts again, and schedules the next retry if it fails.
    async fn redeliver(&self, entry: &NotificationEntry) -> Result<(), HandlerError> {
        let key: PushNotificationKey = entry.decode()?;
        let result = post(
            &self.http,
            self.config.timeout,
            &key.url,
            &key.notification(),
            key.attempt_number,
        )
        .await;
        if let Err(reason) = result {
            self.schedule_retry(key, entry.search_keys, &reason).await?;
        }
        Ok(())
    }

    /// Records the next attempt of `failed` on the retry queue, or drops it once the retry
    /// schedule is used up.
    async fn schedule_retry(
        &self,
        failed: PushNotificationKey,
        search_keys: SearchKeys,
        reason: &str,
    ) -> Result<(), HandlerError> {
        let next = PushNotificationKey {
            attempt_number: failed.attempt_number.saturating_add(1),
            ..failed
        };
        let retries = self.retry_schedule(search_keys.tenant_record_id).await;
        let Some(delay) = next_delay(&retries, next.attempt_number) else {
            tracing::warn!(
                url = next.url,
                tenant_id = %next.tenant_id,
                reason,
                "max attempt number reached for push notification; dropping it"
            );
            return Ok(());
        };
        let due = self.queue.clock().now() + chrono::Duration::from_std(delay)?;
        tracing::warn!(
            url = next.url,
            tenant_id = %next.tenant_id,
            attempt = next.attempt_number,
            %due,
            reason,
            "push notification failed; re-scheduled"
        );
        // One statement: it commits on its own.
        let work = self.db.read().await?;
        self.queue
            .record_future_notification(&work, RETRY_QUEUE, due, &next, search_keys, None)
            .await?;
        Ok(())
    }
}

impl Sender {
    /// The tenant's `org.killbill.billing.server.notifications.retries` when its per-tenant
    /// configuration sets a readable one, else the node's.
    async fn retry_schedule(&self, tenant_record_id: i64) -> Vec<Duration> {
        let property = NOTIFICATION_RETRIES;
        match per_tenant_config::tenant_property(&self.values, tenant_record_id, property).await {
            Ok(Some(raw)) => match crate::config::parse_time_span_list(&raw) {
                Ok(retries) => return retries,
                Err(expected) => tracing::warn!(
                    tenant_record_id,
                    property,
                    expected,
                    "the tenant's value is unreadable; the node's applies"
                ),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(
                tenant_record_id,
                %error,
                "the per-tenant configuration could not be read; the node's retries apply"
            ),
        }
        self.config.retries.clone()
    }
}

/// The delay before attempt `attempt_number` (1 = first retry), if the schedule has one.
fn next_delay(retries: &[Duration], attempt_number: u32) -> Option<Duration> {
    let index = usize::try_from(attempt_number).ok()?.checked_sub(1)?;
    retries.get(index).copied()
}

/// One POST of `notification` to `url`, bounded by `timeout`; `Err` says why it failed.
async fn post(
    http: &reqwest::Client,
    timeout: Duration,
    url: &str,
    notification: &NotificationJson,
    attempt_number: u32,
) -> Result<(), String> {
    let body = serde_json::to_string(notification).map_err(|error| error.to_string())?;
    tracing::info!(url, body, attempt_number, "sending push notification");
    let response = http
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE_JSON)
        .body(body)
        .send()
        .await
        .map_err(|error| {
            if error.is_timeout() {
                "Timeout".to_string()
            } else {
                error.to_string()
            }
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("statusCode={}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_callbacks() {
        assert!(validate_callback_url(Some("http://127.0.0.1:8080/cb")).is_ok());
        assert!(validate_callback_url(Some("https://example.com/hooks?x=1")).is_ok());
        for bad in [
            "",
            "callmeback",
            "/relative",
            "ftp://example.com/x",
            "http://",
        ] {
            assert!(validate_callback_url(Some(bad)).is_err(), "{bad}");
        }
        assert!(validate_callback_url(None).is_err());
    }

    #[test]
    fn the_retry_schedule_is_used_up_after_its_last_delay() {
        let retries = [Duration::from_secs(1), Duration::from_secs(2)];
        assert_eq!(next_delay(&retries, 1), Some(Duration::from_secs(1)));
        assert_eq!(next_delay(&retries, 2), Some(Duration::from_secs(2)));
        assert_eq!(next_delay(&retries, 3), None);
        assert_eq!(next_delay(&retries, 0), None);
    }

    #[test]
    fn the_notification_body_has_kill_bills_fields() {
        let json = serde_json::to_value(NotificationJson {
            event_type: "ACCOUNT_CREATION".into(),
            account_id: None,
            object_type: "ACCOUNT".into(),
            object_id: None,
            meta_data: None,
        })
        .expect("serializes");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "accountId",
                "eventType",
                "metaData",
                "objectId",
                "objectType"
            ]
        );
    }
}
