//! Kill Bill's BeatrixListener for the events ferrobill has so far: it subscribes on the main
//! bus to account creation and change and payment outcomes and posts the matching external
//! event (ACCOUNT_CREATION, ACCOUNT_CHANGE, PAYMENT_SUCCESS, PAYMENT_FAILED; TENANT_CONFIG_CHANGE for a tenant
//! key-value) on the external bus, in one transaction.
//!
//! This file owns that mapping. It must never call a callback or a plugin itself (the external
//! bus's subscribers do) and never write SQL (storage does).
//!
//! Handlers hand their external events to one writer task, which inserts whatever accumulated
//! while it wrote the previous batch in one statement: the rows are those of one insert per
//! event, and each handler returns once its own event is committed, as before.
//!
//! Idempotence: the main bus delivers at least once, so an internal event handled twice (a
//! retry after the post's commit failed to be recorded, a reaped entry) posts its external
//! event twice, and callbacks may then receive the same notification twice. Kill Bill behaves
//! the same way; callbacks should treat (eventType, objectId) as a duplicate key.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::bus::internal_events::{
    AccountChangeInternalEvent, AccountCreationInternalEvent, ExternalBusEvent,
    PaymentErrorInternalEvent, PaymentEventData, PaymentInfoInternalEvent,
    PaymentPluginErrorInternalEvent, TenantConfigChangeInternalEvent,
};
use crate::bus::{Bus, BusEntry, BusEvent, HandlerError};
use crate::db::work::Db;
use crate::service::tenants::TenantDirectory;

/// Subscribes the translation on `main_bus`; call before the bus starts.
pub fn subscribe(main_bus: &Bus, external_bus: &Bus, db: &Db, tenants: &TenantDirectory) {
    let (batch, waiting) = mpsc::channel(BATCH_QUEUE);
    tokio::spawn(write_batches(external_bus.clone(), db.clone(), waiting));
    let translator = Arc::new(Translator {
        batch,
        tenants: tenants.clone(),
    });
    {
        let translator = translator.clone();
        main_bus.subscribe(AccountCreationInternalEvent::CLASS_NAME, move |entry| {
            let translator = translator.clone();
            async move {
                let event: AccountCreationInternalEvent = entry.decode()?;
                translator
                    .post(
                        &entry,
                        "ACCOUNT_CREATION",
                        "ACCOUNT",
                        event.id,
                        // An account creation's account is the account itself.
                        Some(event.id),
                        None,
                    )
                    .await
            }
        });
    }
    {
        let translator = translator.clone();
        main_bus.subscribe(AccountChangeInternalEvent::CLASS_NAME, move |entry| {
            let translator = translator.clone();
            async move {
                let event: AccountChangeInternalEvent = entry.decode()?;
                // BeatrixListener: ACCOUNT_CHANGE on the account, no metaData.
                translator
                    .post(
                        &entry,
                        "ACCOUNT_CHANGE",
                        "ACCOUNT",
                        event.account_id,
                        Some(event.account_id),
                        None,
                    )
                    .await
            }
        });
    }
    {
        let translator = translator.clone();
        main_bus.subscribe(TenantConfigChangeInternalEvent::CLASS_NAME, move |entry| {
            let translator = translator.clone();
            async move {
                let event: TenantConfigChangeInternalEvent = entry.decode()?;
                // Kill Bill: no account, the key as metaData.
                translator
                    .post(
                        &entry,
                        "TENANT_CONFIG_CHANGE",
                        "TENANT_KVS",
                        event.id,
                        None,
                        Some(event.key),
                    )
                    .await
            }
        });
    }
    subscribe_payment::<PaymentInfoInternalEvent>(main_bus, &translator, "PAYMENT_SUCCESS", |e| {
        &e.0
    });
    subscribe_payment::<PaymentErrorInternalEvent>(main_bus, &translator, "PAYMENT_FAILED", |e| {
        &e.0
    });
    subscribe_payment::<PaymentPluginErrorInternalEvent>(
        main_bus,
        &translator,
        "PAYMENT_FAILED",
        |e| &e.0,
    );
}

fn subscribe_payment<E>(
    main_bus: &Bus,
    translator: &Arc<Translator>,
    event_type: &'static str,
    data: fn(&E) -> &PaymentEventData,
) where
    E: BusEvent + serde::de::DeserializeOwned + Send + 'static,
{
    let translator = translator.clone();
    main_bus.subscribe(E::CLASS_NAME, move |entry| {
        let translator = translator.clone();
        async move {
            let event: E = entry.decode()?;
            let payment = data(&event);
            translator
                .post(
                    &entry,
                    event_type,
                    "PAYMENT",
                    payment.payment_id,
                    Some(payment.account_id),
                    None,
                )
                .await
        }
    });
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
    /// Posts the external event for `entry`, committed on its own. Kill Bill sends no
    /// metaData for account and payment events.
    async fn post(
        &self,
        entry: &BusEntry,
        event_type: &str,
        object_type: &str,
        object_id: Uuid,
        account_id: Option<Uuid>,
        meta_data: Option<String>,
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
            object_type: object_type.to_string(),
            object_id: Some(object_id),
            account_id,
            tenant_id: tenant.id,
            meta_data,
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
