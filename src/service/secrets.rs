//! Slow hashing of the secrets ferrobill stores (tenant API secrets, the passwords of the users
//! of `/1.0/kb/security/users`): argon2id hashes, computed and verified off the async workers,
//! at most one per core at once, and the SHA-256 digests the in-memory caches of verified
//! secrets compare in constant time.
//!
//! Without the bound, a burst of first requests (or a flood of wrong secrets) runs one argon2
//! hash per request concurrently: every core busy and about 19 MiB each. With it, requests for
//! the same secret queue behind the first verification and then find its result in a cache.
//! This file never stores, logs or returns a secret.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::ServiceError;

/// The hashing slots, shared by every service that hashes. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hasher {
            slots: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl Hasher {
    /// One hashing slot, held while checking a cache and then hashing, so that requests
    /// waiting for the same secret find the first one's result.
    pub async fn slot(&self) -> Result<SemaphorePermit<'_>, ServiceError> {
        self.slots
            .acquire()
            .await
            .map_err(|_| ServiceError::Internal("the hashing slots are closed".to_string()))
    }

    /// The argon2id hash of `secret` (PHC string, salt included), in a slot.
    pub async fn hash(&self, secret: String) -> Result<String, ServiceError> {
        let _slot = self.slot().await?;
        hash_secret(secret).await
    }
}

/// The argon2id hash of `secret`; the caller holds a slot.
pub async fn hash_secret(secret: String) -> Result<String, ServiceError> {
    // Hashing costs tens of milliseconds of CPU: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| ServiceError::Internal(format!("hashing a secret failed: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("hashing task failed: {e}")))?
}

/// Whether `secret` is the one `stored_hash` was made from; the caller holds a slot.
pub async fn verify_secret(secret: String, stored_hash: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored_hash).map_err(|e| {
            ServiceError::Internal(format!("a stored secret hash is unreadable: {e}"))
        })?;
        Ok(Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("verification task failed: {e}")))?
}

/// The SHA-256 of `secret`: what caches of verified secrets hold and compare, in constant time
/// (one length whatever the secret's).
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_original_secret() {
        let hash = hash_secret("s3cret".to_string()).await.expect("hashes");
        assert!(!hash.contains("s3cret"));
        assert!(verify_secret("s3cret".to_string(), hash.clone())
            .await
            .expect("verifies"));
        assert!(!verify_secret("other".to_string(), hash)
            .await
            .expect("verifies"));
    }
}
