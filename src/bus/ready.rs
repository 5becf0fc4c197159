//! Counting queues' ready entries, Kill Bill's `getNbReadyEntries`: AVAILABLE entries (due
//! ones only, for the notification queue), and only this node's where no other node would
//! take them. Several queues are counted in one statement, so the dashboard pays one round
//! trip for all of them. It only counts: nothing here locks or changes an entry.

use tokio_postgres::types::ToSql;

use super::queue::Table;
use super::BusError;
use crate::db::work::Db;

/// How to count one queue's ready entries.
#[derive(Debug, Clone)]
pub struct ReadyCount {
    /// Its table; entries count once the table's due condition holds (a notification's
    /// effective date has come).
    table: &'static Table,
    /// Only this creator's entries (the sticky modes).
    owner: Option<String>,
}

impl ReadyCount {
    pub(super) fn new(table: &'static Table, owner: Option<String>) -> ReadyCount {
        ReadyCount { table, owner }
    }
}

/// The ready entries of each queue, in order, counted in one statement. No lock: a snapshot,
/// stale the moment it returns.
pub async fn count(
    client: &tokio_postgres::Client,
    queues: &[ReadyCount],
) -> Result<Vec<i64>, tokio_postgres::Error> {
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    let mut parameters: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let mut counts = Vec::with_capacity(queues.len());
    for queue in queues {
        let mut count = format!(
            "(select count(*) from {} where processing_state = 'AVAILABLE'",
            queue.table.live
        );
        if let Some(due) = queue.table.due {
            count.push_str(" and ");
            count.push_str(due);
        }
        if let Some(owner) = &queue.owner {
            parameters.push(owner);
            count.push_str(&format!(" and creating_owner = ${}", parameters.len()));
        }
        count.push(')');
        counts.push(count);
    }
    let row = client
        .query_one(&format!("select {}", counts.join(", ")), &parameters)
        .await?;
    Ok((0..queues.len()).map(|index| row.get(index)).collect())
}

/// [`count`] on a main-pool connection taken only if one is free: `None` when every
/// connection is busy, so an observer never queues behind the requests it observes.
pub async fn count_if_connection_free(
    db: &Db,
    queues: &[ReadyCount],
) -> Result<Option<Vec<i64>>, BusError> {
    let Some(work) = db.try_read().await? else {
        return Ok(None);
    };
    Ok(Some(count(work.client(), queues).await?))
}
