//! Posting: an event is one insert into the bus's live table, made inside the caller's
//! transaction, so it exists if and only if that transaction commits.
//!
//! This file owns that insert and the hand-over of committed ids to this node's dispatcher
//! (STICKY_EVENTS). It must never open, commit or roll back a transaction: the caller owns it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::metrics;
use super::{Bus, BusEntry, BusError, BusEvent};
use crate::config::QueueMode;
use crate::db::work::{ensure_not_holding, Work};

/// The events posted in one transaction, from [`Bus::posted`]:
///
/// ```ignore
/// let mut posted = bus.posted();
/// let work = db.begin().await?;
/// posted.post(&work, &event, user_token).await?;
/// work.commit().await?;
/// drop(work); // committed() may run subscribers, which take connections of their own
/// posted.committed().await;
/// ```
///
/// Dropped without [`PostedEvents::committed`] (an error, a rollback), the ids are discarded:
/// a rolled-back event never reaches a dispatcher. In the polling modes the rows alone are
/// enough (every node's dispatcher is woken by `pg_notify` on commit); in STICKY_EVENTS this
/// node dispatches only ids handed over by `committed()`, and in memory (`inMemory=true`)
/// `committed()` is where subscribers run.
#[must_use = "call committed() once the transaction has committed"]
pub struct PostedEvents {
    bus: Bus,
    /// STICKY_EVENTS: ids inserted so far, queued for dispatch on commit.
    sticky_ids: Vec<i64>,
    /// In memory: the events themselves, dispatched on commit.
    in_memory: Vec<BusEntry>,
}

impl PostedEvents {
    pub(super) fn new(bus: Bus) -> PostedEvents {
        PostedEvents {
            bus,
            sticky_ids: Vec::new(),
            in_memory: Vec::new(),
        }
    }

    /// Inserts `event` inside `work`'s transaction and returns its record id.
    pub async fn post<E: BusEvent>(
        &mut self,
        work: &Work,
        event: &E,
        user_token: Option<Uuid>,
    ) -> Result<i64, BusError> {
        let event_json = serde_json::to_string(event).map_err(|source| BusError::Serialize {
            class_name: E::CLASS_NAME,
            source,
        })?;
        let keys = event.search_keys();
        let inner = &self.bus.inner;
        if inner.config.in_memory {
            let record_id = inner.next_in_memory_id.fetch_add(1, Ordering::Relaxed);
            self.in_memory.push(BusEntry {
                record_id,
                class_name: E::CLASS_NAME.to_string(),
                event_json,
                user_token,
                created_date: Utc::now(),
                creating_owner: inner.node.clone(),
                search_keys: keys,
                error_count: 0,
            });
            return Ok(record_id);
        }
        // STICKY_EVENTS entries are dispatched only by this node, from its in-memory queue:
        // no other node needs waking.
        let wake_nodes = inner.config.mode != QueueMode::StickyEvents;
        let record_id = insert_entry(
            work.client(),
            inner.tables.live,
            &NewEntry {
                class_name: E::CLASS_NAME,
                event_json: &event_json,
                user_token,
                creating_owner: &inner.node,
                search_key1: keys.account_record_id,
                search_key2: keys.tenant_record_id,
            },
            wake_nodes,
        )
        .await?;
        if inner.config.mode == QueueMode::StickyEvents {
            self.sticky_ids.push(record_id);
        }
        metrics::inserted(&inner.metrics_id, 1);
        Ok(record_id)
    }

    /// Call once the transaction has committed and its unit of work is dropped: hands
    /// STICKY_EVENTS ids to this node's dispatcher, or runs the subscribers of an in-memory
    /// bus (which take connections of their own).
    pub async fn committed(mut self) {
        let inner = &self.bus.inner;
        if !self.in_memory.is_empty() {
            if let Err(held) = ensure_not_holding("in-memory bus subscribers") {
                tracing::error!(bus = inner.config.name, %held, "in-memory events dropped");
                return;
            }
        }
        if let Some(inflight) = &inner.inflight {
            if !inner.config.off {
                for record_id in self.sticky_ids.drain(..) {
                    // A closed queue means the bus is shutting down; the row stays
                    // AVAILABLE and is reloaded when this node restarts.
                    let _ = inflight.send(record_id);
                }
            }
        }
        for entry in std::mem::take(&mut self.in_memory) {
            let record_id = entry.record_id;
            let class_name = entry.class_name.clone();
            // Kill Bill's in-memory bus has no retries: a failure is logged and dropped.
            if let Err(error) = self.bus.call_subscribers(Arc::new(entry)).await {
                tracing::warn!(bus = inner.config.name, record_id, class_name, %error, "in-memory event handler failed");
            }
        }
    }
}

/// One entry to insert into a live table.
struct NewEntry<'a> {
    class_name: &'a str,
    event_json: &'a str,
    user_token: Option<Uuid>,
    creating_owner: &'a str,
    search_key1: Option<i64>,
    search_key2: i64,
}

/// Inserts one entry and, when `wake_nodes`, queues a NOTIFY on the channel named after the
/// table in the same round trip (one round trip: the statement is cached on the connection). PostgreSQL delivers it only if the transaction commits, and
/// folds duplicates within one transaction, so posting many events wakes each listening node
/// once.
async fn insert_entry(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    entry: &NewEntry<'_>,
    wake_nodes: bool,
) -> Result<i64, BusError> {
    // A plain insert, no lock: the row is invisible to every dispatcher until the caller's
    // transaction commits, and gone if it rolls back.
    let insert = format!(
        "insert into {live_table}
             (class_name, event_json, user_token, created_date, creating_owner,
              processing_state, error_count, search_key1, search_key2)
         values ($1, $2, $3, now(), $4, 'AVAILABLE', 0, $5, $6)
         returning record_id"
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &entry.class_name,
        &entry.event_json,
        &entry.user_token,
        &entry.creating_owner,
        &entry.search_key1,
        &entry.search_key2,
        &live_table,
    ];
    let row = if wake_nodes {
        let sql = format!(
            "with inserted as ({insert})
             select inserted.record_id
             from inserted, (select pg_notify($7, '')) as notified"
        );
        let statement = client.prepare_cached(&sql).await?;
        client.query_one(&statement, &params).await?
    } else {
        let statement = client.prepare_cached(&insert).await?;
        client.query_one(&statement, &params[..6]).await?
    };
    Ok(row.get(0))
}
