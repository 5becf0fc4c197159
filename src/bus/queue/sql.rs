//! Every statement the queue engine runs on a queue table, for any [`Table`]: claiming (the
//! only `for update skip locked` claims of the queues), lease renewal, reading by id, moving
//! finished entries to history, releasing failed ones for a retry, reaping and taking over.
//!
//! This file owns that SQL and the lock choice of each statement. It must never open or
//! commit a transaction (callers pass a unit of work's client), never decide which entries to
//! finish or reap, and never wait for anything but the statement it runs.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{Entry, Table};
use crate::bus::BusError;
use crate::db::sql;

/// Kill Bill's ready clause: not finished, and unowned or with an expired lease.
const READY: &str = "processing_state not in ('PROCESSED', 'REMOVED')
       and (processing_owner is null or processing_available_date <= now())";
/// The processing columns every queue table has besides `record_id` and the payload.
const PROCESSING: &str =
    "created_date, creating_owner, processing_owner, processing_available_date, \
     processing_state, error_count";

/// The columns [`Entry::from_row`] reads.
fn entry_columns(table: &Table) -> String {
    format!(
        "record_id, created_date, creating_owner, error_count, {}",
        table.payload
    )
}

fn due_clause(table: &Table) -> String {
    table
        .due
        .map(|due| format!("and {due}"))
        .unwrap_or_default()
}

/// The record ids `sql` returns (its first column).
async fn query_record_ids(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<i64>, BusError> {
    let rows = sql::query(client, sql, params).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

fn entries<E: Entry>(rows: &[tokio_postgres::Row]) -> Vec<E> {
    rows.iter().map(E::from_row).collect()
}

/// Claims and leases up to `limit` ready entries in the table's order, in one statement;
/// `sticky` takes only the entries `node` created (STICKY_POLLING).
pub(super) async fn claim<E: Entry>(
    client: &impl GenericClient,
    table: &Table,
    node: &str,
    claim_time: Duration,
    limit: i64,
    sticky: bool,
) -> Result<Vec<E>, BusError> {
    let sticky_clause = if sticky {
        "and creating_owner = $1"
    } else {
        ""
    };
    // `for update skip locked`: concurrent claimers (other nodes) skip rows another claim has
    // locked instead of waiting for it and then finding them taken; the lock is held until
    // the update commits, so no row is claimed twice. The lease (claim.time) hides the row
    // from the ready clause until the handler is done or the lease runs out. The outer
    // select restores the table's order, which `returning` does not keep.
    let claim = format!(
        "with claimed as (
             update {live}
             set processing_owner = $1,
                 processing_available_date = now() + make_interval(secs => $2),
                 processing_state = 'IN_PROCESSING'
             where record_id in (
                 select record_id from {live}
                 where {READY} {due} {sticky_clause}
                 order by {order}
                 limit $3
                 for update skip locked
             )
             returning {columns}
         )
         select * from claimed order by {order}",
        live = table.live,
        due = due_clause(table),
        order = table.order,
        columns = entry_columns(table),
    );
    let rows = sql::query(client, &claim, &[&node, &claim_time.as_secs_f64(), &limit]).await?;
    Ok(entries(&rows))
}

/// Moves the lease of `node`'s claims among `record_ids` to now + `claim_time`.
pub(super) async fn renew_leases(
    client: &impl GenericClient,
    table: &Table,
    node: &str,
    claim_time: Duration,
    record_ids: &[i64],
) -> Result<u64, BusError> {
    // One statement on rows this node owns; a row another node took (after a missed renewal)
    // or already moved to history is not touched. Row locks are held for the statement only.
    let renew = format!(
        "update {} set processing_available_date = now() + make_interval(secs => $3)
         where record_id = any($1) and processing_owner = $2
           and processing_state = 'IN_PROCESSING'",
        table.live
    );
    let params: [&(dyn ToSql + Sync); 3] = [&record_ids, &node, &claim_time.as_secs_f64()];
    Ok(sql::execute(client, &renew, &params).await?)
}

/// STICKY_EVENTS: the AVAILABLE entries among `record_ids`, in record id order.
pub(super) async fn read_available<E: Entry>(
    client: &impl GenericClient,
    table: &Table,
    record_ids: &[i64],
) -> Result<Vec<E>, BusError> {
    // No lock: in STICKY_EVENTS only this node dispatches these ids.
    let read = format!(
        "select {} from {} where record_id = any($1) and processing_state = 'AVAILABLE'
         order by record_id",
        entry_columns(table),
        table.live
    );
    let rows = sql::query(client, &read, &[&record_ids]).await?;
    Ok(entries(&rows))
}

/// STICKY_EVENTS: up to `limit` ids of `node`'s AVAILABLE entries after `after_record_id`.
pub(super) async fn own_available_ids(
    client: &impl GenericClient,
    table: &Table,
    node: &str,
    after_record_id: i64,
    limit: i64,
) -> Result<Vec<i64>, BusError> {
    // No lock: the ids only enter this node's queue; the fetcher reads the rows later.
    let ids = format!(
        "select record_id from {} where creating_owner = $1 and processing_state = 'AVAILABLE'
           and record_id > $2
         order by record_id
         limit $3",
        table.live
    );
    query_record_ids(client, &ids, &[&node, &after_record_id, &limit]).await
}

/// Deletes finished entries from the live table and inserts them into history with their
/// final state and error count, processed by `node`, in one statement (the history copy gets
/// a new record_id, as in Kill Bill). A row whose `processing_owner` is no longer `owner` was
/// taken by another node and is left to it.
pub(super) async fn move_to_history(
    client: &impl GenericClient,
    table: &Table,
    finished: (&[i64], &[&str], &[i32]),
    owner: Option<&str>,
    node: &str,
) -> Result<u64, BusError> {
    let (record_ids, states, error_counts) = finished;
    // The delete takes the row locks, for the transaction.
    let move_rows = format!(
        "with moved as (
             delete from {live} as live
             using unnest($1::bigint[], $2::text[], $3::integer[])
                 as outcome(record_id, processing_state, error_count)
             where live.record_id = outcome.record_id
               and live.processing_owner is not distinct from $4::text
             returning live.record_id, created_date, creating_owner, {payload},
                 outcome.processing_state as final_state,
                 outcome.error_count as final_error_count
         )
         insert into {history} ({PROCESSING}, {payload})
         select created_date, creating_owner, $5, now(), final_state, final_error_count,
                {payload}
         from moved
         order by record_id",
        live = table.live,
        history = table.history,
        payload = table.payload,
    );
    let params: [&(dyn ToSql + Sync); 5] = [&record_ids, &states, &error_counts, &owner, &node];
    Ok(sql::execute(client, &move_rows, &params).await?)
}

/// Puts failed entries back: AVAILABLE, unowned, due now, with their new error count. As in
/// [`move_to_history`], a row another node now holds is left alone.
pub(super) async fn release_for_retry(
    client: &impl GenericClient,
    table: &Table,
    record_ids: &[i64],
    error_counts: &[i32],
    owner: Option<&str>,
) -> Result<u64, BusError> {
    // The update locks the rows, for the transaction.
    let release = format!(
        "update {} as live
         set processing_owner = null,
             processing_available_date = now(),
             processing_state = 'AVAILABLE',
             error_count = retry.error_count
         from unnest($1::bigint[], $2::integer[]) as retry(record_id, error_count)
         where live.record_id = retry.record_id
           and live.processing_owner is not distinct from $3::text",
        table.live
    );
    let params: [&(dyn ToSql + Sync); 3] = [&record_ids, &error_counts, &owner];
    Ok(sql::execute(client, &release, &params).await?)
}

/// A reaper's candidate: `(record_id, creating_owner, processing_owner)`.
pub(super) type Reapable = (i64, String, Option<String>);

/// Up to `limit` entries older than `threshold` (on the table's age column) that nobody is
/// going to finish: unowned, with an expired lease, or held by a node whose heartbeat in
/// `bus_nodes` is older than `stale_after`. Locks them for the caller's transaction.
pub(super) async fn lock_reapable(
    client: &impl GenericClient,
    table: &Table,
    threshold: Duration,
    stale_after: Duration,
    limit: i64,
) -> Result<Vec<Reapable>, BusError> {
    // `for update skip locked`: rows a dispatcher is claiming or finishing, or another node's
    // reaper is reaping, are skipped rather than waited for; the locks are held to commit, so
    // two reapers never both re-insert one entry.
    let select = format!(
        "select record_id, creating_owner, processing_owner from {live} as live
         where processing_state not in ('PROCESSED', 'REMOVED')
           and (processing_owner is null
                or processing_available_date <= now()
                or not exists (
                    select 1 from bus_nodes
                    where bus_nodes.node_name = live.processing_owner
                      and bus_nodes.heartbeat_at > now() - make_interval(secs => $3)))
           and {age} <= now() - make_interval(secs => $1)
         order by {order}
         limit $2
         for update of live skip locked",
        live = table.live,
        age = table.age,
        order = table.order,
    );
    let params: [&(dyn ToSql + Sync); 3] =
        [&threshold.as_secs_f64(), &limit, &stale_after.as_secs_f64()];
    let rows = sql::query(client, &select, &params).await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// Up to `limit` unfinished entries `node` held: its claims, and with `created_too` (the
/// sticky modes) the unclaimed entries it created. Locks them for the caller's transaction.
pub(super) async fn lock_held_by(
    client: &impl GenericClient,
    table: &Table,
    node: &str,
    created_too: bool,
    limit: i64,
) -> Result<Vec<i64>, BusError> {
    // `for update skip locked`, as in the reaper: another node taking over the same entries
    // at once skips them instead of re-inserting them twice.
    let select = format!(
        "select record_id from {}
         where processing_state not in ('PROCESSED', 'REMOVED')
           and (processing_owner = $1
                or ($2 and processing_owner is null and creating_owner = $1))
         order by record_id
         limit $3
         for update skip locked",
        table.live
    );
    query_record_ids(client, &select, &[&node, &created_too, &limit]).await
}

/// Moves `record_ids` (locked in this transaction) to history as REAPED and re-inserts each
/// as AVAILABLE, created now by `node`; with `notify`, wakes every polling node on commit.
/// Returns the new record ids.
pub(super) async fn reap_and_reinsert(
    client: &impl GenericClient,
    table: &Table,
    record_ids: &[i64],
    node: &str,
    notify: bool,
) -> Result<Vec<i64>, BusError> {
    let notified = if notify {
        format!(
            ", (select pg_notify('{}', '')) as notified",
            table.channel()
        )
    } else {
        String::new()
    };
    // The rows are already locked by the select in this transaction.
    let reap = format!(
        "with reaped as (
             delete from {live} where record_id = any($1)
             returning record_id, {PROCESSING}, {payload}
         ), archived as (
             insert into {history} ({PROCESSING}, {payload})
             select created_date, creating_owner, processing_owner, processing_available_date,
                    'REAPED', error_count, {payload}
             from reaped
         ), reinserted as (
             insert into {live} ({PROCESSING}, {payload})
             select now(), $2, null, null, 'AVAILABLE', error_count, {payload}
             from reaped
             order by record_id
             returning record_id
         )
         select reinserted.record_id from reinserted{notified}",
        live = table.live,
        history = table.history,
        payload = table.payload,
    );
    query_record_ids(client, &reap, &[&record_ids, &node]).await
}
