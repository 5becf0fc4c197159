//! Clearing ferrobill's in-memory caches on demand (Kill Bill's `DELETE /1.0/kb/admin/cache…`):
//! the verified tenant secrets, the tenant directory of the buses, the tenant key-values, and
//! the verified user credentials with their permissions. Everything is read again on demand
//! (a verified secret or password costs one hash on its next use).
//!
//! A clearing is done on this node at once and announced to every node (a NOTIFY on
//! [`caches::CLEARED_CHANNEL`]), where it clears everything: the caches are rebuilt from the
//! database, so clearing more than asked costs only time. This file never writes data.

use tokio::sync::watch;

use super::security::SecurityService;
use super::tenant_values::TenantValues;
use super::tenants::{TenantDirectory, TenantService};
use super::{listen_and_forget, Listener, ServiceError};
use crate::db::work::Db;
use crate::storage::caches;

/// Kill Bill's cache names (`Cachable.CacheType`), which `DELETE /1.0/kb/admin/cache?cacheName=`
/// accepts; each clears what ferrobill keeps of the kind, if anything.
pub const KILL_BILL_CACHE_NAMES: [&str; 15] = [
    "record-id",
    "account-record-id",
    "tenant-record-id",
    "object-id",
    "tenant-catalog",
    "tenant-payment-state-machine-config",
    "tenant-overdue-config",
    "tenant-config",
    "tenant-kv",
    "tenant",
    "overridden-plan",
    "account-immutable",
    "account-bcd",
    "account-id-from-bundle-id",
    "bundle-id-from-subscription-id",
];

/// Every cache of this node. Cheap to clone.
#[derive(Clone)]
pub struct Caches {
    db: Db,
    tenants: TenantService,
    directory: TenantDirectory,
    values: TenantValues,
    security: SecurityService,
}

impl Caches {
    pub fn new(
        db: Db,
        tenants: TenantService,
        directory: TenantDirectory,
        values: TenantValues,
        security: SecurityService,
    ) -> Caches {
        Caches {
            db,
            tenants,
            directory,
            values,
            security,
        }
    }

    /// Starts clearing everything on every announced clearing; runs until `stop` turns true.
    /// Also returns what tells when the first LISTEN is in place (see [`crate::bus::listen`]).
    pub fn listen(&self, stop: watch::Receiver<bool>) -> Listener {
        let caches = self.clone();
        listen_and_forget(
            &self.db,
            caches::CLEARED_CHANNEL,
            "cache clearings",
            stop,
            move || caches.clear_here(None),
        )
    }

    /// Clears the cache of Kill Bill's name `name` (every cache without one) on every node; an
    /// unknown name is refused, as Kill Bill refuses it.
    pub async fn clear(&self, name: Option<&str>) -> Result<(), ServiceError> {
        let name = name.filter(|name| !name.is_empty());
        if let Some(name) = name {
            if !KILL_BILL_CACHE_NAMES.contains(&name) {
                return Err(ServiceError::CacheNotFound {
                    name: name.to_string(),
                });
            }
        }
        self.clear_here(name);
        self.announce().await
    }

    /// What one Kill Bill cache name maps to here; `None`: everything.
    fn clear_here(&self, name: Option<&str>) {
        let all = name.is_none();
        if all || matches!(name, Some("tenant")) {
            self.tenants.forget();
        }
        if all || matches!(name, Some("tenant-record-id") | Some("object-id")) {
            self.directory.forget();
        }
        if all || matches!(name, Some("tenant-kv") | Some("tenant-config")) {
            self.values.forget();
        }
        if all {
            self.security.forget();
        }
    }

    async fn announce(&self) -> Result<(), ServiceError> {
        let work = self.db.read().await?;
        caches::announce_cleared(work.client()).await?;
        Ok(())
    }
}
