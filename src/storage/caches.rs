//! The announcement that the in-memory caches were cleared by an operator
//! (`DELETE /1.0/kb/admin/cache…`), delivered to every node. There is no table; this file owns
//! the channel and must never carry data on it.

use deadpool_postgres::GenericClient;

use super::StorageError;

/// The channel every node listens on to clear its caches.
pub const CLEARED_CHANNEL: &str = "caches_cleared";

/// NOTIFY on [`CLEARED_CHANNEL`]; outside a transaction it is delivered at once.
pub async fn announce_cleared(client: &impl GenericClient) -> Result<(), StorageError> {
    super::query_cached(client, "select pg_notify($1, '')", &[&CLEARED_CHANNEL]).await?;
    Ok(())
}
