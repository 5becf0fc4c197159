//! Tenant key-values as the hot paths read them (the push-notification callbacks of every
//! external event, the per-tenant configuration, a plugin's configuration on every payment
//! call), remembered in memory and forgotten on every node as soon as any tenant key-value
//! changes.
//!
//! Writers announce a change in their own transaction (`tenant_kvs::announce_change`, a NOTIFY
//! delivered on commit); each node listens on a dedicated connection and forgets everything on
//! every announcement, and after every reconnect, since announcements made meanwhile reached
//! nobody. A read racing a change never stores what it read: each forgetting moves a
//! generation on, and a read stores its value only if the generation did not move while it
//! read. Changes are rare, so forgetting everything is cheaper than tracking keys.
//!
//! This file owns the cache; it never writes a key-value.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt};
use parking_lot::Mutex;
use tokio::sync::watch;
use uuid::Uuid;

use super::tenant_key_values::plugin_config_key;
use super::{listen_and_forget, Listener, ServiceError};
use crate::db::work::Db;
use crate::plugin::{PluginError, TenantConfigSource};
use crate::storage::tenant_kvs;

/// Cheap to clone; every clone is the same cache.
#[derive(Clone)]
pub struct TenantValues {
    db: Db,
    inner: Arc<Inner>,
}

/// How a reader names the tenant: by record id (the buses) or by id (plugins).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TenantRef {
    RecordId(i64),
    Id(Uuid),
}

#[derive(Default)]
struct Inner {
    /// (tenant, key) → active values.
    values: Mutex<HashMap<(TenantRef, String), Vec<String>>>,
    generation: AtomicU64,
}

/// At most this many (tenant, key) pairs are remembered; past it everything is forgotten.
const CAPACITY: usize = 10_000;

impl TenantValues {
    pub fn new(db: Db) -> TenantValues {
        TenantValues {
            db,
            inner: Arc::default(),
        }
    }

    /// Starts forgetting on every announced change; runs until `stop` turns true.
    /// Also returns what tells when the first LISTEN is in place (see [`crate::bus::listen`]).
    pub fn listen(&self, stop: watch::Receiver<bool>) -> Listener {
        let inner = self.inner.clone();
        listen_and_forget(
            &self.db,
            tenant_kvs::CHANGED_CHANNEL,
            "tenant key-values",
            stop,
            move || inner.forget(),
        )
    }

    /// The tenant's active values of `key`, oldest first.
    pub async fn get(&self, tenant_record_id: i64, key: &str) -> Result<Vec<String>, ServiceError> {
        let db = &self.db;
        self.remembered(TenantRef::RecordId(tenant_record_id), key, async move {
            let work = db.read().await?;
            Ok(tenant_kvs::active_values(work.client(), tenant_record_id, key).await?)
        })
        .await
    }

    /// [`TenantValues::get`] for the tenant of id `tenant_id`.
    pub async fn get_for_tenant_id(
        &self,
        tenant_id: Uuid,
        key: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let db = &self.db;
        self.remembered(TenantRef::Id(tenant_id), key, async move {
            let work = db.read().await?;
            Ok(tenant_kvs::active_values_for_tenant_id(work.client(), tenant_id, key).await?)
        })
        .await
    }

    /// The remembered values of (`tenant`, `key`), or what `read` finds, remembered unless a
    /// change was announced while it read.
    async fn remembered(
        &self,
        tenant: TenantRef,
        key: &str,
        read: impl Future<Output = Result<Vec<String>, ServiceError>>,
    ) -> Result<Vec<String>, ServiceError> {
        let entry = (tenant, key.to_string());
        if let Some(values) = self.inner.values.lock().get(&entry) {
            return Ok(values.clone());
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        let values = read.await?;
        let mut remembered = self.inner.values.lock();
        if self.inner.generation.load(Ordering::Acquire) == generation {
            if remembered.len() >= CAPACITY {
                remembered.clear();
            }
            remembered.insert(entry, values.clone());
        }
        Ok(values)
    }

    /// Forgets everything on this node at once (a change committed here); the other nodes
    /// hear of it through the announcement.
    pub fn forget(&self) {
        self.inner.forget();
    }
}

impl Inner {
    fn forget(&self) {
        let mut values = self.values.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        values.clear();
    }
}

/// Plugins read their per-tenant configuration (`PLUGIN_CONFIG_<plugin>`) through the cache,
/// as Kill Bill's plugins read it through its TenantUserApi.
impl TenantConfigSource for TenantValues {
    fn plugin_config<'a>(
        &'a self,
        tenant_id: Uuid,
        plugin_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PluginError>> {
        async move {
            let values = self
                .get_for_tenant_id(tenant_id, &plugin_config_key(plugin_name))
                .await
                .map_err(|error| {
                    PluginError(format!("reading the plugin configuration: {error}"))
                })?;
            Ok(values.into_iter().last())
        }
        .boxed()
    }
}
