//! The `node_infos` table: what each running node says about itself (boot time, versions, the
//! plugins it runs, as a JSON document), written at its start and removed at its graceful stop.
//!
//! This file owns that SQL. It must never decide what a node reports (the service does) nor
//! open a transaction.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::StorageError;

/// One node's row.
#[derive(Debug, Clone)]
pub struct NodeInfoRow {
    pub node_name: String,
    pub boot_date: DateTime<Utc>,
    pub updated_date: DateTime<Utc>,
    pub node_info: serde_json::Value,
}

/// Writes (or rewrites, after a restart) the row of `node_name`.
pub async fn upsert_node_info(
    client: &impl GenericClient,
    node_name: &str,
    boot_date: DateTime<Utc>,
    node_info: &serde_json::Value,
) -> Result<(), StorageError> {
    // The primary key's row lock is held for this one statement.
    super::execute_cached(
        client,
        "insert into node_infos (node_name, boot_date, updated_date, node_info)
             values ($1, $2, $2, $3)
             on conflict (node_name) do update
             set boot_date = excluded.boot_date, updated_date = excluded.updated_date,
                 node_info = excluded.node_info",
        &[&node_name, &boot_date, &node_info],
    )
    .await?;
    Ok(())
}

pub async fn delete_node_info(
    client: &impl GenericClient,
    node_name: &str,
) -> Result<(), StorageError> {
    super::execute_cached(
        client,
        "delete from node_infos where node_name = $1",
        &[&node_name],
    )
    .await?;
    Ok(())
}

/// Every node's row, in the order they booted.
pub async fn node_infos(client: &impl GenericClient) -> Result<Vec<NodeInfoRow>, StorageError> {
    let rows = super::query_cached(
        client,
        "select node_name, boot_date, updated_date, node_info from node_infos
             order by boot_date, node_name",
        &[],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(NodeInfoRow {
                node_name: row.try_get(0)?,
                boot_date: row.try_get(1)?,
                updated_date: row.try_get(2)?,
                node_info: row.try_get(3)?,
            })
        })
        .collect()
}
