//! Tenants: creation, lookup, and verification of the `X-Killbill-ApiKey` /
//! `X-Killbill-ApiSecret` pair that every `/1.0/kb` request carries.
//!
//! Secrets are stored as argon2id hashes, which are slow on purpose; running one per request
//! would cap the whole server at a few dozen requests per second per core. Verified pairs are
//! therefore remembered in a bounded in-memory cache keyed by API key, holding a SHA-256 digest
//! of the secret (never the secret itself), compared in constant time. A tenant's secret
//! cannot change through this API, so entries never go stale; a wrong secret is never cached.
//! The hashing itself is `secrets.rs`'s.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use deadpool_postgres::Object;
use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::secrets::{self, digest as secret_digest, Hasher};
use super::{duplicate_on, CallContext, ServiceError};
use crate::db::work::Db;
use crate::profiling::{measure, Category::Dao};
use crate::storage::audit::{insert_audit_log, ChangeType};
use crate::storage::tenants::{self, NewTenantRow, TenantRow};
use crate::storage::StorageError;

/// A tenant as the rest of the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub record_id: i64,
    pub id: Uuid,
    pub external_key: Option<String>,
    pub api_key: String,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Self {
        Tenant {
            record_id: row.record_id,
            id: row.id,
            external_key: row.external_key,
            api_key: row.api_key,
        }
    }
}

/// Tenants by record id, as the buses and queues name them (`search_key2`), remembered once
/// read: a tenant's record id, id and keys never change and tenants are never deleted, so an
/// entry never goes stale and no node needs to hear of another's changes. Cheap to clone.
#[derive(Clone)]
pub struct TenantDirectory {
    db: Db,
    known: Arc<Mutex<HashMap<i64, Tenant>>>,
}

/// At most this many tenants are remembered; past it an arbitrary one is forgotten.
const DIRECTORY_CAPACITY: usize = 10_000;

impl TenantDirectory {
    pub fn new(db: Db) -> TenantDirectory {
        TenantDirectory {
            db,
            known: Arc::default(),
        }
    }

    /// The tenant with this record id; `None` if there is none.
    pub async fn by_record_id(&self, record_id: i64) -> Result<Option<Tenant>, ServiceError> {
        if let Some(tenant) = self.known.lock().get(&record_id) {
            return Ok(Some(tenant.clone()));
        }
        let found = {
            let work = self.db.read().await?;
            tenants::find_tenant_by_record_id(work.client(), record_id).await?
        };
        let Some(tenant) = found.map(Tenant::from) else {
            return Ok(None);
        };
        let mut known = self.known.lock();
        if known.len() >= DIRECTORY_CAPACITY {
            if let Some(victim) = known.keys().next().copied() {
                known.remove(&victim);
            }
        }
        known.insert(record_id, tenant.clone());
        Ok(Some(tenant))
    }

    /// Forgets every tenant (`DELETE /1.0/kb/admin/cache`); they are read again on demand.
    pub fn forget(&self) {
        self.known.lock().clear();
    }
}

pub struct NewTenant {
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub external_key: Option<String>,
}

#[derive(Clone)]
pub struct TenantService {
    db: Db,
    verified: Arc<VerifiedCache>,
    /// At most one slow hash per core at once; requests for the same tenant queue behind the
    /// first verification and then find its result in the cache.
    hasher: Hasher,
}

impl TenantService {
    pub fn new(db: Db, cache_capacity: usize, hasher: Hasher) -> TenantService {
        TenantService {
            db,
            verified: Arc::new(VerifiedCache::new(cache_capacity)),
            hasher,
        }
    }

    /// Creates a tenant and its audit row in one transaction.
    pub async fn create(
        &self,
        new: NewTenant,
        context: &CallContext,
    ) -> Result<Tenant, ServiceError> {
        let api_key = required(new.api_key, "apiKey")?;
        let api_secret = required(new.api_secret, "apiSecret")?;
        let hash = self.hasher.hash(api_secret).await?;
        let now = Utc::now();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let new_row = NewTenantRow {
            id: Uuid::new_v4(),
            external_key: new.external_key.as_deref(),
            api_key: &api_key,
            api_secret_hash: &hash,
            created_by: &context.created_by,
            created_date: now,
        };
        let row = measure(
            Dao,
            "tenants:insert_tenant",
            tenants::insert_tenant(transaction, &new_row),
        )
        .await
        .map_err(duplicate_on(tenants::API_KEY_INDEX, || {
            ServiceError::TenantAlreadyExists {
                external_key: new.external_key.clone(),
            }
        }))?;
        let audit = context.audit(row.record_id, None);
        measure(
            Dao,
            "audit:insert_audit_log",
            insert_audit_log(
                transaction,
                "TENANT",
                row.record_id,
                ChangeType::Insert,
                now,
                &audit,
            ),
        )
        .await?;
        measure(Dao, "commit", work.commit()).await?;
        Ok(row.into())
    }

    pub async fn find_by_id(&self, id: Uuid) -> Result<Tenant, ServiceError> {
        let find = async |connection: &Object| tenants::find_tenant_by_id(connection, id).await;
        self.find_tenant("tenants:find_tenant_by_id", find)
            .await?
            .ok_or(ServiceError::TenantNotFoundForId { id })
    }

    pub async fn find_by_api_key(&self, api_key: &str) -> Result<Tenant, ServiceError> {
        let find =
            async |connection: &Object| tenants::find_tenant_by_api_key(connection, api_key).await;
        self.find_tenant("tenants:find_tenant_by_api_key", find)
            .await?
            .ok_or_else(|| ServiceError::TenantNotFoundForApiKey {
                api_key: api_key.to_string(),
            })
    }

    /// The tenant `find` reads on a read connection of its own, timed as the DAO call `dao`.
    async fn find_tenant(
        &self,
        dao: &'static str,
        find: impl AsyncFnOnce(&Object) -> Result<Option<TenantRow>, StorageError>,
    ) -> Result<Option<Tenant>, ServiceError> {
        let read = self.db.read().await?;
        let found = measure(Dao, dao, find(read.client())).await?;
        Ok(found.map(Tenant::from))
    }

    /// The tenant the pair authenticates, or `None` for an unknown key or a wrong secret.
    pub async fn authenticate(
        &self,
        api_key: &str,
        api_secret: &str,
    ) -> Result<Option<Tenant>, ServiceError> {
        let digest = secret_digest(api_secret);
        if let Some(tenant) = self.verified.lookup(api_key, &digest) {
            return Ok(Some(tenant));
        }
        let _slot = self.hasher.slot().await?;
        // Another request may have verified the same pair while this one waited.
        if let Some(tenant) = self.verified.lookup(api_key, &digest) {
            return Ok(Some(tenant));
        }
        let read = self.db.read().await?;
        let connection = read.client();
        let credentials = measure(
            Dao,
            "tenants:find_credentials_by_api_key",
            tenants::find_credentials_by_api_key(connection, api_key),
        );
        let Some((row, hash)) = credentials.await? else {
            return Ok(None);
        };
        drop(read);
        if !secrets::verify_secret(api_secret.to_string(), hash).await? {
            return Ok(None);
        }
        let tenant = Tenant::from(row);
        self.verified.remember(tenant.clone(), digest);
        Ok(Some(tenant))
    }

    /// The tenant the pair authenticates if this node has verified that very pair before:
    /// never hashes, so it answers at once and tells nothing about a pair not yet verified.
    pub fn authenticate_known(&self, api_key: &str, api_secret: &str) -> Option<Tenant> {
        self.verified.lookup(api_key, &secret_digest(api_secret))
    }

    /// Forgets every verified pair (`DELETE /1.0/kb/admin/cache`): each is verified again,
    /// with one hash, on its next use.
    pub fn forget(&self) {
        self.verified.clear();
    }
}

fn required(value: Option<String>, field: &str) -> Result<String, ServiceError> {
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ServiceError::InvalidArgument(format!(
            "TenantJson {field} needs to be set"
        ))),
    }
}

/// API key → (tenant, SHA-256 of the verified secret), at most `capacity` entries.
struct VerifiedCache {
    capacity: usize,
    entries: Mutex<HashMap<String, (Tenant, [u8; 32])>>,
}

impl VerifiedCache {
    fn new(capacity: usize) -> VerifiedCache {
        VerifiedCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, api_key: &str, digest: &[u8; 32]) -> Option<Tenant> {
        let entries = self.entries.lock();
        let (tenant, known) = entries.get(api_key)?;
        bool::from(known.ct_eq(digest)).then(|| tenant.clone())
    }

    fn clear(&self) {
        self.entries.lock().clear();
    }

    fn remember(&self, tenant: Tenant, digest: [u8; 32]) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&tenant.api_key) {
            // Evicting an arbitrary entry is enough: a miss costs one hash, not correctness.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(tenant.api_key.clone(), (tenant, digest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(key: &str) -> Tenant {
        Tenant {
            record_id: 1,
            id: Uuid::new_v4(),
            external_key: None,
            api_key: key.to_string(),
        }
    }

    #[test]
    fn the_cache_answers_only_for_the_verified_secret() {
        let cache = VerifiedCache::new(4);
        cache.remember(tenant("k"), secret_digest("right"));
        assert!(cache.lookup("k", &secret_digest("right")).is_some());
        assert!(cache.lookup("k", &secret_digest("wrong")).is_none());
        assert!(cache.lookup("other", &secret_digest("right")).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedCache::new(2);
        for key in ["a", "b", "c", "d"] {
            cache.remember(tenant(key), secret_digest(key));
        }
        let size = cache.entries.lock().len();
        assert_eq!(size, 2);
    }
}
