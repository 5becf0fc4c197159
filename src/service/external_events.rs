//! Kill Bill's BeatrixListener for the events ferrobill has so far: it subscribes on the main
//! bus to account creation and change, payment outcomes, tags and custom fields and posts the
//! matching external event (ACCOUNT_CREATION, ACCOUNT_CHANGE, PAYMENT_SUCCESS, PAYMENT_FAILED,
//! TAG_CREATION, TAG_DELETION, CUSTOM_FIELD_CREATION, CUSTOM_FIELD_DELETION;
//! TENANT_CONFIG_CHANGE and TENANT_CONFIG_DELETION for a tenant key-value) on the external bus,
//! with BeatrixListener's metaData (a JSON text).
//!
//! Handlers hand their external events to one writer task, which inserts whatever accumulated
//! while it wrote the previous batch in one statement: the rows are those of one insert per
//! event, and each handler returns once its own event is committed, as before.
//!
//! This file owns that mapping. It must never call a callback or a plugin itself (the external
//! bus's subscribers do) and never write SQL (storage does).
//!
//! Idempotence: the main bus delivers at least once, so an internal event handled twice (a
//! retry after the post's commit failed to be recorded, a reaped entry) posts its external
//! event twice, and callbacks may then receive the same notification twice. Kill Bill behaves
//! the same way; callbacks should treat (eventType, objectId) as a duplicate key.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::bus::internal_events::{
    AccountChangeInternalEvent, AccountCreationInternalEvent, ControlTagCreationInternalEvent,
    ControlTagDeletionInternalEvent, CustomFieldCreationInternalEvent,
    CustomFieldDeletionInternalEvent, CustomFieldEventData, ExternalBusEvent,
    PaymentErrorInternalEvent, PaymentEventData, PaymentInfoInternalEvent,
    PaymentPluginErrorInternalEvent, TagEventData, TenantConfigChangeInternalEvent,
    TenantConfigDeletionInternalEvent, UserTagCreationInternalEvent, UserTagDeletionInternalEvent,
};
use crate::bus::{Bus, BusEntry, BusEvent, HandlerError};
use crate::db::work::Db;
use crate::domain::payments::TransactionType;
use crate::service::tenants::TenantDirectory;

/// Subscribes the translation on `main_bus`; call before the bus starts.
pub fn subscribe(main_bus: &Bus, external_bus: &Bus, db: &Db, tenants: &TenantDirectory) {
    let (batch, waiting) = mpsc::channel(BATCH_QUEUE);
    tokio::spawn(write_batches(external_bus.clone(), db.clone(), waiting));
    let translator = Arc::new(Translator {
        batch,
        tenants: tenants.clone(),
    });
    // An account creation's account is the account itself; no metaData.
    translate::<AccountCreationInternalEvent>(main_bus, &translator, "ACCOUNT_CREATION", |e| {
        Ok(External::on_account("ACCOUNT", e.id, e.id, None))
    });
    translate::<AccountChangeInternalEvent>(main_bus, &translator, "ACCOUNT_CHANGE", |e| {
        Ok(External::on_account(
            "ACCOUNT",
            e.account_id,
            e.account_id,
            None,
        ))
    });
    // No account; TenantConfigMetadata as metaData.
    translate::<TenantConfigChangeInternalEvent>(
        main_bus,
        &translator,
        "TENANT_CONFIG_CHANGE",
        |e| {
            Ok(External {
                object_type: "TENANT_KVS",
                object_id: Some(e.id),
                account_id: None,
                meta_data: Some(meta_data(&TenantConfigMetadata { key: &e.key })?),
            })
        },
    );
    // The deleted value is gone: no object id.
    translate::<TenantConfigDeletionInternalEvent>(
        main_bus,
        &translator,
        "TENANT_CONFIG_DELETION",
        |e| {
            Ok(External {
                object_type: "TENANT_KVS",
                object_id: None,
                account_id: None,
                meta_data: Some(meta_data(&TenantConfigMetadata { key: &e.key })?),
            })
        },
    );
    translate::<PaymentInfoInternalEvent>(main_bus, &translator, "PAYMENT_SUCCESS", |e| {
        payment(&e.0)
    });
    translate::<PaymentErrorInternalEvent>(main_bus, &translator, "PAYMENT_FAILED", |e| {
        payment(&e.0)
    });
    translate::<PaymentPluginErrorInternalEvent>(main_bus, &translator, "PAYMENT_FAILED", |e| {
        payment(&e.0)
    });
    translate::<UserTagCreationInternalEvent>(main_bus, &translator, "TAG_CREATION", |e| tag(&e.0));
    translate::<ControlTagCreationInternalEvent>(main_bus, &translator, "TAG_CREATION", |e| {
        tag(&e.0)
    });
    translate::<UserTagDeletionInternalEvent>(main_bus, &translator, "TAG_DELETION", |e| tag(&e.0));
    translate::<ControlTagDeletionInternalEvent>(main_bus, &translator, "TAG_DELETION", |e| {
        tag(&e.0)
    });
    translate::<CustomFieldCreationInternalEvent>(
        main_bus,
        &translator,
        "CUSTOM_FIELD_CREATION",
        |e| Ok(custom_field(&e.0)),
    );
    translate::<CustomFieldDeletionInternalEvent>(
        main_bus,
        &translator,
        "CUSTOM_FIELD_DELETION",
        |e| Ok(custom_field(&e.0)),
    );
}

/// What an internal event says about its external event, beside the type.
struct External {
    object_type: &'static str,
    object_id: Option<Uuid>,
    account_id: Option<Uuid>,
    meta_data: Option<String>,
}

impl External {
    fn on_account(
        object_type: &'static str,
        object_id: Uuid,
        account_id: Uuid,
        meta_data: Option<String>,
    ) -> External {
        External {
            object_type,
            object_id: Some(object_id),
            account_id: Some(account_id),
            meta_data,
        }
    }
}

/// Subscribes the translation of the internal events `E` into external events of
/// `event_type`.
fn translate<E>(
    main_bus: &Bus,
    translator: &Arc<Translator>,
    event_type: &'static str,
    describe: fn(&E) -> Result<External, HandlerError>,
) where
    E: BusEvent + serde::de::DeserializeOwned + Send + 'static,
{
    let translator = translator.clone();
    main_bus.subscribe(E::CLASS_NAME, move |entry| {
        let translator = translator.clone();
        async move {
            let event: E = entry.decode()?;
            let external = describe(&event)?;
            translator.post(&entry, event_type, external).await
        }
    });
}

/// BeatrixListener's TenantConfigMetadata.
#[derive(Serialize)]
struct TenantConfigMetadata<'a> {
    key: &'a str,
}

/// BeatrixListener's PaymentMetadata, fields in its order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentMetadata<'a> {
    payment_transaction_id: uuid::Uuid,
    amount: Option<serde_json::Number>,
    currency: Option<&'a str>,
    status: &'a str,
    transaction_type: &'a str,
    effective_date: Option<String>,
}

/// BeatrixListener's TagMetadata.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TagMetadata<'a> {
    tag_definition_name: &'a str,
}

/// A metaData object as the JSON text Kill Bill sends.
fn meta_data(value: &impl Serialize) -> Result<String, HandlerError> {
    serde_json::to_string(value).map_err(|error| format!("metaData: {error}").into())
}

/// A payment outcome on the payment, with PaymentMetadata.
fn payment(payment: &PaymentEventData) -> Result<External, HandlerError> {
    let meta = meta_data(&PaymentMetadata {
        payment_transaction_id: payment.payment_transaction_id,
        amount: payment.amount.parse().ok(),
        // Kill Bill records a VOID without currency.
        currency: Some(payment.currency.as_str()).filter(|currency| {
            !currency.is_empty() && payment.transaction_type != TransactionType::Void.as_str()
        }),
        status: &payment.status,
        transaction_type: &payment.transaction_type,
        effective_date: payment
            .effective_date
            .map(|date| date.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
    })?;
    Ok(External::on_account(
        "PAYMENT",
        payment.payment_id,
        payment.account_id,
        Some(meta),
    ))
}

/// A tag added or removed, on the tag, with TagMetadata.
fn tag(tag: &TagEventData) -> Result<External, HandlerError> {
    let meta = meta_data(&TagMetadata {
        tag_definition_name: &tag.tag_definition_name,
    })?;
    Ok(External::on_account(
        "TAG",
        tag.tag_id,
        tag.account_id,
        Some(meta),
    ))
}

/// A custom field added or removed, on the field, without metaData.
fn custom_field(field: &CustomFieldEventData) -> External {
    External::on_account(
        "CUSTOM_FIELD",
        field.custom_field_id,
        field.account_id,
        None,
    )
}

/// External events waiting to be written, each with the handler call waiting on it.
type Pending = (
    ExternalBusEvent,
    Option<Uuid>,
    oneshot::Sender<Result<(), String>>,
);

/// At most this many external events go into one insert.
const BATCH_SIZE: usize = 200;
/// At most this many wait for the writer; a handler finding it full waits for room.
const BATCH_QUEUE: usize = 1000;

struct Translator {
    /// To the writer task, which inserts what accumulated while it wrote the previous batch:
    /// many handler calls share one connection and one statement, so the bus keeps up with
    /// the requests that post to it even when connections are scarce.
    batch: mpsc::Sender<Pending>,
    tenants: TenantDirectory,
}

impl Translator {
    /// Posts the external event for `entry`, committed once the writer has written it.
    async fn post(
        &self,
        entry: &BusEntry,
        event_type: &str,
        external: External,
    ) -> Result<(), HandlerError> {
        let tenant = self
            .tenants
            .by_record_id(entry.search_keys.tenant_record_id)
            .await?
            .ok_or_else(|| {
                format!(
                    "no tenant with record id {} for bus entry {}",
                    entry.search_keys.tenant_record_id, entry.record_id
                )
            })?;
        let external = ExternalBusEvent {
            event_type: event_type.to_string(),
            object_type: external.object_type.to_string(),
            object_id: external.object_id,
            account_id: external.account_id,
            tenant_id: tenant.id,
            meta_data: external.meta_data,
            search_key1: entry.search_keys.account_record_id,
            search_key2: entry.search_keys.tenant_record_id,
            user_token: entry.user_token,
        };
        let (written, done) = oneshot::channel();
        self.batch
            .send((external, entry.user_token, written))
            .await
            .map_err(|_| "the external event writer has stopped".to_string())?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err("the external event writer has stopped".into()),
        }
    }
}

/// Writes the external events handed over, batch by batch, each batch in one statement that
/// commits on its own, and tells every waiting handler how its event fared. Ends once every
/// translator is gone.
async fn write_batches(external_bus: Bus, db: Db, mut waiting: mpsc::Receiver<Pending>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_SIZE {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (events, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|(event, token, reply)| ((event, token), reply))
            .unzip();
        let written = write_batch(&external_bus, &db, &events).await;
        for reply in replies {
            let _ = reply.send(written.clone());
        }
    }
}

async fn write_batch(
    external_bus: &Bus,
    db: &Db,
    events: &[(ExternalBusEvent, Option<Uuid>)],
) -> Result<(), String> {
    let mut posted = external_bus.posted();
    let work = db.read().await.map_err(|error| error.to_string())?;
    posted
        .post_all(&work, events)
        .await
        .map_err(|error| error.to_string())?;
    drop(work);
    posted.committed().await;
    Ok(())
}
