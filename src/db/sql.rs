//! Running SQL on a unit of work's connection: every statement is prepared once per connection
//! (deadpool's statement cache), and statements sent together in one round trip reach the
//! server in the order they were written.
//!
//! Pipelining is tokio-postgres's: futures polled together send their requests without
//! waiting for each other's answers. The order they are sent in is the order they run in,
//! and a transaction depends on it (its lock before its reads, its COMMIT last). A statement
//! not yet in the cache is prepared first, a round trip of its own, and meanwhile the next
//! statement would be sent ahead of it. Inside [`pipelined`], each statement therefore takes a
//! turn when first polled, prepares (in parallel with the others), and sends only when every
//! statement written before it has been sent.
//!
//! This file owns that mechanism and the execute helpers storage and the buses build on. It
//! never decides what SQL runs.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use deadpool_postgres::GenericClient;
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

tokio::task_local! {
    static SEQUENCE: Arc<Sequence>;
}

/// Runs `statements` (a `try_join!` of storage calls and a COMMIT, typically) so that their
/// requests are sent in the order they are first polled, whatever their preparation costs.
pub async fn pipelined<F: Future>(statements: F) -> F::Output {
    SEQUENCE.scope(Arc::default(), statements).await
}

/// Rows of `sql`, prepared once per connection.
pub async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, Error> {
    let turn = Turn::take();
    let statement = client.prepare_cached(sql).await?;
    in_turn(turn, client.query(&statement, params)).await
}

/// [`query`] for at most one row.
pub async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, Error> {
    let turn = Turn::take();
    let statement = client.prepare_cached(sql).await?;
    in_turn(turn, client.query_opt(&statement, params)).await
}

/// [`query`] for exactly one row.
pub async fn query_one(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, Error> {
    let turn = Turn::take();
    let statement = client.prepare_cached(sql).await?;
    in_turn(turn, client.query_one(&statement, params)).await
}

/// [`query`] for a statement returning no rows; the number of rows it changed.
pub async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, Error> {
    let turn = Turn::take();
    let statement = client.prepare_cached(sql).await?;
    in_turn(turn, client.execute(&statement, params)).await
}

/// A simple-protocol statement (BEGIN, COMMIT), in turn like the others.
pub async fn batch_execute(client: &impl GenericClient, sql: &str) -> Result<(), Error> {
    let turn = Turn::take();
    in_turn(turn, client.batch_execute(sql)).await
}

/// Waits for `turn`, sends `request` (its first poll hands it to the connection), lets the
/// next statement go, then waits for the answer.
async fn in_turn<T>(
    turn: Option<Turn>,
    request: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    if let Some(turn) = &turn {
        turn.wait().await;
    }
    let mut request = pin!(request);
    // One poll hands the request to the connection's task; then the next statement may go.
    let first = std::future::poll_fn(|context| Poll::Ready(request.as_mut().poll(context))).await;
    drop(turn);
    match first {
        Poll::Ready(answer) => answer,
        Poll::Pending => request.await,
    }
}

/// The order of the statements of one pipeline.
#[derive(Default)]
struct Sequence {
    state: Mutex<SequenceState>,
    moved: Notify,
}

#[derive(Default)]
struct SequenceState {
    next_ticket: u64,
    /// The ticket whose statement may be sent now.
    serving: u64,
    /// Tickets done out of order (a statement dropped before its turn).
    done: BTreeSet<u64>,
}

/// One statement's place in its pipeline; dropping it (sent, failed or abandoned) lets the
/// next one go.
struct Turn {
    sequence: Arc<Sequence>,
    ticket: u64,
}

impl Turn {
    /// This statement's turn, when it runs in a pipeline.
    fn take() -> Option<Turn> {
        SEQUENCE
            .try_with(|sequence| {
                let mut state = sequence.state.lock();
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                Turn {
                    sequence: sequence.clone(),
                    ticket,
                }
            })
            .ok()
    }

    async fn wait(&self) {
        loop {
            let moved = self.sequence.moved.notified();
            let mut moved = pin!(moved);
            moved.as_mut().enable();
            if self.sequence.state.lock().serving == self.ticket {
                return;
            }
            moved.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut state = self.sequence.state.lock();
        state.done.insert(self.ticket);
        loop {
            let serving = state.serving;
            if !state.done.remove(&serving) {
                break;
            }
            state.serving += 1;
        }
        drop(state);
        self.sequence.moved.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_go_in_the_order_they_were_taken_whoever_is_ready_first() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let step = |name: &'static str, delay_ms: u64| {
            let order = order.clone();
            async move {
                let turn = Turn::take();
                // A slow preparation before the turn, as a cache miss.
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                if let Some(turn) = &turn {
                    turn.wait().await;
                }
                order.lock().push(name);
                drop(turn);
            }
        };
        pipelined(async {
            tokio::join!(step("lock", 30), step("read", 0), step("commit", 0));
        })
        .await;
        assert_eq!(*order.lock(), ["lock", "read", "commit"]);
    }

    #[tokio::test]
    async fn a_statement_dropped_before_its_turn_does_not_hold_up_the_next() {
        let done = pipelined(async {
            let first = Turn::take().expect("in a pipeline");
            let second = Turn::take().expect("in a pipeline");
            let third = Turn::take().expect("in a pipeline");
            drop(second);
            drop(first);
            tokio::time::timeout(std::time::Duration::from_secs(1), third.wait())
                .await
                .is_ok()
        })
        .await;
        assert!(done);
    }

    #[test]
    fn outside_a_pipeline_there_are_no_turns() {
        assert!(Turn::take().is_none());
    }
}
