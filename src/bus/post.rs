//! Posting: an event is one insert into the bus's live table, made inside the caller's
//! transaction, so it exists if and only if that transaction commits.
//!
//! Once the transaction has committed, this node's dispatcher is woken (or, in STICKY_EVENTS,
//! handed the ids) in memory, and the other nodes hear of it through the bus's announcer: one
//! NOTIFY for whatever was posted in the last few milliseconds, sent on its own. A NOTIFY
//! inside the posting transaction would take PostgreSQL's global notification lock from the
//! commit's start to its end, so every posting transaction would commit one at a time.
//!
//! This file owns that insert, the hand-over after commit and the announcer. It must never
//! open, commit or roll back the caller's transaction.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

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
/// enough (this node's dispatcher is woken and the others are told on commit); in STICKY_EVENTS this
/// node dispatches only ids handed over by `committed()`, and in memory (`inMemory=true`)
/// `committed()` is where subscribers run.
#[must_use = "call committed() once the transaction has committed"]
pub struct PostedEvents {
    bus: Bus,
    /// Rows were inserted: once committed, the dispatchers must hear of them.
    inserted: bool,
    /// STICKY_EVENTS: ids inserted so far, queued for dispatch on commit.
    sticky_ids: Vec<i64>,
    /// In memory: the events themselves, dispatched on commit.
    in_memory: Vec<BusEntry>,
}

impl PostedEvents {
    pub(super) fn new(bus: Bus) -> PostedEvents {
        PostedEvents {
            bus,
            inserted: false,
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
                creating_owner: inner.queue.node().to_string(),
                search_keys: keys,
                error_count: 0,
                extra: (),
            });
            return Ok(record_id);
        }
        let record_id = insert_entry(
            work.client(),
            inner.queue.table().live,
            &NewEntry {
                class_name: E::CLASS_NAME,
                event_json: &event_json,
                user_token,
                creating_owner: inner.queue.node(),
                search_key1: keys.account_record_id,
                search_key2: keys.tenant_record_id,
            },
        )
        .await?;
        if inner.config.mode == QueueMode::StickyEvents {
            self.sticky_ids.push(record_id);
        }
        self.inserted = true;
        metrics::inserted(inner.queue.metrics_id(), 1);
        Ok(record_id)
    }

    /// Inserts every event of `events` (each with its user token) inside `work`'s transaction
    /// in one statement, in order; returns their record ids.
    pub async fn post_all<E: BusEvent>(
        &mut self,
        work: &Work,
        events: &[(E, Option<Uuid>)],
    ) -> Result<Vec<i64>, BusError> {
        let inner = &self.bus.inner;
        if inner.config.in_memory || events.len() == 1 {
            let mut record_ids = Vec::with_capacity(events.len());
            for (event, user_token) in events {
                record_ids.push(self.post(work, event, *user_token).await?);
            }
            return Ok(record_ids);
        }
        let mut rows = NewEntries::default();
        for (event, user_token) in events {
            let keys = event.search_keys();
            rows.event_json
                .push(
                    serde_json::to_string(event).map_err(|source| BusError::Serialize {
                        class_name: E::CLASS_NAME,
                        source,
                    })?,
                );
            rows.user_token.push(*user_token);
            rows.search_key1.push(keys.account_record_id);
            rows.search_key2.push(keys.tenant_record_id);
        }
        let record_ids = insert_entries(
            work.client(),
            inner.queue.table().live,
            E::CLASS_NAME,
            inner.queue.node(),
            &rows,
        )
        .await?;
        if inner.config.mode == QueueMode::StickyEvents {
            self.sticky_ids.extend(record_ids.iter().copied());
        }
        self.inserted = true;
        metrics::inserted(inner.queue.metrics_id(), record_ids.len() as u64);
        Ok(record_ids)
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
        if inner.config.mode == QueueMode::StickyEvents {
            if !inner.config.off {
                inner.queue.hand_over(self.sticky_ids.drain(..));
            }
        } else if self.inserted {
            // The polling modes: this node's fetcher at once, the others through one
            // NOTIFY for everything posted meanwhile.
            inner.queue.wake();
            inner.announce.notify_one();
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

/// Entries of one class to insert together, column by column.
#[derive(Default)]
struct NewEntries {
    event_json: Vec<String>,
    user_token: Vec<Option<Uuid>>,
    search_key1: Vec<Option<i64>>,
    search_key2: Vec<i64>,
}

/// [`insert_entry`] for many entries of one class in one statement, record ids in the order
/// given.
async fn insert_entries(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    class_name: &str,
    creating_owner: &str,
    rows: &NewEntries,
) -> Result<Vec<i64>, BusError> {
    let insert = format!(
        "insert into {live_table}
             (class_name, event_json, user_token, created_date, creating_owner,
              processing_state, error_count, search_key1, search_key2)
         select $1, event_json, user_token, now(), $2, 'AVAILABLE', 0, search_key1, search_key2
         from unnest($3::text[], $4::uuid[], $5::bigint[], $6::bigint[]) with ordinality
              as given(event_json, user_token, search_key1, search_key2, position)
         order by position
         returning record_id"
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &class_name,
        &creating_owner,
        &rows.event_json,
        &rows.user_token,
        &rows.search_key1,
        &rows.search_key2,
    ];
    let found = crate::db::sql::query(client, &insert, &params).await?;
    let mut record_ids: Vec<i64> = found.iter().map(|row| row.get(0)).collect();
    // Inserted in the given order, so the ids ascend in it too.
    record_ids.sort_unstable();
    Ok(record_ids)
}

/// Inserts one entry, one round trip with the connection's cached statement.
async fn insert_entry(
    client: &impl deadpool_postgres::GenericClient,
    live_table: &str,
    entry: &NewEntry<'_>,
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
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &entry.class_name,
        &entry.event_json,
        &entry.user_token,
        &entry.creating_owner,
        &entry.search_key1,
        &entry.search_key2,
    ];
    let row = crate::db::sql::query_one(client, &insert, &params).await?;
    Ok(row.get(0))
}

/// How often at most the announcer sends its NOTIFY: posts within this window share one.
const ANNOUNCE_PERIOD: Duration = Duration::from_millis(5);

/// Tells the other nodes' dispatchers that entries were committed: one NOTIFY on the channel
/// named after the live table per [`ANNOUNCE_PERIOD`] at most, while posts keep coming. A
/// NOTIFY that fails is left to the fetchers' own `sleep`. Runs until the bus stops.
pub(super) async fn announce(bus: Bus) {
    let inner = &bus.inner;
    let mut stop = inner.queue.stop_signal();
    loop {
        tokio::select! {
            _ = super::queue::stopped(&mut stop) => return,
            _ = inner.announce.notified() => {}
        }
        let sent = async {
            let work = inner.queue.db().read().await?;
            let client = work.client();
            let statement = client.prepare_cached("select pg_notify($1, '')").await?;
            client
                .execute(&statement, &[&inner.queue.table().channel()])
                .await?;
            Ok::<(), BusError>(())
        };
        if let Err(error) = sent.await {
            tracing::debug!(bus = inner.config.name, %error, "announcing posted entries failed");
        }
        tokio::time::sleep(ANNOUNCE_PERIOD).await;
    }
}
