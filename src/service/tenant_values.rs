//! Tenant key-values as the hot paths read them (the push-notification callbacks of every
//! external event), remembered in memory and forgotten on every node as soon as any tenant
//! key-value changes.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ServiceError;
use crate::db::work::Db;
use crate::storage::{tenant_kvs, StorageError};

/// Cheap to clone; every clone is the same cache.
#[derive(Clone)]
pub struct TenantValues {
    db: Db,
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (tenant record id, key) → active values.
    values: Mutex<HashMap<(i64, String), Vec<String>>>,
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
    pub fn listen(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let inner = self.inner.clone();
        tokio::spawn(crate::bus::listen(
            self.db.clone(),
            tenant_kvs::CHANGED_CHANNEL,
            "tenant key-values",
            stop,
            move || inner.forget(),
        ))
    }

    /// The tenant's active values of `key`, oldest first.
    pub async fn get(&self, tenant_record_id: i64, key: &str) -> Result<Vec<String>, ServiceError> {
        let entry = (tenant_record_id, key.to_string());
        if let Some(values) = self.inner.lock().get(&entry) {
            return Ok(values.clone());
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        let values = {
            let work = self.db.read().await.map_err(StorageError::from)?;
            tenant_kvs::active_values(work.client(), tenant_record_id, key).await?
        };
        let mut remembered = self.inner.lock();
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
        let mut values = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        values.clear();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(i64, String), Vec<String>>> {
        self.values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
